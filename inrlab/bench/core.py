"""The benchmark's tools: the case registry, the timers, the machine's references (matmul rate,
copy bandwidth), fit()'s own training step as a timed closure, and a train-step row with its floor."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable

import torch

CASES: dict[str, "Case"] = {}


@dataclass
class Case:
    name: str
    group: str
    run: Callable[[dict], dict]  # (context) -> row dict
    quick: bool = True
    note: str = ""


def case(name: str, group: str, quick: bool = True, note: str = ""):
    def deco(fn):
        CASES[name] = Case(name, group, fn, quick, note)
        return fn
    return deco


# --------------------------------------------------------------------------- timing tools

def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn, device, min_time: float = 0.5, warmup: int = 2, max_reps: int = 200) -> float:
    """Seconds of the fastest call among repetitions filling about `min_time`. On a shared
    machine noise only ever adds time, so the fastest repetition is the best estimate of what
    the code costs; the references are timed the same way."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    start = time.perf_counter()
    while (time.perf_counter() - start < min_time or len(times) < 3) and len(times) < max_reps:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def rounds(repeats: int, *runs, alternate: bool = False) -> list[list[float]]:
    """Each run's seconds over `repeats` rounds, the runs taking turns within a round, so that a
    slow spell of the machine falls on every side rather than on one (callers quote each side's
    best); `alternate` reverses the order every other round. A run that returns a float has
    timed itself (leaving out its set-up) and that float is its time."""
    times = [[] for _ in runs]
    for r in range(repeats):
        order = range(len(runs))
        for i in (reversed(order) if alternate and r % 2 else order):
            t0 = time.perf_counter()
            own = runs[i]()
            times[i].append(own if isinstance(own, float) else time.perf_counter() - t0)
    return times


def matmul_rate(device, n: int = 2048, min_time: float = 1.0) -> float:
    """fp32 GEMM FLOP/s (n x n x n)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    t = time_fn(lambda: a @ b, device, min_time=min_time)
    return 2 * n ** 3 / t


def copy_bandwidth(device, mbytes: int = 256, min_time: float = 1.0) -> float:
    """Bytes per second moved by a large tensor copy (read + write counted)."""
    n = mbytes * (1 << 20) // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    t = time_fn(lambda: dst.copy_(src), device, min_time=min_time)
    return 2 * n * 4 / t


def references(device, quick: bool, min_time: float = 1.0) -> tuple[float, float]:
    """(matmul FLOP/s, copy bytes/s) on `device`."""
    return (matmul_rate(device, 1024 if quick else 2048, min_time=min_time),
            copy_bandwidth(device, 128 if quick else 256, min_time=min_time))


def train_step_row(model, coords, target, device, ctx, flops: float, label: str, min_time=None) -> dict:
    """Time one full training step (forward, MSE, backward, fused Adam update) and fill the
    row with its rates and floor."""
    from ..flops import count_params
    from ..memory import saved_bytes

    t = _step_seconds(model, coords, target, {**ctx, "device": device}, min_time=min_time)
    model, coords = model.to(device), coords.to(device)
    params = count_params(model)
    row = {"row": label, "kind": "train_step", "seconds": t, "samples_per_s": coords.shape[0] / t,
           "gflops_per_s": flops / t / 1e9, "params": params, "flops": flops,
           "bytes_moved": 4 * saved_bytes(model, coords) + 32 * params}
    return set_floor(row, ctx["matmul_flops"], ctx["copy_bytes"])


def set_floor(row: dict, matmul_flops: float, copy_bytes: float) -> dict:
    """Fill a train-step row's floor, its ratio and its fraction of the matmul rate."""
    row["floor_s"] = max(row["flops"] / matmul_flops, row["bytes_moved"] / copy_bytes)
    row["ratio_to_floor"] = row["seconds"] / row["floor_s"]
    row["fraction_of_matmul"] = row["flops"] / row["seconds"] / matmul_flops
    row["ref_matmul_gflops"], row["ref_copy_gbytes_per_s"] = matmul_flops / 1e9, copy_bytes / 1e9
    return row


def _train_step(model, coords, target, device, fused=True, pieces=None, forward=None,
                autocast=contextlib.nullcontext):
    """fit()'s own training step (`train.make_step`: forward, MSE, backward, Adam: fused unless
    told not) as a closure over one batch, split as fit() splits it (`memory.plan_chunks`)
    unless `pieces` says how many; `forward` (a compiled model, say) runs under `autocast`."""
    from ..memory import plan_chunks
    from ..train import make_optimizer, make_step

    model, coords, target = model.to(device), coords.to(device), target.to(device)
    opt = make_optimizer(model, lr=1e-5, fused=fused and device.type in ("cpu", "cuda"), device=device)
    step = make_step(model, opt, forward=forward, autocast=autocast,
                     chunks=pieces or plan_chunks(model, coords, device))
    return lambda: step(coords, target)


def _step_seconds(model, coords, target, ctx, min_time=None, fused=True, pieces=None):
    """Seconds of one training step (see `_train_step`)."""
    step = _train_step(model, coords, target, ctx["device"], fused, pieces)
    return time_fn(step, ctx["device"], min_time=min_time or ctx["min_time"])


def _ratio(label, fast_s, slow_s, **extra):
    return {"row": label, "kind": "ratio", "fast_s": fast_s, "slow_s": slow_s,
            "speedup": slow_s / fast_s, **extra}


def _camera(size, gray=True):
    from ..signals import image
    return image("camera", size=size, gray=gray)


def _rgb128():
    from ..signals import image
    return image("astronaut", size=128, keep_aspect=False)


def _stop_after(seconds: float):
    """A fit() callback that stops training once `seconds` of wall time have passed."""
    start = []

    def callback(state) -> bool:
        now = time.perf_counter()
        if not start:
            start.append(now)
        return now - start[0] > seconds

    return callback


def allocator_settings() -> dict:
    """What decides how fast fresh CPU tensors arrive: the allocator switch `main` turned on
    (PyTorch's huge pages and the malloc settings, see inrlab.allocator) and the kernel's
    transparent-huge-page mode."""
    mode = None
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            mode = f.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        pass
    from ..allocator import enable
    return {**enable(), "kernel_thp": mode}
