"""Check that SAPIEN (ManiSkill3's renderer) can render on the CPU here, and say how to fix it.

SAPIEN renders with Vulkan; on a machine without a GPU that means Mesa's lavapipe, and SAPIEN
needs Mesa ≥ 24.3 (Debian bookworm ships 22.3, which fails with "failed to find a rendering
device"). Debian's bookworm-backports has Mesa 25. :func:`check` renders a 16² picture of an
empty scene in a subprocess (a broken Vulkan driver may crash the process rather than raise)
and returns ``None`` when that works, otherwise a message.

``python -m ptrim.envs.maniskill_setup`` prints nothing and exits 0 when rendering works;
otherwise it prints what to install and exits 1. With ``--install`` (as root) it adds the
backports source, installs ``mesa-vulkan-drivers`` from it and checks again. Every step is
idempotent.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

SOURCES_FILE = Path("/etc/apt/sources.list.d/bookworm-backports.sources")
SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
INSTALL = "apt-get install -t bookworm-backports --no-install-recommends mesa-vulkan-drivers"
PROBE = """
import sapien
render = sapien.render.RenderSystem(sapien.Device("cpu"))
scene = sapien.Scene([sapien.physx.PhysxCpuSystem(), render])
scene.set_ambient_light([0.5, 0.5, 0.5])
cam = scene.add_camera("probe", 16, 16, 1.0, 0.01, 10.0)
scene.update_render()
cam.take_picture()
rgba = cam.get_picture("Color")
assert rgba.shape[:2] == (16, 16), rgba.shape
"""
TIMEOUT_S = 300  # the first picture compiles lavapipe's shaders: 10-20 s on a busy 2-core box


def check(python: str = sys.executable, timeout: float = TIMEOUT_S) -> str | None:
    """``None`` when SAPIEN renders on the CPU, otherwise what went wrong (one paragraph)."""
    try:
        proc = subprocess.run(
            [python, "-c", PROBE], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return f"a 16x16 SAPIEN render did not finish within {timeout:.0f} s"
    if proc.returncode == 0:
        return None
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    how = f"exit status {proc.returncode}" if proc.returncode > 0 else f"signal {-proc.returncode}"
    return f"SAPIEN cannot render on the CPU ({how}): " + " | ".join(tail)


def instructions() -> str:
    return (
        "SAPIEN needs Mesa >= 24.3 lavapipe (Vulkan on the CPU). On Debian bookworm, as root:\n\n"
        f"cat > {SOURCES_FILE} <<'EOF'\n{SOURCES}EOF\n"
        "apt-get update\n"
        f"{INSTALL}\n\n"
        "or run: python -m ptrim.envs.maniskill_setup --install   (as root)"
    )


def install() -> None:
    """Add the bookworm-backports source (if missing) and install Mesa's Vulkan drivers."""
    if not SOURCES_FILE.exists() or SOURCES_FILE.read_text() != SOURCES:
        SOURCES_FILE.write_text(SOURCES)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*INSTALL.split()[:2], "-y", *INSTALL.split()[2:]], check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="install the fix (as root)")
    args = parser.parse_args(argv)
    problem = check()
    if problem is None:
        return 0
    print(problem, file=sys.stderr)
    if not args.install:
        print(instructions())
        return 1
    if os.geteuid() != 0:
        print("--install needs root; run these instead:\n\n" + instructions())
        return 1
    install()
    problem = check()
    if problem is not None:
        print(f"still failing after the install: {problem}", file=sys.stderr)
        return 1
    print("SAPIEN renders on the CPU now.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
