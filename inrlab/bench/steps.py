"""Bench cases: one family's training step and its floor, and ENRP-S4 against SIREN."""

from __future__ import annotations

from .core import _camera, _rgb128, case, train_step_row

def _family_step(name, size, ctx, **kw):
    from .. import models
    from ..flops import train_step_flops

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


@case("multihead_step", "family step")
def _multihead_step(ctx):
    # 64^2 heads on a 256^2 image (16 x 16 on the quick 128^2), the paper's 4 x 256 body
    return _family_step("multihead", ctx["size"], ctx, width=256, depth=3,
                        grid=64 if ctx["size"] >= 256 else 32, alpha=64)


@case("loe_step", "family step")
def _loe_step(ctx):
    return _family_step("loe", ctx["size"], ctx, width=64, depth=8, activation="sine")


@case("siren_rwf_step", "family step")
def _siren_rwf_step(ctx):
    return _family_step("siren", ctx["size"], ctx, width=256, depth=3, factorize=True)


@case("enrp_s4_vs_siren", "ensemble", note="ENRP-S4 (M=32, d=1, w=128) vs SIREN 3x256, 128^2 RGB")
def _enrp_s4(ctx):
    from .. import models
    from ..flops import train_step_flops

    sig = _rgb128()
    rows = []
    for label, name, kw in [("SIREN 3x256 @ 128^2 RGB", "siren", dict(width=256, depth=3)),
                            ("ENRP-S4 M=32 d=1 w=128 @ 128^2 RGB", "ensemble",
                             dict(grid=32, member="siren", depth=1, width=128))]:
        model = models.build(name, signal=sig, seed=0, **kw)
        rows.append(train_step_row(model, sig.coords, sig.values, ctx["device"], ctx,
                                   train_step_flops(model, sig.shape), label))
    rows.append({"row": "ENRP-S4 step speed-up over SIREN 3x256", "kind": "ratio",
                 "fast_s": rows[1]["seconds"], "slow_s": rows[0]["seconds"],
                 "speedup": rows[0]["seconds"] / rows[1]["seconds"],
                 "floor_ratio": rows[0]["floor_s"] / rows[1]["floor_s"],
                 "floor_inputs": [(r["flops"], r["bytes_moved"]) for r in rows]})
    return rows
