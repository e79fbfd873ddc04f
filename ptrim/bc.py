"""Behaviour cloning: fit a policy to demonstration action chunks, resumable bit-exactly.

:func:`train` runs ``cfg.steps`` AdamW steps (linear warm-up, then cosine decay to
``lr * min_lr_ratio``; gradients clipped to ``grad_clip``) on batches of a
:class:`ptrim.data.ChunkDataset` (or a subset of one, :func:`select_demos`). A policy is any
``torch.nn.Module`` with ``bc_loss(batch) -> scalar``, ``save_pretrained(directory)`` and a
classmethod ``from_pretrained(directory)``.

Reproducibility and resume
--------------------------
Everything a step depends on is a function of ``(seed, step)``:

* **Sample order.** Epoch ``e`` is ``torch.randperm(n)`` drawn from a generator seeded with
  ``derive_seed(seed, ORDER, e)``; the epochs form one endless stream and batch ``k`` is
  ``stream[k*B : (k+1)*B]`` (:class:`StepBatchSampler`). Every batch is full; a batch may span an
  epoch boundary. Dataset items must be deterministic functions of their index (ChunkDataset's
  are: no augmentation).
* **Randomness inside** ``bc_loss`` (flow-matching noise and time, dropout). Before each step the
  torch *global* RNG (CPU and every CUDA device) is seeded with ``derive_seed(seed, LOSS, step)``;
  a policy draws from it as usual (``torch.randn``, ``nn.Dropout``). No generator is added to the
  batch. Python's ``random`` and numpy's global RNG are neither seeded nor saved.
* **Augmentation** (``shift_pixels > 0``): every image of the batch is shifted by a random
  whole number of pixels in ``[-shift_pixels, shift_pixels]`` along each axis, edges replicated
  (:func:`random_shift`, DrQ's and robomimic's crop augmentation), drawn from that same seeded
  RNG right before ``bc_loss``.
* **Learning rate** is set by hand from :func:`lr_at` before each step, so the "scheduler" state
  is the step number.

A run interrupted anywhere (a clean stop with ``max_steps_this_run``, or a kill) and restarted
with the same arguments continues from its newest checkpoint and ends with the weights and
optimizer state of an uninterrupted run, bit for bit (same machine, same threads).

A checkpoint is resumed only by the run that wrote it: the same trajectory settings, seed,
number of samples and model (:func:`model_signature`: every tensor's name, dtype and shape and
the tokenizer's vocabulary). Anything else raises :class:`StaleCheckpointError`, or, with
``restart_stale``, removes the stale checkpoints and starts over. The pipeline asks for the
latter: DVC keeps a stage's output directory across reruns (``persist``), so after an upstream
change (a new tokenizer, more BC steps) the directory holds another run's checkpoints.

Checkpoints
-----------
Every ``checkpoint_every`` steps, at a clean stop and at the end, into
``out_dir/checkpoints/step_<N>/`` (N = optimizer steps done): the policy's ``save_pretrained``
files, ``optimizer.safetensors`` (AdamW's per-parameter tensors, keys ``state.<i>.<name>``) and
``optimizer.json`` (param groups and any non-tensor state), ``rng_state.safetensors`` (torch
CPU/CUDA RNG states) and ``trainer_state.json`` (step, seed, config, wall time, history). No
pickle anywhere. A checkpoint is written to a hidden temporary directory and renamed into place;
``checkpoints/latest`` names the newest; only the last two are kept. The final weights also go
to ``out_dir/final/`` and the metric history to ``out_dir/history.json``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections.abc import Iterator, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ptrim import files
from ptrim.config import BCConfig
from ptrim.data import ChunkDataset, collate

CHECKPOINTS = "checkpoints"
FINAL = "final"
LATEST = "latest"
HISTORY = "history.json"
KEEP_CHECKPOINTS = 2
OPTIMIZER_TENSORS = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"
RNG_TENSORS = "rng_state.safetensors"
TRAINER_STATE = "trainer_state.json"

# purposes mixed into derive_seed, so the streams of one seed never coincide
ORDER, LOSS, LOADER = 0, 1, 2

# BCConfig fields that shape the trajectory: a run resumes only if they are unchanged
TRAJECTORY_FIELDS = (
    "steps",
    "batch_size",
    "lr",
    "weight_decay",
    "warmup_steps",
    "min_lr_ratio",
    "grad_clip",
    "precision",
)
_STEP_DIR = re.compile(r"step_(\d+)")


class StaleCheckpointError(ValueError):
    """A checkpoint written by another run (other settings, seed, data or model)."""


def model_signature(policy: torch.nn.Module) -> str:
    """What a checkpoint must fit to be resumed into ``policy``: every parameter's and buffer's
    name, dtype and shape, and the tokenizer's vocabulary if it has one. Values are left out: a
    resumed process builds its policy afresh and the checkpoint overwrites them."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(policy.state_dict().items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
    tokenizer = getattr(policy, "tokenizer", None)
    if tokenizer is not None:
        h.update(json.dumps(tokenizer.vocab(), sort_keys=True).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------- seeds and data
def derive_seed(*parts: int) -> int:
    """A 63-bit seed from non-negative integers (numpy ``SeedSequence``): distinct tuples give
    unrelated streams, unlike ``seed + epoch``."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)
    return int(state[0]) >> 1


def epoch_order(num_samples: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample indices of epoch ``epoch``: a permutation of ``range(num_samples)`` (int64)."""
    generator = torch.Generator().manual_seed(derive_seed(seed, ORDER, epoch))
    return torch.randperm(num_samples, generator=generator)


class StepBatchSampler(torch.utils.data.Sampler[list[int]]):
    """The batches of optimizer steps ``start .. stop-1`` (0-based) of a seeded endless order.

    Batch ``k`` is ``stream[k*B : (k+1)*B]`` of the concatenated epoch permutations
    (:func:`epoch_order`), so it depends only on ``(num_samples, batch_size, seed, k)``: a sampler
    started at ``start`` yields exactly the tail of one started at 0, even mid-epoch.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, start: int, stop: int):
        if num_samples < 1 or batch_size < 1 or not 0 <= start <= stop:
            raise ValueError(
                f"need num_samples >= 1, batch_size >= 1, 0 <= start <= stop; got "
                f"{num_samples}, {batch_size}, {start}, {stop}"
            )
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.start, self.stop = start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self) -> Iterator[list[int]]:
        epoch, offset = divmod(self.start * self.batch_size, self.num_samples)
        order = epoch_order(self.num_samples, self.seed, epoch)
        for _ in range(len(self)):
            batch: list[int] = []
            while len(batch) < self.batch_size:
                take = order[offset : offset + self.batch_size - len(batch)]
                batch.extend(take.tolist())
                offset += len(take)
                if offset == self.num_samples:
                    epoch, offset = epoch + 1, 0
                    order = epoch_order(self.num_samples, self.seed, epoch)
            yield batch


def select_demos(dataset: ChunkDataset, per_task: int) -> torch.utils.data.Subset:
    """The samples of the first ``per_task`` demos of every file (each file holds one task);
    all of a file's demos where it has fewer (experts keep only their successes)."""
    if per_task < 1:
        raise ValueError(f"per_task must be >= 1, got {per_task}")
    indices = [i for _, demo, samples in dataset.demo_samples() if demo < per_task for i in samples]
    return torch.utils.data.Subset(dataset, indices)


def make_loader(
    dataset: torch.utils.data.Dataset, cfg: BCConfig, *, seed: int, start: int, stop: int
) -> torch.utils.data.DataLoader:
    """Batches (:func:`ptrim.data.collate`) for steps ``start .. stop-1``; see
    :class:`StepBatchSampler`. Its own generator keeps the global RNG untouched."""
    sampler = StepBatchSampler(len(dataset), cfg.batch_size, seed, start, stop)
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(derive_seed(seed, LOADER, start)),
    )


def to_device(batch: Any, device: torch.device | str) -> Any:
    """``batch`` with every tensor (in nested dicts, lists, tuples) moved to ``device``."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


# ---------------------------------------------------------------------------- optimisation
def lr_at(step: int, cfg: BCConfig) -> float:
    """Learning rate of optimizer step ``step`` (0-based) of ``cfg.steps``.

    Warm-up ``W = cfg.warmup_steps``: ``lr * (step + 1) / (W + 1)`` for ``step < W``. Then a
    cosine from ``lr`` at ``step = W`` to ``lr * min_lr_ratio`` at the last step
    ``cfg.steps - 1`` (and after it).
    """
    warmup, last = cfg.warmup_steps, cfg.steps - 1
    if step < warmup:
        return cfg.lr * (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, last - warmup))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * cosine)


def param_groups(policy: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters in two AdamW groups: matrices/kernels decay; biases, norm scales
    and every other parameter with fewer than 2 dimensions do not. Empty groups are left out."""
    decay, no_decay = [], []
    for name, p in policy.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or name.endswith("bias") else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def make_optimizer(policy: torch.nn.Module, cfg: BCConfig) -> torch.optim.AdamW:
    """AdamW (torch defaults for betas and eps) over ``policy``'s trainable parameters."""
    groups = param_groups(policy, cfg.weight_decay)
    if not groups:
        raise ValueError("the policy has no trainable parameters")
    return torch.optim.AdamW(groups, lr=lr_at(0, cfg))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _trainable(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def random_shift(images: torch.Tensor, pad: int) -> torch.Tensor:
    """``images`` ``[B, S, S, C]`` (any dtype), each moved by its own random offset in
    ``[-pad, pad]`` per axis with the border pixels replicated; offsets come from the global
    torch RNG (seeded per step by :func:`train_step`)."""
    if pad == 0:
        return images
    B, S = images.shape[0], images.shape[1]
    x = images.permute(0, 3, 1, 2)
    padded = torch.nn.functional.pad(x.float(), (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (B, 2)).tolist()
    out = torch.stack([padded[i, :, r : r + S, c : c + S] for i, (r, c) in enumerate(offsets)])
    return out.to(images.dtype).permute(0, 2, 3, 1)


def train_step(
    policy: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, Any],
    cfg: BCConfig,
    *,
    seed: int,
    step: int,
    device: torch.device,
) -> tuple[float, float]:
    """Optimizer step ``step`` (0-based) on ``batch``; returns (loss, gradient norm before
    clipping). Seeds the global torch RNG from ``(seed, step)`` first (module docstring)."""
    set_lr(optimizer, lr_at(step, cfg))
    torch.manual_seed(derive_seed(seed, LOSS, step))
    optimizer.zero_grad(set_to_none=True)
    if cfg.shift_pixels:
        batch = {
            **batch,
            "images": {c: random_shift(x, cfg.shift_pixels) for c, x in batch["images"].items()},
        }
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
        loss = policy.bc_loss(batch)
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(f"behaviour cloning step {step}: loss is {value}")
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(_trainable(optimizer), cfg.grad_clip)
    optimizer.step()
    return value, float(grad_norm)


# ---------------------------------------------------------------------------- run state
@dataclass
class RunState:
    """What a checkpoint holds besides tensors (``trainer_state.json``)."""

    step: int  # optimizer steps done
    seed: int
    num_samples: int
    config: dict[str, Any]
    model: str | None = None  # model_signature of the policy trained
    wall_s: float = 0.0  # training wall time so far, over all resumed runs
    loss_sum: float = 0.0  # since the last logged step
    grad_norm_sum: float = 0.0
    window: int = 0  # steps summed since the last logged step
    history: list[dict[str, float]] = field(default_factory=list)

    def add(self, loss: float, grad_norm: float) -> None:
        self.loss_sum += loss
        self.grad_norm_sum += grad_norm
        self.window += 1

    def log_entry(self, lr: float) -> dict[str, float]:
        """Close the window: mean loss/grad norm over it, appended to ``history``."""
        entry = {
            "step": self.step,
            "loss": self.loss_sum / self.window,
            "grad_norm": self.grad_norm_sum / self.window,
            "lr": lr,
            "wall_s": self.wall_s,
        }
        self.history.append(entry)
        self.loss_sum = self.grad_norm_sum = 0.0
        self.window = 0
        return entry

    def check_compatible(
        self, cfg: BCConfig, seed: int, num_samples: int, where: Path, model: str | None = None
    ) -> None:
        """Raise :class:`StaleCheckpointError` unless a run with these arguments (and a policy
        of signature ``model``, when given) may continue this state."""
        theirs = {k: self.config.get(k) for k in TRAJECTORY_FIELDS}
        ours = {k: getattr(cfg, k) for k in TRAJECTORY_FIELDS}
        diffs = [
            f"{k}: {theirs[k]!r} -> {ours[k]!r}" for k in TRAJECTORY_FIELDS if theirs[k] != ours[k]
        ]
        if self.seed != seed:
            diffs.append(f"seed: {self.seed} -> {seed}")
        if self.num_samples != num_samples:
            diffs.append(f"dataset samples: {self.num_samples} -> {num_samples}")
        if model is not None and self.model != model:
            diffs.append(
                "model: other tensors or vocabulary"
                if self.model
                else "model: the checkpoint predates model signatures"
            )
        if diffs:
            raise StaleCheckpointError(
                f"{where} was written by another run ({'; '.join(diffs)}); it cannot be resumed "
                "with these arguments: use another out_dir or delete it"
            )


# ---------------------------------------------------------------------------- optimizer and RNG
def optimizer_to_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state dict without pickle: tensors ``{"state.<i>.<name>": tensor}`` (for
    safetensors) and the rest as JSON (param groups, non-tensor state values)."""
    state_dict = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, state in state_dict["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"state.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    meta = {
        "class": type(optimizer).__name__,
        "param_groups": state_dict["param_groups"],
        "state_scalars": scalars,
    }
    return tensors, meta


def optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict) -> dict[str, Any]:
    """Inverse of :func:`optimizer_to_files`: a state dict for ``load_state_dict`` (JSON lists
    in param groups, e.g. ``betas``, become tuples again)."""
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = tensor
    for index, values in meta["state_scalars"].items():
        state.setdefault(int(index), {}).update(values)
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in group.items()}
        for group in meta["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def rng_state() -> dict[str, torch.Tensor]:
    """The torch global RNG states: ``cpu`` and ``cuda.<i>`` for initialised CUDA devices."""
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            states[f"cuda.{i}"] = s
    return states


def set_rng_state(states: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(states["cpu"])
    cuda = [states[k] for k in sorted(states) if k.startswith("cuda.")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ---------------------------------------------------------------------------- checkpoints
def checkpoint_dirs(out_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under ``out_dir/checkpoints``, oldest first."""
    root = Path(out_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        match = _STEP_DIR.fullmatch(d.name)
        if match and (d / TRAINER_STATE).is_file():
            found.append((int(match.group(1)), d))
    return [d for _, d in sorted(found)]


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint (what ``checkpoints/latest`` names), or None."""
    dirs = checkpoint_dirs(out_dir)
    return dirs[-1] if dirs else None


def save_checkpoint(
    out_dir: Path, policy: torch.nn.Module, optimizer: torch.optim.Optimizer, run: RunState
) -> Path:
    """Write ``out_dir/checkpoints/step_<run.step>/`` atomically, point ``latest`` at it and
    delete all but the last :data:`KEEP_CHECKPOINTS`. Returns its path."""
    root = out_dir / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp_step_*"):  # left by a process killed while saving
        shutil.rmtree(stale)
    final = root / f"step_{run.step}"
    tmp = files.fresh_dir(root / f".tmp_{final.name}")
    policy.save_pretrained(tmp)
    tensors, meta = optimizer_to_files(optimizer)
    save_file(tensors, tmp / OPTIMIZER_TENSORS)
    (tmp / OPTIMIZER_JSON).write_text(json.dumps(meta, indent=1) + "\n")
    save_file(rng_state(), tmp / RNG_TENSORS)
    (tmp / TRAINER_STATE).write_text(json.dumps(asdict(run), indent=1) + "\n")
    files.replace_dir(tmp, final)
    files.write_text(root / LATEST, final.name + "\n")
    for old in checkpoint_dirs(out_dir)[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old)
    return final


def read_run_state(directory: Path) -> RunState:
    """A checkpoint's ``trainer_state.json``."""
    return RunState(**json.loads((directory / TRAINER_STATE).read_text()))


def load_checkpoint(
    directory: Path, policy: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> RunState:
    """Load weights (via ``from_pretrained``), optimizer and RNG states into the given objects;
    returns the run state. Nothing is unpickled."""
    loaded = type(policy).from_pretrained(directory)
    policy.load_state_dict(loaded.state_dict())
    del loaded
    meta = json.loads((directory / OPTIMIZER_JSON).read_text())
    if meta["class"] != type(optimizer).__name__:
        raise ValueError(
            f"{directory}: optimizer is {meta['class']}, not {type(optimizer).__name__}"
        )
    optimizer.load_state_dict(optimizer_from_files(load_file(directory / OPTIMIZER_TENSORS), meta))
    set_rng_state(load_file(directory / RNG_TENSORS))
    return read_run_state(directory)


def remove_run(out_dir: Path) -> None:
    """Delete a run's checkpoints, history and final weights from ``out_dir`` (other files,
    e.g. dvclive's, stay)."""
    for name in (CHECKPOINTS, FINAL):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    (out_dir / HISTORY).unlink(missing_ok=True)


def save_final(out_dir: Path, policy: torch.nn.Module) -> Path:
    """``policy.save_pretrained`` into ``out_dir/final`` (atomically)."""
    final = out_dir / FINAL
    tmp = files.fresh_dir(out_dir / f".tmp_{FINAL}")
    policy.save_pretrained(tmp)
    files.replace_dir(tmp, final)
    return final


# ---------------------------------------------------------------------------- logging
def _log(run: RunState, lr: float, out_dir: Path, live: Any, bar: Any) -> dict[str, float]:
    """Close the metric window: history (and ``history.json``), dvclive, progress bar."""
    entry = run.log_entry(lr)
    files.write_json(out_dir / HISTORY, run.history)
    if live is not None:
        live.step = run.step
        for name in ("loss", "lr", "grad_norm"):
            live.log_metric(f"train/{name}", entry[name])
        live.next_step()
    bar.set_postfix(loss=f"{entry['loss']:.4f}", lr=f"{lr:.2e}", refresh=False)
    return entry


# ---------------------------------------------------------------------------- training
def train(
    policy: torch.nn.Module,
    dataset: torch.utils.data.Dataset,
    cfg: BCConfig,
    out_dir: str | os.PathLike,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    live: Any = None,
    progress: bool = True,
    max_steps_this_run: int | None = None,
    restart_stale: bool = False,
) -> dict[str, Any]:
    """Train ``policy`` in place for ``cfg.steps`` optimizer steps; continue from the newest
    checkpoint in ``out_dir`` if there is one (the module docstring says what is saved where).
    A checkpoint of another run raises :class:`StaleCheckpointError`, or with ``restart_stale``
    is removed (with the run's history and final weights) and training starts over.

    ``dataset`` yields :class:`ptrim.data.ChunkDataset` items; batches are collated, moved to
    ``device`` and handed to ``policy.bc_loss``. ``live``: a ``dvclive.Live``; every
    ``log_every`` steps and at the end it gets ``train/loss``, ``train/lr``, ``train/grad_norm``
    (means over the steps since the last log; ``live.step`` = optimizer steps done).
    ``max_steps_this_run``: stop after this many steps of this call, with a checkpoint (a clean
    interruption; calling again continues).

    Returns ``{"step", "finished", "resumed_from", "checkpoint", "final", "history"}``:
    ``resumed_from`` the step resumed at (None for a fresh start), ``final`` the directory of
    the final weights (None until finished), ``history`` the logged metrics (``step``, ``loss``,
    ``grad_norm``, ``lr``, ``wall_s``).
    """
    out_dir, device = Path(out_dir), torch.device(device)
    if max_steps_this_run is not None and max_steps_this_run < 1:
        raise ValueError(f"max_steps_this_run must be >= 1, got {max_steps_this_run}")
    if not isinstance(dataset, Sized) or len(dataset) == 0:
        raise ValueError("behaviour cloning needs a non-empty dataset")
    out_dir.mkdir(parents=True, exist_ok=True)
    policy.to(device)
    optimizer = make_optimizer(policy, cfg)
    signature = model_signature(policy)
    run = RunState(step=0, seed=seed, num_samples=len(dataset), config=asdict(cfg), model=signature)
    resumed_from, checkpoint = None, latest_checkpoint(out_dir)
    if checkpoint is not None:
        try:
            read_run_state(checkpoint).check_compatible(
                cfg, seed, len(dataset), checkpoint, signature
            )
        except StaleCheckpointError as stale:
            if not restart_stale:
                raise
            print(f"starting over: {stale}", flush=True)
            remove_run(out_dir)
            checkpoint = None
    if checkpoint is not None:
        run = load_checkpoint(checkpoint, policy, optimizer)
        run.config, resumed_from = asdict(cfg), run.step
        files.write_json(out_dir / HISTORY, run.history)  # drop what a killed run logged after it
    stop = (
        cfg.steps if max_steps_this_run is None else min(cfg.steps, run.step + max_steps_this_run)
    )
    checkpoint = (
        _train_steps(policy, optimizer, dataset, cfg, out_dir, run, stop, device, live, progress)
        or checkpoint
    )
    finished = run.step == cfg.steps
    return {
        "step": run.step,
        "finished": finished,
        "resumed_from": resumed_from,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "final": str(save_final(out_dir, policy)) if finished else None,
        "history": run.history,
    }


def _train_steps(
    policy: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    dataset: torch.utils.data.Dataset,
    cfg: BCConfig,
    out_dir: Path,
    run: RunState,
    stop: int,
    device: torch.device,
    live: Any,
    progress: bool,
) -> Path | None:
    """Steps ``run.step .. stop-1``, logging and checkpointing; returns the last checkpoint
    written (None if none)."""
    from tqdm.auto import tqdm

    loader = make_loader(dataset, cfg, seed=run.seed, start=run.step, stop=stop)
    policy.train()
    started, wall_before, checkpoint = time.perf_counter(), run.wall_s, None
    with tqdm(
        total=cfg.steps, initial=run.step, desc="bc", unit="step", disable=not progress
    ) as bar:
        for batch in loader:
            lr = lr_at(run.step, cfg)
            loss, grad_norm = train_step(
                policy,
                optimizer,
                to_device(batch, device),
                cfg,
                seed=run.seed,
                step=run.step,
                device=device,
            )
            run.step += 1
            run.add(loss, grad_norm)
            run.wall_s = wall_before + time.perf_counter() - started
            if run.step % cfg.log_every == 0 or run.step == cfg.steps:
                _log(run, lr, out_dir, live, bar)
            if run.step % cfg.checkpoint_every == 0 or run.step == stop:
                checkpoint = save_checkpoint(out_dir, policy, optimizer, run)
            bar.update()
    policy.eval()
    return checkpoint
