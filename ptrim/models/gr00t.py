"""``gr00t``: a VLM and a DiT flow-matching action head that cross-attends to it (GR00T N1.5).

The VLM (:class:`~ptrim.models.blocks.VisionLanguagePrefix`) encodes ``[image tokens,
instruction]`` once per plan. The head — a diffusion transformer with adaLN-Zero timestep
conditioning — runs ``denoise_steps`` (4) times over ``[state token, H noisy actions]``:
self-attention among them, cross-attention to the VLM's hidden states, then an MLP. RL
trains the head only. Flow convention and the stochastic sampler: :mod:`ptrim.models.flow`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ptrim.models import flow
from ptrim.models.blocks import VisionLanguagePrefix, sinusoid
from ptrim.models.policy import FlowPolicy
from ptrim.models.spec import ModelSpec
from ptrim.models.tokenizer import InstructionTokenizer


class DiTBlock(nn.Module):
    """Self-attention, cross-attention, MLP; each modulated (shift, scale, gate) by time."""

    def __init__(self, width: int, heads: int, context: int) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(width, elementwise_affine=False) for _ in range(3))
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.cross = nn.MultiheadAttention(
            width, heads, kdim=context, vdim=context, batch_first=True
        )
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )
        self.modulation = nn.Linear(width, 9 * width)
        nn.init.zeros_(self.modulation.weight)  # adaLN-Zero: every block starts as the identity
        nn.init.zeros_(self.modulation.bias)

    def forward(
        self, x: torch.Tensor, time: torch.Tensor, ctx: torch.Tensor, ctx_pad: torch.Tensor
    ) -> torch.Tensor:
        """``x [B,T,W]``, ``time [B,W]``, ``ctx [B,L,C]``, ``ctx_pad [B,L]`` (True = padding)."""
        mods = self.modulation(F.silu(time))[:, None].chunk(9, dim=-1)
        for i, layer in enumerate(("attn", "cross", "mlp")):
            shift, scale, gate = mods[3 * i : 3 * i + 3]
            h = self.norms[i](x) * (1 + scale) + shift
            if layer == "attn":
                h = self.attn(h, h, h, need_weights=False)[0]
            elif layer == "cross":
                h = self.cross(h, ctx, ctx, key_padding_mask=ctx_pad, need_weights=False)[0]
            else:
                h = self.mlp(h)
            x = x + gate * h
        return x


class ActionHead(nn.Module):
    """``[state, noisy actions]`` + time, conditioned on VLM features → velocity ``[B,H,D]``."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        w, s = spec.sizes.head_width, spec.sizes
        self.state_in = nn.Linear(spec.proprio_dim, w)
        self.action_in = nn.Linear(spec.action_dim, w)
        self.position = nn.Parameter(0.02 * torch.randn(spec.plan_horizon + 1, w))
        self.time = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(
            DiTBlock(w, max(1, w // 32), s.width) for _ in range(s.head_layers)
        )
        self.out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, spec.action_dim))

    def forward(self, x, t, state, ctx, ctx_mask) -> torch.Tensor:
        tokens = torch.cat([self.state_in(state)[:, None], self.action_in(x)], dim=1)
        tokens = tokens + self.position
        time = self.time(sinusoid(t, self.position.shape[-1]).to(tokens))
        for block in self.blocks:
            tokens = block(tokens, time, ctx, ctx_mask == 0)
        return self.out(tokens[:, 1:])


class Gr00t(FlowPolicy):
    family = "gr00t"

    def __init__(self, spec: ModelSpec, tokenizer: InstructionTokenizer | None = None) -> None:
        super().__init__(spec, tokenizer)
        self.vlm = VisionLanguagePrefix(spec, self.tokenizer.vocab_size)
        self.head = ActionHead(spec)

    def velocity_field(self, enc: dict[str, torch.Tensor]) -> flow.Velocity:
        ctx, ctx_mask = self.vlm(enc["px"], enc["ids"], enc["text_mask"])

        def velocity(x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
            time = torch.as_tensor(t, dtype=torch.float32, device=x.device).expand(x.shape[0])
            return self.head(x, time, enc["proprio"], ctx, ctx_mask)

        return velocity

    def trainable_in_rl(self) -> list[nn.Parameter]:
        return [p for p in self.head.parameters() if p.requires_grad]
