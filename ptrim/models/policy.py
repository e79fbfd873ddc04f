"""What every VLA family has in common: spec, tokenizer, normaliser, observation encoding, and
``save_pretrained`` / ``from_pretrained`` (safetensors weights + JSON config + tokenizer JSON;
nothing pickled).

A family subclasses :class:`VLAPolicy`, builds its modules in ``__init__`` from the
:class:`~ptrim.models.spec.ModelSpec` and implements ``plan``, ``log_prob`` and ``bc_loss``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file, save_model
from torch import nn

from ptrim.models import flow
from ptrim.models.base import Executed, Generators, Plan, executed_mask
from ptrim.models.blocks import Normalizer, as_tensor, pixels
from ptrim.models.spec import ModelSpec
from ptrim.models.tokenizer import InstructionTokenizer, task_instructions

WEIGHTS, CONFIG = "model.safetensors", "config.json"
FAMILIES: dict[str, type[VLAPolicy]] = {}


class ModelLoadError(RuntimeError):
    """A saved model whose files do not fit together (or are missing)."""


class VLAPolicy(nn.Module):
    family: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "family" in cls.__dict__:  # a concrete family (not an intermediate base)
            FAMILIES[cls.family] = cls

    def __init__(self, spec: ModelSpec, tokenizer: InstructionTokenizer | None = None) -> None:
        super().__init__()
        if spec.family != self.family:
            raise ValueError(f"{type(self).__name__} cannot build a {spec.family!r} model")
        self.spec = spec
        self.tokenizer = tokenizer or InstructionTokenizer.train(task_instructions())
        self.normalizer = Normalizer(spec.proprio_dim, spec.action_dim)

    @property
    def plan_horizon(self) -> int:
        return self.spec.plan_horizon

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ----------------------------------------------------------------- observations
    def encode(self, obs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """A stacked observation (numpy from the rollout, or a collated torch batch) →
        ``px [B,C,3,s,s]``, ``ids``/``text_mask`` ``[B,L]``, normalised ``proprio [B,P]``."""
        dev = self.device
        ids, text_mask = self.tokenizer(list(obs["instruction"]), self.spec.max_text)
        proprio = as_tensor(obs["proprio"], dev).float()
        return {
            "px": pixels(obs["images"], self.spec, dev),
            "ids": ids.to(dev),
            "text_mask": text_mask.to(dev),
            "proprio": self.normalizer.proprio(proprio),
        }

    def target(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised demonstrated chunk ``[B,H,D]`` and its padding mask ``[B,H]``, cut or
        checked to the model's horizon."""
        actions = as_tensor(batch["actions"], self.device).float()
        mask = as_tensor(batch["action_mask"], self.device).bool()
        H = self.plan_horizon
        if actions.shape[1] < H:
            raise ValueError(f"batch has {actions.shape[1]}-action chunks, the model plans {H}")
        return self.normalizer.actions(actions[:, :H]), mask[:, :H]

    # ----------------------------------------------------------------- RL parameter groups
    def trainable_in_rl(self) -> list[nn.Parameter]:
        """What RL updates (families override: π0.5 freezes its VLM, GR00T trains its head)."""
        return [p for p in self.parameters() if p.requires_grad]

    # ----------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / CONFIG).write_text(self.spec.to_json() + "\n")
        self.tokenizer.save(d)
        save_model(self, str(d / WEIGHTS))
        return d

    @staticmethod
    def from_pretrained(directory: str | Path, device: str | torch.device = "cpu") -> VLAPolicy:
        """Rebuild from ``config.json`` + ``tokenizer.json`` and load ``model.safetensors``
        strictly: a config that does not match the weights raises :class:`ModelLoadError`."""
        d = Path(directory)
        for name in (CONFIG, WEIGHTS, "tokenizer.json"):
            if not (d / name).is_file():
                raise ModelLoadError(f"{d}: missing {name}")
        try:
            spec = ModelSpec.from_json((d / CONFIG).read_text(), d / CONFIG)
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{d / CONFIG}: {exc}") from exc
        if spec.family not in FAMILIES:
            raise ModelLoadError(
                f"{d / CONFIG}: unknown family {spec.family!r}; known {list(FAMILIES)}"
            )
        model = FAMILIES[spec.family](spec, InstructionTokenizer.load(d))
        _load_strict(model, d)
        return model.to(device)


def _load_strict(model: nn.Module, d: Path) -> None:
    saved = load_file(str(d / WEIGHTS))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(saved))
    # tied weights are stored once (safetensors' save_model drops the aliases)
    state = model.state_dict(keep_vars=True)
    missing = [k for k in missing if not _is_alias(state, k, saved)]
    unexpected = sorted(set(saved) - set(expected))
    shapes = [
        f"{k}: file {tuple(saved[k].shape)} vs config {tuple(expected[k].shape)}"
        for k in saved.keys() & expected.keys()
        if saved[k].shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        problems = [f"{len(missing)} missing (e.g. {missing[:3]})"] if missing else []
        problems += [f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"] if unexpected else []
        problems += [f"{len(shapes)} of another shape (e.g. {shapes[:3]})"] if shapes else []
        raise ModelLoadError(
            f"{d}: {CONFIG} does not match {WEIGHTS}: tensors " + "; ".join(problems)
        )
    model.load_state_dict(saved, strict=False)


def _is_alias(state: dict[str, torch.Tensor], key: str, saved: dict[str, torch.Tensor]) -> bool:
    """Whether ``key`` shares its storage with a tensor the file holds (a tied weight)."""
    ptr = state[key].data_ptr()
    return any(k in saved and state[k].data_ptr() == ptr for k in state if k != key)


class FlowPolicy(VLAPolicy):
    """A family whose head is a flow-matching velocity field (``pi05``, ``gr00t``): planning,
    scoring and the BC loss are the same; subclasses give :meth:`velocity_field`."""

    def velocity_field(self, enc: dict[str, torch.Tensor]) -> flow.Velocity:
        """Run the VLM once on encoded observations; return ``v(x [B,H,D], t) → [B,H,D]``
        (``t`` a number or a ``[B]`` tensor)."""
        raise NotImplementedError

    @torch.no_grad()
    def plan(self, obs: dict[str, Any], *, sample: bool, generator: Generators) -> Plan:
        """Euler from row-seeded noise; with ``sample`` the flow-SDE, whose chain and per-action
        log-likelihood ``[B, H]`` go into ``replay``."""
        s = self.spec
        velocity = self.velocity_field(self.encode(obs))
        noise = flow.randn_rows(generator, (s.plan_horizon, s.action_dim)).to(self.device)
        steps = flow.randn_rows(generator, (s.denoise_steps, s.plan_horizon, s.action_dim))
        chain, log_p = flow.sample(
            velocity,
            noise,
            s.denoise_steps,
            step_noise=steps.to(self.device) if sample else None,
            noise_level=s.sde_noise,
        )
        return Plan(
            actions=self.normalizer.unactions(chain[:, -1]).float().cpu().numpy(),
            replay={"chain": chain.cpu().numpy(), "log_prob": log_p.cpu().numpy()},
        )

    def log_prob(self, obs: dict[str, Any], plan: Plan, executed: Executed) -> torch.Tensor:
        chain = torch.as_tensor(plan.replay["chain"], device=self.device)
        velocity = self.velocity_field(self.encode(obs))
        per_action = flow.chain_log_prob(
            velocity, chain, self.spec.denoise_steps, self.spec.sde_noise
        )
        return (per_action * executed_mask(executed, *per_action.shape).to(chain.device)).sum(1)

    def bc_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        actions, mask = self.target(batch)
        velocity = self.velocity_field(self.encode(batch))
        return flow.matching_loss(velocity, actions, mask, batch.get("generator"))
