"""Policies without learning, for checks and benchmarks."""

from __future__ import annotations

import numpy as np

from ptrim.models.base import Generators, Plan


class ConstantPolicy:
    """Plans ``H`` copies of one action, plus optional Gaussian jitter from each row's generator.

    The cheapest possible policy: rollout benchmarks use it to measure everything but inference.
    """

    def __init__(self, plan_horizon: int, action: np.ndarray, jitter: float = 0.0) -> None:
        self.plan_horizon = int(plan_horizon)
        self.action = np.asarray(action, dtype=np.float32)
        self.jitter = float(jitter)

    def plan(self, obs, *, sample: bool, generator: Generators) -> Plan:
        B = len(obs["proprio"])
        actions = np.broadcast_to(self.action, (B, self.plan_horizon, len(self.action))).copy()
        if sample and self.jitter > 0:
            import torch

            noise = torch.stack([torch.randn(actions.shape[1:], generator=g) for g in generator])
            actions += self.jitter * noise.numpy()
        return Plan(actions=actions)
