"""The paper's tables rebuilt from our committed metrics, with the paper's numbers beside ours.

Each table is a long-form list of rows (one per suite × method × model × source, ``source``
being ``ours`` or ``paper``) that is written as CSV (every number, with 95 % intervals), and
pivoted into the paper's layout for Markdown and LaTeX: one cell per model holding
``SR / S / h / Spd``. Our ``Spd`` is the paired ``spd_paper`` of :func:`ptrim.metrics.compare`
(the base is 1 by definition); SR is in percent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ptrim import paper

METHODS = ("base", "policytrim")
METHOD_NAMES = {"base": "base", "policytrim": "PolicyTrim"}
NUMBERS = ("SR", "S", "h", "Spd")


def load_results(metrics_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{"<model>-<suite>": paired evaluation JSON}`` of every evaluated pair in
    ``metrics_dir`` (``data/metrics/policytrim``); skipped pairs are left out."""
    out = {}
    for path in sorted(Path(metrics_dir).glob("*.json")):
        result = json.loads(path.read_text())
        if "skipped" not in result:
            out[path.stem] = result
    return out


def _value(est: Mapping[str, Any] | None, key: str = "value", scale: float = 1.0) -> float:
    if not est or est.get(key) is None:
        return math.nan
    return float(est[key]) * scale


def our_row(result: Mapping[str, Any], method: str) -> dict[str, Any]:
    """SR (%), S, h and Spd with intervals for ``method`` of one paired evaluation, plus the
    scale it ran at (parameters, episodes, step limit)."""
    m = result[method]
    spd = result["compare"][method]["spd_paper"] if method != "base" else None
    row: dict[str, Any] = {}
    for name, est, scale in (
        ("SR", m["success_rate"], 100.0),
        ("S", m["steps"], 1.0),
        ("h", m["exec_len"], 1.0),
        ("Spd", spd, 1.0),
    ):
        row[name] = _value(est, scale=scale)
        row[f"{name}_lo"] = _value(est, "lo", scale)
        row[f"{name}_hi"] = _value(est, "hi", scale)
    if method == "base":
        row.update(Spd=1.0, Spd_lo=1.0, Spd_hi=1.0)
    facts = result.get("facts", {})
    row["parameters"] = facts.get("parameters")
    row["episodes"] = m["facts"]["episodes"]
    row["max_steps"] = m["facts"]["max_steps"]
    return row


def _paper_row(numbers: Sequence[float] | None) -> dict[str, Any]:
    if numbers is None:
        return {}
    return dict(zip(NUMBERS, (float(x) for x in numbers), strict=True))


def table1_models(families: Iterable[str]) -> list[str]:
    """The profile's families that Table 1 has (π0.5, OFT, GR00T), in the profile's order."""
    return [f for f in families if any(f in row for row in paper.TABLE1.values())]


def table1_rows(
    results: Mapping[str, Mapping[str, Any]],
    models: Iterable[str],
    suites: Iterable[str],
    limits: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Table 1 in long form: for each suite, method and model, our row (if evaluated) and the
    paper's (if published). ``limits``: a suite's step-limit text (:func:`step_limit_text`)
    instead of the first episode's limit recorded by the evaluation."""
    return _rows(
        results, models, suites, lambda suite, method: paper.TABLE1.get((suite, method)), limits
    )


def table2_models(families: Iterable[str]) -> list[str]:
    """The profile's families that Table 2 has (π0.5, OFT), in the profile's order."""
    return [f for f in families if any(f in row for row in paper.TABLE2.values())]


def table2_rows(
    results: Mapping[str, Mapping[str, Any]],
    models: Iterable[str],
    suites: Iterable[str],
    limits: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Table 2 in long form (ManiSkill, Meta-World): our rows per suite, the paper's numbers
    for the suite's benchmark beside them (``limits`` as in :func:`table1_rows`)."""
    from ptrim.envs import registry

    def published(suite: str, method: str):
        return paper.TABLE2.get((registry.benchmark_of(suite), method))

    return _rows(results, models, suites, published, limits)


def _rows(results, models, suites, published_of, limits=None) -> list[dict[str, Any]]:
    rows = []
    for suite in suites:
        for method in METHODS:
            for model in models:
                ours = results.get(f"{model}-{suite}")
                if ours is not None and method in ours:
                    row = our_row(ours, method)
                    if limits and suite in limits:
                        row["max_steps"] = limits[suite]
                    rows.append(
                        {"suite": suite, "method": method, "model": model, "source": "ours"} | row
                    )
                published = (published_of(suite, method) or {}).get(model)
                if published is not None:
                    rows.append(
                        {"suite": suite, "method": method, "model": model, "source": "paper"}
                        | _paper_row(published)
                    )
    return rows


def per_task_rows(
    results: Mapping[str, Mapping[str, Any]], models: Iterable[str], suites: Iterable[str]
) -> list[dict[str, Any]]:
    """Per task of each evaluated model × suite: success (%) and mean steps to success of the
    base and of PolicyTrim, with the episodes behind each (the paper gives no per-task numbers;
    this shows which tasks stand behind a suite's row, ManiSkill's stand-ins for its scenes)."""
    rows = []
    for suite in suites:
        for model in models:
            ours = results.get(f"{model}-{suite}")
            if ours is None:
                continue
            tasks = dict.fromkeys(t for m in METHODS if m in ours for t in ours[m]["per_task"])
            for task in tasks:
                row: dict[str, Any] = {"suite": suite, "model": model, "task": task}
                for method in METHODS:
                    got = ours.get(method, {}).get("per_task", {}).get(task, {})
                    row[f"SR_{method}"] = _value(got, "success_rate", 100.0)
                    row[f"S_{method}"] = _value(got, "steps")
                    row[f"n_{method}"] = got.get("n")
                rows.append(row)
    return rows


def write_per_task(rows: Sequence[Mapping[str, Any]], stem: str | Path, title: str) -> list[Path]:
    """``<stem>.csv`` and ``<stem>.md`` of :func:`per_task_rows` (Markdown headed by ``title``).
    Returns the two paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv, md = Path(f"{stem}.csv"), Path(f"{stem}.md")
    frame = pd.DataFrame(list(rows))
    frame.to_csv(csv, index=False, float_format="%.4g")
    text = frame.to_markdown(index=False, floatfmt=".1f") if len(frame) else "(no rows)"
    md.write_text(f"**{title}**\n\n{text}\n")
    return [csv, md]


def pair_status(
    results: Mapping[str, Any], models: Iterable[str], suites: Iterable[str]
) -> dict[str, list[str]]:
    """``{"evaluated": [...], "missing": [...]}``: the ``<model>-<suite>`` pairs a table wants,
    split by whether their paired evaluation exists yet (a missing pair is a ``—``)."""
    wanted = [f"{m}-{s}" for s in suites for m in models]
    return {
        "evaluated": [p for p in wanted if p in results],
        "missing": [p for p in wanted if p not in results],
    }


def step_limit_text(cfg, suite: str) -> str:
    """The step limit of ``suite`` as the profile sets it for its selected tasks: ``"≤220"``,
    or a range such as ``"≤80–120"`` where tasks differ (ManiSkill3's per-task limits)."""
    from ptrim.envs import maniskill, registry

    limits = set()
    for task in cfg.bench(suite).task_list(suite):
        limit = registry.step_limit(cfg, suite, task)
        if limit is None and registry.benchmark_of(suite) == "maniskill":
            limit = maniskill.MAX_STEPS[maniskill.resolve_task(suite, task)]
        if limit is not None:
            limits.add(int(limit))
    if not limits:
        return "?"
    low, high = min(limits), max(limits)
    return f"≤{low}" if low == high else f"≤{low}–{high}"


def table2_caption(cfg) -> str:
    """Table 2's caption: the paper's note, and which ManiSkill3 tasks stand in for its
    ``PutOnPlateInScene25`` scenes in this profile."""
    standins = [t for s in cfg.maniskill.suites for t in cfg.maniskill.task_list(s)]
    caption = f"ManiSkill3 and Meta-World: base vs PolicyTrim (ours and paper). {paper.TABLE2_NOTE}"
    return caption + (f" ManiSkill3 tasks here: {', '.join(standins)}." if standins else "")


def generality_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The generality table: OFT with the longer chunk and OpenVLA, ours on whichever suites
    they were evaluated, the paper's on LIBERO-Spatial."""
    rows = []
    for model, published in paper.GENERALITY.items():
        for key, ours in results.items():
            if key.startswith(f"{model}-"):
                suite = key[len(model) + 1 :]
                for method in METHODS:
                    if method in ours:
                        rows.append(
                            {"suite": suite, "method": method, "model": model, "source": "ours"}
                            | our_row(ours, method)
                        )
        for method in METHODS:
            rows.append(
                {"suite": paper.GENERALITY_SUITE, "method": method, "model": model}
                | {"source": "paper"}
                | _paper_row(published[method])
            )
    return rows


def _cell(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "—"
    parts = []
    for name, fmt in (("SR", "{:.1f}"), ("S", "{:.1f}"), ("h", "{:.3g}"), ("Spd", "{:.2f}")):
        v = row.get(name)
        parts.append(
            "—" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)
        )
    return " / ".join(parts)


def layout(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The paper's layout: one row per (suite, method), one ``SR / S / h / Spd`` column per
    model and source, plus ``scale`` (our models' parameters, episodes and step limit)."""
    if not rows:
        return pd.DataFrame()
    index: list[tuple[str, str]] = []
    cells: dict[tuple[str, str], dict[str, str]] = {}
    scale: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        key = (paper.SUITE_NAMES.get(r["suite"], r["suite"]), METHOD_NAMES[r["method"]])
        if key not in cells:
            index.append(key)
            cells[key], scale[key] = {}, set()
        column = f"{paper.MODEL_NAMES.get(r['model'], r['model'])} ({r['source']})"
        cells[key][column] = _cell(r)
        if r["source"] == "ours":
            scale[key].add(_scale_text(r))
    frame = pd.DataFrame([cells[k] for k in index], index=pd.MultiIndex.from_tuples(index))
    frame.index.names = ["suite", "method"]
    frame = frame[sorted(frame.columns, key=_column_order(rows))].fillna("—")
    frame["scale (ours)"] = ["; ".join(sorted(scale[k])) or "—" for k in index]
    return frame


def _scale_text(row: Mapping[str, Any]) -> str:
    params = row.get("parameters")
    size = f"{params / 1e6:.1f}M" if params else "?"
    limit = row["max_steps"]
    limit = limit if isinstance(limit, str) else f"≤{limit}"
    return f"{row['model']} {size}, {row['episodes']} ep, {limit} steps"


def _column_order(rows: Sequence[Mapping[str, Any]]):
    models = list(dict.fromkeys(r["model"] for r in rows))

    def key(column: str) -> tuple[int, int]:
        name, source = column.rsplit(" (", 1)
        model = next(m for m in models if paper.MODEL_NAMES.get(m, m) == name)
        return models.index(model), 0 if source.startswith("ours") else 1

    return key


def write_table(rows: Sequence[Mapping[str, Any]], stem: str | Path, caption: str) -> list[Path]:
    """``<stem>.csv`` (long form, every number and interval), ``<stem>.md`` and ``<stem>.tex``
    (the paper's layout). Returns the three paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv, md, tex = (Path(f"{stem}.{ext}") for ext in ("csv", "md", "tex"))
    pd.DataFrame(list(rows)).to_csv(csv, index=False, float_format="%.4g")
    frame = layout(rows)
    note = "Cells: SR (%) / S (steps to success) / h (actions per call) / Spd (paired speed-up)."
    table = frame.reset_index().to_markdown(index=False) if len(frame) else "(no rows)"
    md.write_text(f"**{caption}**\n\n{table}\n\n{note}\n")
    tex.write_text(frame.to_latex(caption=caption, label=f"tab:{stem.name}") + "\n")
    return [csv, md, tex]


def histories(stage_dir: str | Path) -> dict[str, list[dict[str, Any]]]:
    """``{"<model>-<suite>": RL history}`` of every run under ``stage_dir`` (``data/rl/stage1``)
    that logged at least one iteration."""
    out = {}
    for path in sorted(Path(stage_dir).glob("*/history.json")):
        history = json.loads(path.read_text())
        if history:
            out[path.parent.name] = history
    return out


def ablation_rows(reports: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ablation table in long form: per model × suite (``{"<model>-<suite>": ablations
    report}``), one row per evaluated policy, SR / S / h / Spd against that pair's base."""
    from ptrim.ablations import describe

    rows = []
    for report in reports.values():
        facts = report["facts"]
        for v in facts["variants"]:
            rows.append(
                {
                    "model": facts["family"],
                    "suite": facts["suite"],
                    "variant": v["name"],
                    "description": describe(v["name"]),
                }
                | our_row(report, v["name"])
            )
    return rows


def write_ablation_table(rows: Sequence[Mapping[str, Any]], stem: str | Path) -> list[Path]:
    """``<stem>.csv`` (every number and interval), ``.md`` and ``.tex``: one row per model ×
    suite × variant, ``SR / S / h / Spd`` with SR's and Spd's intervals."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv, md, tex = (Path(f"{stem}.{ext}") for ext in ("csv", "md", "tex"))
    pd.DataFrame(list(rows)).to_csv(csv, index=False, float_format="%.4g")
    frame = pd.DataFrame(
        [
            {
                "model": paper.MODEL_NAMES.get(r["model"], r["model"]),
                "suite": paper.SUITE_NAMES.get(r["suite"], r["suite"]),
                "variant": r["description"],
                "SR / S / h / Spd": _cell(r),
                "SR 95 %": _interval(r, "SR", "{:.1f}"),
                "Spd 95 %": _interval(r, "Spd", "{:.2f}"),
            }
            for r in rows
        ]
    )
    caption = "Ablations (ours; the paper publishes none), paired against each model's base"
    table = frame.to_markdown(index=False) if len(frame) else "(no ablation was run)"
    md.write_text(f"**{caption}**\n\n{table}\n")
    tex.write_text(frame.to_latex(index=False, caption=caption, label=f"tab:{stem.name}") + "\n")
    return [csv, md, tex]


def _interval(row: Mapping[str, Any], name: str, fmt: str) -> str:
    lo, hi = row.get(f"{name}_lo"), row.get(f"{name}_hi")
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "—"
    return f"[{fmt.format(lo)}, {fmt.format(hi)}]"
