"""The GRPO update over recorded rollouts: scored rollouts in, one PPO step on the policy out.

:func:`chunks_of` cuts the kept rollouts into chunks (one per policy call, each with its
rollout's advantage and the recorded log-likelihood of its *executed* actions);
:func:`ppo_update` runs the clipped (dual-clip) PPO epochs on them, with the optional KL to a
frozen reference (:func:`kl_to_reference`), scoring the chunks again with
:func:`chunk_log_probs`. :func:`rl_param_groups` and :func:`only_training` restrict the
optimizer and the gradients to ``policy.trainable_in_rl()``. No simulator here: the loop that
produces the rollouts is :mod:`ptrim.trainer`; the loss itself is :func:`ptrim.rewards.ppo_loss`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ptrim import rewards
from ptrim.episode import EpisodeRecord
from ptrim.models.base import Plan
from ptrim.rollout import stack_observations

KL_LOG_RATIO_CLAMP = rewards.LOG_RATIO_CLAMP


@dataclass(frozen=True)
class Chunk:
    """One policy call of a kept rollout, as the update needs it."""

    obs: dict[str, Any]  # the observation the plan was made from
    plan: np.ndarray  # [H, D]
    replay: dict[str, np.ndarray]  # what the policy needs to score the plan again
    executed: int  # actions of the plan that ran
    advantage: float  # the rollout's GRPO advantage
    logp_old: float  # recorded log-likelihood of the executed actions (summed)


def chunks_of(
    episodes: Sequence[EpisodeRecord], advantage: np.ndarray, keep: np.ndarray
) -> list[Chunk]:
    """The chunks of the kept rollouts, rollout by rollout: every call up to and including the
    one where the rollout finished (:func:`ptrim.rewards.broadcast_to_chunks`), each with its
    rollout's advantage and the recorded log-likelihood of its executed actions."""
    values, _ = rewards.broadcast_to_chunks(advantage, [ep.n_calls for ep in episodes])
    chunks = []
    for i, ep in enumerate(episodes):
        if not keep[i]:
            continue
        for k, call in enumerate(ep.calls):
            if call.obs is None:
                raise ValueError("RL needs each call's observation: rollout(keep_obs=True)")
            if "log_prob" not in call.replay:
                raise ValueError(
                    "the policy records no per-action 'log_prob' in its plans' replay: "
                    "it cannot be trained by RL"
                )
            logp_old = float(np.sum(np.asarray(call.replay["log_prob"])[: call.executed]))
            adv = float(values[i, k])  # mask[i, k] holds: a rollout's calls are its chunks
            chunks.append(Chunk(call.obs, call.plan, call.replay, call.executed, adv, logp_old))
    return chunks


def chunk_log_probs(policy: Any, chunks: Sequence[Chunk]) -> torch.Tensor:
    """``[B]`` log-likelihood of each chunk's executed actions under ``policy`` (with
    gradients): one batched ``policy.log_prob`` with a per-row executed mask."""
    obs = stack_observations([c.obs for c in chunks])
    plan = Plan(
        actions=np.stack([c.plan for c in chunks]),
        replay={k: np.stack([c.replay[k] for c in chunks]) for k in chunks[0].replay},
    )
    H = plan.actions.shape[1]
    mask = torch.arange(H)[None, :] < torch.tensor([c.executed for c in chunks])[:, None]
    return policy.log_prob(obs, plan, mask)


@dataclass(frozen=True)
class PPOSettings:
    """The update's hyperparameters for one model (per-family values resolved)."""

    clip_low: float
    clip_high: float
    dual_clip: float | None
    kl_coef: float
    grad_clip: float
    epochs: int
    minibatches: int
    micro_batch: int
    bf16: bool = False  # autocast the log-prob forward (rl.precision)

    @classmethod
    def of(cls, rl: Any, family: str) -> PPOSettings:
        return cls(
            clip_low=rl.clip_low,
            clip_high=rl.clip_high[family],
            dual_clip=rl.dual_clip,
            kl_coef=rl.kl_coef,
            grad_clip=rl.grad_clip,
            epochs=rl.epochs,
            minibatches=rl.minibatches,
            micro_batch=rl.micro_batch,
            bf16=rl.precision == "bf16",
        )


def kl_to_reference(logp_new: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Per-chunk k3 estimate of KL(π_new ‖ π_ref) on samples of the rollout policy:
    ``exp(d) − 1 − d`` with ``d = log π_ref − log π_new`` (clamped to ±20); never negative."""
    d = (logp_ref.detach() - logp_new).clamp(-KL_LOG_RATIO_CLAMP, KL_LOG_RATIO_CLAMP)
    return torch.exp(d) - 1.0 - d


def ppo_update(
    policy: Any,
    optimizer: torch.optim.Optimizer,
    chunks: Sequence[Chunk],
    settings: PPOSettings,
    *,
    generator: torch.Generator,
    reference: Any = None,
) -> dict[str, float]:
    """PPO epochs over ``chunks``; returns means over them (and over optimizer steps).

    Each epoch shuffles the chunks (``generator``) and splits them into ``minibatches`` parts,
    one optimizer step each; a part is scored ``micro_batch`` chunks at a time with gradients
    accumulated, so its loss is the token-mean over all its chunks
    (:func:`ptrim.rewards.ppo_loss`) plus ``kl_coef`` × the mean :func:`kl_to_reference`.
    Gradients are clipped to ``grad_clip`` (global norm over the optimizer's parameters).
    ``bf16``: the forward runs under bf16 autocast, the loss in fp32.
    Stats: ``loss``, ``clip_frac``, ``dual_clip_frac``, ``approx_kl`` (old ‖ new, before each
    optimizer step: 0 with one epoch of one minibatch), ``ratio_mean``, ``grad_norm`` (before
    clipping), ``optimizer_steps``, ``chunks``, and after the update :func:`drift` on up to
    ``micro_batch`` chunks: ``step_kl`` (old ‖ updated) and, given a ``reference``, ``kl_ref``
    (updated ‖ reference) — logged whether or not ``kl_coef`` puts the KL in the loss. With no
    chunks nothing is updated.

    ``skipped`` is 1 when no chunk carries an advantage (every kept group all-success at one
    horizon, say) and the KL term is off: the loss gradient is then exactly zero, yet an AdamW
    step would still move the weights (momentum, weight decay), so no step is taken."""
    n = len(chunks)
    out = {"chunks": float(n), "optimizer_steps": 0.0}
    if n == 0:
        return out
    params = [p for g in optimizer.param_groups for p in g["params"]]
    autocast = torch.autocast(params[0].device.type, torch.bfloat16, enabled=settings.bf16)
    kl_in_loss = reference is not None and settings.kl_coef > 0
    if not kl_in_loss and not any(c.advantage != 0.0 for c in chunks):
        out |= {"skipped": 1.0, "grad_norm": 0.0}
        sample = torch.randperm(n, generator=generator)[: settings.micro_batch].tolist()
        with autocast:
            out |= drift(policy, [chunks[i] for i in sample], reference)
        return out
    out["skipped"] = 0.0
    sums: dict[str, float] = {}
    weight, grad_norms = 0, []
    for _ in range(settings.epochs):
        order = torch.randperm(n, generator=generator)
        for part in torch.tensor_split(order, min(settings.minibatches, n)):
            optimizer.zero_grad(set_to_none=True)
            for micro in torch.split(part, settings.micro_batch):
                batch = [chunks[i] for i in micro.tolist()]
                with autocast:
                    logp_new = chunk_log_probs(policy, batch).float()
                logp_old = torch.tensor([c.logp_old for c in batch], dtype=logp_new.dtype)
                adv = torch.tensor([c.advantage for c in batch], dtype=logp_new.dtype)
                loss, stats = rewards.ppo_loss(
                    logp_new,
                    logp_old.to(logp_new.device),
                    adv.to(logp_new.device),
                    settings.clip_low,
                    settings.clip_high,
                    settings.dual_clip,
                )
                if kl_in_loss:
                    with torch.no_grad(), autocast:
                        logp_ref = chunk_log_probs(reference, batch).float()
                    loss = loss + settings.kl_coef * kl_to_reference(logp_new, logp_ref).mean()
                (loss * (len(batch) / len(part))).backward()
                stats["loss"] = float(loss.detach())
                for k, v in stats.items():
                    if k != "n_valid":
                        sums[k] = sums.get(k, 0.0) + v * len(batch)
                weight += len(batch)
            grad_norms.append(float(torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)))
            optimizer.step()
    out |= {k: v / weight for k, v in sums.items()}
    out["grad_norm"] = float(np.mean(grad_norms))
    out["optimizer_steps"] = float(len(grad_norms))
    sample = torch.randperm(n, generator=generator)[: settings.micro_batch].tolist()
    with autocast:
        out |= drift(policy, [chunks[i] for i in sample], reference)
    return out


@torch.no_grad()
def drift(policy: Any, chunks: Sequence[Chunk], reference: Any = None) -> dict[str, float]:
    """How far ``policy`` has moved, on ``chunks`` sampled by the rollout policy: ``step_kl``
    = mean k3 KL(π_old ‖ π) from the recorded ``logp_old``, and ``kl_ref`` = mean
    :func:`kl_to_reference` (π ‖ ``reference``) when a reference is given. No gradients."""
    logp = chunk_log_probs(policy, chunks).float()
    old = torch.tensor([c.logp_old for c in chunks], dtype=logp.dtype, device=logp.device)
    out = {"step_kl": float(kl_to_reference(logp, old).mean())}
    if reference is not None:
        logp_ref = chunk_log_probs(reference, chunks).float()
        out["kl_ref"] = float(kl_to_reference(logp, logp_ref).mean())
    return out


def rl_param_groups(
    policy: torch.nn.Module, params: Sequence[torch.nn.Parameter], weight_decay: float
) -> list[dict[str, Any]]:
    """``params`` in two AdamW groups as behaviour cloning does (:func:`ptrim.bc.param_groups`):
    matrices decay; biases, norms and other 1-D parameters (OFT's log-std) do not."""
    wanted = {id(p) for p in params}
    decay, no_decay = [], []
    for name, p in policy.named_parameters():
        if id(p) in wanted:
            (no_decay if p.ndim < 2 or name.endswith("bias") else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("the policy has no parameters to train in RL (trainable_in_rl)")
    return groups


@contextmanager
def only_training(policy: torch.nn.Module, params: Sequence[torch.nn.Parameter]) -> Iterator[None]:
    """Inside, every parameter of ``policy`` not in ``params`` has ``requires_grad`` off (no
    gradient is computed for the frozen part); restored on exit."""
    keep = {id(p) for p in params}
    frozen = [p for p in policy.parameters() if p.requires_grad and id(p) not in keep]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)
