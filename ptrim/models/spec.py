"""What a model is: its family, size preset, chunk shape and inputs (saved as ``config.json``).

A :class:`ModelSpec` is everything needed to rebuild a model's modules before loading its weights.
Sizes come from a named preset (``micro`` for tests, ``small`` for the 2-core CPU default, ``base``
for a GPU); the plan horizon ``H`` is the number of actions one forward pass proposes (how many of
them run before re-planning — the execution length ``h`` — is the rollout's business).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sizes:
    """Widths and depths of the shared blocks and of the action head."""

    vision_width: int  # SigLIP-style vision tower
    vision_layers: int
    tokens_per_side: int  # image patches per side (patch size = image_size // tokens_per_side)
    width: int  # language decoder (Gemma/Qwen2-style)
    layers: int
    heads: int
    head_dim: int
    head_width: int  # action expert / DiT / regression head
    head_layers: int


PRESETS: dict[str, Sizes] = {
    "micro": Sizes(32, 1, 4, 48, 2, 2, 24, 32, 2),
    "small": Sizes(128, 3, 4, 192, 4, 4, 48, 128, 4),  # 16 tokens per camera: 3x faster BC on CPU
    "base": Sizes(384, 6, 8, 512, 8, 8, 64, 384, 6),
}


@dataclass(frozen=True)
class ModelSpec:
    family: str  # pi05 | oft | gr00t | openvla
    preset: str  # micro | small | base
    plan_horizon: int  # H: actions per plan
    cameras: tuple[str, ...] = ("agentview", "wrist")
    image_size: int = 128
    action_dim: int = 7
    proprio_dim: int = 8
    max_text: int = 24  # instruction tokens kept
    denoise_steps: int = 4  # flow families: Euler steps per plan
    sde_noise: float = 0.5  # flow families: noise level `a` of the flow-SDE sampler
    init_log_std: float = -2.0  # oft: initial log-std of its Gaussian policy
    bins: int = 256  # openvla: discrete bins per action dimension
    # openvla: std (in bins) of the Gaussian its BC targets are spread over; 0: one-hot targets,
    # as OpenVLA. Neighbouring bins then share what a demonstration teaches (see openvla.py)
    label_sigma: float = 0.0
    # openvla: a proprioception token before BOS (OpenVLA has none; the other families always
    # read proprioception)
    proprio_token: bool = False

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; allowed: {list(PRESETS)}")
        if self.image_size % self.sizes.tokens_per_side:
            raise ValueError(
                f"image_size {self.image_size} is not divisible by the {self.preset} preset's "
                f"{self.sizes.tokens_per_side} patches per side"
            )
        if not self.cameras:
            raise ValueError("a model needs at least one camera")
        if self.label_sigma < 0:
            raise ValueError(f"label_sigma must be >= 0 (bins), got {self.label_sigma}")
        object.__setattr__(self, "cameras", tuple(self.cameras))

    @property
    def sizes(self) -> Sizes:
        return PRESETS[self.preset]

    @property
    def patch_size(self) -> int:
        return self.image_size // self.sizes.tokens_per_side

    @property
    def image_tokens(self) -> int:
        """Vision tokens per camera."""
        return self.sizes.tokens_per_side**2

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str | Path = "config.json") -> ModelSpec:
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"{where}: unknown model config keys {unknown}; known: {sorted(names)}"
            )
        return cls(**data)
