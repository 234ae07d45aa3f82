"""Levels-of-Experts: routing against the formula, grouped compute against the references,
scales, resolution change, FLOPs and the CLI."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from inrlab import models, signals
from inrlab.errors import InrlabError
from inrlab.flops import measured_matmul_flops
from inrlab.models.layers import TileGroups, TiledLinear, tile_index
from inrlab.models.loe import default_scales


def _formula(coords, scale, tiles):
    """The tile index written out in float64 numpy: floor(scale * (p + 1) / 2) mod t per axis,
    combined row-major."""
    p = coords.double().numpy()
    c = np.floor(scale * (p + 1) / 2) % np.asarray(tiles)
    flat = c[:, 0]
    for k in range(1, len(tiles)):
        flat = flat * tiles[k] + c[:, k]
    return flat.astype(np.int64)


# --------------------------------------------------------------------------- routing

@pytest.mark.parametrize("tiles,scale", [((2, 2), 8.0), ((2, 3), 5.0), ((3,), 7.0), ((2, 2), 3.3)])
def test_tile_index_matches_formula(tiles, scale):
    g = torch.Generator().manual_seed(0)
    coords = torch.rand(500, len(tiles), generator=g) * 2 - 1
    ids = tile_index(coords, scale, tiles)
    assert ids.dtype == torch.long
    np.testing.assert_array_equal(ids.numpy(), _formula(coords, scale, tiles))
    assert int(ids.min()) >= 0 and int(ids.max()) < math.prod(tiles)


def test_each_sample_uses_the_candidate_the_formula_names():
    """Give every candidate a different constant response; the grouped layer's output then
    reveals which candidate each sample used."""
    torch.manual_seed(0)
    layer = TiledLinear(2, 3, n_tiles=4)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
    # a bias-free probe: candidate t maps x to (t+1) * x[0] on every output
    with torch.no_grad():
        for t in range(4):
            layer.weight[t, :, 0] = t + 1.0
    coords = torch.rand(300, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    coords[:, 0] = coords[:, 0].abs() + 0.05  # keep x[0] away from 0 so the ratio is defined
    ids = tile_index(coords, 4.0, (2, 2))
    out = layer(coords, ids)
    used = (out[:, 0] / coords[:, 0]).round().long() - 1
    np.testing.assert_array_equal(used.numpy(), _formula(coords, 4.0, (2, 2)))


@pytest.mark.parametrize("per_tile_bias", [False, True])
def test_grouped_equals_per_sample_reference(per_tile_bias):
    torch.manual_seed(1)
    layer = TiledLinear(5, 7, n_tiles=4, per_tile_bias=per_tile_bias)
    x = torch.randn(333, 5)
    ids = torch.randint(0, 4, (333,))
    direct = torch.stack([layer.weight[ids[n]] @ x[n] for n in range(x.shape[0])])
    direct = direct + (layer.bias[ids] if per_tile_bias else layer.bias)
    torch.testing.assert_close(layer.forward_per_sample_reference(x, ids), direct)
    torch.testing.assert_close(layer(x, ids), direct, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("equal_groups", [True, False])
@pytest.mark.parametrize("per_tile_bias", [False, True])
def test_grouped_equals_masked_reference_outputs_and_gradients(equal_groups, per_tile_bias):
    torch.manual_seed(2)
    n = 256
    ids = torch.arange(n) % 4 if equal_groups else torch.randint(0, 4, (n,))
    ids = ids[torch.randperm(n)]
    groups = TileGroups(ids, 4)
    assert groups.exact == equal_groups
    layer = TiledLinear(6, 5, n_tiles=4, per_tile_bias=per_tile_bias)
    x = torch.randn(n, 6, requires_grad=True)
    target = torch.randn(n, 5)

    def run(fn):
        layer.zero_grad()
        x.grad = None
        y = fn()
        ((y - target) ** 2).sum().backward()
        return y.detach(), x.grad.clone(), layer.weight.grad.clone(), layer.bias.grad.clone()

    got = run(lambda: layer(x, groups))
    ref = run(lambda: layer.forward_masked_reference(x, ids))
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # a candidate no sample uses gets no gradient
    ids0 = torch.zeros(n, dtype=torch.long)
    layer.zero_grad()
    layer(x, ids0).sum().backward()
    assert float(layer.weight.grad[1:].abs().max()) == 0.0


def test_single_tile_equals_nn_linear():
    torch.manual_seed(3)
    lin = nn.Linear(4, 6)
    layer = TiledLinear(4, 6, n_tiles=1)
    with torch.no_grad():
        layer.weight.copy_(lin.weight[None])
        layer.bias.copy_(lin.bias)
    x = torch.randn(50, 4)
    torch.testing.assert_close(layer(x, torch.zeros(50, dtype=torch.long)), lin(x))
    model = models.build("loe", dim_in=2, tiles=1, width=8, depth=2, seed=0)
    assert model.n_tiles == 1 and model.layers[0].weight.shape == (1, 8, 2)


@pytest.mark.parametrize("activation,per_tile_bias", [("leaky_relu", False), ("sine", True)])
def test_model_grouped_equals_references(activation, per_tile_bias):
    sig = signals.image("camera", size=32, gray=True)
    # float64: unscaled sine layers amplify float32 round-off (a different summation order)
    # about tenfold per layer, which would hide a real mismatch behind a loose tolerance
    model = models.build("loe", signal=sig, width=16, depth=3, activation=activation,
                         per_tile_bias=per_tile_bias, seed=0).double()
    g = torch.Generator().manual_seed(0)
    extra = torch.rand(37, 2, generator=g, dtype=torch.float64) * 2 - 1
    coords = torch.cat([sig.coords.double(), extra])  # unequal groups too
    grads = {}
    for mode in ("grouped", "masked", "per_sample"):
        model.zero_grad()
        y = model(coords) if mode == "grouped" else model.forward_reference(coords, mode)
        y.square().mean().backward()
        grads[mode] = (y.detach(), [p.grad.clone() for p in model.parameters()])
    for mode in ("masked", "per_sample"):
        torch.testing.assert_close(grads["grouped"][0], grads[mode][0], rtol=1e-9, atol=1e-10)
        for a, b in zip(grads["grouped"][1], grads[mode][1]):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    # impl= selects the same computation through the registry (what the benchmark times)
    masked = models.build("loe", signal=sig, width=16, depth=3, activation=activation,
                          per_tile_bias=per_tile_bias, impl="masked", seed=0).double()
    torch.testing.assert_close(masked(coords), grads["grouped"][0], rtol=1e-9, atol=1e-10)


# --------------------------------------------------------------------------- scales

def test_default_scales_rule():
    assert default_scales((64, 64), (2, 2), 5) == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert default_scales((512, 512), (2, 2), 9) == [2.0, 4.0, 8.0, 16.0, 32.0, 32.0, 64.0, 128.0, 256.0]
    assert default_scales((64, 96), (2, 2), 3) == [2.0, 8.0, 32.0]     # shortest side rules
    assert default_scales((100,), (2,), 2) == [2.0, 32.0]                # 100 / 32 >= 2 > 100 / 64
    assert default_scales((81, 81), (3, 3), 3) == [3.0, 9.0, 27.0]
    fine = models.build("loe", resolution=64, depth=4, seed=0)
    coarse = models.build("loe", resolution=64, depth=4, arrangement="quad_tree", seed=0)
    assert fine.scales == [32.0, 16.0, 8.0, 4.0, 2.0] and coarse.scales == fine.scales[::-1]
    assert models.build("loe", depth=2, scales="2,6,18", seed=0).scales == [2.0, 6.0, 18.0]
    assert models.build("loe", depth=2, scales=(3, 4, 5), seed=0).scales == [3.0, 4.0, 5.0]


def test_default_scales_finest_pairs_and_coarsest_quadrants():
    sig = signals.image("camera", size=64, gray=True)
    model = models.build("loe", signal=sig, seed=0)  # fine_to_coarse, 9 layers
    maps = model.tile_maps((64, 64)).numpy()
    finest, coarsest = maps[0], maps[-1]
    i = np.arange(64)
    # finest: pixels 2k and 2k+1 share a candidate along each axis and it alternates every 2
    row_bit = (i // 2) % 2
    np.testing.assert_array_equal(finest, 2 * row_bit[:, None] + row_bit[None, :])
    # coarsest: the four quadrants, one candidate each
    q = (i >= 32).astype(int)
    np.testing.assert_array_equal(coarsest, 2 * q[:, None] + q[None, :])
    assert all(np.bincount(m.ravel(), minlength=4).tolist() == [1024] * 4 for m in maps)


def test_coarse_to_fine_spells_the_quad_tree_address():
    n, levels = 32, 5
    model = models.build("loe", resolution=n, depth=levels - 1, arrangement="coarse_to_fine",
                         scales=",".join(str(2 ** (l + 1)) for l in range(levels)), seed=0)
    maps = model.tile_maps((n, n)).numpy()          # (levels, n, n), root first
    address = np.zeros((n, n), dtype=np.int64)
    for m in maps:
        address = address * 4 + m                   # base-4 digits, root quadrant first
    i = np.arange(n)
    # the quad-tree (Morton / Z-order) code: row and column bits interleaved, row bit higher
    morton = np.zeros((n, n), dtype=np.int64)
    for b in range(levels):
        morton |= (((i[:, None] >> b) & 1) << (2 * b + 1)) | (((i[None, :] >> b) & 1) << (2 * b))
    np.testing.assert_array_equal(address, morton)
    assert len(np.unique(address)) == n * n          # every pixel has its own leaf
    # with the default scales at 64^2 and 5 layers: the address of each 2x2 pixel block
    model64 = models.build("loe", resolution=64, depth=4, arrangement="quad_tree", seed=0)
    addr64 = np.zeros((64, 64), dtype=np.int64)
    for m in model64.tile_maps((64, 64)).numpy():
        addr64 = addr64 * 4 + m
    np.testing.assert_array_equal(addr64, np.kron(morton, np.ones((2, 2), dtype=np.int64)))


def test_resolution_change():
    sig = signals.image("camera", size=64, gray=True)
    model = models.build("loe", signal=sig, activation="sine", seed=0)
    coords = signals.pixel_centers((128, 128))
    for ids, s in zip(model.tile_ids(coords), model.scales):
        np.testing.assert_array_equal(ids.numpy(), _formula(coords, s, (2, 2)))
    # cells sit on pixel edges, so each 64^2 pixel's candidate covers its 2x2 pixels at 128^2
    maps64, maps128 = model.tile_maps((64, 64)).numpy(), model.tile_maps((128, 128)).numpy()
    np.testing.assert_array_equal(maps128, np.kron(maps64, np.ones((1, 2, 2), dtype=np.int64)))
    out = model.predict(coords)
    assert out.shape == (128 * 128, 1) and bool(torch.isfinite(out).all())
    # scattered coordinates (held-out pixels) and a 1-D signal work too
    held = signals.split_every_other(signals.image("camera", size=64, gray=True))
    m2 = models.build("loe", signal=held, width=8, depth=2, seed=0)
    assert bool(torch.isfinite(m2(held.heldout.coords)).all())
    m1 = models.build("loe", dim_in=1, resolution=256, width=8, depth=3, seed=0)
    assert m1.tiles == (2,) and m1.scales == [128.0, 32.0, 8.0, 2.0]
    assert m1(torch.linspace(-0.99, 0.99, 50)[:, None]).shape == (50, 1)


# --------------------------------------------------------------------------- init, FLOPs, errors

def test_init_rules():
    plain = models.build("loe", resolution=64, activation="sine", seed=0)
    bound = 1 / math.sqrt(64)
    w = plain.layers[3].weight.detach()
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    siren = models.build("loe", resolution=64, activation="sine", siren_init=True, seed=0)
    assert float(siren.layers[0].weight.detach().abs().max()) <= 1 / 2
    assert float(siren.layers[3].weight.detach().abs().max()) <= math.sqrt(6 / 64) / 30
    a = models.build("loe", resolution=64, seed=5)
    b = models.build("loe", resolution=64, seed=5)
    torch.testing.assert_close(a.layers[2].weight, b.layers[2].weight)
    assert a.layers[2].weight.shape == (4, 64, 64) and a.layers[2].bias.requires_grad


def test_flops_count_one_matmul_per_sample():
    sig = signals.image("camera", size=32, gray=True)
    model = models.build("loe", signal=sig, width=16, depth=3, seed=0)
    per_point = model.flops_per_point()
    assert per_point.matmul == 2 * (2 * 16 + 3 * 16 * 16 + 16 * 1)
    assert per_point.bias == 4 * 16 + 1
    assert per_point.activation == 4 * 16 * 2   # leaky_relu: compare and multiply
    assert model.flops(sig.shape).matmul == per_point.matmul * 32 * 32
    # a full image splits into equal groups at every layer: the counter sees one row per sample
    assert measured_matmul_flops(model, sig.coords) == per_point.matmul * sig.n
    # the masked reference computes every candidate for every sample
    masked = models.build("loe", signal=sig, width=16, depth=3, impl="masked", seed=0)
    tiled = 2 * (2 * 16 + 3 * 16 * 16) * 4 + 2 * 16
    assert measured_matmul_flops(masked, sig.coords) == tiled * sig.n
    # scattered coordinates split unevenly: the grouped path pads each group to the largest,
    # and the counter sees exactly the padded rows (our count stays the useful work)
    coords = torch.rand(301, 2, generator=torch.Generator().manual_seed(4)) * 2 - 1
    padded, uneven = 0, 0
    for layer, s in zip(model.layers, model.scales):
        g = TileGroups(tile_index(coords, s, model.tiles), model.n_tiles)
        uneven += not g.exact
        assert g.padded_rows >= coords.shape[0]
        padded += 2 * layer.in_features * layer.out_features * g.padded_rows
    assert uneven > 0
    # the output layer runs in the last layer's padded layout
    padded += 2 * 16 * 1 * g.padded_rows
    assert measured_matmul_flops(model, coords) == padded
    # a plain MLP of the same width and depth costs the same per point
    mlp = models.build("relu", signal=sig, width=16, depth=3)
    assert mlp.flops_per_point().matmul == per_point.matmul


@pytest.mark.parametrize("kwargs,needle", [
    ({"arrangement": "diagonal"}, "arrangement"),
    ({"activation": "tanh"}, "activation"),
    ({"activation": "leaky_relu", "siren_init": True}, "siren_init"),
    ({"scales": "1,2"}, "scales"),
    ({"scales": "1,x,2"}, "scales"),
    ({"impl": "fast"}, "impl"),
    ({"tiles": "2x3"}, "tiles"),
])
def test_bad_arguments_raise_one_line(kwargs, needle):
    with pytest.raises(InrlabError, match=needle):
        models.build("loe", resolution=64, depth=8, **kwargs)


def test_fit_lowers_the_loss():
    from inrlab import fit
    sig = signals.image("camera", size=24, gray=True)
    for activation, kw, lr in (("leaky_relu", {}, 5e-3), ("sine", {"siren_init": True}, 1e-3)):
        model = models.build("loe", signal=sig, width=16, depth=3, activation=activation, seed=0, **kw)
        h = fit(model, sig, steps=10, lr=lr, seed=0, progress=False)
        assert h.loss[-1] < 0.5 * h.loss[0], (activation, h.loss[0], h.loss[-1])


# --------------------------------------------------------------------------- CLI

def test_cli_fit_loe_sine():
    cmd = [sys.executable, "-m", "inrlab", "fit", "--model", "loe", "--set", "arrangement=fine_to_coarse",
           "--set", "activation=sine", "--signal", "camera", "--size", "64", "--steps", "20", "--json"]
    # one thread: two OpenMP threads on a busy 2-core box spin-wait far longer than they compute
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["model"] == "loe" and out["steps"] == 20 and math.isfinite(out["psnr"])
    assert out["config"]["activation"] == "sine" and out["config"]["resolution"] == [64, 64]
    assert out["params"] == 4 * (2 * 64 + 8 * 64 * 64) + 9 * 64 + 64 + 1
