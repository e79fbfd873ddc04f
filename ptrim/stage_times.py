"""How long every stage took, summed over its interruptions: the figure behind the README's
"the ``default`` profile takes N h on 2 cores".

A ``default`` stage can run for hours and be killed (a session ends, a machine reboots) and
resumed later from its checkpoints and episode store, so one run's wall time says little.
:class:`StageClock` (used by ``python -m ptrim.notebook`` around every stage notebook) keeps a
small ``<stem>.running.json`` beside the log while the stage runs, refreshed every ``period``
seconds with the time it has been *running*: a gap longer than ``3 × period`` between two
refreshes (the process was stopped with SIGSTOP, or the machine slept) is not counted. When
the stage ends, one line goes to ``data/timings/<stem>.jsonl``. A run that was killed never
gets to write its line; the next run of the same stage finds its ``.running.json`` and writes
it as a killed run, with the time it had run until its last refresh.

``python -m ptrim.stage_times`` prints, per profile, each stage's runs and running time, over
all its runs and over its last build only (:func:`last_builds`: the runs that made its current
result, so a stage rebuilt after a code change or on a fresh machine counts once), and the
totals: the time the stages take one after another (two at a time, as ``ptrim.repro --jobs 2``
runs them, the wall time is shorter and the sum stays the CPU-side cost), and the wall-clock
time during which any stage ran (:func:`wall_s`, stages side by side counted once). These are
measured times: re-running a stage adds lines (``git status`` shows them as changed, legitimately).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

TIMINGS_DIR = Path("data/timings")


def _now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StageClock:
    """Context manager timing one stage run (see the module docstring). ``root``: the
    directory of the ``.jsonl`` logs; ``stem``: the stage's name there (the executed
    notebook's stem); ``profile``: the profile it ran under."""

    def __init__(
        self,
        root: str | Path,
        stem: str,
        profile: str | None,
        period: float = 30.0,
        clock=time.monotonic,
    ) -> None:
        self.root, self.stem, self.profile, self.period = Path(root), stem, profile, period
        self.clock = clock
        self.log = self.root / f"{stem}.jsonl"
        self.running = self.root / f"{stem}.running.json"
        self._stop = threading.Event()
        self.running_s = 0.0

    # ------------------------------------------------------------------ records
    def _record(self, ok: bool | None, running_s: float, started: str, ended: str) -> None:
        line = {
            "stage": self.stem,
            "profile": self.profile,
            "ok": ok,  # None: killed before it ended
            "running_s": round(running_s, 1),
            "started": started,
            "ended": ended,
            "cores": os.cpu_count(),
        }
        with self.log.open("a") as f:
            f.write(json.dumps(line) + "\n")

    def _fold_killed_run(self) -> None:
        if not self.running.exists():
            return
        try:
            last = json.loads(self.running.read_text())
        except json.JSONDecodeError:  # killed while writing it: nothing to recover
            last = None
        if last:
            self._record(None, last["running_s"], last["started"], last["refreshed"])
        self.running.unlink()

    def _refresh(self) -> None:
        # called by the heartbeat thread, and by __enter__/__exit__ only while it is not running
        now = self.clock()
        gap, self._last = now - self._last, now
        if gap < 3 * self.period:  # longer: stopped or asleep, not running
            self.running_s += gap
        state = {
            "started": self._started,
            "refreshed": _now_utc(),
            "running_s": round(self.running_s, 1),
            "profile": self.profile,
        }
        tmp = self.running.with_suffix(".tmp")
        tmp.write_text(json.dumps(state) + "\n")
        tmp.replace(self.running)

    def _beat(self) -> None:
        while not self._stop.wait(self.period):
            self._refresh()

    # ------------------------------------------------------------------ context
    def __enter__(self) -> StageClock:
        self.root.mkdir(parents=True, exist_ok=True)
        self._fold_killed_run()
        self._started, self._last = _now_utc(), self.clock()
        self._refresh()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        self._thread.join()
        self._refresh()
        self._record(exc_type is None, self.running_s, self._started, _now_utc())
        self.running.unlink(missing_ok=True)


# ---------------------------------------------------------------------- report
def read(root: str | Path = TIMINGS_DIR) -> list[dict]:
    """Every recorded run (finished, failed or killed), in file order."""
    runs = []
    for path in sorted(Path(root).glob("*.jsonl")):
        runs += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return runs


def last_builds(runs: Iterable[dict], profile: str) -> list[dict]:
    """The runs that built each stage's current result: its last successful run and every run
    after the successful one before it (killed and failed runs, which that run resumed), or,
    for a stage not yet done, every run since its last success. A stage rebuilt from scratch
    (its code changed, or a fresh machine) thus counts once, not once per rebuild."""
    by_stage: dict[str, list[dict]] = {}
    for run in runs:
        if run.get("profile") == profile:
            by_stage.setdefault(run["stage"], []).append(run)
    build = []
    for stage_runs in by_stage.values():
        # after the last success that is not the final run (which, if a success, ends the build)
        earlier = [i for i, r in enumerate(stage_runs[:-1]) if r["ok"] is True]
        build += stage_runs[earlier[-1] + 1 if earlier else 0 :]
    return build


def summary(runs: Iterable[dict], profile: str) -> list[dict]:
    """Per stage of ``profile``: runs (killed ones counted apart), running time summed over all
    of them (``running_s``) and over its last build alone (``build_s``, :func:`last_builds`),
    and whether its last run succeeded."""
    runs = list(runs)
    rows: dict[str, dict] = {}
    for run in runs:
        if run.get("profile") != profile:
            continue
        row = rows.setdefault(
            run["stage"],
            {"stage": run["stage"], "runs": 0, "killed": 0, "running_s": 0.0, "build_s": 0.0},
        )
        row["runs"] += 1
        row["killed"] += run["ok"] is None
        row["running_s"] += run["running_s"]
        row["last_ok"] = run["ok"]
    for run in last_builds(runs, profile):
        rows[run["stage"]]["build_s"] += run["running_s"]
    return sorted(rows.values(), key=lambda r: r["stage"])


def _parse_utc(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def wall_s(runs: Iterable[dict], profile: str) -> float:
    """Wall-clock time during which at least one stage of ``profile`` ran: the length of the
    union of the runs' ``[started, ended]`` intervals. Stages run side by side (``ptrim.repro
    --jobs 2``) count once, unlike in the summed running time. A run stopped with SIGSTOP
    counts its stopped stretch here (its interval spans it), so this is an upper bound then."""
    spans = sorted(
        (_parse_utc(r["started"]), _parse_utc(r["ended"]))
        for r in runs
        if r.get("profile") == profile and r.get("started") and r.get("ended")
    )
    total, reach = 0.0, float("-inf")
    for start, end in spans:
        start = max(start, reach)
        if end > start:
            total, reach = total + end - start, end
    return total


def format_table(
    rows: list[dict], profile: str, wall: float | None = None, build_wall: float | None = None
) -> str:
    lines = [
        f"profile {profile}: {len(rows)} stages",
        f"  {'':<44} {'last build':>12} {'all runs':>12}",
    ]
    for r in rows:
        state = {True: "done", False: "failed", None: "killed"}[r["last_ok"]]
        lines.append(
            f"  {r['stage']:<44} {r['build_s'] / 60:8.1f} min {r['running_s'] / 60:8.1f} min  "
            f"{r['runs']} run(s), {r['killed']} killed, last {state}"
        )
    build = sum(r["build_s"] for r in rows)
    total = sum(r["running_s"] for r in rows)
    lines.append(
        f"  {'total (one stage at a time)':<44} {build / 3600:10.2f} h {total / 3600:10.2f} h"
    )
    if wall is not None:
        shown = f"{build_wall / 3600:10.2f} h" if build_wall is not None else f"{'':>12}"
        lines.append(f"  {'wall clock (any stage running)':<44} {shown} {wall / 3600:10.2f} h")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ptrim.stage_times", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--profile", default=None, help="default: every profile recorded")
    parser.add_argument("--root", default=str(TIMINGS_DIR))
    args = parser.parse_args(argv)
    runs = read(args.root)
    profiles = [args.profile] if args.profile else sorted({r.get("profile") for r in runs}, key=str)
    if not runs:
        print(f"no stage runs recorded under {args.root}")
    for profile in profiles:
        rows, build = summary(runs, profile), last_builds(runs, profile)
        print(format_table(rows, profile, wall_s(runs, profile), wall_s(build, profile)))


if __name__ == "__main__":
    main()
