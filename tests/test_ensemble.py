"""Ensemble INR (ENRP): batched members vs a loop of standalone networks, cell tiling, init,
FLOPs, stacked copies, the architecture search (Algorithm 1) and the CLI."""

import copy
import json
import math

import numpy as np
import pytest
import torch

from inrlab import fit, models, signals
from inrlab.errors import InrlabError
from inrlab.flops import count_params, measured_matmul_flops
from inrlab.models.ensemble import (copy_psnr, ensemble_costs, ensemble_reference,
                                    make_plan, split_copies, stack_signal, take_copy)
from inrlab.search import objective, search, search_ensemble

from conftest import run_cli

MEMBER_KW = {"siren": {}, "relu": {}, "relu_pe": {"pe_freqs": 3}, "ff": {"mapping_size": 6}}


def build(member="siren", **kw):
    kw = {"dim_in": 2, "dim_out": 3, "grid": 4, "width": 12, "depth": 2, "seed": 0,
          **MEMBER_KW[member], **kw}
    return models.build("ensemble", member=member, **kw)


def coord_sets():
    g = torch.Generator().manual_seed(1)
    return {
        "image": (2, 4, signals.pixel_centers((16, 12))),                 # even: plain reshape
        "scattered": (2, (3, 5), torch.rand(301, 2, generator=g) * 2 - 1),  # uneven: cells split
        "corner": (2, 3, torch.rand(40, 2, generator=g) * 0.3 + 0.6),     # all in one cell
        "audio": (1, 8, signals.pixel_centers((1001,))),                    # 1-D, N not divisible
    }


# --------------------------------------------------------------------------- batched == loop

CASES = [(m, w, 1) for m in ("siren", "relu", "relu_pe", "ff")
         for w in ("image", "scattered", "corner", "audio")]
CASES += [("siren", "image", 2), ("ff", "scattered", 2), ("relu_pe", "audio", 3)]


@pytest.mark.parametrize("member,where,stack", CASES)
def test_batched_equals_member_loop_outputs_and_gradients(member, where, stack):
    dim_in, grid, coords = coord_sets()[where]
    model = build(member, dim_in=dim_in, grid=grid, stack=stack)
    ref = ensemble_reference(model)
    out, out_ref = model(coords), ref(coords)
    assert out.shape == (coords.shape[0], 3 * stack)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)

    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    (out * weights).sum().backward()
    (out_ref * weights).sum().backward()
    for i, layer in enumerate(model.layers):
        for k, net in enumerate(ref.nets):
            mine, theirs = net.layers[i].weight.grad, net.layers[i].bias.grad
            if mine is None:  # a member with no samples here: no gradient in either form
                assert not layer.weight.grad[k].any() and not layer.bias.grad[k].any()
                continue
            torch.testing.assert_close(layer.weight.grad[k], mine, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(layer.bias.grad[k], theirs, rtol=1e-4, atol=1e-5)
    assert any(float(l.weight.grad.abs().sum()) > 0 for l in model.layers)


def test_reference_members_are_the_standalone_family():
    model = build("siren", w0=20.0, w0_initial=40.0)
    ref = ensemble_reference(model)
    net = ref.nets[5]
    assert type(net) is type(models.build("siren")) and net.w0 == 20.0 and net.w0_initial == 40.0
    assert net.width == 12 and net.depth == 2 and len(ref.nets) == 16


# --------------------------------------------------------------------------- tiling

def test_cells_tile_an_image_exactly():
    shape, grid = (24, 16), (3, 2)
    coords = signals.pixel_centers(shape)
    cell, local = signals.partition(coords, grid)
    i, j = np.indices(shape).reshape(2, -1)
    assert np.array_equal(cell.numpy(), (i // 8) * 2 + j // 8)
    # every member gets exactly one 8x8 block, and sees it as its own pixel-centre grid
    plan = make_plan(cell, 6)
    assert plan.slots is None and plan.groups == 6 and plan.n == 64
    for g in range(6):
        torch.testing.assert_close(local[cell == g], signals.pixel_centers((8, 8)), rtol=0, atol=1e-6)
    # neighbours across a border belong to different members
    grid_cells = cell.view(shape)
    assert (grid_cells[7] != grid_cells[8]).all() and (grid_cells[15] != grid_cells[16]).all()
    assert (grid_cells[:, 7] != grid_cells[:, 8]).all()
    # at twice the resolution each pixel stays in the cell of the pixel it subdivides
    fine, _ = signals.partition(signals.pixel_centers((48, 32)), grid)
    assert torch.equal(fine.view(48, 32), grid_cells.repeat_interleave(2, 0).repeat_interleave(2, 1))


@pytest.mark.parametrize("where", ["image", "scattered", "audio"])
def test_every_sample_is_owned_by_exactly_one_member(where):
    dim_in, grid, coords = coord_sets()[where]
    model = build("siren", dim_in=dim_in, grid=grid)
    cell, _ = signals.partition(coords, model.grid)
    base = model(coords).detach()
    owners = torch.zeros(coords.shape[0], dtype=torch.long)
    for g in range(model.cells):
        bumped = copy.deepcopy(model)
        with torch.no_grad():
            bumped.layers[-1].bias[g] += 1.0
        changed = (bumped(coords) - base).abs().amax(1) > 0.5
        assert torch.equal(changed, cell == g)
        owners += changed.long()
    assert (owners == 1).all()


def test_audio_segments_are_contiguous():
    coords = signals.pixel_centers((1000,))
    cell, local = signals.partition(coords, (8,))
    assert torch.equal(cell, torch.arange(1000) // 125)
    torch.testing.assert_close(local[cell == 3], signals.pixel_centers((125,)), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- initialisation

def _standalone_weights(member, layer, n, **kw):
    return torch.stack([models.build(member, dim_in=2, dim_out=3, width=64, depth=2, seed=100 + k,
                                     **kw).layers[layer].weight for k in range(n)])


@pytest.mark.parametrize("member", ["siren", "relu", "ff"])
def test_init_statistics_match_the_standalone_family(member):
    kw = {"mapping_size": 16} if member == "ff" else {}
    model = models.build("ensemble", dim_in=2, dim_out=3, grid=8, member=member, width=64,
                         depth=2, seed=0, **kw)
    for i, layer in enumerate(model.layers):
        fan_in, fan_out = layer.in_features, layer.out_features
        if member == "siren":
            bound = 1 / fan_in if i == 0 else math.sqrt(6 / fan_in) / 30
            bias_bound = 1 / math.sqrt(fan_in)          # nn.Linear's, per member (not out*in)
        else:
            bound, bias_bound = math.sqrt(6 / (fan_in + fan_out)), 0.0
        w = layer.weight.detach()
        assert w.shape == (64, fan_out, fan_in)
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.97 * bound
        assert abs(float(w.std()) / (bound / math.sqrt(3)) - 1) < 0.03
        # the same statistics as 32 standalone networks of the family
        solo = _standalone_weights(member, i, 32, **kw)
        assert abs(float(w.std()) / float(solo.detach().std()) - 1) < 0.05
        b = layer.bias.detach()
        if bias_bound:
            assert float(b.abs().max()) <= bias_bound and float(b.abs().max()) > 0.9 * bias_bound
            assert abs(float(b.std()) / (bias_bound / math.sqrt(3)) - 1) < 0.1
        else:
            assert float(b.abs().max()) == 0
        # members are independent draws
        assert not torch.equal(w[0], w[1])
    if member == "ff":
        assert model.B.shape == (64, 16, 2) and abs(float(model.B.std()) / 10.0 - 1) < 0.05
        assert not torch.equal(model.B[0], model.B[1])


def test_seeded_build_is_reproducible():
    a, b = build("ff", seed=3), build("ff", seed=3)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)


# --------------------------------------------------------------------------- FLOPs

@pytest.mark.parametrize("member", ["siren", "relu_pe", "ff"])
@pytest.mark.parametrize("stack", [1, 2])
def test_flops_formula_matches_flop_counter(member, stack):
    shape = (16, 16)
    model = build(member, stack=stack)
    measured = measured_matmul_flops(model, signals.pixel_centers(shape))
    assert measured == model.flops(shape).matmul
    member_net = models.build(member, dim_in=2, dim_out=3, width=12, depth=2, **MEMBER_KW[member])
    assert model.flops(shape).total == stack * member_net.flops(shape).total


def test_enrp_flop_convention_reproduces_table_one():
    rgb128 = dict(dim_in=2, dim_out=3)
    siren = ensemble_costs((128, 128), grid=1, member="siren", depth=3, width=256, **rgb128)
    s4 = ensemble_costs((128, 128), grid=32, member="siren", depth=1, width=128, **rgb128)
    s1 = ensemble_costs((128, 128), grid=4, member="siren", depth=2, width=64, **rgb128)
    ff = ensemble_costs((128, 128), grid=32, member="ff", depth=0, width=128, mapping_size=65, **rgb128)
    assert round(siren["flops_enrp"] / 1e9, 2) == 6.48      # SIREN 6.48 G
    assert round(s4["flops_enrp"] / 1e6, 2) == 557.84       # ENRP-S2..S4 557.84 M
    assert round(s1["flops_enrp"] / 1e6, 2) == 278.92       # ENRP-S1 278.92 M
    assert round(ff["flops_enrp"] / 1e6, 2) == 558.11       # FF ensemble (Fig. 6) 558.11 M
    assert siren["flops_enrp"] == models.build("siren", **rgb128).flops((128, 128)).matmul
    assert round(s4["params"] / 1e6, 1) == 17.7             # ~17.7M parameters, 49,152 values


# --------------------------------------------------------------------------- stacked copies

def test_stacked_copies_train_like_separate_models():
    sig = signals.image("astronaut", size=16)
    stacked = build("siren", stack=3, width=16, depth=1)
    solos = [take_copy(stacked, s) for s in range(3)]
    before = stacked(sig.coords).detach()
    fit(stacked, stack_signal(sig, 3), steps=10, lr=1e-4, progress=False)
    after = stacked(sig.coords).detach()
    assert float((after - before).abs().max()) > 0.02       # training moved every copy ...
    for s, solo in enumerate(solos):
        fit(solo, sig, steps=10, lr=1e-4, progress=False)
        got = split_copies(after, 3)[s]                     # ... exactly as it moves alone
        torch.testing.assert_close(got, solo(sig.coords), rtol=0, atol=1e-4)
    ps = copy_psnr(stacked, sig)
    assert len(ps) == 3 and len(set(round(p, 6) for p in ps)) == 3   # independent seeds differ
    assert copy_psnr(stacked, sig, "enrp")[0] == pytest.approx(ps[0] - 20 * math.log10(2))


def test_stacked_model_needs_the_stacked_signal():
    sig = signals.image("astronaut", size=8)
    with pytest.raises(InrlabError, match="outputs 6 channels"):
        fit(build("siren", stack=2), sig, steps=1, progress=False)


# --------------------------------------------------------------------------- arguments

def test_bad_arguments_raise_one_line():
    with pytest.raises(InrlabError, match="unknown member 'mlp'"):
        models.build("ensemble", member="mlp")
    with pytest.raises(InrlabError, match="option sigma=3.0 does not apply to member 'siren'"):
        models.build("ensemble", member="siren", sigma=3.0)
    with pytest.raises(InrlabError, match="grid"):
        models.build("ensemble", grid="4x")
    m = models.build("ensemble", grid="4x2", width="8", member="relu_pe", pe_freqs="2")
    assert m.grid == (4, 2) and m.cells == 8 and m.pe_freqs == 2


def test_rebuild_and_deepcopy_after_forward():
    m = build("relu_pe", grid=(2, 3))
    x = signals.pixel_centers((6, 6))
    y = m(x)
    again = models.rebuild(m.config)
    again.load_state_dict(m.state_dict())
    assert torch.equal(again(x), y) and torch.equal(copy.deepcopy(m)(x), y)


# --------------------------------------------------------------------------- Algorithm 1

# A deterministic stand-in for the PSNR of short trainings, P[depth][width].
FAKE = {1: {16: 10, 32: 35, 64: 30, 256: 11},
        2: {16: 12, 32: 25, 64: 18, 256: 13},
        3: {16: 15, 32: 14, 64: 16, 256: 40}}


def fake_search(**kw):
    calls = []

    def evaluate(d, w):
        calls.append((d, w))
        return FAKE[d][w]

    kw = {"alpha": 0.0, "f_max": 200, "depths": (1, 2, 3), "widths": (16, 32, 64, 256), **kw}
    return search(evaluate, lambda d, w: d * w, **kw), calls


def test_search_follows_algorithm_one():
    res, calls = fake_search()
    # iteration 1 from (d=3, w=256): best width at d=3 is 64 (256 is over budget), then the best
    # depth at w=64 is 1; iteration 2: width 32 at d=1, depth 1 at w=32; iteration 3: no change.
    assert res.trajectory == [(3, 256), (1, 64), (1, 32), (1, 32)]
    assert (res.depth, res.width, res.converged, res.iterations) == (1, 32, True, 3)
    assert [(c.step, c.depth, c.width) for c in res.chosen()] == [
        ("width", 3, 64), ("depth", 1, 64), ("width", 1, 32), ("depth", 1, 32),
        ("width", 1, 32), ("depth", 1, 32)]
    assert res.iteration_psnr() == [30, 35, 35]
    assert all(not c.feasible and c.psnr is None for c in res.path if c.width == 256)
    assert (3, 256) not in calls and len(calls) == len(set(calls))   # nothing trained twice
    assert len(res.path) == 3 * (4 + 3)
    json.dumps(res.to_dict())


def test_search_stops_at_iter_max_and_without_reuse_retrains():
    res, _ = fake_search(iter_max=1)
    assert (res.depth, res.width, res.converged, res.iterations) == (1, 64, False, 1)
    res, calls = fake_search(reuse=False)
    assert len(calls) > len(set(calls))


def test_search_objective_trades_psnr_for_flops():
    # equal PSNR everywhere: alpha > 0 picks the cheapest pair; 7 dB per decade of FLOPs.
    res = search(lambda d, w: 30.0, lambda d, w: d * w * 1e3, alpha=7.0, f_max=1e9,
                 depths=(1, 2, 3), widths=(16, 32))
    assert (res.depth, res.width) == (1, 16)
    assert objective(30.0, 1e6, 7.0) - objective(30.0, 1e7, 7.0) == pytest.approx(7.0)
    # a 10x costlier candidate must gain more than alpha dB to win
    psnr = {16: 30.0, 160: 36.9}
    res = search(lambda d, w: psnr[w], lambda d, w: w, alpha=7.0, f_max=1e9, depths=(1,),
                 widths=(16, 160), start=(1, 16))
    assert res.width == 16
    with pytest.raises(InrlabError, match="no width in the search set fits F_max"):
        search(lambda d, w: 30.0, lambda d, w: 1e12, depths=(1,), widths=(16,))


def test_search_averages_repeats_and_trains_real_ensembles():
    sig = signals.image("astronaut", size=8)
    res = search_ensemble(sig, 2, steps=3, repeats=2, lr=1e-3, depths=(1, 2), widths=(4, 8),
                          iter_max=1, f_max=1e12)
    assert all(len(c.psnr_runs) == 2 and c.psnr == pytest.approx(sum(c.psnr_runs) / 2)
               for c in res.path if c.feasible)
    assert all(c.params == count_params(models.build("ensemble", signal=sig, grid=2, depth=c.depth,
                                                     width=c.width)) for c in res.path)
    assert res.depth in (1, 2) and res.width in (4, 8) and math.isfinite(res.psnr)


# --------------------------------------------------------------------------- CLI

def test_cli_fits_an_image():
    r = run_cli("fit", "--model", "ensemble", "--set", "grid=4", "--set", "member=siren",
                "--set", "depth=1", "--set", "width=32", "--signal", "camera", "--size", "64",
                "--steps", "20", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["params"] == 16 * (2 * 32 + 32 + 32 * 32 + 32 + 32 + 1)
    assert out["psnr"] > 3 and out["config"]["grid"] == 4


def test_cli_fits_a_wav_file(tmp_path):
    from scipy.io import wavfile

    t = np.arange(4000) / 8000
    wavfile.write(tmp_path / "tone.wav", 8000, (np.sin(2 * np.pi * 440 * t) * 20000).astype(np.int16))
    r = run_cli("fit", "--model", "ensemble", "--set", "grid=8", "--set", "member=siren",
                "--set", "depth=1", "--set", "width=16", "--set", "w0_initial=100",
                "--signal", tmp_path / "tone.wav", "--steps", "10", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["config"]["dim_in"] == 1 and out["psnr"] > 0



# --------------------------------------------------------------------------- any pointwise family

POINTWISE = ["siren", "relu", "relu_pe", "ff", "wire", "gauss", "finer"]


def test_every_pointwise_family_is_a_member():
    from inrlab.models.ensemble import members
    assert set(POINTWISE) <= set(members())
    import inspect
    import inrlab.models.ensemble as ens
    src = inspect.getsource(ens)
    for name in POINTWISE:   # no family name compared anywhere in the ensemble's code
        assert f'== "{name}"' not in src and f"== '{name}'" not in src


@pytest.mark.parametrize("member", POINTWISE)
def test_member_family_batched_equals_its_networks_and_trains(member):
    model = models.build("ensemble", grid=2, member=member, width=8, depth=1, dim_out=2, seed=0,
                         stack=2).double()
    ref = ensemble_reference(model).double()
    assert type(ref.nets[0]).registry_name == member
    x = torch.rand(150, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    out, out_ref = model(x), ref(x)
    torch.testing.assert_close(out, out_ref, rtol=1e-10, atol=1e-12)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    (out * g).sum().backward()
    (out_ref * g).sum().backward()
    from inrlab.models.ensemble import member_pairs
    for k, net in enumerate(ref.nets):
        for mine, theirs in member_pairs(net, model):
            if mine.grad is not None:
                torch.testing.assert_close(theirs.grad[k], mine.grad, rtol=1e-8, atol=1e-10)
    # a few Adam steps on a tiny signal lower the loss
    sig = signals.image("astronaut", size=8)
    m = models.build("ensemble", grid=2, member=member, width=16, depth=1, dim_out=3, seed=0)
    hist = fit(m, sig, steps=15, progress=False)
    assert hist.loss[-1] < hist.loss[0]


@pytest.mark.parametrize("member, kw", [("ff", {"mapping_size": 4}), ("relu_pe", {"pe_freqs": 2})])
def test_checkpoints_from_before_the_encoding_module_still_load(member, kw):
    model = models.build("ensemble", grid=2, member=member, width=4, seed=0, **kw)
    old = {(k[len("encoding."):] if k.startswith("encoding.") else k): v
           for k, v in model.state_dict().items()}          # the keys the older code wrote
    again = models.build("ensemble", grid=2, member=member, width=4, seed=5, **kw)
    again.load_state_dict(old)
    x = torch.rand(20, 2) * 2 - 1
    assert torch.equal(again(x), model(x))
