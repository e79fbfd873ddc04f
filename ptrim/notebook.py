"""Execute a pipeline notebook: jupytext ``py:percent`` file → papermill → byte-stable ``.ipynb``.

Every DVC stage is one call::

    python -m ptrim.notebook notebooks/00_envcheck.py data/notebooks/00_envcheck.ipynb \
        -p profile default

The notebook's ``parameters`` cell is overridden by ``-p name value`` (values parsed as YAML).
The executed copy keeps its outputs but loses everything that changes from run to run without
the results changing (papermill timestamps and durations, execution counts, kernel versions,
cell ids, the paths it was run from, stderr — progress bars and logs), so re-running an
unchanged stage rewrites the same bytes. Measured timings belong in metrics files, not in the
notebook's printed output.
How long each run took (summed over interruptions, pauses not counted) goes to
``data/timings/<notebook stem>.jsonl`` (:mod:`ptrim.stage_times`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

_VOLATILE_NB_METADATA = ("papermill", "widgets", "kernelspec", "language_info")
_VOLATILE_CELL_METADATA = ("papermill", "execution", "collapsed", "scrolled", "ExecuteTime")


def repo_root() -> Path:
    """The project root: the directory holding ``params.yaml`` above this package."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "params.yaml").exists() else Path.cwd()


def normalize(nb: Any) -> Any:
    """Drop run-to-run noise from an executed notebook (in place; also returned)."""
    import nbstripout

    nbstripout.strip_output(nb, keep_output=True, keep_count=False, keep_id=False)
    for key in _VOLATILE_NB_METADATA:
        nb.metadata.pop(key, None)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"  # deterministic ids (nbformat >= 4.5 requires one)
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        # stderr is progress bars and log lines (with rates and times): not a result
        cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
        for out in cell.outputs:
            out.get("metadata", {}).pop("papermill", None)
    return nb


def skip_unused_iri_checker() -> None:
    """Keep jsonschema from importing ``rfc3987_syntax`` (installed with JupyterLab's
    dependencies), which builds a Lark grammar at import: ~2.4 s of every stage's start, for
    the ``iri`` format checks that notebook validation never uses. jsonschema imports it
    under ``suppress(ImportError)`` and goes without those checks. Only this process (the
    papermill driver) is affected, not the kernel."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def execute(
    source: str | Path,
    output: str | Path,
    parameters: dict[str, Any] | None = None,
    *,
    cwd: str | Path | None = None,
    kernel: str = "python3",
) -> Path:
    """Run ``source`` (a ``.py`` percent-format notebook or an ``.ipynb``) and write ``output``.

    The kernel runs from ``cwd`` (default: the project root) with this interpreter's
    environment, so ``import ptrim`` and ``params.yaml`` resolve as on the command line.
    What the cells print (progress bars included) is streamed to this process's stdout and
    stderr while they run. A failing cell raises ``papermill.PapermillExecutionError``; the
    partial notebook is still written to ``output`` for inspection.
    """
    skip_unused_iri_checker()
    import jupytext
    import nbformat
    import papermill

    source, output = Path(source), Path(output)
    nb = jupytext.read(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".running.ipynb")
    cwd = Path(cwd) if cwd else repo_root()
    # the kernel is this venv's python: put it first on PATH for papermill's kernel launcher
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        papermill.execute_notebook(
            nb,
            str(tmp),
            parameters=parameters or {},
            kernel_name=kernel,
            cwd=str(cwd),
            progress_bar=False,
            log_output=False,
            # cell output streams to this terminal as it happens (tqdm bars of long stages show
            # in `dvc repro`'s log); the executed notebook keeps it too
            stdout_file=sys.stdout,
            stderr_file=sys.stderr,
        )
    finally:
        if tmp.exists():
            result = nbformat.read(tmp, as_version=4)
            nbformat.write(normalize(result), output)
            tmp.unlink()
    return output


# outputs a stage notebook writes even when it has nothing to do (see skip_untrained)
_SKIP_FILES = ("metrics_path",)
_SKIP_DIRS = ("out_dir", "figures_dir")


def skip_untrained(output: str | Path, parameters: dict[str, Any]) -> str | None:
    """For a stage of one ``family`` × ``suite`` (both parameters) that the profile does not
    train, write what the notebook would have written when skipping — ``{"skipped": reason}``
    at ``metrics_path``, the ``out_dir`` and ``figures_dir`` directories (the latter with a
    README saying why), an executed notebook saying so — and return the reason, without
    starting a kernel (the matrix of every model × suite is mostly such pairs on small
    profiles). None, and nothing written, for a pair the profile trains."""
    import json

    import nbformat

    from ptrim import config

    if "family" not in parameters or "suite" not in parameters:
        return None
    cfg = config.load(parameters.get("profile"), parameters.get("overrides") or [])
    reason = cfg.untrained_reason(str(parameters["family"]), str(parameters["suite"]))
    if reason is None:
        return None
    for name in _SKIP_FILES:
        if name in parameters:
            path = Path(parameters[name])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"skipped": reason}, indent=1) + "\n")
    for name in _SKIP_DIRS:
        if name in parameters:
            Path(parameters[name]).mkdir(parents=True, exist_ok=True)
    if "figures_dir" in parameters:
        (Path(parameters["figures_dir"]) / "README.md").write_text(f"Not run: {reason}.\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"Skipped without running: {reason}.")]
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(normalize(nb), output)
    return reason


def _parse_params(pairs: list[list[str]]) -> dict[str, Any]:
    return {name: yaml.safe_load(value) for name, value in pairs}


def main(argv: list[str] | None = None) -> None:
    skip_unused_iri_checker()
    parser = argparse.ArgumentParser(
        prog="python -m ptrim.notebook", description=__doc__.split("\n")[0]
    )
    parser.add_argument("source", help="notebooks/NN_stage.py")
    parser.add_argument("output", help="where the executed .ipynb goes")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameters-cell value",
    )
    parser.add_argument("--cwd", default=None, help="kernel working directory (default: repo root)")
    args = parser.parse_args(argv)
    parameters = _parse_params(args.parameter)
    reason = skip_untrained(args.output, parameters)
    if reason:
        print(f"skipped {args.source} ({reason}) -> {args.output}")
        return
    from ptrim import config
    from ptrim.stage_times import TIMINGS_DIR, StageClock

    # the profile the stage runs under: its -p profile, else params.yaml's
    profile = config.load(parameters.get("profile"), parameters.get("overrides") or []).profile
    with StageClock(repo_root() / TIMINGS_DIR, Path(args.output).stem, profile):
        execute(args.source, args.output, parameters, cwd=args.cwd)
    print(f"executed {args.source} -> {args.output}")


if __name__ == "__main__":
    main()
