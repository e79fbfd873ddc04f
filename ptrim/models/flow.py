"""Flow matching and its stochastic sampler, as pure functions on tensors.

Convention (π0's): time ``t = 1`` is noise, ``t = 0`` is data; a sample is
``x_t = t·ε + (1 - t)·a`` and the network predicts the velocity ``v = ε - a``. The deterministic
sampler is Euler from ``t = 1`` to ``0`` in ``K`` steps of ``h = 1/K``: ``x ← x - h·v``.

For RL the policy must be stochastic with a tractable likelihood. The *flow-SDE* sampler
(Flow-GRPO, πRL) replaces each Euler step by a Gaussian transition with the same marginals::

    mean = x - h·v - σ_t² h / (2t) · (x + (1 - t)·v)        std = σ_t √h
    σ_t = a · sqrt(t / (1 - t))   (t capped at 1 - 1/K so the first step stays finite)

so the log-likelihood of a sampled chain ``x_0 → … → x_K`` is an exact sum of Gaussian log
densities, one per denoising step — recomputable with new weights from the stored chain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

Velocity = Callable[[torch.Tensor, float], torch.Tensor]  # (x [B,H,D], t) -> v [B,H,D]


def times(steps: int) -> list[float]:
    """``t_k = 1 - k/K`` for ``k = 0..K``."""
    return [1.0 - k / steps for k in range(steps + 1)]


def sde_sigma(t: float, steps: int, noise_level: float) -> float:
    t = min(t, 1.0 - 1.0 / steps) if steps > 1 else 0.5
    return noise_level * math.sqrt(t / (1.0 - t))


def sde_transition(
    x: torch.Tensor, v: torch.Tensor, t: float, steps: int, noise_level: float
) -> tuple[torch.Tensor, float]:
    """Mean ``[B,H,D]`` and std (a number) of ``x_{t-h}`` given ``x_t`` and the velocity."""
    h = 1.0 / steps
    sigma = sde_sigma(t, steps, noise_level)
    mean = x - h * v - (sigma**2 * h / (2 * t)) * (x + (1 - t) * v)
    return mean, sigma * math.sqrt(h)


def gaussian_log_prob(
    x: torch.Tensor, mean: torch.Tensor, std: float | torch.Tensor
) -> torch.Tensor:
    """``log N(x | mean, std²)`` summed over the last dimension: ``[B,H,D] → [B,H]``."""
    std = torch.as_tensor(std, dtype=mean.dtype, device=mean.device)
    z = (x - mean) / std
    return (-0.5 * z**2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)


def randn_rows(generators: Sequence[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
    """``[B, *shape]`` standard normal noise, row ``i`` drawn from ``generators[i]``."""
    return torch.stack([torch.randn(shape, generator=g) for g in generators])


def sample(
    velocity: Velocity,
    noise: torch.Tensor,
    steps: int,
    *,
    step_noise: torch.Tensor | None = None,
    noise_level: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate from ``noise`` ``[B,H,D]``; returns the chain ``[B, K+1, H, D]`` (its last entry
    is the plan) and the per-action log-likelihood ``[B, H]`` of the chain.

    ``step_noise`` ``[B, K, H, D]`` turns on the flow-SDE; without it the sampler is the plain
    deterministic Euler ODE and the log-likelihood is zero."""
    x, chain = noise, [noise]
    log_p = torch.zeros(noise.shape[:2], device=noise.device)
    for k, t in enumerate(times(steps)[:-1]):
        v = velocity(x, t)
        if step_noise is None:
            x = x - v / steps
        else:
            mean, std = sde_transition(x, v, t, steps, noise_level)
            x = mean + std * step_noise[:, k].to(mean)
            log_p = log_p + gaussian_log_prob(x, mean, std)
        chain.append(x)
    return torch.stack(chain, dim=1), log_p


def chain_log_prob(
    velocity: Velocity, chain: torch.Tensor, steps: int, noise_level: float
) -> torch.Tensor:
    """Per-action log-likelihood ``[B, H]`` of a stored flow-SDE chain ``[B, K+1, H, D]`` under
    the current velocity field (differentiable)."""
    log_p = torch.zeros(chain.shape[0], chain.shape[2], device=chain.device)
    for k, t in enumerate(times(steps)[:-1]):
        mean, std = sde_transition(chain[:, k], velocity(chain[:, k], t), t, steps, noise_level)
        log_p = log_p + gaussian_log_prob(chain[:, k + 1], mean, std)
    return log_p


def matching_loss(
    velocity_at: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    actions: torch.Tensor,
    mask: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Conditional flow-matching loss on ``actions`` ``[B,H,D]`` (normalised), padding
    ``mask`` ``[B,H]``: ``t ~ Beta(1.5, 1)`` scaled to (0.001, 1) as π0 does, ``ε ~ N(0, I)``;
    ``velocity_at(x_t, t[B]) → v`` is regressed onto ``ε - a``."""
    u = torch.rand(actions.shape[0], generator=generator) ** (1 / 1.5)  # Beta(1.5, 1): CDF u^1.5
    t = (0.999 * u + 0.001).to(actions)
    eps = torch.randn(actions.shape, generator=generator).to(actions)
    x_t = t[:, None, None] * eps + (1 - t[:, None, None]) * actions
    err = (velocity_at(x_t, t) - (eps - actions)) ** 2
    m = mask.to(err)[..., None]
    return (err * m).sum() / (m.sum() * actions.shape[-1]).clamp_min(1)
