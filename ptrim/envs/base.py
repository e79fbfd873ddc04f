"""What every benchmark adapter provides to the rollout.

An adapter owns one simulator instance for one task. Stepping never renders: the rollout asks
for an observation (:meth:`Env.observe`) only when the policy is about to plan, which is where
most of the wall time of a CPU rollout would otherwise go.

Observations handed to policies are plain dicts::

    {"images": {"agentview": uint8[S, S, 3], "wrist": uint8[S, S, 3]},   # upright, RGB
     "proprio": float32[D],                                               # benchmark-specific
     "instruction": str}
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

Observation = dict[str, Any]


@runtime_checkable
class Env(Protocol):
    benchmark: str
    suite: str
    task: str
    instruction: str
    control_hz: float
    max_steps: int
    action_dim: int

    def num_init_states(self) -> int:
        """Size of the task's fixed evaluation set of initial states."""
        ...

    def reset(self, init_state: int) -> None:
        """Restore initial state ``init_state`` of the evaluation set (and let objects settle)."""
        ...

    def step(self, action: np.ndarray) -> bool:
        """Apply one action; return whether the task is solved after it. Never renders."""
        ...

    def observe(self) -> Observation:
        """Render the cameras and read proprioception for the current state."""
        ...

    def get_state(self) -> np.ndarray: ...

    def set_state(self, state: np.ndarray) -> None: ...

    def close(self) -> None: ...
