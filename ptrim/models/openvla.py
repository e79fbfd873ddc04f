"""``openvla``: autoregressive discrete actions (OpenVLA), the generality experiment's family.

Each action dimension is one of ``bins`` (256) uniform bins over its normalised range — OpenVLA
bins each dimension between its dataset quantiles; here between mean ± ``CLIP_STD`` standard
deviations (the normaliser's statistics) — emitted as a token after
``[image tokens, instruction, BOS]``, one
dimension at a time: ``H·D`` tokens per plan (``H = 1``: one action per call, as OpenVLA). The
output layer scores only the action tokens, as OpenVLA does by overwriting its vocabulary's
last 256 entries. Sampling is categorical per token (row-seeded); the log-likelihood of a
plan is the sum of its tokens' log-probabilities, recomputed in one teacher-forced pass.

OpenVLA reads no proprioception; ``spec.proprio_token`` adds the one token the other families
read (``[..., proprio, BOS, tokens]``). Why it is there: on LIBERO-Object demonstration frames,
swapping in the images of another demonstration of the same task moves the other families'
first action little (``oft`` by 0.008, ``gr00t`` by 0.05 per dimension; actions ~0.11): they
place the arm from proprioception. ``openvla`` without it moves by 0.20 and succeeds in 28 %
of episodes, reading where its arm is from 16 vision tokens per camera (``small``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ptrim.models.base import Executed, Generators, Plan, executed_mask
from ptrim.models.blocks import VisionLanguagePrefix, as_tensor
from ptrim.models.policy import VLAPolicy
from ptrim.models.spec import ModelSpec
from ptrim.models.tokenizer import BOS_ID, InstructionTokenizer

CLIP_STD = 2.5  # a dimension's bins span its mean ± CLIP_STD standard deviations


class OpenVla(VLAPolicy):
    family = "openvla"

    def __init__(self, spec: ModelSpec, tokenizer: InstructionTokenizer | None = None) -> None:
        super().__init__(spec, tokenizer)
        width = spec.sizes.width
        self.vlm = VisionLanguagePrefix(spec, self.tokenizer.vocab_size)
        self.action_embed = nn.Embedding(spec.bins, width)
        self.lm_head = nn.Linear(width, spec.bins)
        self.proprio_in = nn.Linear(spec.proprio_dim, width) if spec.proprio_token else None

    def _prompt_end(self, enc: dict[str, torch.Tensor]) -> torch.Tensor:
        """What follows the instruction, before the action tokens: ``[proprio,] BOS``."""
        B = enc["px"].shape[0]
        bos = self.vlm.embed_tokens(torch.full((B, 1), BOS_ID, device=enc["px"].device))
        if self.proprio_in is None:
            return bos
        return torch.cat([self.proprio_in(enc["proprio"])[:, None].to(bos), bos], dim=1)

    # ----------------------------------------------------------------- bins
    def to_tokens(self, actions: torch.Tensor) -> torch.Tensor:
        """Raw actions ``[B, H, D]`` → bin indices ``[B, H·D]`` (per dimension, uniform bins
        over mean ± ``CLIP_STD`` std: LIBERO's rotation deltas, ~0.01 wide, would otherwise
        fall into the two bins around 0, whose centres are ±0.004, never 0 — a steady drift)."""
        b = self.spec.bins
        z = (self.normalizer.actions(actions) / CLIP_STD).clamp(-1, 1)
        return ((z + 1) / 2 * b).long().clamp(0, b - 1).flatten(1)

    def to_actions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Bin indices ``[B, H·D]`` → raw actions at the bin centres ``[B, H, D]``."""
        centres = (tokens.float() + 0.5) / self.spec.bins * 2 - 1
        z = centres.unflatten(1, (self.plan_horizon, self.spec.action_dim)) * CLIP_STD
        return self.normalizer.unactions(z)

    # ----------------------------------------------------------------- decoding
    def logits(self, enc: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``[B, T+1, bins]`` after ``[BOS, tokens[:, :T]]``."""
        extra = torch.cat([self._prompt_end(enc), self.action_embed(tokens)], dim=1)
        hidden, _ = self.vlm(enc["px"], enc["ids"], enc["text_mask"], extra)
        return self.lm_head(hidden[:, -(tokens.shape[1] + 1) :])

    @torch.no_grad()
    def plan(self, obs: dict[str, Any], *, sample: bool, generator: Generators) -> Plan:
        """Decode ``H·D`` tokens one at a time over a key/value cache (one VLM pass, then one
        token per step); the per-action log-likelihood is summed as tokens are drawn."""
        enc = self.encode(obs)
        n = self.plan_horizon * self.spec.action_dim
        hidden, mask, cache = self.vlm.start(
            enc["px"], enc["ids"], enc["text_mask"], self._prompt_end(enc)
        )
        tokens, log_p = [], []
        for k in range(n):
            logp = F.log_softmax(self.lm_head(hidden[:, -1]).float(), dim=-1)
            if sample:
                probs = logp.exp().cpu()
                nxt = torch.stack(
                    [torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(generator)]
                ).to(self.device)
            else:
                nxt = logp.argmax(-1, keepdim=True)
            tokens.append(nxt)
            log_p.append(logp.gather(-1, nxt))
            if k < n - 1:
                hidden, mask, cache = self.vlm.extend(self.action_embed(nxt), mask, cache)
        tokens = torch.cat(tokens, dim=1)
        per_action = torch.cat(log_p, dim=1).unflatten(1, (self.plan_horizon, -1)).sum(-1)
        return Plan(
            actions=self.to_actions(tokens).cpu().numpy(),
            replay={"tokens": tokens.cpu().numpy(), "log_prob": per_action.cpu().numpy()},
        )

    def _token_log_probs(self, enc: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
        """Per-action log-likelihood ``[B, H]`` of ``tokens`` ``[B, H·D]``."""
        logp = F.log_softmax(self.logits(enc, tokens)[:, :-1].float(), dim=-1)
        per_token = logp.gather(-1, tokens[..., None])[..., 0]
        return per_token.unflatten(1, (self.plan_horizon, self.spec.action_dim)).sum(-1)

    def log_prob(self, obs: dict[str, Any], plan: Plan, executed: Executed) -> torch.Tensor:
        tokens = torch.as_tensor(plan.replay["tokens"], device=self.device)
        per_action = self._token_log_probs(self.encode(obs), tokens)
        return (per_action * executed_mask(executed, *per_action.shape).to(tokens.device)).sum(1)

    def soft_targets(self, tokens: torch.Tensor) -> torch.Tensor:
        """Target distributions ``[N, bins]`` for bin indices ``[N]``: a Gaussian of std
        ``spec.label_sigma`` bins around each, cut at the range's ends and renormalised."""
        k = torch.arange(self.spec.bins, device=tokens.device, dtype=torch.float32)
        d = (k[None, :] - tokens[:, None].float()) / self.spec.label_sigma
        return torch.softmax(-0.5 * d**2, dim=-1)

    def bc_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """Cross-entropy of the demonstrated chunk's tokens (:meth:`to_tokens`); with
        ``spec.label_sigma > 0``, against Gaussian-spread targets (:meth:`soft_targets`): a
        small model learns the 256 fine bins of a dimension as unrelated classes otherwise, and
        its greedy action lands far from the demonstrated one (LIBERO-Object, ``small``, one-hot
        targets: first-action error about as large as the action)."""
        H = self.plan_horizon
        actions = as_tensor(batch["actions"], self.device).float()[:, :H]
        mask = as_tensor(batch["action_mask"], self.device).bool()[:, :H]
        tokens = self.to_tokens(actions)
        logits = self.logits(self.encode(batch), tokens)[:, :-1].flatten(0, 1).float()
        if self.spec.label_sigma > 0:
            target = self.soft_targets(tokens.flatten())
            ce = -(target * F.log_softmax(logits, dim=-1)).sum(-1)
        else:
            ce = F.cross_entropy(logits, tokens.flatten(), reduction="none")
        m = mask.repeat_interleave(self.spec.action_dim, dim=1).flatten().to(ce)
        return (ce * m).sum() / m.sum().clamp_min(1)
