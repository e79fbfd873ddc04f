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


@runtime_checkable
class ChunkPolicy(Protocol):
    plan_horizon: int  # H: actions per plan

    def plan(self, obs: dict[str, Any], *, sample: bool, generator: Generators) -> Plan:
        """Propose ``[B, H, D]`` actions. ``obs`` is a stacked batch (see
        :func:`ptrim.rollout.stack_observations`); ``generator`` holds one generator per row so
        that an episode's randomness does not depend on which other episodes share its batch."""
        ...
