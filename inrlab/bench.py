"""The benchmark: where the FLOP savings turn (or fail to turn) into seconds.

    python -m inrlab.bench [--device auto] [--quick] [--only NAMES] [--json FILE]

Everything is measured in ONE run on one machine: first the machine's references (dense fp32
matmul GFLOP/s and copy bandwidth), then each case. Each case runs in its own child process so
its peak memory (max RSS on CPU, max allocated on CUDA) is its own. For every training-step row
the table prints the time, samples/s, useful GFLOP/s (our FLOP count / time), the fraction of
the matmul reference, and the floor max(FLOPs / matmul rate, bytes / copy bandwidth) with the
ratio time / floor. Bytes moved per step are estimated as: the tensors autograd saves for the
backward pass, written once and read once, plus their gradients written and read (4x the saved
bytes), plus 16 bytes per parameter for Adam (weight, gradient, two moments: each read and
the updated ones written, fp32). Peak memory on CPU is the case process's peak resident set
above what it held after importing torch (a high-water mark over the whole case).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch

from .errors import InrlabError

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
    """Median seconds per call over repetitions filling about `min_time`."""
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
    times.sort()
    return times[len(times) // 2]


def matmul_rate(device, n: int = 2048) -> float:
    """fp32 GEMM FLOP/s (n x n x n)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    t = time_fn(lambda: a @ b, device, min_time=1.0)
    return 2 * n ** 3 / t


def copy_bandwidth(device, mbytes: int = 256) -> float:
    """Bytes per second moved by a large tensor copy (read + write counted)."""
    n = mbytes * (1 << 20) // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    t = time_fn(lambda: dst.copy_(src), device, min_time=1.0)
    return 2 * n * 4 / t


def train_step_row(model, coords, target, device, ctx, flops: float, label: str, min_time=None,
                   optimizer_kw=None) -> dict:
    """Time one full training step (forward, MSE, backward, fused Adam update)."""
    from .flops import count_params
    from .train import saved_bytes

    model = model.to(device)
    coords, target = coords.to(device), target.to(device)
    kw = optimizer_kw if optimizer_kw is not None else {"fused": device.type in ("cpu", "cuda")}
    opt = torch.optim.Adam(model.parameters(), lr=1e-5, **kw)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(coords), target)
        loss.backward()
        opt.step()

    t = time_fn(step, device, min_time=min_time or ctx["min_time"])
    params = count_params(model)
    moved = 4 * saved_bytes(model, coords) + 16 * 4 * params
    floor = max(flops / ctx["matmul_flops"], moved / ctx["copy_bytes"])
    return {"row": label, "kind": "train_step", "seconds": t, "samples_per_s": coords.shape[0] / t,
            "gflops_per_s": flops / t / 1e9, "fraction_of_matmul": flops / t / ctx["matmul_flops"],
            "params": params, "flops": flops, "bytes_moved": moved, "floor_s": floor,
            "ratio_to_floor": t / floor}


# --------------------------------------------------------------------------- cases: baselines

def _camera(size, gray=True):
    from .signals import image
    return image("camera", size=size, gray=gray)


def _family_step(name, size, ctx, **kw):
    from . import models
    from .flops import train_step_flops

    sig = _camera(size)
    model = models.build(name, signal=sig, seed=0, **kw)
    return train_step_row(model, sig.coords, sig.values, ctx["device"], ctx,
                          train_step_flops(model, sig.shape), f"{name} {kw} @ {size}^2")


@case("siren_step", "family step")
def _siren_step(ctx):
    return _family_step("siren", ctx["size"], ctx, width=256, depth=3)


@case("ff_step", "family step")
def _ff_step(ctx):
    return _family_step("ff", ctx["size"], ctx, width=256, depth=2)


@case("relu_pe_step", "family step")
def _relu_pe_step(ctx):
    return _family_step("relu_pe", ctx["size"], ctx, width=256, depth=3)


# --------------------------------------------------------------------------- runner

def _rss_mb() -> float:
    import resource
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2 ** 20


def _child(name: str, ctx: dict) -> dict:
    c = CASES[name]
    base_rss = _rss_mb()
    device = torch.device(ctx["device"])
    ctx = {**ctx, "device": device}
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rows = c.run(ctx)
    rows = rows if isinstance(rows, list) else [rows]
    for r in rows:
        r.setdefault("case", name)
        r.setdefault("group", c.group)
        if device.type == "cuda":
            r["peak_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
        else:  # this process's high-water mark above what it held before the case ran
            r["peak_mem_mb"] = max(0.0, _rss_mb() - base_rss)
    return {"rows": rows}


def _run_case_process(name: str, ctx: dict, timeout: float) -> list[dict]:
    cmd = [sys.executable, "-m", "inrlab.bench", "--_child", name, "--_ctx", json.dumps(ctx)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return [{"case": name, "group": CASES[name].group, "error": f"timed out after {timeout:.0f} s"}]
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        return [{"case": name, "group": CASES[name].group, "error": last[:300]}]
    data = json.loads(out.strip().splitlines()[-1])
    return data["rows"]


def run_bench(device: str = "auto", quick: bool = False, only=None, json_path=None,
              timeout: float = 900) -> dict:
    from .train import resolve_device

    dev = resolve_device(device)
    names = [n for n, c in CASES.items() if (c.quick or not quick)]
    if only:
        unknown = [o for o in only if o not in CASES]
        if unknown:
            raise InrlabError(f"unknown bench case '{unknown[0]}' (choose from {', '.join(CASES)})")
        names = [n for n in names if n in only]
    print(f"inrlab bench on {dev} ({platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads)", flush=True)
    ref_mm = matmul_rate(dev, 1024 if quick else 2048)
    ref_bw = copy_bandwidth(dev, 128 if quick else 256)
    print(f"reference: fp32 matmul {ref_mm / 1e9:.1f} GFLOP/s, copy {ref_bw / 1e9:.1f} GB/s", flush=True)
    ctx = {"device": str(dev), "quick": quick, "matmul_flops": ref_mm, "copy_bytes": ref_bw,
           "size": 128 if quick else 256, "min_time": 0.5 if quick else 2.0,
           "bach_wav": os.environ.get("INRLAB_BACH_WAV", "")}
    rows = []
    for name in names:
        t0 = time.time()
        got = _run_case_process(name, ctx, timeout)
        for r in got:
            print(format_row(r), flush=True)
        rows.extend(got)
        if time.time() - t0 > timeout:
            break
    result = {"device": str(dev), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.machine(), "quick": quick,
              "reference": {"matmul_gflops": ref_mm / 1e9, "copy_gbytes_per_s": ref_bw / 1e9},
              "rows": rows}
    if json_path:
        from .train import atomic_write_json
        atomic_write_json(json_path, result)
    return result


def format_row(r: dict) -> str:
    if "error" in r:
        return f"  {r['case']:<28} ERROR {r['error']}"
    if r.get("kind") == "train_step":
        mem = f" mem {r['peak_mem_mb']:.0f} MB" if "peak_mem_mb" in r else ""
        return (f"  {r['row']:<52} step {r['seconds'] * 1e3:8.2f} ms  {r['samples_per_s'] / 1e6:7.2f} Msamp/s"
                f"  {r['gflops_per_s']:7.1f} GFLOP/s ({100 * r['fraction_of_matmul']:4.1f}% mm)"
                f"  floor {r['floor_s'] * 1e3:7.2f} ms  x{r['ratio_to_floor']:.2f}{mem}")
    if r.get("kind") == "ratio":
        return f"  {r['row']:<52} {r['fast_s'] * 1e3:8.2f} ms vs {r['slow_s'] * 1e3:8.2f} ms  -> x{r['speedup']:.1f}"
    if r.get("kind") == "time_to_psnr":
        t = "not reached" if r["seconds"] is None else f"{r['seconds']:.2f} s"
        return f"  {r['row']:<52} {r['target_psnr']:.0f} dB in {t} ({r['params']:,} params, {r['steps']} steps)"
    return f"  {r.get('row', r.get('case'))}: {json.dumps({k: v for k, v in r.items() if k not in ('row', 'case', 'group')})}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m inrlab.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="smaller sizes, shorter timing")
    p.add_argument("--only", nargs="*", default=None, help="case names to run")
    p.add_argument("--json", default=None, help="write all results to this JSON file")
    p.add_argument("--list", action="store_true", help="list the cases")
    p.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_ctx", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        print(json.dumps(_child(args._child, json.loads(args._ctx))))
        return 0
    if args.list:
        for n, c in CASES.items():
            print(f"{n:<28} {c.group:<16} {'quick' if c.quick else 'full only'}  {c.note}")
        return 0
    try:
        run_bench(args.device, args.quick, args.only, args.json)
    except InrlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
