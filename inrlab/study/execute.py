"""One notebook executed by papermill into its own folder: the study's papermill engine (a
per-cell callback, kernels on IPC sockets), its figures rendered to PNG, and its status.
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path


@functools.lru_cache(maxsize=1)
def kernel_manager_class():
    """The kernel manager the study starts kernels with: jupyter_client's, on IPC sockets, each
    kernel's sockets at a path of its own."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum, default

    class IPCKernelManager(AsyncKernelManager):
        # ipykernel warns on every start that TCP without CurveZMQ keys is unencrypted; local
        # IPC sockets (in the Jupyter runtime folder, user-only) need no such warning.
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _ip_default(self):
            # jupyter_client's own default, before a connection file exists, is 'kernel-ipc' in
            # the kernel's working folder: two notebooks run side by side (--jobs 2) then bind
            # the same sockets and read each other's messages. One path per kernel instead.
            return _ipc_base()

    return IPCKernelManager


def _engine() -> str:
    """Register (once) and name the papermill engine the study runs notebooks with: nbclient's,
    plus a per-cell callback (`on_cell(done, total)`) and kernels on IPC transport."""
    from papermill.engines import NBClientEngine, papermill_engines

    if "inrlab" in papermill_engines._engines:
        return "inrlab"

    class StudyEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, on_cell=None, kernel_cwd=None, **kwargs):
            if kernel_cwd is not None:   # the kernel's working folder, without a chdir of this process
                kwargs["resources"] = {"metadata": {"path": kernel_cwd}}
            if on_cell is not None:
                complete = nb_man.cell_complete

                def cell_complete(cell, cell_index=None, **kw):
                    complete(cell, cell_index=cell_index, **kw)
                    on_cell((cell_index or 0) + 1, len(nb_man.nb.cells))

                nb_man.cell_complete = cell_complete
            kwargs.setdefault("kernel_manager_class", kernel_manager_class())
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("inrlab", StudyEngine)
    return "inrlab"


def _ipc_base() -> str:
    """A socket path prefix of its own for one kernel, in the user's Jupyter runtime folder
    (short: a Unix socket path may not exceed about 100 bytes)."""
    import uuid

    from jupyter_core.paths import jupyter_runtime_dir

    folder = Path(jupyter_runtime_dir())
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(folder / f"inrlab-{uuid.uuid4().hex[:12]}-ipc")


def _execute(nb: Path, out_dir: Path, params: dict, on_cell=None) -> dict:
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    status = {"notebook": nb.stem, "ok": False, "error": None}
    try:
        # no cwd= here: papermill would os.chdir the whole process, and notebooks run side by
        # side (--jobs 2) would change each other's folder and the runner's relative paths
        nb, out_dir = nb.resolve(), out_dir.resolve()
        pm.execute_notebook(str(nb), str(out_dir / nb.name),
                            parameters={**params, "out_dir": str(out_dir)},
                            kernel_name="python3", progress_bar=False, kernel_cwd=str(nb.parent),
                            log_output=False, engine_name=_engine(), on_cell=on_cell)
        status["ok"] = True
    except Exception as e:
        status["error"] = _one_line_error(e)
    status["png"] = export_pngs(out_dir)
    status["seconds"] = round(time.time() - t0, 1)
    metrics_path = out_dir / "metrics.json"
    if metrics_path.exists():
        try:
            status["metrics"] = json.loads(metrics_path.read_text()).get("metrics", {})
        except (OSError, json.JSONDecodeError):
            status["metrics"] = {}
    return status


def export_pngs(folder: Path) -> str:
    """Render every saved figure spec (*.plotly.json) in `folder` to PNG in one kaleido session.
    Returns 'n written' or why none were (kaleido needs a Chromium; HTML figures stay)."""
    specs = sorted(folder.glob("*.plotly.json"))
    if not specs:
        return "no figures"
    import shutil

    if "BROWSER_PATH" not in os.environ:
        found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if found:
            os.environ["BROWSER_PATH"] = found
    try:
        import plotly.io as pio

        figs = [pio.from_json(p.read_text()) for p in specs]
        pngs = [str(p.with_name(p.name[: -len(".plotly.json")] + ".png")) for p in specs]
        # kaleido ignores the layout's own size (it draws every figure 700 x 500): pass it on,
        # so an image grid keeps the proportions it was laid out for. Scale 2 reads on a projector.
        todo = list(range(len(figs)))
        for _ in range(2):  # kaleido drops a figure whose render timed out without raising: retry those once
            pio.write_images([figs[i] for i in todo], [pngs[i] for i in todo], scale=2,
                             width=[figs[i].layout.width or 800 for i in todo],
                             height=[figs[i].layout.height or 450 for i in todo])
            todo = [i for i in todo if not os.path.isfile(pngs[i])]
            if not todo:
                break
        written = len(pngs) - len(todo)
        missing = ", ".join(Path(pngs[i]).name for i in todo)
        return f"{written} written" + (f", {len(todo)} failed ({missing})" if todo else "")
    except Exception as e:
        return f"skipped: {_one_line_error(e)[:200]}"


def _one_line_error(e: Exception) -> str:
    ename = getattr(e, "ename", None)
    evalue = getattr(e, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(e).__name__}: {e}"
    return " ".join(str(text).split())[:400]
