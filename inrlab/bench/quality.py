"""Bench cases measured in quality per second: PSNR after equal seconds on audio, seconds to a
target PSNR on cameraman."""

from __future__ import annotations

from .core import _camera, _stop_after, case, train_step_row

@case("audio_ensemble", "ensemble", note="M=32 segments vs SIREN on a WAV (--wav; the Bach clip)")
def _audio(ctx):
    from .. import models
    from ..flops import train_step_flops
    from ..signals import audio
    from ..train import fit

    if not ctx.get("wav"):
        return [{"row": "audio (no --wav given and no Bach clip found)", "kind": "skipped"}]
    sig = audio(ctx["wav"])
    rows = []
    budget = 15.0 if ctx["quick"] else 90.0  # equal training seconds for both, then PSNR
    for label, name, kw, lr in [
            ("SIREN 3x256 w0_initial=3000 on audio", "siren", dict(width=256, depth=3, w0_initial=3000.0), 1e-4),
            ("ensemble M=32 SIREN d=5 w=64 (ENRP-P4) on audio", "ensemble",
             dict(grid=32, member="siren", depth=5, width=64, w0_initial=3000.0 / 32), 1e-4)]:
        model = models.build(name, signal=sig, seed=0, **kw)
        row = train_step_row(model, sig.coords, sig.values, ctx["device"], ctx,
                             train_step_flops(model, sig.shape), f"{label} ({sig.n:,} samples)")
        hist = fit(models.build(name, signal=sig, seed=0, **kw), sig, steps=100_000, lr=lr, seed=0,
                   progress=False, device=ctx["device"], eval_every=10_000, callback_every=1,
                   callbacks=[_stop_after(budget)])
        row["psnr_after_seconds"] = {"seconds": budget, "steps": hist.final["steps"],
                                     "psnr": hist.final["psnr"]}
        rows.append(row)
    return rows


# Time to 30 dB fit PSNR on cameraman 256^2 gray: (label, model, kwargs, lr), one row per
# method. The settings are the fastest we found in a small sweep of size and lr per family
# (2-6 settings each, 60 s apiece; not a search), SIREN 3x256 at its paper's lr as the baseline.
TTP_CONFIGS = [
    ("SIREN 3x256 (baseline, lr 1e-4)", "siren", dict(width=256, depth=3), 1e-4),
    ("ensemble M=64 SIREN d=0 w=8, lr 3e-2", "ensemble",
     dict(grid=64, member="siren", depth=0, width=8), 3e-2),
    ("ensemble M=32 SIREN d=0 w=15, lr 3e-2 (<= 65,536 params)", "ensemble",
     dict(grid=32, member="siren", depth=0, width=15), 3e-2),
    ("ensemble M=16 SIREN d=1 w=16, lr 1e-2", "ensemble",
     dict(grid=16, member="siren", depth=1, width=16), 1e-2),
    ("multi-head 64^2 heads, alpha 64, 4x256 body, lr 1e-2", "multihead",
     dict(width=256, depth=3, grid=64, alpha=64), 1e-2),
    ("LoE 10x64 sine, SIREN init, lr 1e-3", "loe",
     dict(width=64, depth=8, activation="sine", siren_init=True), 1e-3),
    ("SIREN 2x128 + RWF, lr 1e-3", "siren", dict(width=128, depth=2, factorize=True), 1e-3),
    ("SIREN 2x128, lr 1e-3 (the same without RWF)", "siren", dict(width=128, depth=2), 1e-3),
    ("FF 128, depth 1, 128 features, lr 3e-3", "ff", dict(width=128, depth=1, mapping_size=128), 3e-3),
    ("ReLU+PE 2x128, lr 3e-3", "relu_pe", dict(width=128, depth=2), 3e-3),
]


def time_to_psnr_rows(configs, sig, device, target: float = 30.0, limit_s: float = 120.0):
    """A row per (label, model, kwargs, lr): the training seconds until fit PSNR first reaches
    `target` (None if it does not within `limit_s` of wall time), the steps run and the last
    fit PSNR."""
    from .. import models
    from ..flops import count_params
    from ..train import fit

    rows = []
    for label, name, kw, lr in configs:
        model = models.build(name, signal=sig, seed=0, **kw)
        hist = fit(model, sig, steps=1_000_000, lr=lr, seed=0, progress=False, device=device,
                   target_psnr=target, callbacks=[_stop_after(limit_s)], callback_every=1)
        rows.append({"row": label, "kind": "time_to_psnr", "target_psnr": target,
                     "seconds": hist.seconds_to(target), "steps": hist.final["steps"],
                     "final_psnr": hist.final["psnr"], "params": count_params(model), "lr": lr})
    return rows


# The issue-17 families, beside TTP_CONFIGS (same case, same 120 s limit). Chosen by a sweep
# under nice -n 19 on the 2-core CPU (load ~1), 25 s limit per setting, fit PSNR 30 dB on
# cameraman 256^2 gray (seconds; '-' = not reached in 25 s, best fit PSNR):
# grid R=256 lr 3e-2 0.31, lr 1e-1 0.23; hashgrid defaults lr 1e-2 6.3, lr 3e-2 5.3, 2^12 rows
# lr 1e-2 7.0; finer 2x128 lr 1e-3 17.0, lr 3e-4 - (28.5 dB); gauss 2x128 lr 1e-3 - (24.7),
# lr 3e-3 - (26.2); wire 2x128 lr 1e-3 - (17.2), lr 3e-3 - (17.1; 24 steps in 25 s: WIRE's
# complex step is slow here).
TTP_FAMILY_CONFIGS = [
    ("grid 256^2 (the image's own size), lr 1e-1", "grid", dict(resolution=256), 1e-1),
    ("hashgrid 16 levels x 2, 2^14 rows, 64-wide MLP, lr 3e-2", "hashgrid", dict(), 3e-2),
    ("FINER 2x128, lr 1e-3", "finer", dict(width=128, depth=2), 1e-3),
    ("Gauss 2x128, lr 3e-3", "gauss", dict(width=128, depth=2), 3e-3),
    ("WIRE 2x128, lr 1e-3 (its default)", "wire", dict(width=128, depth=2), 1e-3),
]


@case("time_to_30db", "time to PSNR", quick=False, note="cameraman 256^2 gray, fit PSNR 30 dB")
def _time_to_30db(ctx):
    return time_to_psnr_rows(TTP_CONFIGS + TTP_FAMILY_CONFIGS, _camera(256), ctx["device"])
