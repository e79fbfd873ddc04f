"""The one interface every policy family implements.

A policy looks at a batch of observations and proposes a *plan* of ``plan_horizon`` (H) actions
per row. How many of them run before the policy is asked again — the execution length h — is
not the policy's business: the rollout decides (:class:`ptrim.rollout.ChunkBroker`).
PolicyTrim's stage 1 lengthens h; stage 2 shortens the episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@dataclass
class Plan:
    """A batch of plans and what is needed to score them again.

    ``actions``: float array ``[B, H, action_dim]``. ``replay``: per-row arrays (first dimension
    ``B``) such as the sampling noise of a flow policy or the tokens of an autoregressive one.
    """

    actions: np.ndarray
    replay: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.actions)

    def row(self, i: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.actions[i], {k: v[i] for k, v in self.replay.items()}


Generators = Sequence[torch.Generator]


Executed = slice | torch.Tensor  # a slice of the H actions, or a bool mask [B, H] per row


@runtime_checkable
class ChunkPolicy(Protocol):
    plan_horizon: int  # H: actions per plan

    def plan(self, obs: dict[str, Any], *, sample: bool, generator: Generators) -> Plan:
        """Propose ``[B, H, D]`` actions. ``obs`` is a stacked batch (see
        :func:`ptrim.rollout.stack_observations`); ``generator`` holds one generator per row so
        that an episode's randomness does not depend on which other episodes share its batch."""
        ...


@runtime_checkable
class TrainablePolicy(ChunkPolicy, Protocol):
    """What behaviour cloning and RL need on top of planning (every VLA family)."""

    def log_prob(self, obs: dict[str, Any], plan: Plan, executed: Executed) -> torch.Tensor:
        """``[B]`` log-likelihood of the *executed* actions of ``plan`` only (with gradients):
        the actions that never ran carry no credit and no blame."""
        ...

    def bc_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """Scalar behaviour-cloning loss on a :func:`ptrim.data.collate` batch."""
        ...


def executed_mask(executed: Executed, batch: int, horizon: int) -> torch.Tensor:
    """``executed`` as a bool mask ``[B, H]`` (a slice selects the same actions in every row)."""
    if isinstance(executed, slice):
        mask = torch.zeros(batch, horizon, dtype=torch.bool)
        mask[:, executed] = True
        return mask
    mask = torch.as_tensor(executed, dtype=torch.bool)
    if mask.shape != (batch, horizon):
        raise ValueError(
            f"executed mask has shape {tuple(mask.shape)}, expected {(batch, horizon)}"
        )
    return mask
