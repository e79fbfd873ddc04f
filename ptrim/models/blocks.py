"""The vision and language building blocks every family shares.

* a SigLIP-style vision tower (``transformers.SiglipVisionModel``) turns each camera image into
  ``tokens_per_side²`` tokens;
* a Gemma- or Qwen2-style decoder (built from a ``transformers`` config, random weights) reads
  ``[image tokens of every camera, instruction tokens, family tokens]``;
* :class:`Normalizer` keeps the dataset statistics of proprioception and actions with the weights.

Robot I/O mapping (image layout, scaling) happens here, once, not inside the families.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import GemmaConfig, Qwen2Config, Qwen2Model, SiglipVisionConfig, SiglipVisionModel

from ptrim.models.spec import ModelSpec


def vision_config(spec: ModelSpec) -> SiglipVisionConfig:
    s = spec.sizes
    return SiglipVisionConfig(
        hidden_size=s.vision_width,
        intermediate_size=4 * s.vision_width,
        num_hidden_layers=s.vision_layers,
        num_attention_heads=max(1, s.vision_width // 32),
        image_size=spec.image_size,
        patch_size=spec.patch_size,
    )


def decoder_kwargs(spec: ModelSpec, vocab_size: int, width: int | None = None) -> dict[str, Any]:
    """Shared shape of the Gemma/Qwen2-style decoders (same heads, so caches can be shared)."""
    s = spec.sizes
    return dict(
        vocab_size=vocab_size,
        hidden_size=width or s.width,
        intermediate_size=4 * (width or s.width),
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        num_key_value_heads=max(1, s.heads // 2),
        head_dim=s.head_dim,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=None,
        eos_token_id=None,
    )


def gemma_config(spec: ModelSpec, vocab_size: int, width: int | None = None) -> GemmaConfig:
    return GemmaConfig(**decoder_kwargs(spec, vocab_size, width))


def qwen2_config(spec: ModelSpec, vocab_size: int) -> Qwen2Config:
    return Qwen2Config(**decoder_kwargs(spec, vocab_size), tie_word_embeddings=False)


# ------------------------------------------------------------------------------- inputs
def as_tensor(x: Any, device: torch.device | str = "cpu") -> torch.Tensor:
    return (torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x).to(
        device
    )


def pixels(images: dict[str, Any], spec: ModelSpec, device: torch.device | str) -> torch.Tensor:
    """Upright uint8 ``{camera: [B, S, S, 3]}`` → float ``[B, n_cameras, 3, s, s]`` in [-1, 1]
    (SigLIP's normalisation), resized to the model's ``image_size`` if needed."""
    out = []
    for cam in spec.cameras:
        if cam not in images:
            raise KeyError(f"the model sees camera {cam!r} but the observation has {list(images)}")
        x = as_tensor(images[cam], device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        if x.shape[-1] != spec.image_size or x.shape[-2] != spec.image_size:
            x = F.interpolate(x, size=(spec.image_size,) * 2, mode="bilinear", align_corners=False)
        out.append(x)
    return torch.stack(out, dim=1)


class Normalizer(nn.Module):
    """Per-dimension mean/std of proprioception and actions (buffers: saved with the weights).

    Identity until :meth:`set_stats` is given :meth:`ptrim.data.ChunkDataset.stats`."""

    def __init__(self, proprio_dim: int, action_dim: int) -> None:
        super().__init__()
        self.register_buffer("proprio_mean", torch.zeros(proprio_dim))
        self.register_buffer("proprio_std", torch.ones(proprio_dim))
        self.register_buffer("action_mean", torch.zeros(action_dim))
        self.register_buffer("action_std", torch.ones(action_dim))

    @torch.no_grad()
    def set_stats(self, stats: dict[str, dict[str, np.ndarray]]) -> None:
        for name in ("proprio", "action"):
            moments = stats["actions" if name == "action" else "proprio"]
            getattr(self, f"{name}_mean").copy_(torch.as_tensor(moments["mean"]))
            getattr(self, f"{name}_std").copy_(torch.as_tensor(moments["std"]).clamp_min(1e-3))

    def proprio(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.proprio_mean) / self.proprio_std

    def actions(self, a: torch.Tensor) -> torch.Tensor:
        return (a - self.action_mean) / self.action_std

    def unactions(self, a: torch.Tensor) -> torch.Tensor:
        return a * self.action_std + self.action_mean


# ------------------------------------------------------------------------------- modules
class VisionTower(nn.Module):
    """Cameras ``[B, C, 3, s, s]`` → tokens ``[B, C * tokens_per_side², width]``."""

    def __init__(self, spec: ModelSpec, width: int) -> None:
        super().__init__()
        self.siglip = SiglipVisionModel(vision_config(spec))
        self.proj = nn.Linear(spec.sizes.vision_width, width)
        self.camera = nn.Parameter(torch.zeros(len(spec.cameras), 1, width))  # which camera

    def forward(self, px: torch.Tensor) -> torch.Tensor:
        B, C = px.shape[:2]
        tokens = self.siglip(pixel_values=px.flatten(0, 1)).last_hidden_state
        tokens = self.proj(tokens).unflatten(0, (B, C)) + self.camera
        return tokens.flatten(1, 2)


class VisionLanguagePrefix(nn.Module):
    """The VLM of the ``oft``, ``gr00t`` and ``openvla`` families: vision tower + Qwen2-style
    decoder over ``[image tokens, instruction tokens, extra tokens]`` (causal attention)."""

    def __init__(self, spec: ModelSpec, vocab_size: int) -> None:
        super().__init__()
        self.vision = VisionTower(spec, spec.sizes.width)
        self.decoder = Qwen2Model(qwen2_config(spec, vocab_size))

    @property
    def embed_tokens(self) -> nn.Embedding:
        return self.decoder.embed_tokens

    def forward(
        self,
        px: torch.Tensor,
        ids: torch.Tensor,
        text_mask: torch.Tensor,
        extra: torch.Tensor | None = None,
        bidirectional: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states ``[B, L, width]`` and the attention mask ``[B, L]`` over
        ``[image tokens, text tokens (padded), extra]``. Attention is causal, except that the
        last ``bidirectional`` positions also see each other (OFT's parallel action decoding)."""
        embeds, mask = self._sequence(px, ids, text_mask, extra)
        attend = _block_causal(mask, bidirectional) if bidirectional else mask
        hidden, _, _ = self._run(embeds, mask, attend=attend)
        return hidden, mask

    def start(self, px, ids, text_mask, extra=None):
        """Like :meth:`forward`, also returning the key/value cache: ``(hidden, mask, cache)``
        for incremental decoding with :meth:`extend`."""
        return self._run(*self._sequence(px, ids, text_mask, extra), use_cache=True)

    def extend(self, embeds: torch.Tensor, mask: torch.Tensor, cache):
        """Append ``embeds`` ``[B, T, width]`` after the cached sequence (mask ``[B, L]``):
        ``(hidden [B, T, width], mask [B, L + T], cache)``."""
        ones = torch.ones(embeds.shape[:2], dtype=mask.dtype, device=mask.device)
        return self._run(embeds, torch.cat([mask, ones], dim=1), cache=cache, use_cache=True)

    def _sequence(self, px, ids, text_mask, extra):
        """Embeddings ``[B, L, width]`` and mask ``[B, L]`` of ``[images, text, extra]``."""
        parts = [self.vision(px), self.embed_tokens(ids)]
        ones = torch.ones(parts[0].shape[:2], dtype=text_mask.dtype, device=ids.device)
        masks = [ones, text_mask]
        if extra is not None:
            parts.append(extra.to(parts[0].dtype))
            masks.append(torch.ones(extra.shape[:2], dtype=text_mask.dtype, device=ids.device))
        return torch.cat(parts, dim=1), torch.cat(masks, dim=1)

    def _run(self, embeds, mask, cache=None, use_cache=False, attend=None):
        """The decoder over ``embeds`` (the last ``T`` positions of ``mask``); ``attend`` is an
        optional 4-D boolean mask replacing the causal one."""
        T = embeds.shape[1]
        position_ids = (mask.cumsum(-1) - 1).clamp_min(0)[:, -T:]
        out = self.decoder(
            inputs_embeds=embeds,
            attention_mask=mask if attend is None else attend,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
        )
        return out.last_hidden_state, mask, out.cache


def _block_causal(mask: torch.Tensor, tail: int) -> torch.Tensor:
    """``[B, 1, L, L]`` boolean attention: causal, the last ``tail`` positions attending to each
    other both ways, padded keys (``mask == 0``) never attended."""
    L = mask.shape[1]
    allowed = torch.tril(torch.ones(L, L, dtype=torch.bool, device=mask.device))
    allowed[L - tail :, L - tail :] = True
    return allowed[None, None] & mask.bool()[:, None, None, :]


def sinusoid(t: torch.Tensor, width: int, max_period: float = 100.0) -> torch.Tensor:
    """Timestep embedding ``[B] → [B, width]`` (flow time in [0, 1])."""
    half = width // 2
    freqs = torch.exp(-np.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None] * 2 * np.pi
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
