"""``gr00t``: a VLM and a DiT flow-matching action head that cross-attends to it (GR00T N1.5).

The VLM (:class:`~ptrim.models.blocks.VisionLanguagePrefix`) encodes ``[image tokens,
instruction]`` once per plan. The head — a diffusion transformer with adaLN-Zero timestep
conditioning — runs ``denoise_steps`` (4) times over ``[state token, H noisy actions]``:
self-attention among them, cross-attention to VLM hidden states, then an MLP. RL trains the
head only. Flow convention and the stochastic sampler: :mod:`ptrim.models.flow`.

Which VLM features the head reads: GR00T N1.5 cross-attends to an *intermediate* LLM layer
(its 12th), not the last. Here the DiT's blocks read the VLM's layers bottom-up — block ``i``
of ``D`` reads the output of layer ``ceil((i + 1) L / D)`` of ``L`` (each layer-normed), so the
last block reads the last layer — which gives the small head both mid-level features (as
GR00T) and the final ones, and every expert layer its own VLM layer (as π0's expert). Reading
only the last layer's states, this head reached 61 % on LIBERO-Object where π0.5 reached
81.5 % (README).
"""

from __future__ import annotations

import math

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
        self.context_norms = nn.ModuleList(nn.LayerNorm(s.width) for _ in range(s.head_layers))

    def forward(self, x, t, state, contexts, ctx_mask) -> torch.Tensor:
        """``contexts``: one ``[B, L, width]`` VLM layer output per block."""
        tokens = torch.cat([self.state_in(state)[:, None], self.action_in(x)], dim=1)
        tokens = tokens + self.position
        time = self.time(sinusoid(t, self.position.shape[-1]).to(tokens))
        for block, norm, ctx in zip(self.blocks, self.context_norms, contexts, strict=True):
            tokens = block(tokens, time, norm(ctx), ctx_mask == 0)
        return self.out(tokens[:, 1:])


def read_layers(vlm_layers: int, head_layers: int) -> list[int]:
    """The VLM layer (0-based) each of the ``head_layers`` DiT blocks reads: spread bottom-up,
    the last block reading the last layer."""
    return [math.ceil((i + 1) * vlm_layers / head_layers) - 1 for i in range(head_layers)]


class Gr00t(FlowPolicy):
    family = "gr00t"

    def __init__(self, spec: ModelSpec, tokenizer: InstructionTokenizer | None = None) -> None:
        super().__init__(spec, tokenizer)
        self.vlm = VisionLanguagePrefix(spec, self.tokenizer.vocab_size)
        self.head = ActionHead(spec)
        self.read_layers = read_layers(spec.sizes.layers, spec.sizes.head_layers)

    def vlm_layers(self, enc: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The outputs of the VLM layers the head reads (``read_layers``) and the mask, taken
        by forward hooks during one VLM pass (removed again before returning)."""
        taps: dict[int, torch.Tensor] = {}

        def keep(index: int):
            def hook(module, args, out):
                taps[index] = out[0] if isinstance(out, tuple) else out

            return hook

        layers = self.vlm.decoder.layers
        handles = [layers[j].register_forward_hook(keep(j)) for j in set(self.read_layers)]
        try:
            _, ctx_mask = self.vlm(enc["px"], enc["ids"], enc["text_mask"])
        finally:
            for handle in handles:
                handle.remove()
        return [taps[j] for j in self.read_layers], ctx_mask

    def velocity_field(self, enc: dict[str, torch.Tensor]) -> flow.Velocity:
        contexts, ctx_mask = self.vlm_layers(enc)

        def velocity(x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
            time = torch.as_tensor(t, dtype=torch.float32, device=x.device).expand(x.shape[0])
            return self.head(x, time, enc["proprio"], contexts, ctx_mask)

        return velocity

    def trainable_in_rl(self) -> list[nn.Parameter]:
        return [p for p in self.head.parameters() if p.requires_grad]
