import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Tests are CPU-only and seeded; keep threads low so two cores stay responsive.
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Generated data (Perlin fields) goes to a per-session temp cache, not the repo."""
    monkeypatch.setenv("INRLAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def local_ray():
    """A Ray instance for one test: the one RAY_ADDRESS names (a loaded machine starts one slowly),
    else a local one of 2 CPUs; shut down after the test. Skips where the ray extra is missing."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'inrlab[ray]')")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def run_cli(*args, timeout=300):
    """Run `python -m inrlab ARGS`; returns the CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "inrlab", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)
