"""Bench cases: one family's training step and its floor, and ENRP-S4 against SIREN."""

from __future__ import annotations

from .core import _camera, _rgb128, case, set_floor, train_step_row

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


@case("hashgrid_step", "family step", note="hash grid (16 levels, F=2, 2^14 rows) step; floor = gather/scatter bytes")
def _hashgrid_step(ctx):
    """The hash grid's training step at the bench size with the defaults (16 levels, 2 features,
    a 2^14-row table per level, a 64-wide ReLU MLP). Its floor counts the bytes the encoding's
    batched gather (forward) and scatter-add (backward) move (`HashGrid.gather_bytes`) over the
    measured copy bandwidth (or the FLOPs over the matmul rate, if slower); target: within 3x."""
    from .. import models
    from ..flops import train_step_flops

    size = ctx["size"]
    sig = _camera(size)
    model = models.build("hashgrid", signal=sig, seed=0)
    moved = model.gather_bytes(sig.shape)
    row = train_step_row(model, sig.coords, sig.values, ctx["device"], ctx,
                         train_step_flops(model, sig.shape), f"hashgrid 16x2, 2^14 rows @ {size}^2")
    row["bytes_moved"] = moved["gather"] + moved["scatter"]   # the floor: gathers and scatters only
    row["bytes_counted"] = "gather + scatter-add of the encoding"
    row["floor_target_ratio"] = 3.0
    return set_floor(row, ctx["matmul_flops"], ctx["copy_bytes"])
