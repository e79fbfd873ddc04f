"""Run the profile's stages (:func:`ptrim.pipeline.stages`) with several ``dvc repro
--single-item`` at once, each stage starting as soon as the stages it reads from are done.

    python -m ptrim.repro [--jobs 2] [--profile P] [STAGE ...]

DVC runs independent stages in parallel when each is its own ``dvc repro`` (it releases its
repository lock while a stage's command runs), but it schedules nothing itself; this does, from
the stages' ``deps`` and ``outs`` in ``dvc.yaml``. Two DVC processes that reach for the
repository lock at the same instant make one fail with "Unable to acquire lock"; such a stage is
simply started again.

With ``--jobs`` > 1 every stage runs with ``OMP_NUM_THREADS=1`` (torch on one thread) and
``LP_NUM_THREADS=1`` (Mesa's llvmpipe renderer on one thread): two processes that each spread
over both cores slow each other down several times, while two single-threaded ones share two
cores well. This suits many small stages (the ``smoke`` profile: most of a stage is starting a
kernel and importing) and the ``default`` profile's simulator-bound stages alike: two
single-threaded LIBERO rollouts give 2.0-2.6x the steps/s of one
(``benchmarks/parallel_rollouts.sh``, table in ``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LOCK_ERROR = "Unable to acquire lock"
LOCK_RETRIES = 30


def _produces(out: str, dep: str) -> bool:
    """An output path feeds a dependency path: the same, or one inside the other."""
    out, dep = out.rstrip("/"), dep.rstrip("/")
    return out == dep or dep.startswith(out + "/") or out.startswith(dep + "/")


def upstream(names: Sequence[str], root: str | Path = ".") -> dict[str, set[str]]:
    """For each stage in ``names``, the stages of ``names`` whose outputs it depends on (read
    from ``dvc.yaml`` through DVC's own index)."""
    from dvc.repo import Repo

    wanted = set(names)
    with Repo(str(root)) as repo:
        stages = {s.addressing: s for s in repo.index.stages if s.addressing in wanted}
        missing = wanted - set(stages)
        if missing:
            raise SystemExit(f"no such stages in dvc.yaml: {sorted(missing)}")
        outs = {n: [o.def_path for o in s.outs] for n, s in stages.items()}
        deps = {n: [d.def_path for d in s.deps] for n, s in stages.items()}
    return {
        n: {m for m in stages if m != n and any(_produces(o, d) for o in outs[m] for d in deps[n])}
        for n in stages
    }


@dataclass
class _Running:
    process: subprocess.Popen
    started: float
    log: Path
    attempts: int


def run(
    names: Sequence[str],
    needs: dict[str, set[str]],
    *,
    jobs: int,
    log_dir: Path,
    root: str | Path = ".",
    dvc: str | None = None,
) -> dict[str, float]:
    """Run every stage of ``names`` (``dvc repro --single-item``, logs in ``log_dir``), at most
    ``jobs`` at once, each after the stages ``needs`` names; earlier in ``names`` goes first
    among the ready ones. A stage that fails stops only the stages that read (directly or not)
    what it makes; the others still run, so one broken branch of an hours-long run does not idle
    the rest. Returns each stage's wall seconds; raises ``SystemExit`` naming every failed stage
    and what was not started because of it, once the rest has ended. ``dvc``: the executable
    (default: the one beside this Python)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if jobs > 1:
        env.update(OMP_NUM_THREADS="1", LP_NUM_THREADS="1")
    dvc = dvc or str(Path(sys.executable).parent / "dvc")
    waiting, running, seconds = list(names), {}, {}
    failed: list[str] = []  # stages that failed; what depends on them is dropped, not started
    dropped: set[str] = set()

    def start(name: str, attempts: int) -> None:
        log = log_dir / f"{name.replace('@', '_')}.log"
        with log.open("w") as f:
            process = subprocess.Popen(
                [dvc, "repro", "--single-item", name], cwd=root, env=env, stdout=f,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        running[name] = _Running(process, time.monotonic(), log, attempts)

    while running or waiting:
        for name in list(waiting):
            if needs[name] & (dropped | set(failed)):
                waiting.remove(name)
                dropped.add(name)
                print(f"{name:<36} not started: it reads what a failed stage makes", flush=True)
            elif len(running) < jobs and needs[name] <= seconds.keys():
                waiting.remove(name)
                start(name, 1)
        time.sleep(0.2)
        for name, r in list(running.items()):
            code = r.process.poll()
            if code is None:
                continue
            del running[name]
            if code != 0 and LOCK_ERROR in r.log.read_text() and r.attempts < LOCK_RETRIES:
                time.sleep(0.5 * r.attempts)
                start(name, r.attempts + 1)
            elif code != 0:
                failed.append(name)
                print(f"{name:<36} FAILED (log: {r.log})", flush=True)
            else:
                seconds[name] = time.monotonic() - r.started
                retried = f"  ({r.attempts - 1} lock retries)" if r.attempts > 1 else ""
                print(f"{name:<36} {seconds[name]:6.1f} s{retried}", flush=True)
    if failed:
        tails = "\n".join(
            f"stage {f} failed:\n" + (log_dir / f"{f.replace('@', '_')}.log").read_text()[-3000:]
            for f in failed
        )
        raise SystemExit(f"{tails}\nnot started, as they read what failed: {sorted(dropped)}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    from ptrim import config, pipeline

    parser = argparse.ArgumentParser(prog="python -m ptrim.repro", description=__doc__)
    parser.add_argument("stages", nargs="*", help="default: the profile's (ptrim.pipeline)")
    parser.add_argument("--jobs", type=int, default=1, help="stages at once")
    parser.add_argument("--profile", default=None, help="default: the one params.yaml names")
    parser.add_argument("--logs", type=Path, default=Path("logs/repro"), help="one per stage")
    args = parser.parse_args(argv)
    names = args.stages or pipeline.stages(config.load(args.profile))
    started = time.monotonic()
    run(names, upstream(names), jobs=args.jobs, log_dir=args.logs)
    print(f"{len(names)} stages in {time.monotonic() - started:.0f} s with {args.jobs} job(s)")


if __name__ == "__main__":
    main()
