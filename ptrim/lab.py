"""``make lab``: JupyterLab on the project, where the jupytext ``.py`` notebooks open as
notebooks on a double click (Jupytext's "Jupytext Notebook" viewer as the default for Python
files) and run with the project's kernel.

``python -m ptrim.lab [--port N] [--no-browser]``: writes the viewer setting into this
environment's JupyterLab settings (``<prefix>/share/jupyter/lab/settings/overrides.json``,
merged with what is there) and starts Lab in the project root.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DOCMANAGER = "@jupyterlab/docmanager-extension:plugin"
VIEWERS = {"python": "Jupytext Notebook"}


def overrides_path(prefix: str | Path = sys.prefix) -> Path:
    return Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"


def write_overrides(prefix: str | Path = sys.prefix) -> Path:
    """Make Jupytext Notebook the default viewer of Python files, keeping other overrides."""
    path = overrides_path(prefix)
    settings = json.loads(path.read_text()) if path.is_file() else {}
    plugin = settings.setdefault(DOCMANAGER, {})
    plugin["defaultViewers"] = {**plugin.get("defaultViewers", {}), **VIEWERS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return path


def command(
    root: str | Path, *, port: int | None = None, token: str | None = None, browser: bool = True
) -> list[str]:
    """The ``jupyter lab`` command line serving ``root`` (``--allow-root`` when run as root,
    which containers often are)."""
    args = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={Path(root).resolve()}"]
    if port is not None:
        args += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        args.append(f"--IdentityProvider.token={token}")
    if not browser:
        args.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return args


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    from ptrim.config import find_params

    root = find_params().parent
    print(f"Jupytext Notebook is the default viewer of .py files ({write_overrides()})")
    cmd = command(root, port=args.port, browser=not args.no_browser)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
