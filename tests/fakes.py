"""Small stand-ins for simulators and policies, for exact accounting and training tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ptrim.episode import CallRecord, EpisodeRecord
from ptrim.models.base import Plan, executed_mask


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


class ReachEnv:
    """A 1-D reach whose outcome depends on the actions (so GRPO has something to learn).

    A point starts at 0 and moves by the first action component (clipped to [-1, 1]) each step;
    the task is solved once it reaches ``goals[init_state]`` (never for initial states without a
    goal). Observations have the shapes a real policy expects: ``cameras`` RGB images of
    ``image_size``² and ``proprio_dim``-D proprioception ``[x, t / 10, 0, …]``. ``resets``
    lists every initial state the env was reset to."""

    benchmark = "fake"
    suite = "fake_suite"
    control_hz = 10.0

    def __init__(
        self,
        goals: dict[int, float],
        max_steps: int = 30,
        task: str = "reach",
        *,
        action_dim: int = 2,
        proprio_dim: int = 2,
        image_size: int = 4,
        cameras: tuple[str, ...] = ("agentview",),
    ) -> None:
        self.goals, self.max_steps, self.task = goals, max_steps, task
        self.instruction = f"reach {task}"
        self.action_dim, self.proprio_dim = action_dim, proprio_dim
        self.image_size, self.cameras = image_size, cameras
        self.init, self.t, self.x = -1, 0, 0.0
        self.resets: list[int] = []

    def num_init_states(self) -> int:
        return 100

    def reset(self, init_state: int) -> None:
        self.init, self.t, self.x = init_state, 0, 0.0
        self.resets.append(init_state)

    def step(self, action: np.ndarray) -> bool:
        self.t += 1
        self.x += float(np.clip(action[0], -1.0, 1.0))
        goal = self.goals.get(self.init)
        return goal is not None and self.x >= goal

    def observe(self):
        s = self.image_size
        return {
            "images": {c: np.full((s, s, 3), self.t % 256, np.uint8) for c in self.cameras},
            "proprio": self.proprio(),
            "instruction": self.instruction,
        }

    def proprio(self):
        p = np.zeros(self.proprio_dim, np.float32)
        p[:2] = self.x, self.t / 10
        return p

    def get_state(self):
        return np.array([self.t, self.init, self.x])

    def set_state(self, s):
        self.t, self.init, self.x = int(s[0]), int(s[1]), float(s[2])

    def close(self) -> None:
        pass


class GaussianPolicy(torch.nn.Module):
    """A trainable stand-in with an exact log-likelihood (what RL needs from a VLA family).

    A *trunk* (frozen in RL, like π0.5's VLM) and a *head* (trained in RL, like its action
    expert) map proprioception to the mean of each of the ``H`` actions; a plan samples every
    action independently from ``N(mean, exp(log_std)²)``, so the log-likelihood of the executed
    slice is exactly the sum of its actions' terms. Records ``z`` and the per-action
    ``log_prob`` ``[H]`` in ``replay``, as :class:`ptrim.models.oft.Oft` does."""

    def __init__(
        self,
        plan_horizon: int = 4,
        action_dim: int = 2,
        proprio_dim: int = 2,
        hidden: int = 8,
        init_log_std: float = -0.5,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.config = {
            "plan_horizon": plan_horizon,
            "action_dim": action_dim,
            "proprio_dim": proprio_dim,
            "hidden": hidden,
            "init_log_std": init_log_std,
            "seed": seed,
        }
        self.plan_horizon, self.action_dim = plan_horizon, action_dim
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.trunk = torch.nn.Linear(proprio_dim, hidden)
            self.head = torch.nn.Linear(hidden, plan_horizon * action_dim)
        self.log_std = torch.nn.Parameter(torch.full((action_dim,), float(init_log_std)))
        self.scored_masks: list[torch.Tensor] = []  # every executed mask log_prob was given

    def mean(self, obs) -> torch.Tensor:
        proprio = torch.as_tensor(np.asarray(obs["proprio"]), dtype=torch.float32)
        hidden = torch.tanh(self.trunk(proprio))
        return self.head(hidden).view(-1, self.plan_horizon, self.action_dim)

    def _per_action(self, z: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        std = self.log_std.exp()
        return (-0.5 * ((z - mu) / std) ** 2 - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    @torch.no_grad()
    def plan(self, obs, *, sample, generator):
        mu = self.mean(obs)
        z = mu
        if sample:
            eps = torch.stack([torch.randn(tuple(mu.shape[1:]), generator=g) for g in generator])
            z = mu + self.log_std.exp() * eps
        return Plan(
            actions=z.numpy(),
            replay={"z": z.numpy(), "log_prob": self._per_action(z, mu).numpy()},
        )

    def log_prob(self, obs, plan, executed):
        mu = self.mean(obs)
        mask = executed_mask(executed, *mu.shape[:2])
        self.scored_masks.append(mask.clone())
        z = torch.as_tensor(plan.replay["z"], dtype=torch.float32)
        return (self._per_action(z, mu) * mask).sum(1)

    def bc_loss(self, batch) -> torch.Tensor:
        raise NotImplementedError("a stand-in for RL only")

    def trainable_in_rl(self) -> list[torch.nn.Parameter]:
        return [*self.head.parameters(), self.log_std]

    def save_pretrained(self, directory) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()}, d / "model.safetensors"
        )
        (d / "config.json").write_text(json.dumps(self.config))
        return d

    @classmethod
    def from_pretrained(cls, directory) -> GaussianPolicy:
        d = Path(directory)
        policy = cls(**json.loads((d / "config.json").read_text()))
        policy.load_state_dict(load_file(d / "model.safetensors"))
        return policy


def record(
    task, init, success, steps, *, h=5, plan_horizon=10, max_steps=100, calls=None, **fields
):
    """A finished episode (a failure runs to ``max_steps``); one call unless ``calls`` given;
    other :class:`EpisodeRecord` fields (``proprio_trace``, ``suite``, ...) by keyword."""
    if calls is None:
        calls = [CallRecord(step=0, plan=np.zeros((plan_horizon, 7)), executed=h, latency_s=0.01)]
    return EpisodeRecord(
        **{
            "benchmark": "fake",
            "suite": "s",
            "task": task,
            "init_index": init,
            "seed": 0,
            "plan_horizon": plan_horizon,
            "exec_len": h,
            "max_steps": max_steps,
            "control_hz": 20.0,
            "success": success,
            "success_step": steps if success else None,
            "steps": steps if success else max_steps,
            "calls": calls,
            **fields,
        }
    )
