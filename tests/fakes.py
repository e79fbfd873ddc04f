"""Small stand-ins for a simulator and a policy, for exact accounting tests."""

from __future__ import annotations

import numpy as np
import torch

from ptrim.models.base import Plan


class CountingEnv:
    """Solves the task on step ``solve_at[init_state]`` (1-based), or never if absent."""

    benchmark = "fake"
    suite = "fake_suite"
    action_dim = 2
    control_hz = 10.0

    def __init__(self, solve_at: dict[int, int], max_steps: int = 50, task: str = "count") -> None:
        self.solve_at = solve_at
        self.max_steps = max_steps
        self.task = task
        self.instruction = f"do {task}"
        self.t = 0
        self.init = -1
        self.actions: list[np.ndarray] = []
        self.observed_at: list[int] = []

    def num_init_states(self) -> int:
        return 100

    def reset(self, init_state: int) -> None:
        self.init, self.t, self.actions = init_state, 0, []

    def step(self, action: np.ndarray) -> bool:
        self.t += 1
        self.actions.append(np.asarray(action))
        return self.solve_at.get(self.init) == self.t

    def observe(self):
        self.observed_at.append(self.t)
        return {
            "images": {"agentview": np.full((4, 4, 3), self.t, np.uint8)},
            "proprio": self.proprio(),
            "instruction": self.instruction,
        }

    def proprio(self):
        return np.array([self.t, self.init], np.float32)

    def get_state(self):
        return np.array([self.t, self.init])

    def set_state(self, s):
        self.t, self.init = int(s[0]), int(s[1])

    def close(self) -> None:
        pass


class NoisePolicy:
    """Plans ``H`` actions of Gaussian noise drawn from each row's generator; counts calls."""

    def __init__(self, plan_horizon: int, action_dim: int = 2) -> None:
        self.plan_horizon = plan_horizon
        self.action_dim = action_dim
        self.batch_sizes: list[int] = []

    def plan(self, obs, *, sample, generator):
        self.batch_sizes.append(len(obs["proprio"]))
        noise = torch.stack(
            [torch.randn(self.plan_horizon, self.action_dim, generator=g) for g in generator]
        )
        return Plan(actions=noise.numpy(), replay={"noise": noise.numpy()})
