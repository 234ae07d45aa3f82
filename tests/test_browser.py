"""End to end in a real browser: JupyterLab on localhost, the explorer notebook opened in headless
Chromium (Debian's package, driven by Playwright) and run; then one full interaction as a person
does it: the model changed in its dropdown and the width typed into its slider, Train pressed, the
live view seen to update, and the PSNR the status line reports read from the page (a dB number,
changed from the first run's). A screenshot is saved as an artefact
($INRLAB_ARTIFACTS or runs/browser/explorer.png).

Skipped, with the reason, only where the browser cannot start on this machine.
"""

import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("INRLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("INRLAB_ARTIFACTS", ROOT / "runs" / "browser"))

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _small_explorer(dst: Path) -> Path:
    """The explorer notebook with tiny parameters so each run takes seconds."""
    nb = nbformat.read(ROOT / "notebooks" / "00_explore.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for key, value in {"steps": "20", "size": "32", "width": "16", "depth": "1"}.items():
        cell.source = re.sub(rf"^{key}: (\w+) = [^#]*#", rf"{key}: \1 = {value}  #", cell.source, flags=re.M)
    path = dst / "explore.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def lab(tmp_path):
    if not CHROMIUM:
        pytest.skip("browser test cannot start: no chromium executable (install Debian's 'chromium')")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("browser test cannot start: the playwright package is not installed")
    _small_explorer(tmp_path)
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_DATA_DIR_EXTRA": "",
           "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--allow-root", f"--ServerApp.root_dir={tmp_path}"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"), env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited: {(tmp_path / 'lab.log').read_text()[-500:]}")
            time.sleep(1)
    else:
        server.kill()
        pytest.fail("jupyter lab did not answer within 120 s")
    yield url
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def _status(page) -> str:
    """The explorer's status line ('done: fit PSNR 21.37 dB in 1.2 s'), read from the page."""
    texts = [t.strip() for t in page.locator(".widget-html").all_text_contents()]
    return next(t for t in texts if t.startswith(("done: fit PSNR", "training ", "error:")))


def _db(text: str) -> float:
    """The PSNR in a status line or figure title, which must read as a number of dB."""
    m = re.search(r"fit PSNR (-?\d+(?:\.\d+)?|inf) dB", text)
    assert m, f"no PSNR in dB in {text!r}"
    return float(m.group(1))


def test_explorer_in_jupyterlab(lab):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage"])
        except PlaywrightError as e:
            pytest.skip(f"browser test cannot start: chromium failed to launch ({str(e).splitlines()[0]})")
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        try:
            page.goto(f"{lab}/lab/tree/explore.ipynb", timeout=120_000)
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=120_000)
            # wait for the kernel, then run every cell
            page.wait_for_function(
                "() => { const w = window.jupyterapp.shell.currentWidget;"
                " return w && w.sessionContext && w.sessionContext.session"
                " && w.sessionContext.session.kernel && w.sessionContext.session.kernel.status === 'idle'; }",
                timeout=180_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            train = page.get_by_role("button", name="Train")
            train.wait_for(timeout=180_000)
            page.get_by_text("done: fit PSNR").first.wait_for(timeout=300_000)
            first_title = page.locator(".gtitle").first.text_content(timeout=60_000)
            first_psnr = _status(page)
            _db(first_psnr)
            # the interaction: another model, a wider network (typed into the slider's readout), Train
            page.locator(".widget-dropdown select").first.select_option("siren")
            readout = page.locator(".widget-slider", has=page.locator("label", has_text=re.compile(r"^width$")))
            readout = readout.locator(".widget-readout").first
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("24")
            page.keyboard.press("Enter")
            page.wait_for_function("() => [...document.querySelectorAll('.widget-readout')].some(e => e.textContent.trim() === '24')",
                                   timeout=30_000)
            train.click()
            page.wait_for_function(
                "() => document.querySelectorAll('table tr').length >= 3", timeout=300_000)
            page.wait_for_function(
                "before => { const t = [...document.querySelectorAll('.widget-html')].map(e => e.textContent.trim())"
                ".find(s => /^(done: fit PSNR|training |error:)/.test(s));"
                " return t && t !== before && !t.startsWith('training '); }", arg=first_psnr, timeout=300_000)
            second_psnr = _status(page)
            assert second_psnr != first_psnr, (first_psnr, second_psnr)
            assert math.isfinite(_db(second_psnr)), second_psnr
            rows = page.locator("table tr").all_text_contents()
            assert any("siren" in r and "'width': 24" in r for r in rows[1:]), rows  # the settings reached the kernel
            page.wait_for_function(
                "() => [...document.querySelectorAll('.gtitle')].some(t => /^step \\d+: fit PSNR/.test(t.textContent))",
                timeout=120_000)
            second_title = [t for t in page.locator(".gtitle").all_text_contents() if t.startswith("step")]
            assert second_title and second_title[-1] != first_title  # the live view redrew
            _db(second_title[-1])
        finally:
            try:  # show the controls and the live figure in the picture
                page.get_by_role("button", name="Train").scroll_into_view_if_needed(timeout=5_000)
            except PlaywrightError:
                pass
            page.screenshot(path=str(ARTIFACTS / "explorer.png"))
            browser.close()
    assert (ARTIFACTS / "explorer.png").stat().st_size > 10_000
