"""GRPO post-training: PolicyTrim's two RL stages (PAPER.md §3, DESIGN.md §2.2-2.4).

:func:`train_stage1` makes a longer part ``h`` of each ``H``-action plan executable (reliable
chunk extension); :func:`train_stage2` shortens episodes at the horizon stage 1 chose
(redundancy-aware step reduction). Both run a :class:`GRPOTrainer`, whose iteration
(:meth:`GRPOTrainer.run_iteration`) reads like the algorithm, each step timed. This module is
the loop (with its seeds and checkpoints); what differs between the stages is in
:mod:`ptrim.stages`, the update math over recorded rollouts in :mod:`ptrim.grpo`.

1. **sync** — the rollout backend gets the weights (:mod:`ptrim.backend`): the local one calls
   the very policy object being trained (nothing is copied); Ray workers load the weights the
   learner puts in the object store (:mod:`ptrim.ray_backend`, ``rollout.backend: ray``).
2. **interact** — ``groups_per_iter`` groups of ``G`` sampled rollouts
   (:func:`ptrim.rollout.rollout` with ``sample=True, keep_obs=True``). A group is one task ×
   one initial state: all its members reset the simulator to the same initial-state index
   (LIBERO restores the whole MuJoCo state and clears the solver warm start and the gripper's
   action smoothing, so every member starts from a bit-identical simulator state). Stage 1
   gives member ``j`` the execution length the curriculum assigns (:mod:`ptrim.curriculum`),
   stage 2 runs every member at the stage-1 horizon. The rollouts of one task share an
   :class:`~ptrim.envs.batch.EnvBatch` of ``rollout.num_envs`` environments, kept open across
   iterations (:class:`~ptrim.envs.batch.EnvPool`, at most ``rl.max_open_envs``); with
   ``num_envs = G`` a group's members run side by side and the policy is called once for all
   of them (jobs are group-major and spread round-robin over the environments). On Ray a
   group runs on one worker, with the same seeds.
3. **score** — rewards on the whole batch (:mod:`ptrim.rewards`; ``r_max`` over every group
   before filtering), the success filter (groups whose mean success lies outside
   ``[filter_low, filter_high]`` are dropped), GRPO advantages per group, each copied to every
   chunk (policy call) up to and including the one where the rollout finished. Stage 2 may
   first replay shortcut candidates (``stage2.shortcut_check``).
4. **train** — PPO on the kept chunks (:func:`ptrim.grpo.ppo_update`): one ratio per chunk from
   the log-likelihood summed over the chunk's *executed* actions — new: ``policy.log_prob`` on the
   stored observation and replay (flow chain, Gaussian sample, tokens); old: the per-action
   ``log_prob`` the policy recorded while sampling, summed over the same actions. Clipped
   surrogate with dual clip, token-mean over chunks, optional KL to the frozen stage input,
   gradient clipping; only ``policy.trainable_in_rl()`` is optimised (π0.5: the action expert;
   GR00T: the action head; OFT, OpenVLA: everything), and no gradient is computed for the rest.
   The policy stays in eval mode throughout: the log-probabilities must score the distribution
   the plans were sampled from.
5. **log / checkpoint** — one history entry per iteration (:meth:`GRPOTrainer.log_entry`
   lists the names), dvclive, checkpoints.

Seeds
-----
Everything random is a function of ``(seed, stage, iteration, …)`` (``bc.derive_seed``): the
task × initial state of group ``g`` (a seeded permutation of all pairs per epoch, consumed
``groups_per_iter`` at a time: :func:`group_starts`), the sampling noise of member ``j``
(:func:`sample_seed`), the noise of shortcut replays (:func:`replay_seed`), the chunk order of
minibatches, and the torch global RNG, reseeded before rollouts and before the update.

Checkpoints and resume
----------------------
Every ``checkpoint_every`` iterations, at a clean stop and at the end, into
``out_dir/checkpoints/iter_<N>/`` (N = iterations done; written to a hidden temporary directory
and renamed, ``checkpoints/latest`` names the newest, the last two are kept): the policy's
``save_pretrained`` files, ``optimizer.safetensors`` + ``optimizer.json``,
``rng_state.safetensors`` and ``trainer_state.json`` (iteration, wall time, the stage's state —
the curriculum —, the run's identity and the history). No pickle anywhere. A run killed at any
point and restarted with the same arguments continues from the newest checkpoint and ends with
the weights, optimizer and curriculum state of an uninterrupted run, bit for bit (same machine,
same threads, a deterministic simulator). The caller passes the stage's *input* policy again:
it is the frozen reference (the logged ``kl_ref``, and the loss's KL term with
``kl_coef > 0``). The run's identity includes the input policy's weights
(``weights_fingerprint``), so the checkpoints of a run that started from other weights (the BC
or stage-1 policy was retrained) are never resumed: they raise
:class:`ptrim.bc.StaleCheckpointError`, or with ``restart_stale`` are removed and the run starts
over (the pipeline's choice: DVC keeps the output directory across reruns). At the end:
``out_dir/final/`` (weights), ``out_dir/history.json``, ``out_dir/result.json`` (the result dict
without the history).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ptrim import bc, files, grpo, metrics, rewards
from ptrim.backend import LocalRollouts, Rollouts, Run, Work, make_rollouts
from ptrim.episode import EpisodeRecord
from ptrim.episode_store import weights_fingerprint
from ptrim.stages import ShortcutCheck, Stage1, Stage2, make_curriculum

CHECKPOINTS = "checkpoints"
LATEST = "latest"
HISTORY = "history.json"
RESULT = "result.json"
KEEP_CHECKPOINTS = 2
OPTIMIZER_TENSORS = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"
RNG_TENSORS = "rng_state.safetensors"
TRAINER_STATE = "trainer_state.json"
_ITER_DIR = re.compile(r"iter_(\d+)")

# purposes mixed into bc.derive_seed (bc uses 0-2), and one id per stage
STARTS, SAMPLE, REPLAY, SHUFFLE, UPDATE, INTERACT = 10, 11, 12, 13, 14, 15
STAGE_IDS = {"stage1": 1, "stage2": 2}

EnvFactory = Callable[[str], Any]  # task name -> a fresh environment of that task


# ============================================================================================
# Seeds and groups
# ============================================================================================


def sample_seed(seed: int, stage: str, iteration: int, group: int, member: int) -> int:
    """Sampling-noise seed of member ``member`` of group ``group`` in ``iteration``."""
    return bc.derive_seed(seed, SAMPLE, STAGE_IDS[stage], iteration, group, member)


def replay_seed(seed: int, stage: str, iteration: int, rollout_index: int, repeat: int) -> int:
    """Seed of shortcut replay ``repeat`` of rollout ``rollout_index`` (batch position)."""
    return bc.derive_seed(seed, REPLAY, STAGE_IDS[stage], iteration, rollout_index, repeat)


def group_starts(
    n_tasks: int, n_inits: int, per_iteration: int, *, seed: int, stage: str, iteration: int
) -> list[tuple[int, int]]:
    """``(task index, initial state)`` of each group of ``iteration``.

    All ``n_tasks · n_inits`` pairs form an endless stream of seeded permutations (one per
    epoch); iteration ``i`` takes positions ``i·per_iteration … (i+1)·per_iteration − 1``, so
    the groups of an iteration are distinct pairs (while there are enough) and every pair comes
    up once per epoch."""
    n = n_tasks * n_inits
    if n < 1 or per_iteration < 1:
        raise ValueError(f"need tasks, initial states and groups >= 1, got {n_tasks}, {n_inits}")
    orders: dict[int, list[int]] = {}
    starts = []
    for g in range(per_iteration):
        epoch, k = divmod(iteration * per_iteration + g, n)
        if epoch not in orders:
            gen = torch.Generator().manual_seed(
                bc.derive_seed(seed, STARTS, STAGE_IDS[stage], epoch)
            )
            orders[epoch] = torch.randperm(n, generator=gen).tolist()
        starts.append(divmod(orders[epoch][k], n_inits))
    return starts


@dataclass(frozen=True)
class Group:
    """One GRPO group: ``len(exec_lens)`` rollouts of ``task`` from ``init_state``."""

    task: str
    init_state: int
    exec_lens: tuple[int, ...]  # h of each member
    seeds: tuple[int, ...]  # sampling seed of each member

    def work(self) -> Work:
        """The group's rollouts, run together (on one worker, with the Ray backend)."""
        members = zip(self.exec_lens, self.seeds, strict=True)
        return Work(self.task, tuple(Run(self.init_state, h, s) for h, s in members))


# ============================================================================================
# The trainer
# ============================================================================================


class Stopwatch:
    """Wall seconds per named step (summed when a step repeats)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


@dataclass
class Scores:
    """What scoring an iteration's rollouts gives ([N] arrays, batch order)."""

    arrays: dict[str, np.ndarray]  # rewards.rollout_arrays + "group"
    terms: rewards.RewardTerms
    keep: np.ndarray  # rollouts of groups that pass the success filter
    advantage: np.ndarray  # GRPO advantage (0 for dropped groups)
    info: dict[str, float] = field(default_factory=dict)


class GRPOTrainer:
    """GRPO for one stage on one suite (module docstring). ``stage`` is a
    :class:`~ptrim.stages.Stage1` or :class:`~ptrim.stages.Stage2`; ``env_factory(task)`` builds
    one environment of ``task``; ``tasks`` are the task names groups are drawn from, with initial
    states ``0 .. rl.init_states − 1``. ``rollouts`` runs the episodes (:mod:`ptrim.backend`;
    default: this process, ``num_envs`` environments per task, ``workers``)."""

    def __init__(
        self,
        policy: Any,
        stage: Stage1 | Stage2,
        rl: Any,
        *,
        family: str,
        tasks: Sequence[str],
        env_factory: EnvFactory,
        iterations: int,
        out_dir: str | Path,
        seed: int,
        device: str = "cpu",
        num_envs: int = 1,
        workers: str = "inline",
        rollouts: Rollouts | None = None,
        live: Any = None,
        progress: bool = True,
        restart_stale: bool = False,
    ) -> None:
        if not tasks:
            raise ValueError("GRPO needs at least one task")
        self.start_weights = weights_fingerprint(policy)  # before it trains or resumes
        self.restart_stale = restart_stale
        self.policy = policy.to(device).eval()
        self.stage, self.rl, self.family = stage, rl, family
        self.tasks, self.env_factory = list(tasks), env_factory
        self.iterations, self.seed = int(iterations), int(seed)
        self.out_dir = Path(out_dir)
        if rollouts is None:
            rollouts = LocalRollouts(env_factory, int(num_envs), workers, rl.max_open_envs)
        self.rollouts = rollouts
        self.live, self.progress = live, progress
        self.settings = grpo.PPOSettings.of(rl, family)
        self.params = list(policy.trainable_in_rl())
        self.optimizer = torch.optim.AdamW(
            grpo.rl_param_groups(policy, self.params, rl.weight_decay),
            lr=rl.lr[family],
            betas=tuple(rl.betas),
        )
        # the frozen stage input: the KL term when kl_coef > 0, and the logged KL to it always
        self.reference = copy.deepcopy(policy).eval().requires_grad_(False)
        self.iteration = 0  # iterations done
        self.wall_s = 0.0
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------------------ the algorithm
    def run(self, max_iterations_this_run: int | None = None) -> dict[str, Any]:
        """Run (or continue, from ``out_dir``'s newest checkpoint) to ``iterations``; returns
        ``{"stage", "iteration", "finished", "resumed_from", "checkpoint", "final", "history",
        …stage result}`` (stage 1 adds ``horizon`` for stage 2, ``per_horizon_success``,
        ``frontier_history``; stage 2 its ``horizon``)."""
        from tqdm.auto import tqdm

        if max_iterations_this_run is not None and max_iterations_this_run < 1:
            raise ValueError(f"max_iterations_this_run must be >= 1, got {max_iterations_this_run}")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        resumed_from = self.resume()
        checkpoint = latest_checkpoint(self.out_dir)
        stop = self.iterations
        if max_iterations_this_run is not None:
            stop = min(stop, self.iteration + max_iterations_this_run)
        try:
            with tqdm(
                total=self.iterations,
                initial=self.iteration,
                desc=self.stage.name,
                unit="iter",
                disable=not self.progress,
            ) as bar:
                while self.iteration < stop:
                    started = time.perf_counter()
                    entry = self.run_iteration()
                    self.wall_s += time.perf_counter() - started
                    entry["wall_s"] = self.wall_s
                    self.log(entry, bar)
                    if self.iteration % self.rl.checkpoint_every == 0 or self.iteration == stop:
                        checkpoint = self.save_checkpoint()
        finally:
            self.rollouts.close()
        finished = self.iteration >= self.iterations
        result = {
            "stage": self.stage.name,
            "iteration": self.iteration,
            "finished": finished,
            "resumed_from": resumed_from,
            "checkpoint": str(checkpoint) if checkpoint else None,
            "final": str(bc.save_final(self.out_dir, self.policy)) if finished else None,
            **self.stage.result(),
        }
        if finished:
            files.write_json(self.out_dir / RESULT, result)
        return result | {"history": self.history}

    def run_iteration(self) -> dict[str, float]:
        """One GRPO iteration; returns its log entry."""
        clock, it = Stopwatch(), self.iteration
        with clock("sync"):
            self.rollouts.sync(self.policy)
        with clock("interact"):
            groups = self.draw_groups(it)
            episodes = self.interact(groups, it, clock)
        with clock("score"):
            scores = self.score(groups, episodes, it, clock)
        with clock("update"):
            chunks = grpo.chunks_of(episodes, scores.advantage, scores.keep)
            stats = self.train(chunks, it)
        self.stage.observe(scores.arrays)
        self.iteration += 1
        return self.log_entry(groups, episodes, scores, stats, clock)

    def draw_groups(self, iteration: int) -> list[Group]:
        """The iteration's groups: task × initial state (:func:`group_starts`), each member's
        execution length (the stage's) and sampling seed (:func:`sample_seed`)."""
        G, name = self.rl.group_size, self.stage.name
        starts = group_starts(
            len(self.tasks),
            self.rl.init_states,
            self.rl.groups_per_iter,
            seed=self.seed,
            stage=name,
            iteration=iteration,
        )
        return [
            Group(
                task=self.tasks[task],
                init_state=init,
                exec_lens=tuple(self.stage.exec_lens(G)),
                seeds=tuple(sample_seed(self.seed, name, iteration, g, j) for j in range(G)),
            )
            for g, (task, init) in enumerate(starts)
        ]

    def interact(
        self, groups: Sequence[Group], iteration: int, clock: Stopwatch
    ) -> list[EpisodeRecord]:
        """Every member of every group, sampled, observations kept; batch order is group-major
        (member ``j`` of group ``g`` at ``g·G + j``)."""
        torch.manual_seed(
            bc.derive_seed(self.seed, INTERACT, STAGE_IDS[self.stage.name], iteration)
        )
        return self._rollouts([g.work() for g in groups], clock, keep_obs=True)

    def score(
        self,
        groups: Sequence[Group],
        episodes: Sequence[EpisodeRecord],
        iteration: int,
        clock: Stopwatch,
    ) -> Scores:
        """Rewards over the whole batch, the success filter, GRPO advantages."""
        arrays = rewards.rollout_arrays(episodes)
        arrays["group"] = np.repeat(np.arange(len(groups)), self.rl.group_size)
        keep = rewards.keep_groups(
            arrays["success"], arrays["group"], self.rl.filter_low, self.rl.filter_high
        )
        replays = functools.partial(self.replay, groups, episodes, iteration, clock)
        terms, info = self.stage.rewards(arrays, keep, replays)
        advantage = np.where(keep, rewards.group_advantages(terms.total, arrays["group"]), 0.0)
        success = arrays["success"].reshape(len(groups), -1)
        info |= {
            "groups/total": float(len(groups)),
            "groups/kept": float(keep.reshape(len(groups), -1)[:, 0].sum()),
            "groups/all_fail": float((~success.any(1)).sum()),
            "groups/all_success": float(success.all(1).sum()),
            "advantage/abs_mean": float(np.abs(advantage[keep]).mean()) if keep.any() else 0.0,
        }
        return Scores(arrays=arrays, terms=terms, keep=keep, advantage=advantage, info=info)

    def replay(
        self,
        groups: Sequence[Group],
        episodes: Sequence[EpisodeRecord],
        iteration: int,
        clock: Stopwatch,
        indices: Sequence[int],
        repeats: int,
    ) -> list[list[EpisodeRecord]]:
        """``repeats`` fresh-noise rollouts of each rollout in ``indices`` (batch positions):
        same task, initial state and execution length (:func:`replay_seed`)."""
        G = self.rl.group_size
        work = [
            Work(groups[i // G].task, tuple(
                Run(groups[i // G].init_state, episodes[i].exec_len,
                    replay_seed(self.seed, self.stage.name, iteration, i, r))
                for r in range(repeats)
            ))
            for i in indices
        ]  # fmt: skip
        with clock("replay"):
            done = self._rollouts(work, clock, keep_obs=False)
        return [done[k * repeats : (k + 1) * repeats] for k in range(len(indices))]

    def train(self, chunks: Sequence[grpo.Chunk], iteration: int) -> dict[str, float]:
        """The PPO update on the kept chunks (:func:`ptrim.grpo.ppo_update`), only
        ``trainable_in_rl()`` with gradients; the global RNG and the minibatch order are seeded
        per iteration."""
        stage_id = STAGE_IDS[self.stage.name]
        torch.manual_seed(bc.derive_seed(self.seed, UPDATE, stage_id, iteration))
        order = torch.Generator().manual_seed(
            bc.derive_seed(self.seed, SHUFFLE, stage_id, iteration)
        )
        with grpo.only_training(self.policy, self.params):
            return grpo.ppo_update(
                self.policy,
                self.optimizer,
                chunks,
                self.settings,
                generator=order,
                reference=self.reference,
            )

    # ------------------------------------------------------------------------ rollouts
    def _rollouts(
        self, work: Sequence[Work], clock: Stopwatch, *, keep_obs: bool
    ) -> list[EpisodeRecord]:
        """Episodes of every run of ``work``, in order (:meth:`ptrim.backend.Rollouts.run`);
        the seconds spent building environments go to ``env_build``."""
        built = self.rollouts.build_s
        episodes = self.rollouts.run(work, sample=True, keep_obs=keep_obs, bf16=self.settings.bf16)
        clock.add("env_build", self.rollouts.build_s - built)
        return episodes

    # ------------------------------------------------------------------------ logging
    def log_entry(
        self,
        groups: Sequence[Group],
        episodes: Sequence[EpisodeRecord],
        scores: Scores,
        stats: Mapping[str, float],
        clock: Stopwatch,
    ) -> dict[str, float]:
        """The iteration's metrics (undefined values, e.g. steps without a success, are left
        out):

        * ``success_rate``, ``success/h<h>`` (this iteration, per execution length),
          ``steps`` (mean first-success step over successes), ``steps_all`` (failures at the
          limit), ``calls`` (forward passes per rollout), ``exec_len`` (:mod:`ptrim.metrics`)
        * ``reward/<term>``: batch means of ``r_succ``, ``r_plan``, ``r_eff``, ``penalty``,
          ``total``, and ``r_max``, ``withheld`` (:meth:`ptrim.rewards.RewardTerms.summary`)
        * ``groups/total|kept|all_fail|all_success``, ``advantage/abs_mean``;
          ``shortcut/candidates|replays`` (stage 2 with the check)
        * ``train/<stat>`` from :func:`ptrim.grpo.ppo_update`: ``loss``, ``clip_frac``,
          ``dual_clip_frac``, ``approx_kl`` (old ‖ new before each step, k3), ``ratio_mean``,
          ``step_kl`` (old ‖ updated) and ``kl_ref`` (updated ‖ the stage input, whatever
          ``kl_coef``), ``grad_norm``, ``optimizer_steps``, ``chunks``, ``skipped`` (1: no
          advantage anywhere, so no optimizer step)
        * ``policy/neg_logp``: mean −log π of an executed action as sampled (for OFT and
          OpenVLA an entropy estimate of the action distribution; for the flow families the
          density of the denoising chain, comparable across iterations only);
          ``policy/std`` (OFT: mean learned std, normalised units); ``policy/sde_noise``
          (flow families: the SDE noise level, fixed)
        * stage 1: ``curriculum/sr_h<h>`` (windowed), ``stage1/frontier`` (frontier mode),
          ``stage1/selected_h`` (the horizon stage 2 would get now); stage 2:
          ``stage2/horizon``
        * wall time: ``time/sync_s`` (weights to the rollout workers), ``time/interact_s``
          (of which ``time/sim_s`` env stepping + rendering,
          ``time/render_s``, ``time/policy_s`` inference, ``time/env_build_s``),
          ``time/score_s`` (of which ``time/replay_s``), ``time/update_s``
        * ``iteration`` (done), ``wall_s`` (training wall time so far, added by :meth:`run`)
        """
        eps = list(episodes)
        entry: dict[str, float] = {
            "iteration": self.iteration,
            "success_rate": metrics.success_rate(eps),
            "steps": metrics.mean_steps(eps),
            "steps_all": metrics.mean_steps_all(eps),
            "calls": metrics.mean_calls_all(eps),
            "exec_len": metrics.exec_len(eps),
        }
        for h in sorted({ep.exec_len for ep in eps}):
            entry[f"success/h{h}"] = metrics.success_rate([e for e in eps if e.exec_len == h])
        entry |= {f"reward/{k}": v for k, v in scores.terms.summary().items()}
        entry |= scores.info
        entry |= {f"train/{k}": v for k, v in stats.items()}
        entry |= policy_noise(self.policy, eps)
        entry |= self.stage.metrics()
        s = clock.seconds
        entry |= {
            "time/sync_s": s.get("sync", 0.0),
            "time/interact_s": s.get("interact", 0.0),
            "time/sim_s": sum(e.env_time_s + e.render_time_s for e in eps),
            "time/render_s": sum(e.render_time_s for e in eps),
            "time/policy_s": sum(e.policy_time_s for e in eps),
            "time/env_build_s": s.get("env_build", 0.0),
            "time/score_s": s.get("score", 0.0),
            "time/replay_s": s.get("replay", 0.0),
            "time/update_s": s.get("update", 0.0),
        }
        return {k: float(v) for k, v in entry.items() if math.isfinite(float(v))}

    def log(self, entry: dict[str, float], bar: Any) -> None:
        """History (and ``history.json``), dvclive (``live.step`` = iterations done), bar."""
        self.history.append(entry)
        files.write_json(self.out_dir / HISTORY, self.history)
        if self.live is not None:
            self.live.step = self.iteration
            for name, value in entry.items():
                if name != "iteration":
                    self.live.log_metric(f"{self.stage.name}/{name}", value)
            self.live.next_step()
        postfix = {"sr": f"{entry.get('success_rate', 0):.2f}"}
        for key, label in (("steps", "steps"), ("stage1/frontier", "h*")):
            if key in entry:
                postfix[label] = f"{entry[key]:.0f}"
        bar.set_postfix(postfix, refresh=False)
        bar.update()

    # ------------------------------------------------------------------------ checkpoints
    def identity(self) -> dict[str, Any]:
        """What a checkpoint must share with this run to be resumed by it: the stage and its
        arguments, the input policy's weights, seed, family, tasks and every RL setting that
        shapes the trajectory (``checkpoint_every`` and the iteration counts may change)."""
        rl = asdict(self.rl)
        rl.pop("checkpoint_every")
        rl.pop("max_open_envs")
        for s in ("stage1", "stage2"):
            rl[s].pop("iterations")
        return _jsonable(
            {
                "stage": self.stage.name,
                "stage_args": self.stage.identity(),
                "start_weights": self.start_weights,
                "seed": self.seed,
                "family": self.family,
                "tasks": self.tasks,
                "rl": rl,
            }
        )

    def save_checkpoint(self) -> Path:
        """``out_dir/checkpoints/iter_<iteration>/``, atomically; ``latest`` names it; only
        the last :data:`KEEP_CHECKPOINTS` are kept."""
        root = self.out_dir / CHECKPOINTS
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp_iter_*"):  # left by a process killed while saving
            shutil.rmtree(stale)
        final = root / f"iter_{self.iteration}"
        tmp = files.fresh_dir(root / f".tmp_{final.name}")
        self.policy.save_pretrained(tmp)
        tensors, meta = bc.optimizer_to_files(self.optimizer)
        save_file(tensors, tmp / OPTIMIZER_TENSORS)
        (tmp / OPTIMIZER_JSON).write_text(json.dumps(meta, indent=1) + "\n")
        save_file(bc.rng_state(), tmp / RNG_TENSORS)
        state = {
            "iteration": self.iteration,
            "wall_s": self.wall_s,
            "identity": self.identity(),
            "stage_state": self.stage.state_dict(),
            "history": self.history,
        }
        (tmp / TRAINER_STATE).write_text(json.dumps(_jsonable(state), indent=1) + "\n")
        files.replace_dir(tmp, final)
        files.write_text(root / LATEST, final.name + "\n")
        for old in checkpoint_dirs(self.out_dir)[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old)
        return final

    def resume(self) -> int | None:
        """Load the newest checkpoint (weights, optimizer, RNG, stage state, history), if any;
        returns the iteration resumed at. A checkpoint of another run raises
        :class:`ptrim.bc.StaleCheckpointError`, or with ``restart_stale`` is removed (with the
        run's history, result and final weights) and None is returned."""
        checkpoint = latest_checkpoint(self.out_dir)
        if checkpoint is None:
            return None
        state = json.loads((checkpoint / TRAINER_STATE).read_text())
        theirs, ours = state["identity"], self.identity()
        if theirs != ours:
            diffs = _differences(theirs, ours)
            stale = bc.StaleCheckpointError(
                f"{checkpoint} was written by another run ({'; '.join(diffs)}); it cannot be "
                "resumed with these arguments: use another out_dir or delete it"
            )
            if not self.restart_stale:
                raise stale
            print(f"starting over: {stale}", flush=True)
            bc.remove_run(self.out_dir)
            (self.out_dir / RESULT).unlink(missing_ok=True)
            return None
        loaded = type(self.policy).from_pretrained(checkpoint)
        self.policy.load_state_dict(loaded.state_dict())
        del loaded
        meta = json.loads((checkpoint / OPTIMIZER_JSON).read_text())
        tensors = load_file(checkpoint / OPTIMIZER_TENSORS)
        self.optimizer.load_state_dict(bc.optimizer_from_files(tensors, meta))
        bc.set_rng_state(load_file(checkpoint / RNG_TENSORS))
        self.stage.load_state_dict(state["stage_state"])
        self.iteration, self.wall_s = int(state["iteration"]), float(state["wall_s"])
        self.history = list(state["history"])
        files.write_json(self.out_dir / HISTORY, self.history)  # drop what a killed run logged
        return self.iteration


def policy_noise(policy: Any, episodes: Sequence[EpisodeRecord]) -> dict[str, float]:
    """What sets the sampling noise, per family (see :meth:`GRPOTrainer.log_entry`)."""
    logp = sum(
        float(np.sum(np.asarray(c.replay["log_prob"])[: c.executed]))
        for ep in episodes
        for c in ep.calls
        if "log_prob" in c.replay
    )
    executed = sum(ep.executed_actions for ep in episodes)
    out = {"policy/neg_logp": -logp / executed if executed else math.nan}
    log_std = getattr(policy, "log_std", None)
    if isinstance(log_std, torch.Tensor):
        out["policy/std"] = float(log_std.detach().exp().mean())
    if hasattr(policy, "velocity_field"):
        out["policy/sde_noise"] = float(policy.spec.sde_noise)
    return out


def checkpoint_dirs(out_dir: str | Path) -> list[Path]:
    """Complete checkpoints under ``out_dir/checkpoints``, oldest first."""
    root = Path(out_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        match = _ITER_DIR.fullmatch(d.name)
        if match and (d / TRAINER_STATE).is_file():
            found.append((int(match.group(1)), d))
    return [d for _, d in sorted(found)]


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    dirs = checkpoint_dirs(out_dir)
    return dirs[-1] if dirs else None


def _jsonable(obj: Any) -> Any:
    """Tuples as lists, numpy scalars as numbers: what a JSON round trip gives back."""
    return json.loads(json.dumps(obj, default=lambda x: x.item() if hasattr(x, "item") else x))


def _differences(theirs: Any, ours: Any, where: str = "") -> list[str]:
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out = []
        for k in sorted(set(theirs) | set(ours)):
            out += _differences(theirs.get(k), ours.get(k), f"{where}.{k}" if where else k)
        return out
    return [] if theirs == ours else [f"{where}: {theirs!r} -> {ours!r}"]


# ============================================================================================
# Entry points
# ============================================================================================


def _trainer(
    policy: Any,
    cfg: Any,
    suite: str,
    out_dir: str | Path,
    stage: Stage1 | Stage2,
    *,
    model_name: str,
    iterations: int,
    tasks: Sequence[str] | None,
    env_factory: EnvFactory | None,
    live: Any,
    progress: bool,
    restart_stale: bool = False,
) -> GRPOTrainer:
    if env_factory is None:
        from ptrim.evaluate import make_env

        env_factory = functools.partial(make_env, cfg, suite, seed=cfg.seed)
    rollouts = make_rollouts(cfg.rollout, env_factory, max_envs=cfg.rl.max_open_envs)
    return GRPOTrainer(
        policy,
        stage,
        cfg.rl,
        family=cfg.family_of(model_name),
        tasks=list(tasks if tasks is not None else cfg.bench(suite).task_list(suite)),
        env_factory=env_factory,
        iterations=iterations,
        out_dir=out_dir,
        seed=cfg.seed,
        device=cfg.device,
        rollouts=rollouts,
        live=live,
        progress=progress,
        restart_stale=restart_stale,
    )


def train_stage1(
    policy: Any,
    cfg: Any,
    suite: str,
    out_dir: str | Path,
    *,
    model_name: str,
    sr_base: float,
    start_h: int | None = None,
    tasks: Sequence[str] | None = None,
    env_factory: EnvFactory | None = None,
    live: Any = None,
    progress: bool = True,
    max_iterations_this_run: int | None = None,
    restart_stale: bool = False,
) -> dict[str, Any]:
    """Stage 1, reliable chunk extension, on ``suite`` for ``rl.stage1.iterations``
    (resumable). ``policy`` is trained in place.

    ``sr_base``: the base policy's success rate (a fraction) at its default ``h`` (profiling);
    the horizon handed to stage 2 must hold it within ``rl.stage1.horizon_tolerance``, and the
    frontier curriculum advances at ``frontier_tau · sr_base``. ``start_h``: the frontier's
    start, the base policy's largest reliable ``h`` (frontier mode only). ``tasks``: task
    names (default: the profile's); ``env_factory(task)``: an environment (default: LIBERO,
    :func:`ptrim.evaluate.make_env`). Returns :meth:`GRPOTrainer.run`'s dict; its ``horizon``
    is stage 2's."""
    s1 = cfg.rl.stage1
    family = cfg.family_of(model_name)
    H = policy.plan_horizon
    stage = Stage1(
        make_curriculum(s1, H, start_h=start_h, sr_base=sr_base, model=model_name),
        h_base=s1.h_base[family],
        lam_plan=s1.lam_plan,
        sr_base=sr_base,
        tolerance=s1.horizon_tolerance,
    )
    trainer = _trainer(
        policy,
        cfg,
        suite,
        out_dir,
        stage,
        model_name=model_name,
        iterations=s1.iterations,
        tasks=tasks,
        env_factory=env_factory,
        live=live,
        progress=progress,
        restart_stale=restart_stale,
    )
    return trainer.run(max_iterations_this_run)


def train_stage2(
    policy: Any,
    cfg: Any,
    suite: str,
    out_dir: str | Path,
    *,
    model_name: str,
    horizon: int,
    tasks: Sequence[str] | None = None,
    env_factory: EnvFactory | None = None,
    live: Any = None,
    progress: bool = True,
    max_iterations_this_run: int | None = None,
    restart_stale: bool = False,
) -> dict[str, Any]:
    """Stage 2, redundancy-aware step reduction, on ``suite`` for ``rl.stage2.iterations``
    (resumable), every rollout at ``horizon`` — stage 1's choice, or the model's base
    ``exec_len`` for the "stage 2 only" ablation. Arguments as :func:`train_stage1`."""
    from ptrim.envs import registry

    s2 = cfg.rl.stage2
    if not 1 <= horizon <= policy.plan_horizon:
        raise ValueError(f"horizon must be in 1..H = {policy.plan_horizon}, got {horizon}")
    shortcut = None
    if s2.shortcut_check:
        shortcut = ShortcutCheck(
            s2.shortcut_gamma, s2.shortcut_rho, s2.shortcut_slack, s2.shortcut_replays
        )
    stage = Stage2(
        horizon,
        T_max=s2.T_max[registry.canonical_suite(suite)],
        lam_eff=s2.lam_eff,
        lam_stab=s2.lam_stab,
        sigma_floor=s2.sigma_floor,
        use_stability=s2.use_stability,
        shortcut=shortcut,
    )
    trainer = _trainer(
        policy,
        cfg,
        suite,
        out_dir,
        stage,
        model_name=model_name,
        iterations=s2.iterations,
        tasks=tasks,
        env_factory=env_factory,
        live=live,
        progress=progress,
        restart_stale=restart_stale,
    )
    return trainer.run(max_iterations_this_run)
