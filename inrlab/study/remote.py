"""Study notebooks as Ray tasks (`python -m inrlab study --backend ray`).

A task executes one notebook with papermill into a scratch folder on whichever node Ray picks
(the study runner's own `execute._execute`), and returns its status and every file it wrote (the
executed notebook, metrics.json, figures) as bytes; the driver writes them into the run folder,
so nodes need no shared file system. The notebook's source travels with the task. Each task
asks for `cpus` CPUs (default 2) and `gpus` GPUs; a node lost mid-notebook is retried once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .execute import _execute, _one_line_error
from .profiles import notebooks_dir


def _run_remote(name: str, source: bytes, params: dict) -> tuple[dict, dict[str, bytes]]:
    with tempfile.TemporaryDirectory() as scratch:
        nb = notebooks_dir() / name
        if not nb.exists():  # a node whose checkout lacks this notebook: run the driver's copy
            nb = Path(scratch) / "src" / name
            nb.parent.mkdir()
            nb.write_bytes(source)
        out_dir = Path(scratch) / "out"
        status = _execute(nb, out_dir, params)
        files = {str(p.relative_to(out_dir)): p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
    return status, files


def ray_executor(address: str | None = None, cpus: float = 2, gpus: float = 0):
    """A function (nb, out_dir, params) -> status like the study's `_execute`, running the
    notebook as a Ray task; joins the cluster at `address` ('auto': the running one) or
    starts a local Ray."""
    from ..sweep.engine import check_schedulable, start_ray   # the sweep engine, and Ray, only when asked for

    ray = start_ray(address)
    check_schedulable(ray, cpus, gpus, address, "each notebook")
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=1)(_run_remote)

    def execute(nb: Path, out_dir: Path, params: dict, on_cell=None) -> dict:
        try:
            status, files = ray.get(remote.remote(nb.name, nb.read_bytes(), params))
        except Exception as e:  # noqa: BLE001  (lost twice, or Ray itself failed)
            return {"notebook": nb.stem, "ok": False, "error": _one_line_error(e), "seconds": 0.0}
        out_dir.mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            path = out_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return status

    return execute
