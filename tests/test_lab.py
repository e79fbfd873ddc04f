"""`make lab`: the jupytext notebooks open in JupyterLab as notebooks and run there. The last
test drives a real headless Chromium through Playwright: it opens notebooks/07_figures.py in
Lab with a double-click's default viewer, runs all cells and waits for the rendered figure."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ptrim import lab

ROOT = Path(__file__).resolve().parents[1]


def test_overrides_open_python_files_as_notebooks_and_keep_other_settings(tmp_path):
    path = lab.overrides_path(tmp_path)
    path.parent.mkdir(parents=True)
    theme = {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}
    viewers = {lab.DOCMANAGER: {"defaultViewers": {"markdown": "Markdown Preview"}}}
    path.write_text(json.dumps(theme | viewers))
    assert lab.write_overrides(tmp_path) == path
    settings = json.loads(path.read_text())
    assert settings[lab.DOCMANAGER]["defaultViewers"] == {
        "markdown": "Markdown Preview",
        "python": "Jupytext Notebook",
    }
    assert settings["@jupyterlab/apputils-extension:themes"] == theme[next(iter(theme))]
    lab.write_overrides(tmp_path)  # idempotent
    assert json.loads(path.read_text()) == settings


def test_command_serves_the_given_root(tmp_path):
    cmd = lab.command(tmp_path, port=8899, token="t", browser=False)
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={tmp_path.resolve()}" in cmd
    assert {"--ServerApp.port=8899", "--IdentityProvider.token=t", "--no-browser"} <= set(cmd)
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer in {timeout} s: {log.read_text()[-3000:]}")


def _chromium() -> str:
    given = os.environ.get("PTRIM_CHROMIUM")
    path = given or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if given:  # `make test` installs it and says where: missing is an error there
            pytest.fail(f"PTRIM_CHROMIUM={given} does not exist")
        pytest.skip("no Chromium (make test installs Debian's chromium)")
    return path


@pytest.mark.slow
def test_a_notebook_opens_in_lab_and_renders_its_figure(tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    timeout_ms = int(os.environ.get("PTRIM_LAB_TIMEOUT_MS", 240_000))
    project = tmp_path / "project"  # a copy: running the notebook writes paper_figures/ there
    (project / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    shutil.copy(ROOT / "notebooks" / "07_figures.py", project / "notebooks" / "07_figures.py")
    lab.write_overrides()  # what `make lab` does
    port, token = _free_port(), "ptrim-lab-test"
    env = {
        **os.environ,
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "MPLBACKEND": "",
    }
    env.pop("MPLBACKEND")
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            lab.command(project, port=port, token=token, browser=False),
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its kernels too are stopped at the end
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", proc, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/notebooks/07_figures.py?token={token}")
            # opened by the default viewer as a notebook (not the text editor)
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
            title = page.wait_for_selector(".jp-NotebookPanel .jp-MarkdownCell h1")
            assert "The paper's tables and figures" in title.inner_text()
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000
            )
            page.locator("li.lm-MenuBar-item", has_text="Run").click()
            page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
            image_sel = ".jp-OutputArea-output img"
            error_sel = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
            try:  # the first figure, or the first error (no point waiting on)
                page.wait_for_selector(f"{image_sel}, {error_sel}", timeout=timeout_ms)
                page.wait_for_load_state("networkidle")
            finally:
                page.screenshot(path=str(tmp_path / "lab.png"), full_page=True)
            errors = page.locator(error_sel).all_inner_texts()
            assert not errors, f"a cell raised (screenshot {tmp_path / 'lab.png'}): {errors}"
            width = page.locator(image_sel).first.evaluate("img => img.naturalWidth")
            assert width > 200, f"figure not rendered (naturalWidth {width})"
            browser.close()
        assert (project / "paper_figures" / "table1_libero.png").stat().st_size > 1000
        assert (project / "paper_figures" / "table1_libero.md").stat().st_size > 100
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
