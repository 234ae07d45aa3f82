"""Bench cases: each fast path against the code it replaces (cache-sized pieces, batched
members, grouped tiles, sparse heads, torch.compile and mixed precision, the multi-head render)."""

from __future__ import annotations

import time

import torch

from .core import (_camera, _ratio, _rgb128, _step_seconds, _sync, _train_step, allocator_settings,
                   case, time_fn)

@case("cpu_pieces", "fast path", note="one full batch vs cache-sized pieces (CPU, pointwise models)")
def _cpu_pieces(ctx):
    from .. import models
    from ..memory import cpu_pieces

    if ctx["device"].type != "cpu":
        return [{"row": "cache-sized pieces (CPU only: fit() does not split batches on "
                        f"{ctx['device'].type})", "kind": "skipped"}]
    from ..signals import audio

    cases = [(f"SIREN 3x256 step @ {ctx['size']}^2", _camera(ctx["size"]), {})]
    if ctx.get("wav"):
        cases.append(("audio SIREN 3x256 step", audio(ctx["wav"]), dict(w0_initial=3000.0)))
    rows = []
    for label, sig, kw in cases:
        model = models.build("siren", signal=sig, seed=0, width=256, depth=3, **kw)
        k = cpu_pieces(model, sig.coords)  # what fit() uses above CPU_SPLIT_ABOVE
        pieces = _step_seconds(model, sig.coords, sig.values, ctx, pieces=k)
        whole = _step_seconds(model, sig.coords, sig.values, ctx, pieces=1)
        rows.append(_ratio(f"{label}: {k} cache-sized pieces vs one batch (THP_MEM_ALLOC_ENABLE="
                           f"{allocator_settings()['THP_MEM_ALLOC_ENABLE']})", pieces, whole, pieces=k))
    return rows


@case("ensemble_vs_loop", "fast path", note="batched members vs a loop of member networks, M=16")
def _ensemble_vs_loop(ctx):
    from .. import models
    from ..models.ensemble import ensemble_reference

    sig = _rgb128()
    model = models.build("ensemble", signal=sig, seed=0, grid=16, member="siren", depth=1, width=128)
    fast = _step_seconds(model, sig.coords, sig.values, ctx)
    # the loop as it is usually written (nn.Linear + torch.sin members, torch's default
    # Adam: the target's naive reference), and the loop given every fast path inrlab has
    # (fused layers and fused Adam): what batching alone buys
    textbook = _step_seconds(ensemble_reference(model, textbook=True), sig.coords, sig.values,
                             ctx, min_time=1.0, fused=False)
    tuned = _step_seconds(ensemble_reference(model), sig.coords, sig.values, ctx, min_time=1.0)
    return [_ratio("ensemble M=16 (256 members) step: batched vs textbook member loop", fast, textbook),
            _ratio("ensemble M=16 (256 members) step: batched vs loop with inrlab's fused layers "
                   "and fused Adam", fast, tuned)]


@case("loe_vs_masked", "fast path", note="grouped tiles vs masked loop vs plain MLP")
def _loe_vs_masked(ctx):
    from .. import models

    sig = _camera(ctx["size"])
    kw = dict(width=64, depth=8, activation="sine", seed=0)
    grouped = _step_seconds(models.build("loe", signal=sig, **kw), sig.coords, sig.values, ctx)
    masked = _step_seconds(models.build("loe", signal=sig, impl="masked", **kw), sig.coords, sig.values, ctx)
    plain = _step_seconds(models.build("siren", signal=sig, width=64, depth=8, seed=0), sig.coords,
                          sig.values, ctx)
    return [_ratio(f"LoE 10x64 step @ {ctx['size']}^2: grouped vs masked loop", grouped, masked),
            _ratio(f"LoE 10x64 step @ {ctx['size']}^2: grouped vs plain MLP 10x64 (cost of tiles)",
                   grouped, plain)]


class _DenseHeads(torch.nn.Module):
    """A multi-head model run through its dense masked reference (for timing only)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, coords):
        from ..models.multihead import multihead_reference
        return multihead_reference(self.model, coords, dedup=True)


@case("heads_sparse_vs_dense", "fast path", note="sparse heads vs dense masked heads, 64^2 heads")
def _heads(ctx):
    from .. import models

    sig = _camera(256)
    model = models.build("multihead", signal=sig, seed=0, width=256, depth=3, grid=64, alpha=64)
    sparse = _step_seconds(model, sig.coords, sig.values, ctx)
    dense = _step_seconds(_DenseHeads(model), sig.coords, sig.values, ctx)
    return _ratio("MH 64^2 heads step @ 256^2: sparse vs dense masked heads", sparse, dense)


@case("cuda_compile_amp", "cuda", note="eager vs torch.compile vs bf16 autocast vs CUDA graphs (CUDA only)")
def _cuda_compile_amp(ctx):
    """The same training steps under torch.compile (Inductor), torch.compile with
    mode='reduce-overhead' (CUDA graphs), bf16 autocast, and compile + bf16. Only on CUDA:
    on CPU, Inductor's compile time (tens of seconds per model) and bf16 without hardware
    support make these slower, not faster (`compile_amp_rows` runs them on any device)."""
    device = ctx["device"]
    if device.type != "cuda":
        return {"row": f"torch.compile / mixed precision / CUDA graphs: skipped, needs CUDA "
                       f"(this run is on {device.type})", "kind": "skipped"}
    sig = _camera(256)
    rgb = _rgb128()
    specs = [("SIREN 3x256 @ 256^2", "siren", sig, dict(width=256, depth=3)),
             ("ENRP-S4 @ 128^2 RGB", "ensemble", rgb, dict(grid=32, member="siren", depth=1, width=128)),
             ("LoE 10x64 sine @ 256^2", "loe", sig, dict(width=64, depth=8, activation="sine")),
             ("MH 64^2 heads @ 256^2", "multihead", sig, dict(width=256, depth=3, grid=64, alpha=64))]
    variants = [("eager", None, None), ("compile", "default", None),
                ("compile reduce-overhead (CUDA graphs)", "reduce-overhead", None),
                ("bf16 autocast", None, torch.bfloat16), ("compile + bf16", "default", torch.bfloat16)]
    return compile_amp_rows(specs, variants, device, ctx["min_time"])


def compile_amp_rows(specs, variants, device, min_time):
    """A row per (model spec, variant): the training step's seconds (and the first step's,
    which holds the compilation) under torch.compile `mode` and autocast `dtype` (None: off),
    with its speedup over the spec's first variant. A variant torch cannot run here is
    reported as skipped with torch's error, not raised."""
    from .. import models
    from ..flops import train_step_flops

    rows = []
    for label, name, s, kw in specs:
        base = None
        for vlabel, mode, dtype in variants:
            model = models.build(name, signal=s, seed=0, **kw).to(device)
            try:
                fwd = torch.compile(model, mode=mode) if mode else None
                step = _train_step(model, s.coords, s.values, device, forward=fwd,
                                   autocast=lambda dtype=dtype: torch.autocast(
                                       device.type, dtype=dtype, enabled=dtype is not None))
                t0 = time.perf_counter()
                step()
                _sync(device)
                first = time.perf_counter() - t0
                t = time_fn(step, device, min_time=min_time, warmup=3)
            except Exception as e:  # noqa: BLE001  reported in the table, not fatal to the run
                rows.append({"row": f"{label}: {vlabel}", "kind": "skipped",
                             "error_text": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"})
                continue
            base = base or t
            rows.append({"row": f"{label}: {vlabel}", "kind": "compile_variant", "seconds": t,
                         "first_step_s": first, "speedup_vs_eager": base / t,
                         "gflops_per_s": train_step_flops(model, s.shape) / t / 1e9})
    return rows


@case("mh_render_512", "render", note="MH 64^2 heads vs equal-parameter SIREN, 512^2 render")
def _mh_render(ctx):
    from .. import models
    from ..flops import count_params
    from ..models.multihead import match_width
    from ..signals import pixel_centers

    device = ctx["device"]
    coords = pixel_centers((512, 512)).to(device)
    mh = models.build("multihead", dim_in=2, dim_out=1, seed=0, width=256, depth=3, grid=64,
                      alpha=64).to(device)
    width = match_width("siren", count_params(mh), dim_in=2, dim_out=1, depth=3)
    siren = models.build("siren", dim_in=2, dim_out=1, width=width, depth=3, seed=0).to(device)
    with torch.no_grad():
        t_mh = time_fn(lambda: mh(coords), device)
        t_siren = time_fn(lambda: siren.predict(coords), device, min_time=1.0)
    return _ratio(f"render 512^2: MH 64^2 heads ({count_params(mh):,} p) vs SIREN 4x{width} "
                  f"({count_params(siren):,} p)", t_mh, t_siren,
                  flop_ratio=siren.flops((512, 512)).total / mh.flops((512, 512)).total)
