"""Multi-head ReLU INR: sparse heads vs a dense masked reference, cell registration, parameter
and FLOP formulas, CLI."""

import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from inrlab import fit, models, signals
from inrlab.errors import InrlabError
from inrlab.flops import count_params, measured_matmul_flops
from inrlab.models.layers import SparseHeads, sparse_heads_reference, sparse_wiring
from inrlab.models.multihead import (match_alpha, match_width, multihead_params,
                                     multihead_reference)


def small(**kw):
    cfg = dict(width=16, depth=2, grid=4, alpha=6, seed=0)
    cfg.update(kw)
    return models.build("multihead", **cfg)


# --------------------------------------------------------------------------- sparse layer

# alpha 5 of 16 takes the CSR backward's dense-then-gather weight gradient, alpha 1 of 16
# its sampled product
@pytest.mark.parametrize("impl,alpha", [("csr", 5), ("csr", 1), ("gather", 5)])
def test_sparse_heads_equal_dense_masked_reference(impl, alpha):
    torch.manual_seed(0)
    layer = SparseHeads(16, 10, alpha, seed=3, impl=impl)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(7, 16, requires_grad=True)
    gout = torch.randn(7, 10)

    out = layer.table(x)
    (out * gout).sum().backward()
    grads = [t.grad.clone() for t in (x, layer.weight, layer.bias)]
    for t in (x, layer.weight, layer.bias):
        t.grad = None
    ref = sparse_heads_reference(x, layer)
    (ref * gout).sum().backward()
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    for g, t in zip(grads, (x, layer.weight, layer.bias)):
        torch.testing.assert_close(g, t.grad, atol=1e-5, rtol=1e-5)

    rows = torch.tensor([9, 2, 4])
    torch.testing.assert_close(layer.table(x, rows), ref[:, rows], atol=1e-5, rtol=1e-5)
    x_row, out_row = torch.tensor([0, 6, 3, 3]), torch.tensor([1, 1, 8, 0])
    torch.testing.assert_close(layer.pairs(x, x_row, out_row), ref[x_row, out_row],
                               atol=1e-5, rtol=1e-5)


def test_wiring_is_seeded_distinct_and_dense_at_full_alpha():
    a = sparse_wiring(32, 50, 8, seed=1)
    assert torch.equal(a, sparse_wiring(32, 50, 8, seed=1))
    assert not torch.equal(a, sparse_wiring(32, 50, 8, seed=2))
    assert all(len(set(r.tolist())) == 8 for r in a)          # distinct units per head
    assert int(a.min()) >= 0 and int(a.max()) < 32
    assert torch.equal(sparse_wiring(32, 3, 32), torch.arange(32).expand(3, 32))
    # every unit gets used about equally (uniform draw): 50 * 8 / 32 = 12.5 per unit
    counts = torch.bincount(a.reshape(-1), minlength=32)
    assert counts.min() > 2 and counts.max() < 30


def test_head_init_has_fan_in_alpha():
    # Glorot (alpha -> 1): bound sqrt(6 / (alpha + 1)), the same at 4 and 1024 heads
    for grid in (2, 32):
        m = small(width=64, alpha=32, grid=grid)
        bound = (6 / 33) ** 0.5
        w = m.head.weight.detach()
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.8 * bound
        assert float(m.head.bias.detach().abs().max()) == 0


# --------------------------------------------------------------------------- cells

def test_head_k_reproduces_cell_k_and_the_naive_reference():
    m = small(dim_out=3)
    torch.nn.init.normal_(m.head.bias)
    coords = signals.pixel_centers((32, 32))
    full = m.predict(coords)
    torch.testing.assert_close(full, multihead_reference(m, coords, dedup=False), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(full, multihead_reference(m, coords), atol=1e-5, rtol=1e-5)
    img = full.reshape(32, 32, 3)
    for k in (0, 5, 15):
        r, c = divmod(k, 4)
        rows = torch.arange(r * 8, r * 8 + 8)
        cols = torch.arange(c * 8, c * 8 + 8)
        cell = torch.cartesian_prod(rows, cols)
        alone = m.predict(coords[cell[:, 0] * 32 + cell[:, 1]])
        # head k alone on its 64 pixels = the full render's cell k, to float rounding
        torch.testing.assert_close(alone, img[r * 8:r * 8 + 8, c * 8:c * 8 + 8].reshape(-1, 3),
                                   atol=1e-6, rtol=1e-6)
        # and it is head k (and only head k) that draws there: changing another head's bias
        # leaves cell k unchanged, changing head k's moves it
        with torch.no_grad():
            m.head.bias[(k + 1) % 16 * 3] += 1.0
            same = m.predict(coords[cell[:, 0] * 32 + cell[:, 1]])
            m.head.bias[k * 3 + 1] += 1.0
            moved = m.predict(coords[cell[:, 0] * 32 + cell[:, 1]])
        torch.testing.assert_close(same, alone)
        torch.testing.assert_close(moved[:, 1], alone[:, 1] + 1.0)
        torch.testing.assert_close(moved[:, [0, 2]], alone[:, [0, 2]])


def test_scattered_points_and_minibatch_gradients_match_reference():
    m = small(dim_out=2)
    coords = signals.pixel_centers((32, 32))
    g = torch.Generator().manual_seed(0)
    pick = torch.randperm(1024, generator=g)[:50]              # few points per head: per-point path
    sub = coords[pick]
    out = m(sub)
    ref = multihead_reference(m, sub, dedup=False)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    gout = torch.randn(out.shape, generator=g)
    torch.autograd.grad((out * gout).sum(), list(m.parameters()))
    got = torch.autograd.grad((m(sub) * gout).sum(), list(m.parameters()))
    want = torch.autograd.grad((ref * gout).sum(), list(m.parameters()))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    # random off-grid coordinates, and gradients with respect to the coordinates
    x = (torch.rand(40, 2, generator=g) * 2 - 1).requires_grad_(True)
    y = m(x)
    torch.testing.assert_close(y, multihead_reference(m, x.detach(), dedup=False), atol=1e-5, rtol=1e-5)
    assert torch.isfinite(torch.autograd.grad(y.sum(), x)[0]).all()


def test_full_grid_training_gradients_match_reference():
    m = small(alpha=5)
    coords = signals.pixel_centers((16, 16))
    params = list(m.parameters())
    got = torch.autograd.grad(m(coords).square().sum(), params)
    want = torch.autograd.grad(multihead_reference(m, coords, dedup=False).square().sum(), params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_resolution_change_keeps_pixel_registration():
    m = small(grid=4)
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.copy_(torch.arange(16.0))                  # output = the head's number
    coarse = m.predict(signals.pixel_centers((16, 16))).reshape(16, 16).numpy()
    fine = m.predict(signals.pixel_centers((32, 32))).reshape(32, 32).numpy()
    expect = np.repeat(np.repeat(np.arange(16.0).reshape(4, 4), 4, 0), 4, 1)
    np.testing.assert_array_equal(coarse, expect)
    # every 2 x 2 block of the 32 render lies in the cell of the 16 pixel it subdivides
    np.testing.assert_array_equal(fine, np.kron(coarse, np.ones((2, 2))))
    # and inside the cell the body sees the same physical position: the four fine local
    # coordinates average to the coarse pixel's local coordinate (pixel centres in each cell)
    h16, i16, loc16 = m.locate(signals.pixel_centers((16, 16)))
    h32, i32, loc32 = m.locate(signals.pixel_centers((32, 32)))
    assert loc16.shape[0] == 16 and loc32.shape[0] == 64
    l16 = loc16[i16].reshape(16, 16, 2)
    l32 = loc32[i32].reshape(16, 2, 16, 2, 2).mean(dim=(1, 3))
    torch.testing.assert_close(l32, l16)
    torch.testing.assert_close(torch.unique(loc16[:, 0]), torch.tensor([-0.75, -0.25, 0.25, 0.75]))


def test_a_fit_lowers_the_loss_and_state_dict_restores_the_wiring():
    sig = signals.image("camera", size=16, gray=True)
    m = models.build("multihead", signal=sig, width=16, depth=1, grid=4, alpha=4, seed=0)
    h = fit(m, sig, steps=30, lr=1e-2, progress=False)
    assert h.loss[-1] < 0.5 * h.loss[0]
    other = models.build("multihead", signal=sig, width=16, depth=1, grid=4, alpha=4, seed=1,
                         wiring_seed=7)
    assert not torch.equal(other.head.idx, m.head.idx)
    other.predict(sig.coords)                                   # fills its CSR cache
    other.load_state_dict(m.state_dict())
    assert torch.equal(other.head.idx, m.head.idx)
    torch.testing.assert_close(other.predict(sig.coords), m.predict(sig.coords))


# --------------------------------------------------------------------------- counts

@pytest.mark.parametrize("kw", [dict(grid=4, alpha=6), dict(grid="2x8", alpha=16, dim_out=3),
                                dict(grid=1, alpha=1, depth=0)])
def test_parameter_count_matches_formula(kw):
    m = small(**kw)
    keep = {"width": 16, "depth": 2, **kw}
    assert count_params(m) == multihead_params(**keep)


def test_paper_parameter_budgets_and_matching():
    assert multihead_params(grid=64, alpha=64) == 464_384        # the paper's 0.464M
    assert multihead_params(grid=64, alpha=256) == 1_250_816      # the paper's 1.25M
    assert match_alpha(1_250_816, grid=64) == 256
    assert match_alpha(464_384, grid=64) == 64
    # REFERENCE.md: SIREN 4 x 644 and FF 4 x 603 (128 frequencies) at 1,250,816
    assert match_width("siren", 1_250_816, depth=3) == 644
    assert match_width("ff", 1_250_816, depth=3, mapping_size=128) == 603
    w = match_width("siren", 464_384, depth=3)
    s = models.build("siren", width=w, depth=3)
    s_up = models.build("siren", width=w + 1, depth=3)
    assert count_params(s) <= 464_384 < count_params(s_up)


@pytest.mark.parametrize("alpha", [6, 16])                     # sparse (bmm) and dense (addmm)
def test_flops_match_the_flop_counter_on_the_matmul_part(alpha):
    m = small(alpha=alpha, heads_impl="gather", dim_out=2)
    coords = signals.pixel_centers((32, 32))
    want = m.flops((32, 32))
    # body on 64 distinct local coordinates, heads 2 * alpha per output and channel
    body = 64 * 2 * (2 * 16 + 16 * 16 * 2)
    assert want.matmul == body + 2 * alpha * 32 * 32 * 2
    assert measured_matmul_flops(m, coords) == want.matmul
    assert want.bias == 64 * 16 * 3 + 32 * 32 * 2


def test_distinct_locals_count_what_forward_uses():
    m = small(grid=3)
    for shape in [(12, 12), (10, 7), (9, 16)]:
        _, _, local = m.locate(signals.pixel_centers(shape))
        assert local.shape[0] == m.distinct_locals(shape)
    assert m.distinct_locals((12, 12)) == 16                    # 144 pixels / 9 heads


def test_bad_arguments_raise_one_line():
    with pytest.raises(InrlabError, match="alpha 999 is larger than the body width 256"):
        models.build("multihead", alpha=999)
    with pytest.raises(InrlabError, match="grid"):
        models.build("multihead", grid="8xq")


# --------------------------------------------------------------------------- CLI

def test_cli_fit_and_bad_alpha():
    r = run_cli("fit", "--model", "multihead", "--set", "grid=8", "--set", "alpha=64",
                "--signal", "camera", "--size", "64", "--steps", "20", "--lr", "1e-3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["params"] == multihead_params(grid=8, alpha=64)
    assert out["config"]["grid"] == 8 and out["config"]["alpha"] == 64
    assert out["psnr"] > 10
    r = run_cli("fit", "--model", "multihead", "--set", "alpha=999", "--signal", "camera",
                "--size", "32", "--steps", "2")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "alpha 999" in r.stderr


def test_locate_cache_follows_the_coordinates():
    m = small()
    coords = signals.pixel_centers((16, 16))
    first = m.locate(coords)
    assert m.locate(coords) is first                            # same tensor: cached
    assert m.locate(coords[:128]) is not first
    with torch.no_grad():
        coords[:] = coords.flip(0)                              # in place: recomputed
    again = m.locate(coords)
    assert again is not first
    assert torch.equal(again[0], first[0].flip(0))


def test_one_head_per_pixel_has_a_live_body_and_fits():
    # pixel-centre cells put a one-pixel cell at local (0, 0): with zero first-layer biases the
    # ReLU body would output exactly zero there, with zero gradient
    m = small(grid=8, width=16, alpha=8)
    feat = m.features(torch.zeros(1, 2))
    assert int((feat > 0).sum()) >= 4
    sig = signals.perlin(8, octaves=4, seed=0)
    m = models.build("multihead", signal=sig, width=16, depth=1, grid=8, alpha=8, seed=0)
    h = fit(m, sig, steps=200, lr=1e-2, progress=False)
    assert h.final["psnr"] > 35


# --------------------------------------------------------------------------- paper's local coordinates

def test_align_corners_locals_are_linspace_per_cell_at_the_queried_resolution():
    m = small(grid=4, local_coords="align_corners")
    for size, s in ((16, 4), (32, 8)):
        coords = signals.pixel_centers((size, size))
        head, ids, local = m.locate(coords)
        axis = torch.linspace(-1, 1, s)
        assert local.shape[0] == s * s == m.distinct_locals((size, size))
        torch.testing.assert_close(torch.unique(local, dim=0), torch.cartesian_prod(axis, axis))
        # pixel j of every cell, on each axis, sits at linspace(-1, 1, s)[j]
        per_pixel = local[ids].reshape(size, size, 2)
        j = torch.arange(size) % s
        torch.testing.assert_close(per_pixel[:, 0, 0], axis[j])
        torch.testing.assert_close(per_pixel[0, :, 1], axis[j])
        assert torch.equal(head, small(grid=4).locate(coords)[0])   # same cells as pixel_centre
    # each coordinate tensor gets its own mapping (cache keyed per tensor)
    c16, c32 = signals.pixel_centers((16, 16)), signals.pixel_centers((32, 32))
    assert m.locate(c16)[2].shape[0] == 16 and m.locate(c32)[2].shape[0] == 64
    assert m.locate(c16)[2].shape[0] == 16


def test_align_corners_one_pixel_per_cell_is_at_minus_one():
    m = small(grid=8, local_coords="align_corners")
    _, _, local = m.locate(signals.pixel_centers((8, 8)))
    torch.testing.assert_close(local, torch.full((1, 2), -1.0))   # linspace(-1, 1, 1)
    # the default is unchanged: pixel centres, (0, 0) for one pixel per cell
    _, _, local = small(grid=8).locate(signals.pixel_centers((8, 8)))
    torch.testing.assert_close(local, torch.zeros(1, 2))
    assert small().local_coords == "pixel_centre"


def test_align_corners_model_fits_rebuilds_and_renders_at_another_resolution():
    sig = signals.image("camera", size=16, gray=True)
    m = models.build("multihead", signal=sig, width=16, depth=1, grid=4, alpha=4, seed=0,
                     local_coords="align_corners")
    h = fit(m, sig, steps=30, lr=1e-2, progress=False)
    assert h.loss[-1] < 0.5 * h.loss[0]
    assert m.config["kwargs"]["local_coords"] == "align_corners"
    again = models.rebuild(m.config)
    assert again.local_coords == "align_corners"
    again.load_state_dict(m.state_dict())
    torch.testing.assert_close(again.predict(sig.coords), m.predict(sig.coords))
    # a 32 render uses the 32 grid's linspace(-1, 1, 8) per cell, and predict does not split
    # the set (a chunk would get its own mapping)
    fine = signals.pixel_centers((32, 32))
    assert m.locate(fine)[2].shape[0] == 64
    torch.testing.assert_close(m.predict(fine, chunk=100), m.predict(fine))
    with pytest.raises(ValueError, match="align_corners"):
        m(fine.clone().requires_grad_(True))


def test_bad_local_coords_raises_naming_it():
    with pytest.raises(InrlabError, match="local_coords must be 'pixel_centre' or 'align_corners'"):
        models.build("multihead", local_coords="corners")
    with pytest.raises(ValueError, match="local_coords"):
        models.multihead.MultiHead(local_coords="pixel_center")
