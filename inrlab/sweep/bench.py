"""The sweep engine's benchmark rows (issues 15, 20), for the benchmark's case list:

* stacked: 8 seeds of a SIREN 2x64 at 64^2 as one stacked model vs 8 sequential fit()s, and one
  member's training step as its share of a stacked step vs alone (the rest of the gain is the
  per-step overhead of fit() that the stack saves);
* stacked targets: notebook 01's quick fits of one family, a ReLU 64x2 on 5 Perlin octaves at
  64^2 (one target per member, shared coordinates), stacked vs 5 sequential fit()s;
* pool: a 12-trial sweep on the local backend with 2 workers vs the same trials in one process.

`python -m inrlab.sweep.bench [--steps N] [--json PATH]` runs them and prints the ratios; they are
also cases of `python -m inrlab.bench` (sweep_stacked, sweep_stacked_targets, sweep_pool; registered
below, imported by inrlab.bench after its own case modules).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from ..bench.core import _ratio, case, rounds


def _warm_up(*runs) -> None:
    """Run each path once, briefly, before anything is timed: the first fit() in a process pays
    one-time costs (lazy imports such as scikit-image's SSIM, kernel set-up) that would
    otherwise be charged to whichever side runs first."""
    for run in runs:
        run()


def stacked_row(seeds: int = 8, steps: int = 200, size: int = 64, device: str = "cpu", repeats: int = 3) -> dict:
    """The sweep and, to say where its speed-up comes from, one member's training step timed
    alone (fit()'s own step) and as its share of one stacked step (`stacked_step`)."""
    import torch

    from .. import models, signals
    from ..bench.core import _step_seconds, time_fn
    from ..defaults import adam_settings
    from ..train import fit, resolve_device
    from .stacked import fit_stacked, stacked_step

    sig = signals.image("camera", size=size, gray=True)
    build = lambda s: models.build("siren", signal=sig, width=64, depth=1, seed=s)
    _warm_up(lambda: fit(build(0), sig, steps=2, device=device, progress=False),
             lambda: fit_stacked([build(0), build(1)], sig, 2, device=device))

    def one_by_one():
        for s in range(seeds):
            fit(build(s), sig, steps=steps, seed=s, device=device, progress=False, eval_every=steps)

    runs = rounds(repeats, one_by_one,
                  lambda: fit_stacked([build(s) for s in range(seeds)], sig, steps, device=device))
    sequential, stacked = (min(t) for t in runs)
    dev = resolve_device(device)
    on = sig.to(dev)
    built = [build(s).to(dev) for s in range(seeds)]
    step, _ = stacked_step(built, [on] * seeds, 1e-4, adam_settings(built[0]))
    share = time_fn(step, dev) / seeds
    alone = _step_seconds(build(0), on.coords, on.values, {"device": dev, "min_time": 0.5})
    floor = member_floor(built[0].dims, seeds, on.coords.shape[0], dev) if dev.type == "cpu" else None
    return {"case": f"sweep: {seeds} seeds SIREN 2x64 at {size}^2, {steps} steps, stacked vs sequential",
            "sequential_s": sequential, "stacked_s": stacked, "speedup": sequential / stacked,
            "sequential_runs_s": runs[0], "stacked_runs_s": runs[1],
            "member_step_alone_s": alone, "member_step_stacked_s": share,
            "fit_s_per_step": sequential / (seeds * steps), "member_step_floor_s": floor,
            "member_step_budget_3x_s": sequential / (3 * seeds * steps)}


def member_floor(dims, members: int, points: int, device) -> float:
    """What one member's training step cannot go below, as its share of a stacked step of
    `members` on `points`: each hidden-to-hidden matmul three times (forward, input gradient,
    weight gradient) and a sine and a cosine of every hidden output, each once, timed as the
    fused step runs them (channels last, L2-sized point chunks, out= buffers). Everything else
    a step does (the thin input and output layers, the loss, the multiplies of the chain
    rule, bias sums, Adam) is left out, so no step can be this fast."""
    import torch

    from ..bench.core import time_fn
    from .fused import CHUNK_ELEMENTS

    widths = list(dims[1:-1])
    n = min(points, max(64, CHUNK_ELEMENTS // (members * max(widths))))
    chunks = -(-points // n)
    zs = [torch.randn(members, n, w, device=device) for w in widths]
    outs = [torch.empty_like(z) for z in zs]
    square = [(i, torch.randn(members, b, a, device=device) / a ** 0.5, torch.empty(members, a, b, device=device))
              for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]

    def ops():
        for _ in range(chunks):
            for z, o in zip(zs, outs):
                torch.sin(z, out=o)
                torch.cos(z, out=o)
            for i, w, dw in square:
                torch.bmm(zs[i], w.transpose(1, 2), out=outs[i + 1])   # forward
                torch.bmm(zs[i + 1], w, out=outs[i])                   # input gradient
                torch.bmm(zs[i].transpose(1, 2), zs[i + 1], out=dw)    # weight gradient

    return time_fn(ops, device) / members


def targets_row(octaves=(1, 2, 4, 8, 16), steps: int = 300, size: int = 64, device: str = "cpu",
                repeats: int = 3) -> dict:
    from .. import models, signals
    from ..train import fit
    from .stacked import fit_stacked

    sigs = [signals.perlin(size, octaves=k, seed=0) for k in octaves]
    build = lambda s: models.build("relu", signal=s, width=64, depth=2, seed=0)
    _warm_up(lambda: fit(build(sigs[0]), sigs[0], steps=2, lr=1e-3, device=device, progress=False),
             lambda: fit_stacked([build(s) for s in sigs[:2]], sigs[:2], 2, 1e-3, device=device))

    def one_by_one():
        for s in sigs:
            fit(build(s), s, steps=steps, lr=1e-3, seed=0, device=device, progress=False, eval_every=steps)

    runs = rounds(repeats, one_by_one,
                  lambda: fit_stacked([build(s) for s in sigs], sigs, steps, 1e-3, device=device))
    sequential, stacked = (min(t) for t in runs)
    return {"case": f"sweep: {len(sigs)} Perlin octaves ReLU 64x2 at {size}^2, {steps} steps, stacked vs sequential",
            "sequential_s": sequential, "stacked_s": stacked, "speedup": sequential / stacked,
            "sequential_runs_s": runs[0], "stacked_runs_s": runs[1]}


def pool_row(trials: int = 12, steps: int = 150, workers: int = 2) -> dict:
    from .engine import run_sweep

    raw = {"signals": [{"source": "camera", "size": 48, "gray": True}],
           "grid": {"model": ["siren"], "width": [32, 48, 64], "depth": [1, 2]},
           "seeds": trials // 6, "steps": steps, "stack": False}
    times = {}
    for jobs in (1, workers):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            run_sweep(raw, d, jobs=jobs, show_progress=False)
            times[jobs] = time.perf_counter() - t
    return {"case": f"sweep: {trials} trials, local backend {workers} workers vs one process",
            "one_process_s": times[1], "pool_s": times[workers], "speedup": times[1] / times[workers]}


def _rounds(ctx) -> int:
    return 1 if ctx["quick"] else 3


def _stacked_vs_sequential(r: dict) -> dict:
    return _ratio(r["case"], r["stacked_s"], r["sequential_s"], stacked_runs_s=r["stacked_runs_s"],
                  sequential_runs_s=r["sequential_runs_s"])


@case("sweep_stacked", "sweep", note="8 seeds of a SIREN 2x64 at 64^2: one stacked model vs 8 sequential fit()s")
def _stacked_case(ctx):
    r = stacked_row(steps=50 if ctx["quick"] else 200, device=str(ctx["device"]), repeats=_rounds(ctx))
    # where the speed-up comes from: a member's share of a stacked step against its step alone
    rows = [_stacked_vs_sequential(r),
            _ratio("  one member's training step: its share of a stacked step vs alone",
                   r["member_step_stacked_s"], r["member_step_alone_s"], fit_s_per_step=r["fit_s_per_step"])]
    if r["member_step_floor_s"] is not None:
        # x below 1: the 3x target asks for a member step faster than its matmuls and sines alone
        rows.append(_ratio("  a member step's floor vs what 3x allows it (fit() time / 3)",
                           r["member_step_floor_s"], r["member_step_budget_3x_s"],
                           stacked_share_to_floor=r["member_step_stacked_s"] / r["member_step_floor_s"]))
    return rows


@case("sweep_stacked_targets", "sweep",
      note="notebook 01's quick fits: a ReLU 64x2 on 5 Perlin octaves at 64^2, one stacked model vs 5 fit()s")
def _targets_case(ctx):
    r = targets_row(steps=50 if ctx["quick"] else 300, device=str(ctx["device"]), repeats=_rounds(ctx))
    return [_stacked_vs_sequential(r)]


@case("sweep_pool", "sweep", quick=False, note="12 trials: local backend, 2 worker processes vs one process")
def _pool_case(ctx):
    r = pool_row()
    return [_ratio(r["case"], r["pool_s"], r["one_process_s"], workers=2)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m inrlab.sweep.bench")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    rows = [stacked_row(steps=args.steps), targets_row(steps=args.steps),
            pool_row(steps=max(1, args.steps * 3 // 4))]
    for r in rows:
        seconds = ", ".join(f"{k} {v:.1f}" for k, v in r.items() if k.endswith("_s") and isinstance(v, float))
        print(f"{r['case']}: {r['speedup']:.2f}x ({seconds})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
