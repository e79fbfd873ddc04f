"""Typed configuration, loaded from ``params.yaml``.

``params.yaml`` holds named *profiles* (``smoke`` for CI, ``default`` for one 2-core machine,
``paper`` for GPUs) and, in its top-level ``profile`` key, the one place where the active profile
is chosen. The top-level ``default`` mapping spells out every key; ``profiles.<name>`` lists only
what profile ``<name>`` changes (``{}`` for ``default``) and is deep-merged on top of it. DVC
stages name the sections of ``default`` they read plus ``profiles.${profile}``, so a change to
one section (or to another profile) leaves the other stages' results up to date. Override
without editing the file:

* ``dvc exp run -S profile=smoke`` (DVC rewrites the key for the experiment),
* ``--profile smoke`` / ``--set libero.image_size=64`` on any ptrim command
  (``python -m ptrim.config --profile smoke`` prints the resolved config).

Every value is checked when the file is loaded: a wrong one raises :class:`ConfigError` naming
the key, the value and what is allowed, before any work starts.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from ptrim.envs import libero_setup, registry
from ptrim.experts.redundancy import EVENT_KINDS

PROFILES = ("smoke", "default", "paper")
FAMILIES = ("pi05", "oft", "gr00t", "openvla")
PRESETS = ("micro", "small", "base")
CAMERAS = ("agentview", "wrist")
# the redundancy events the experts record
EventKind = Literal[EVENT_KINDS]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ConfigError(ValueError):
    """A value in params.yaml (or an override) that is not allowed."""


class _TaskSelection:
    """What every benchmark section checks and answers the same way: cameras listed once, tasks
    that exist in each of its suites, and the selected task names of a suite."""

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"cameras listed twice: {list(v)}")
        return v

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, v: Any, info: ValidationInfo) -> Any:
        if v != "all":
            for suite in info.data.get("suites", ()):
                for t in v:
                    registry.resolve_task(suite, t)
        return v

    def task_list(self, suite: str) -> tuple[str, ...]:
        """Task names of ``suite`` selected by ``tasks``."""
        if self.tasks == "all":
            return registry.task_names(suite)
        return tuple(registry.resolve_task(suite, t) for t in self.tasks)


@dataclass(config=_STRICT)
class LiberoConfig(_TaskSelection):
    """LIBERO benchmark: which tasks, what the policy sees, how long an episode may run."""

    suites: Annotated[
        tuple[str, ...], Field(min_length=1)
    ]  # libero_spatial|object|goal|10 (or short names)
    tasks: Literal["all"] | tuple[int | str, ...]  # "all", or indices 0-9 / task names
    init_states: Annotated[
        int, Field(ge=1, le=50)
    ]  # how many of the 50 shipped initial states per task
    image_size: Annotated[int, Field(ge=16, le=512)]  # square RGB size handed to the policy
    cameras: Annotated[tuple[Literal["agentview", "wrist"], ...], Field(min_length=1)]
    settle_steps: Annotated[
        int, Field(ge=0, le=100)
    ]  # no-op steps after reset (objects settle); not counted
    max_steps: dict[str, int]  # step limit per suite, pinned; printed in every table
    control_hz: Annotated[float, Field(gt=0)]  # LIBERO's OSC runs at 20 Hz
    # "lowpoly": decimated copies of the meshes only seen in images (ptrim/envs/lowpoly.py;
    # collision meshes untouched, dynamics bit-identical), ~2-3x cheaper software rendering;
    # "full": LIBERO's original meshes
    visual_meshes: Literal["full", "lowpoly"]
    # which of the profile's `families` train on these suites (null: all of them)
    families: tuple[str, ...] | None = None

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(libero_setup.canonical_suite(s) for s in v)
        if len(set(out)) != len(out):
            raise ValueError(f"suites listed twice: {list(v)}")
        return out

    @field_validator("max_steps")
    @classmethod
    def _limits(cls, v: dict[str, int]) -> dict[str, int]:
        out = {libero_setup.canonical_suite(k): n for k, n in v.items()}
        missing = [s for s in libero_setup.SUITES if s not in out]
        if missing:
            raise ValueError(f"a step limit is required for every suite; missing {missing}")
        bad = {k: n for k, n in out.items() if not isinstance(n, int) or n <= 0}
        if bad:
            raise ValueError(f"step limits must be positive integers, got {bad}")
        return out

    def step_limit(self, suite: str) -> int:
        return self.max_steps[libero_setup.canonical_suite(suite)]


@dataclass(config=_STRICT)
class _OtherBenchmarkConfig(_TaskSelection):
    """A benchmark beside LIBERO (Meta-World, ManiSkill3): which suites this profile runs
    (none: the benchmark is off), which models train on them, what the policy sees."""

    suites: tuple[str, ...] = ()  # empty: this profile does not run the benchmark
    # which of the profile's `families` train here (null: all of them)
    families: tuple[str, ...] | None = None
    tasks: Literal["all"] | tuple[int | str, ...] = "all"  # "all", or indices / task names
    init_states: Annotated[int, Field(ge=1, le=50)] = 50  # of each task's fixed evaluation set
    image_size: Annotated[int, Field(ge=16, le=512)] = 128
    cameras: Annotated[tuple[Literal["agentview", "wrist"], ...], Field(min_length=1)] = (
        "agentview",
    )
    # step limit of every task; null: the adapter's own per task
    max_steps: Annotated[int, Field(ge=1)] | None = 100
    # the demos' redundancy level here (null: demos.redundancy)
    redundancy: Annotated[float, Field(ge=0.0, le=1.0)] | None = None

    BENCHMARK = ""

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        allowed = registry.BENCHMARKS[cls.BENCHMARK]
        bad = [s for s in v if s not in allowed]
        if bad:
            raise ValueError(f"unknown {cls.BENCHMARK} suites {bad}; valid: {list(allowed)}")
        if len(set(v)) != len(v):
            raise ValueError(f"suites listed twice: {list(v)}")
        return v

    def step_limit(self, suite: str) -> int | None:
        """The step limit of ``suite``'s tasks (None: each task's own, set by the adapter)."""
        return self.max_steps


@dataclass(config=_STRICT)
class MetaWorldConfig(_OtherBenchmarkConfig):
    """Meta-World v3 (:mod:`ptrim.envs.metaworld`): MT10 or MT50, 50 fixed configurations per
    task, the paper's 100-step limit."""

    BENCHMARK = "metaworld"


@dataclass(config=_STRICT)
class ManiSkillConfig(_OtherBenchmarkConfig):
    """ManiSkill3 on CPU (:mod:`ptrim.envs.maniskill`): the tasks that need no downloads."""

    # null: per task (ptrim/envs/maniskill.py MAX_STEPS: push/pull 80, pick 100, stack 120)
    max_steps: Annotated[int, Field(ge=1)] | None = None
    BENCHMARK = "maniskill"


@dataclass(config=_STRICT)
class ModelConfig:
    """One VLA family. A plan holds ``plan_horizon`` (H) actions; the first ``exec_len`` (h)
    are executed open-loop before the policy is asked again ("predicts 20, runs 5")."""

    preset: Literal["micro", "small", "base"]
    plan_horizon: Annotated[int, Field(ge=1, le=256)]  # H
    exec_len: Annotated[int, Field(ge=1)]  # h, the base execution length; must satisfy h <= H

    @field_validator("exec_len")
    @classmethod
    def _h_within_H(cls, v: int, info: ValidationInfo) -> int:
        H = info.data.get("plan_horizon")
        if H is not None and v > H:
            raise ValueError(
                f"exec_len (h) must be <= plan_horizon (H = {H}): a policy cannot execute more "
                "actions than it plans"
            )
        return v

    # the architecture; by default the entry's own name (``oft_h16: {family: oft, ...}`` is a
    # variant of OFT with another horizon, e.g. the paper's generality experiment)
    family: Literal["pi05", "oft", "gr00t", "openvla"] | None = None
    # behaviour-cloning optimizer steps for this model instead of bc.steps (null: bc.steps)
    bc_steps: Annotated[int, Field(ge=1)] | None = None
    # openvla only: std, in bins, of the Gaussian its BC targets are spread over (0: one-hot,
    # as OpenVLA; ptrim/models/openvla.py)
    label_sigma: Annotated[float, Field(ge=0)] = 0.0
    # openvla only: give it the proprioception token the other families read (OpenVLA sees the
    # images alone; ptrim/models/openvla.py says why ours may need it)
    proprio_token: bool = False
    # redundancy events cut out of this model's BC data instead of bc.skip_events (null: those)
    skip_events: tuple[EventKind, ...] | None = None


@dataclass(config=_STRICT)
class RayConfig:
    """The Ray rollout backend (:mod:`ptrim.ray_backend`, ``rollout.backend: ray``): rollout
    workers are Ray actors, each stepping its own environments with a copy of the policy whose
    weights the learner sends once per iteration."""

    # null: start Ray on this machine with all its cores; "auto" or "ray://host:10001": join
    # the cluster that `ray start` set up
    address: str | None = None
    num_workers: Annotated[int, Field(ge=1, le=4096)] = 2  # actors, one CPU each
    envs_per_worker: Annotated[int, Field(ge=1, le=1024)] = 1  # environments each actor steps


@dataclass(config=_STRICT)
class RolloutConfig:
    """How episodes are run: a batch of environments stepped in the policy's process
    (``backend: local``), or on Ray actors (``backend: ray``, see :class:`RayConfig`)."""

    num_envs: Annotated[
        int, Field(ge=1, le=1024)
    ]  # environments stepped together between policy calls
    workers: Literal["inline", "subprocess"]  # subprocess: one process per env (see README)
    # a cap on the steps of a policy's episode below the benchmark's limit (null: none). For
    # CI's smoke profile, whose untrained policies would otherwise run every episode to the
    # limit; experts (demos) always get the benchmark's own limit
    max_steps: Annotated[int, Field(ge=1)] | None = None
    # local: this process runs every episode (num_envs, workers above); ray: Ray actors do
    # (rollout.ray), with the same seeds, so the episodes are the same
    backend: Literal["local", "ray"] = "local"
    ray: RayConfig = Field(default_factory=RayConfig)


@dataclass(config=_STRICT)
class DemosConfig:
    """Expert demonstrations (rendered for the suites in ``libero.suites``) and the expert
    success table (physics only, for ``expert_suites``)."""

    per_task: Annotated[int, Field(ge=1, le=50)]  # one demo from each of the first N states
    redundancy: Annotated[float, Field(ge=0.0, le=1.0)]  # human-like redundancy level
    attempts: Annotated[int, Field(ge=1, le=10)]  # expert tries per initial state
    workers: Annotated[int, Field(ge=1, le=64)]  # processes (niced) recording in parallel
    expert_suites: Annotated[tuple[str, ...], Field(min_length=1)]
    expert_init_states: Annotated[int, Field(ge=1, le=50)]  # expert success (redundancy 0)
    # demo length at `redundancy` on suites that are not recorded: physics-only, these states
    yield_init_states: Annotated[int, Field(ge=1, le=50)]

    @field_validator("expert_suites")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(registry.canonical_suite(s) for s in v)


@dataclass(config=_STRICT)
class EnvCheckConfig:
    """The environment check stage: build each suite, render, time stepping."""

    suites: Annotated[tuple[str, ...], Field(min_length=1)]
    steps: Annotated[int, Field(ge=1, le=10_000)]

    @field_validator("suites")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(libero_setup.canonical_suite(s) for s in v)


@dataclass(config=_STRICT)
class BCConfig:
    """Behaviour cloning (:mod:`ptrim.bc`): AdamW, linear warm-up then cosine decay, clipped
    gradients, checkpoints that resume bit-exactly."""

    steps: Annotated[int, Field(ge=1)]  # optimizer steps
    batch_size: Annotated[int, Field(ge=1)]
    lr: Annotated[float, Field(gt=0)]  # peak learning rate, reached when warm-up ends
    weight_decay: Annotated[float, Field(ge=0)]  # AdamW; never on biases, norms, 1-D params
    warmup_steps: Annotated[int, Field(ge=0)]  # linear warm-up; must be < steps
    min_lr_ratio: Annotated[float, Field(ge=0, le=1)]  # cosine decays to lr * min_lr_ratio
    grad_clip: Annotated[float, Field(gt=0)]  # max global gradient norm
    precision: Literal["fp32", "bf16"]  # bf16: autocast around the forward pass and loss
    checkpoint_every: Annotated[int, Field(ge=1)]  # steps between checkpoints (+ one at the end)
    log_every: Annotated[int, Field(ge=1)]  # steps between logged metrics
    demos_per_task: Annotated[int, Field(ge=1, le=50)]  # the first N demos of each task's file
    eval_init_states: Annotated[int, Field(ge=1, le=50)]  # quick evaluation after training
    num_workers: Annotated[int, Field(ge=0, le=64)] = 0  # DataLoader worker processes
    shift_pixels: Annotated[int, Field(ge=0, le=32)] = 0  # random-shift augmentation (0: off)
    # redundancy events cut out of the demos before training (ptrim.data.ChunkDataset)
    skip_events: tuple[EventKind, ...] = ()

    @field_validator("warmup_steps")
    @classmethod
    def _warmup_within_steps(cls, v: int, info: ValidationInfo) -> int:
        steps = info.data.get("steps")
        if steps is not None and v >= steps:
            raise ValueError(f"warmup_steps must be < steps (steps = {steps})")
        return v


@dataclass(config=_STRICT)
class ProfilingConfig:
    """Baseline profiling (:mod:`ptrim.profiling`, the paper's Fig. 1): an execution-length
    sweep, repeated rollouts for step variance, measured redundancy, plan-tail error."""

    exec_len_points: Annotated[int, Field(ge=2, le=64)] = 6  # h grid: evenly spaced up to H
    init_states: Annotated[int, Field(ge=1, le=50)] = 10  # per task, for every h of the sweep
    epsilon: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05  # reliable: SR >= best SR - epsilon
    variance_init_states: Annotated[int, Field(ge=1, le=50)] = 3  # per task, repeated rollouts
    variance_repeats: Annotated[int, Field(ge=2, le=100)] = 8  # sampled rollouts per state
    still_speed: Annotated[float, Field(gt=0.0)] = 0.002  # m/step: the gripper "nearly still"
    tail_states: Annotated[int, Field(ge=1, le=10_000)] = 64  # demo states for the tail error


@dataclass(config=_STRICT)
class EvaluateConfig:
    """Paired evaluation (:mod:`ptrim.evaluate`, the ``evaluate`` stage): every policy of one
    model (base, stage 1, stage 1 + 2) from the same initial states with the same seeds."""

    init_states: Annotated[int, Field(ge=1, le=50)] = 20  # per task: 10 tasks give 200 episodes
    keyframes: Annotated[int, Field(ge=0, le=20)] = 6  # frames per policy in fig3 (0: no figure)
    # rounds of the interleaved latency probe (ptrim/latency.py; 0: keep the rollouts' timing)
    latency_rounds: Annotated[int, Field(ge=0, le=1000)] = 10


@dataclass(config=_STRICT)
class AblationConfig:
    """The ``ablations`` stage (:mod:`ptrim.ablations`): which models, which variants."""

    models: tuple[str, ...] = ()  # entries of `models`; those not in `families` are skipped
    variants: Annotated[
        tuple[Literal["stage2_only", "no_stability", "frontier"], ...], Field(min_length=1)
    ] = ("stage2_only", "no_stability", "frontier")

    @field_validator("variants")
    @classmethod
    def _unique_variants(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("each variant at most once")
        return v


BENCHMARK_SECTIONS = ("libero", "metaworld", "maniskill")  # one per benchmark, in this order
Family = Literal["pi05", "oft", "gr00t", "openvla"]
RL_LR = {"pi05": 5e-6, "oft": 2e-5, "gr00t": 5e-6, "openvla": 2e-5}  # flow 5e-6, OFT 2e-5
RL_CLIP_HIGH = {"pi05": 0.2, "oft": 0.28, "gr00t": 0.2, "openvla": 0.2}
RL_H_BASE = {"pi05": 20, "oft": 8, "gr00t": 10, "openvla": 1}  # h / h_base normaliser
RL_T_MAX = {
    "libero_spatial": 150,
    "libero_object": 150,
    "libero_goal": 200,
    "libero_10": 300,
    "metaworld_mt10": 100,  # the step limit: Meta-World experts finish in 53-89 steps
    "metaworld_mt50": 100,
    "maniskill": 80,
}


def _over_defaults(defaults: dict[str, Any], value: Any, canonical=None) -> Any:
    """A per-family / per-suite map given in part: the entries not listed keep their defaults."""
    if not isinstance(value, dict):
        return value
    return {**defaults, **{(canonical(k) if canonical else k): v for k, v in value.items()}}


@dataclass(config=_STRICT)
class Stage1Config:
    """RL stage 1, reliable chunk extension (:mod:`ptrim.trainer`, DESIGN.md §2.2). The rollouts
    of a group start from one initial state but execute different lengths ``h_i`` of each
    ``H``-action plan; ``R_i = r_succ + lam_plan · r_max · (h_i / h_base) · 1[success]``."""

    iterations: Annotated[int, Field(ge=0)] = 20  # GRPO iterations (0: nothing to train)
    lam_plan: Annotated[float, Field(ge=0)] = 1.0
    h_base: dict[Family, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: dict(RL_H_BASE)
    )  # per family; families not listed keep their default
    # how h_i is assigned: "pattern" (the paper's code, a fixed ladder) or "frontier" (ours)
    curriculum: Literal["pattern", "frontier"] = "pattern"
    # pattern: the ladder of acceptance ratios γ = h/H; member j of a group executes
    # h = round(γ_j · H) (γ cycling). (0.25, 0.5, 0.75) with H = 20 is the authors' [5, 10, 15]
    ladder: Annotated[tuple[Annotated[float, Field(gt=0, le=1)], ...], Field(min_length=1)] = (
        0.25,
        0.5,
        0.75,
    )
    # pattern, per model (an entry of `models`): explicit execution lengths instead of the
    # ratios, e.g. gr00t (H = 16): [5, 10, 15] as in the paper (5 -> 10); oft: [8] (h stays 8)
    ladders: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9_]+$")],
        Annotated[tuple[Annotated[int, Field(ge=1)], ...], Field(min_length=1)],
    ] = Field(default_factory=dict)
    window: Annotated[int, Field(ge=1)] = 32  # recent rollouts per h in the success log
    frontier_step: Annotated[int, Field(ge=1)] = 5  # frontier: the ladder is h*, h*+d, …, H
    frontier_tau: Annotated[float, Field(gt=0)] = 0.95  # h* advances at SR(h*+d) >= tau · SR_base
    frontier_epsilon: Annotated[float, Field(ge=0, le=1)] = 0.05  # start h*: SR >= best - epsilon
    # the horizon handed to stage 2: the longest h with windowed SR >= reference - tolerance, the
    # reference being SR_base or, when lower, the shortest rung's sampled SR (select_stage2_horizon)
    horizon_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.05

    @field_validator("h_base", mode="before")
    @classmethod
    def _h_base_defaults(cls, v: Any) -> Any:
        return _over_defaults(RL_H_BASE, v)


@dataclass(config=_STRICT)
class Stage2Config:
    """RL stage 2, redundancy-aware step reduction (DESIGN.md §2.3), at the stage-1 horizon:
    ``R_i = r_succ + r_eff − p_i`` (step saving within ``T_max``, group-anchored stability
    penalty), and optionally the explicit shortcut check: a success shorter than
    ``(1 − gamma) · μ_g`` is replayed ``replays`` times from its initial state with fresh noise;
    if fewer than ``rho · replays`` succeed within ``(1 + slack) · t_i``, its r_eff is withheld."""

    iterations: Annotated[int, Field(ge=0)] = 20
    T_max: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: dict(RL_T_MAX)
    )  # step budget per suite (short names allowed); suites not listed keep their default
    lam_eff: Annotated[float, Field(ge=0)] = 0.9
    lam_stab: Annotated[float, Field(ge=0)] = 0.15
    sigma_floor: Annotated[float, Field(ge=0)] = 5.0  # penalty only where σ_g >= sigma_floor
    use_stability: bool = True  # False: the "no stability term" ablation
    shortcut_check: bool = False
    shortcut_gamma: Annotated[float, Field(ge=0, lt=1)] = 0.25
    shortcut_rho: Annotated[float, Field(ge=0, le=1)] = 0.5
    shortcut_slack: Annotated[float, Field(ge=0)] = 0.1
    shortcut_replays: Annotated[int, Field(ge=1, le=64)] = 3

    @field_validator("T_max", mode="before")
    @classmethod
    def _t_max_defaults(cls, v: Any) -> Any:
        return _over_defaults(RL_T_MAX, v, registry.canonical_suite)


@dataclass(config=_STRICT)
class RLConfig:
    """GRPO post-training shared by both stages (:mod:`ptrim.trainer`, PAPER.md §3): per
    iteration ``groups_per_iter`` groups of ``group_size`` sampled rollouts, each group from one
    task × initial state; success filter, group-normalised advantages, clipped PPO on the
    log-likelihood of each chunk's executed actions. Per-family maps take the model's family
    (``oft_h16`` uses ``oft``'s values); entries not listed keep their defaults."""

    # which stages run: both (the method), or one (the "stage 1 only" / "stage 2 only" ablations)
    stages: Annotated[tuple[Literal["stage1", "stage2"], ...], Field(min_length=1)] = (
        "stage1",
        "stage2",
    )
    # per model, the stages it runs instead of `stages` (the paper runs OpenVLA, one action per
    # call, through stage 2 only: there is no chunk to extend)
    model_stages: dict[str, tuple[Literal["stage1", "stage2"], ...]] = Field(
        default_factory=lambda: {"openvla": ("stage2",)}
    )
    group_size: Annotated[int, Field(ge=2, le=256)] = 8  # G: rollouts per initial state
    groups_per_iter: Annotated[int, Field(ge=1)] = 4
    init_states: Annotated[int, Field(ge=1, le=50)] = 50  # groups draw from the first N per task
    lr: dict[Family, Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: dict(RL_LR))
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (
        0.9,
        0.95,
    )  # AdamW
    weight_decay: Annotated[float, Field(ge=0)] = 0.01  # AdamW; not on biases, norms, 1-D
    grad_clip: Annotated[float, Field(gt=0)] = 1.0  # max global gradient norm
    clip_low: Annotated[float, Field(ge=0, lt=1)] = 0.2  # ratio clipped to [1 - low, 1 + high]
    clip_high: dict[Family, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: dict(RL_CLIP_HIGH)
    )
    dual_clip: Annotated[float, Field(gt=1)] | None = 3.0  # c (negative advantages); null: off
    kl_coef: Annotated[float, Field(ge=0)] = 0.0  # KL to the frozen stage input; 0: off (paper)
    filter_low: Annotated[float, Field(ge=0, le=1)] = 0.1  # keep groups with mean success in
    filter_high: Annotated[float, Field(ge=0, le=1)] = 1.0  # [low, high] (bounds inclusive)
    epochs: Annotated[int, Field(ge=1, le=100)] = 1  # PPO passes over each iteration's chunks
    minibatches: Annotated[int, Field(ge=1)] = 1  # optimizer steps per epoch
    micro_batch: Annotated[int, Field(ge=1)] = 32  # chunks per forward/backward (memory only)
    # bf16: autocast around the update's log-prob forward (sampling stays fp32, so the
    # recorded log-probs are exact and the first PPO ratio is 1 up to bf16 rounding)
    precision: Literal["fp32", "bf16"] = "fp32"
    checkpoint_every: Annotated[int, Field(ge=1)] = 5  # iterations (+ one at the end)
    # environments kept open across iterations, per task, least recently used closed first (a
    # LIBERO env holds ~0.7 GB and takes ~6 s to build on 2 cores); at least one task's batch
    max_open_envs: Annotated[int, Field(ge=1)] = 10
    stage1: Stage1Config = Stage1Config()
    stage2: Stage2Config = Stage2Config()

    @field_validator("lr", mode="before")
    @classmethod
    def _lr_defaults(cls, v: Any) -> Any:
        return _over_defaults(RL_LR, v)

    @field_validator("clip_high", mode="before")
    @classmethod
    def _clip_high_defaults(cls, v: Any) -> Any:
        return _over_defaults(RL_CLIP_HIGH, v)

    @field_validator("stages")
    @classmethod
    def _unique_stages(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"stages listed twice: {list(v)}")
        return v

    @field_validator("filter_high")
    @classmethod
    def _filter_bounds(cls, v: float, info: ValidationInfo) -> float:
        low = info.data.get("filter_low")
        if low is not None and v < low:
            raise ValueError(f"filter_high must be >= filter_low (= {low})")
        return v


@dataclass(config=_STRICT)
class Config:
    """The resolved configuration of one profile."""

    profile: Literal["smoke", "default", "paper"]
    seed: Annotated[int, Field(ge=0)]
    device: Literal["cpu", "cuda"]
    families: Annotated[tuple[str, ...], Field(min_length=1)]  # the models this profile trains
    models: dict[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")], ModelConfig]
    libero: LiberoConfig
    rollout: RolloutConfig
    envcheck: EnvCheckConfig
    demos: DemosConfig
    bc: BCConfig
    profiling: ProfilingConfig = ProfilingConfig()
    rl: RLConfig = RLConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    ablation: AblationConfig = AblationConfig()
    metaworld: MetaWorldConfig = MetaWorldConfig()
    maniskill: ManiSkillConfig = ManiSkillConfig()

    @model_validator(mode="after")
    def _families_have_models(self) -> Config:
        missing = [f for f in self.families if f not in self.models]
        if missing:
            raise ValueError(f"families {missing} have no entry under models")
        for name, m in self.models.items():
            if m.family is None and name not in FAMILIES:
                raise ValueError(
                    f"models.{name}: not a family name, so it needs `family:` "
                    f"(one of {list(FAMILIES)})"
                )
        return self

    @model_validator(mode="after")
    def _model_stages_name_models(self) -> Config:
        unknown = [m for m in self.rl.model_stages if m not in self.models]
        if unknown:
            raise ValueError(
                f"rl.model_stages names {unknown}, which are not entries of models "
                f"({list(self.models)})"
            )
        return self

    @model_validator(mode="after")
    def _ablation_models_exist(self) -> Config:
        unknown = [m for m in self.ablation.models if m not in self.models]
        if unknown:
            raise ValueError(
                f"ablation.models {unknown} are not entries of models ({list(self.models)})"
            )
        return self

    @model_validator(mode="after")
    def _bc_steps_after_warmup(self) -> Config:
        for name, m in self.models.items():
            if m.bc_steps is not None and m.bc_steps <= self.bc.warmup_steps:
                raise ValueError(
                    f"models.{name}.bc_steps = {m.bc_steps}: must be > bc.warmup_steps "
                    f"(= {self.bc.warmup_steps})"
                )
        return self

    @model_validator(mode="after")
    def _label_sigma_only_with_bins(self) -> Config:
        for name, m in self.models.items():
            if m.label_sigma and (m.family or name) != "openvla":
                raise ValueError(
                    f"models.{name}.label_sigma = {m.label_sigma}: only the openvla family "
                    "predicts binned actions (leave it 0 for the others)"
                )
            if m.proprio_token and (m.family or name) != "openvla":
                raise ValueError(
                    f"models.{name}.proprio_token = true: only the openvla family can go without "
                    "proprioception (the others always read it; leave it false)"
                )
        return self

    def bc_of(self, model: str) -> BCConfig:
        """``bc`` for ``model``: its ``bc_steps`` and ``skip_events`` where set, else
        ``bc.steps`` and ``bc.skip_events``."""
        m, changes = self.models[model], {}
        if m.bc_steps is not None:
            changes["steps"] = m.bc_steps
        if m.skip_events is not None:
            changes["skip_events"] = m.skip_events
        return dataclasses.replace(self.bc, **changes) if changes else self.bc

    @model_validator(mode="after")
    def _benchmark_families_trained(self) -> Config:
        for name in BENCHMARK_SECTIONS:
            fams = getattr(self, name).families
            unknown = [f for f in fams or () if f not in self.models]
            if unknown:
                raise ValueError(
                    f"{name}.families {unknown} are not entries of models ({list(self.models)})"
                )
        return self

    def suites(self) -> tuple[str, ...]:
        """Every suite this profile runs, LIBERO's first, then Meta-World's and ManiSkill's."""
        return tuple(s for name in BENCHMARK_SECTIONS for s in getattr(self, name).suites)

    def bench(self, suite: str):
        """The section of ``params.yaml`` describing ``suite``'s benchmark (``libero``,
        ``metaworld`` or ``maniskill``): its tasks, cameras, image size, step limit."""
        return getattr(self, registry.benchmark_of(suite))

    def untrained_reason(self, model: str, suite: str) -> str | None:
        """Why this profile does not train ``model`` on ``suite`` (None if it does)."""
        if model not in self.families:
            return f"family {model} is not in this profile's families {list(self.families)}"
        name = registry.benchmark_of(suite)
        section = getattr(self, name)
        if registry.canonical_suite(suite) not in section.suites:
            return f"suite {suite} is not in this profile's {name}.suites {list(section.suites)}"
        if section.families is not None and model not in section.families:
            return f"{name}.families {list(section.families)} does not list {model}"
        return None

    def stages_of(self, model: str) -> tuple[str, ...]:
        """The RL stages ``model`` runs: ``rl.model_stages[model]``, else ``rl.stages``."""
        return tuple(self.rl.model_stages.get(model, self.rl.stages))

    def family_of(self, model: str) -> str:
        """The architecture of ``models.<model>`` (its ``family``, or its own name)."""
        return self.models[model].family or model

    @model_validator(mode="after")
    def _bc_demos_recorded(self) -> Config:
        if self.bc.demos_per_task > self.demos.per_task:
            raise ValueError(
                f"bc.demos_per_task = {self.bc.demos_per_task}: must be <= demos.per_task "
                f"(= {self.demos.per_task}), the demos recorded per task"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


# ---------------------------------------------------------------- loading


def find_params(start: Path | None = None) -> Path:
    """``params.yaml`` in ``start`` (default: cwd) or the nearest parent directory."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "params.yaml").is_file():
            return d / "params.yaml"
    raise ConfigError(f"no params.yaml in {here} or any parent directory")


def project_root(start: Path | None = None) -> Path:
    """The directory holding ``params.yaml``: notebooks opened in Lab (whose working
    directory is ``notebooks/``) move there, so their paths mean what they mean under DVC."""
    return find_params(start).parent


def load(
    profile: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    path: str | Path | None = None,
) -> Config:
    """Resolve ``default`` ⊕ ``profiles[profile]`` ⊕ ``overrides`` and validate it.

    ``profile=None`` takes the file's top-level ``profile`` key. ``overrides`` are
    ``"dotted.key=yaml-value"`` strings, e.g. ``"libero.image_size=64"``.
    """
    path = Path(path) if path else find_params()
    raw = yaml.safe_load(path.read_text()) or {}
    name = profile if profile is not None else raw.get("profile")
    profiles = raw.get("profiles") or {}
    if name not in PROFILES:
        raise ConfigError(f"profile = {name!r} in {path}: allowed profiles are {list(PROFILES)}")
    if not isinstance(raw.get("default"), dict):
        raise ConfigError(f"{path}: needs a top-level 'default' mapping holding every key")
    if name not in profiles:
        raise ConfigError(
            f"profile {name!r} is not defined under 'profiles' in {path} "
            "(what it changes in 'default'; {} for nothing)"
        )
    merged = copy.deepcopy(raw["default"])
    _deep_merge(merged, profiles[name] or {}, where=f"profiles.{name}")
    for item in overrides:
        _apply_override(merged, item)
    merged["profile"] = name
    return _validate(merged, where=f"{path.name}, profile '{name}'")


def _validate(data: dict[str, Any], where: str) -> Config:
    try:
        return Config(**data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, data, where)) from None
    except TypeError as exc:  # missing/unknown top-level keys
        raise ConfigError(f"{where}: {exc}") from None


def _explain(exc: ValidationError, data: dict[str, Any], where: str) -> str:
    lines = [f"invalid configuration ({where}):"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
        key = ".".join(loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:  # a check across sections (model validator): the message names the keys
            lines.append(f"  {msg}")
        elif err["type"] == "missing":
            lines.append(f"  {key}: missing (required key)")
        elif err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            lines.append(f"  {key}: unknown key; allowed keys: {_allowed_keys(loc)}")
        else:
            value = _lookup(data, err["loc"], err.get("input"))
            lines.append(f"  {key} = {value!r}: {msg}")
    return "\n".join(lines)


def _lookup(data: Any, loc: tuple, fallback: Any) -> Any:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, (list, tuple)) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return fallback
    return data


def _allowed_keys(loc: list[str]) -> list[str]:
    """Field names of the section an unknown key was found in."""
    section = tuple("*" if i == 1 and loc[0] == "models" else p for i, p in enumerate(loc[:-1]))
    cls = _SECTIONS.get(section)
    return [f.name for f in fields(cls)] if cls is not None else []


_SECTIONS: dict[tuple[str, ...], type] = {
    (): Config,
    ("libero",): LiberoConfig,
    ("rollout",): RolloutConfig,
    ("rollout", "ray"): RayConfig,
    ("envcheck",): EnvCheckConfig,
    ("demos",): DemosConfig,
    ("bc",): BCConfig,
    ("models", "*"): ModelConfig,
    ("profiling",): ProfilingConfig,
    ("rl",): RLConfig,
    ("rl", "stage1"): Stage1Config,
    ("rl", "stage2"): Stage2Config,
    ("evaluate",): EvaluateConfig,
    ("ablation",): AblationConfig,
}


def _deep_merge(base: dict, over: dict, where: str) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = copy.deepcopy(value)


def _apply_override(data: dict, item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, text = item.split("=", 1)
    value = yaml.safe_load(text)
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[parts[-1]] = value


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    """``--profile`` and ``--set`` for every ptrim command line."""
    parser.add_argument("--profile", choices=PROFILES, help="profile (default: params.yaml's)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one value, e.g. libero.image_size=64",
    )
    parser.add_argument("--params", default=None, help="path to params.yaml")


def from_cli(args: argparse.Namespace) -> Config:
    return load(args.profile, args.overrides, args.params)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ptrim.config", description=__doc__.split("\n")[0]
    )
    add_cli_args(parser)
    args = parser.parse_args(argv)
    try:
        cfg = from_cli(args)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(json.dumps(cfg.to_dict(), indent=2))


if __name__ == "__main__":
    main()
