"""``oft``: OpenVLA-OFT's parallel decoding of a whole action chunk with an L1 regression head.

The VLM (:class:`~ptrim.models.blocks.VisionLanguagePrefix`) reads ``[image tokens,
instruction, proprio token, H action queries]``; one forward pass turns the ``H`` query
positions into ``H`` actions through an MLP head, trained with L1 on normalised actions.
As in OpenVLA-OFT, the action positions attend to each other both ways (the rest of the
sequence stays causal).

For RL the policy is a Gaussian around the regressed chunk with a learned per-dimension
log-std (``init_log_std`` at the start); plans sampled from it are scored exactly by
:meth:`Oft.log_prob`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ptrim.models import flow
from ptrim.models.base import Executed, Generators, Plan, executed_mask
from ptrim.models.blocks import VisionLanguagePrefix
from ptrim.models.policy import VLAPolicy
from ptrim.models.spec import ModelSpec
from ptrim.models.tokenizer import InstructionTokenizer


class Oft(VLAPolicy):
    family = "oft"

    def __init__(self, spec: ModelSpec, tokenizer: InstructionTokenizer | None = None) -> None:
        super().__init__(spec, tokenizer)
        width, head = spec.sizes.width, spec.sizes.head_width
        self.vlm = VisionLanguagePrefix(spec, self.tokenizer.vocab_size)
        self.proprio_in = nn.Linear(spec.proprio_dim, width)
        self.queries = nn.Parameter(0.02 * torch.randn(spec.plan_horizon, width))
        self.head = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, head), nn.GELU(), nn.Linear(head, spec.action_dim)
        )
        self.log_std = nn.Parameter(torch.full((spec.action_dim,), spec.init_log_std))

    def mean(self, enc: dict[str, torch.Tensor]) -> torch.Tensor:
        """The regressed chunk ``[B, H, D]`` (normalised actions)."""
        B = enc["px"].shape[0]
        extra = torch.cat(
            [self.proprio_in(enc["proprio"])[:, None], self.queries.expand(B, -1, -1)], dim=1
        )
        hidden, _ = self.vlm(
            enc["px"], enc["ids"], enc["text_mask"], extra, bidirectional=self.plan_horizon
        )
        return self.head(hidden[:, -self.plan_horizon :])

    @torch.no_grad()
    def plan(self, obs: dict[str, Any], *, sample: bool, generator: Generators) -> Plan:
        mu = self.mean(self.encode(obs))
        z = mu
        if sample:
            eps = flow.randn_rows(generator, tuple(mu.shape[1:])).to(mu)
            z = mu + self.log_std.exp() * eps
        log_p = flow.gaussian_log_prob(z, mu, self.log_std.exp())
        return Plan(
            actions=self.normalizer.unactions(z).float().cpu().numpy(),
            replay={"z": z.cpu().numpy(), "log_prob": log_p.cpu().numpy()},
        )

    def log_prob(self, obs: dict[str, Any], plan: Plan, executed: Executed) -> torch.Tensor:
        mu = self.mean(self.encode(obs))
        z = torch.as_tensor(plan.replay["z"], device=mu.device)
        per_action = flow.gaussian_log_prob(z, mu, self.log_std.exp())
        return (per_action * executed_mask(executed, *per_action.shape).to(mu.device)).sum(1)

    def bc_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        actions, mask = self.target(batch)
        err = (self.mean(self.encode(batch)) - actions).abs()
        m = mask.to(err)[..., None]
        return (err * m).sum() / (m.sum() * err.shape[-1]).clamp_min(1)
