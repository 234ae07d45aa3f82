"""The comparator families (issue 17): WIRE, Gauss, FINER, the value grid and the hash grid.
Each fast forward equals its plainly written reference (float64, values and gradients), the
initialisations follow the papers, the grid stores a signal exactly at its pixel centres, the
hash grid's batched gather equals a loop over levels and its indices the paper's formulas."""

import io
import math
from contextlib import redirect_stdout

import pytest
import torch
from torch.func import functional_call

from inrlab import fit, models, signals
from inrlab.cli import main
from inrlab.errors import InrlabError
from inrlab.flops import count_params
from inrlab.models import factorize as rwf
from inrlab.models.finer import finer
from inrlab.models.gauss import gauss
from inrlab.models.hashgrid import PRIMES, level_resolutions

NEW = ["wire", "gauss", "finer", "grid", "hashgrid"]
SMALL = {"wire": dict(width=24, depth=2), "gauss": dict(width=16, depth=2),
         "finer": dict(width=16, depth=2), "grid": dict(resolution=12),
         "hashgrid": dict(levels=4, table_size=2 ** 6, base_resolution=2, finest_resolution=16,
                          width=8, depth=1)}


def small(name, dim_in=2, dim_out=3, **kw):
    return models.build(name, dim_in=dim_in, dim_out=dim_out, seed=0, **{**SMALL[name], **kw})


def _points(n, d, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=dtype) * 2 - 1


def _grads(model, out):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.autograd.grad(out, params)


# --------------------------------------------------------------------------- fast == reference

@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("dim_in", [1, 2])
def test_forward_and_gradients_equal_the_reference(name, dim_in):
    torch.manual_seed(0)
    model = small(name, dim_in=dim_in).double()
    with torch.no_grad():   # away from init, so every term matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = _points(64, dim_in).requires_grad_()
    fast, ref = model(x), model.forward_reference(x)
    assert fast.shape == (64, 3)
    scale = float(ref.detach().abs().max()) + 1e-12
    # float64 agreement to ~1e-11 of the output's scale (sums taken in another order)
    assert torch.allclose(fast, ref, rtol=1e-9, atol=1e-10 * scale)
    g = torch.randn_like(fast)
    gf = _grads(model, (fast * g).sum())
    gr = _grads(model, (ref * g).sum())
    for a, b in zip(gf, gr):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-10 * (float(b.abs().max()) + 1e-12))
    (xf,) = torch.autograd.grad((model(x) * g).sum(), x)
    (xr,) = torch.autograd.grad((model.forward_reference(x) * g).sum(), x)
    assert torch.allclose(xf, xr, rtol=1e-9, atol=1e-10 * (float(xr.abs().max()) + 1e-12))


@pytest.mark.parametrize("fn", [lambda z: gauss(z, 3.0), lambda z: finer(z, 2.0, scale_grad=True)])
def test_activations_pass_gradcheck_and_second_derivatives(fn):
    z = (torch.randn(6, 4, dtype=torch.float64) * 0.5).requires_grad_()
    assert torch.autograd.gradcheck(fn, (z,))
    assert torch.autograd.gradgradcheck(fn, (z,))


def test_finer_detached_scale_derivatives_equal_the_reference():
    # with the scale a constant in backward (the authors' default) the gradient is not the
    # derivative of the forward, so gradcheck does not apply; first and second derivatives
    # equal those of the textbook formula with scale.detach()
    z = (torch.randn(6, 4, dtype=torch.float64) * 0.5).requires_grad_()
    ref = torch.sin(2.0 * (z.abs().detach() + 1) * z)
    (g1,) = torch.autograd.grad(finer(z, 2.0).sum(), z, create_graph=True)
    (r1,) = torch.autograd.grad(ref.sum(), z, create_graph=True)
    assert torch.allclose(g1, r1, atol=1e-12)
    (g2,) = torch.autograd.grad(g1.sum(), z)
    (r2,) = torch.autograd.grad(r1.sum(), z)
    assert torch.allclose(g2, r2, atol=1e-10)


def test_finer_scale_is_a_constant_in_backward_unless_asked():
    z = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(finer(z, 1.0), z)
    assert g.item() == pytest.approx(math.cos(0.75) * 1.5)          # w0 (|z| + 1) cos(.)
    (g,) = torch.autograd.grad(finer(z, 1.0, scale_grad=True), z)
    assert g.item() == pytest.approx(math.cos(0.75) * 2.0)          # w0 (2|z| + 1) cos(.)


# --------------------------------------------------------------------------- initialisation

def test_gauss_keeps_torch_default_init():
    m = models.build("gauss", width=512, depth=1, seed=0)
    w, b = m.layers[1].weight, m.layers[1].bias
    bound = 1 / math.sqrt(512)
    assert w.abs().max() <= bound and w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert b.abs().max() <= bound and m.scale == 10.0


def test_finer_init_siren_weights_and_wide_first_bias():
    m = models.build("finer", width=512, depth=1, bias_scale=5.0, seed=0)
    first, hidden = m.layers[0], m.layers[1]
    assert first.weight.abs().max() <= 0.5 and first.weight.abs().max() > 0.45
    bound = math.sqrt(6 / 512) / 30
    assert hidden.weight.abs().max() <= bound and m.layers[-1].weight.abs().max() <= bound
    assert first.bias.abs().max() <= 5.0 and first.bias.abs().max() > 4.9
    assert hidden.bias.abs().max() <= 1 / math.sqrt(512)
    plain = models.build("finer", width=512, depth=1, bias_scale=None, seed=0)
    assert plain.layers[0].bias.abs().max() <= 1 / math.sqrt(2)


def test_wire_divides_width_by_sqrt2_to_match_a_real_network():
    m = models.build("wire", width=256, depth=2, seed=0)
    assert m.units == 181
    real = models.build("gauss", width=256, depth=2)
    assert abs(count_params(m) - count_params(real)) / count_params(real) < 0.01
    w = m.hidden[0].weight    # (2, out, in): real and imaginary parts, each U(-1/sqrt(n), 1/sqrt(n))
    assert w.shape == (2, 181, 181) and w.abs().max() <= 1 / math.sqrt(181)
    assert (m.w0, m.scale) == (20.0, 30.0)


# --------------------------------------------------------------------------- grid

@pytest.mark.parametrize("source", ["image", "audio"])
def test_grid_of_the_signals_size_reproduces_it_at_its_pixel_centres(source):
    sig = signals.image("coffee", size=24) if source == "image" else signals.sine_mix(n=50)
    m = models.build("grid", signal=sig)
    assert m.resolution == tuple(sig.shape)
    m.set_signal_(sig)
    # float32 pixel centres are (i + 0.5) / n * 2 - 1 rounded to 24 bits, so a centre lands
    # up to ~n * 6e-8 of a cell off its value: within 1e-5 of the stored value here
    assert torch.allclose(m(sig.coords), sig.values, atol=1e-5, rtol=0)
    centres = [(torch.arange(n, dtype=torch.float64) + 0.5) / n * 2 - 1 for n in sig.shape]
    exact = torch.stack([c.reshape(-1) for c in torch.meshgrid(*centres, indexing="ij")], -1)
    out = m.double()(exact)
    assert torch.allclose(out, sig.values.double(), atol=1e-12, rtol=0)


@pytest.mark.parametrize("family", ["grid", "hashgrid", "loe"])
def test_resolution_families_build_and_fit_on_audio_longer_than_an_image_side(family):
    # a 2 s clip at 16 kHz: 32000 samples on its one axis, more than an image's MAX_SIDE
    sig = signals.audio(None)
    assert sig.shape[0] > signals.MAX_SIDE
    m = models.build(family, signal=sig, seed=0)
    if family == "grid":
        assert m.resolution == (32000,)
    if family == "hashgrid":
        assert m.finest_resolution == 32000
    h = fit(m, sig, steps=3, progress=False)
    assert math.isfinite(h.psnr[-1]) and len(h.loss) == 3


def test_grid_clamps_at_the_border_and_resamples_as_grid_sample():
    m = small("grid", dim_out=2).double()
    with torch.no_grad():
        m.values.normal_()
    vals = m.values.view(12, 12, 2)
    corners = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-3.0, 0.99], [2.0, -1.0]], dtype=torch.float64)
    out = m(corners)
    assert torch.allclose(out[0], vals[0, 0]) and torch.allclose(out[1], vals[-1, -1])
    assert torch.allclose(out[2], vals[0, -1]) and torch.allclose(out[3], vals[-1, 0])
    x = _points(200, 2, seed=3) * 1.1
    image = vals.permute(2, 0, 1)[None]                       # (1, C, H, W)
    ref = torch.nn.functional.grid_sample(image, x.flip(-1)[None, None], mode="bilinear",
                                          padding_mode="border", align_corners=False)
    assert torch.allclose(m(x), ref[0, :, 0].T, atol=1e-12)


# --------------------------------------------------------------------------- hash grid

def test_hashgrid_levels_follow_the_paper():
    assert level_resolutions(16, 16, 512)[0] == 16 and level_resolutions(16, 16, 512)[-1] == 512
    b = math.exp((math.log(512) - math.log(16)) / 15)
    assert level_resolutions(16, 16, 512)[5] == math.floor(16 * b ** 5)
    m = models.build("hashgrid", levels=16, features=2, table_size=2 ** 14, base_resolution=16,
                     finest_resolution=256, width=64, depth=1)
    assert m.dense_levels == [(n + 1) ** 2 <= 2 ** 14 for n in m.resolutions]
    assert any(m.dense_levels) and not all(m.dense_levels)
    table = sum(min((n + 1) ** 2, 2 ** 14) for n in m.resolutions) * 2
    mlp = 32 * 64 + 64 + 64 * 64 + 64 + 64 + 1
    assert count_params(m) == table + mlp
    assert m.table.abs().max() <= 1e-4


def test_hashgrid_dense_level_is_bilinear_interpolation_by_hand():
    m = models.build("hashgrid", levels=1, features=1, table_size=2 ** 10, base_resolution=4,
                     finest_resolution=4, width=4, depth=0).double()
    assert m.dense_levels == [True] and m.table.shape == (25, 1)
    with torch.no_grad():
        m.table.copy_(torch.arange(25, dtype=torch.float64)[:, None] ** 1.5)
    T = m.table[:, 0].detach()
    x = torch.tensor([[-0.3, 0.55]], dtype=torch.float64)   # u = (0.35, 0.775): pos (1.4, 3.1)
    fy, fx = 0.4, 0.1
    expect = ((1 - fy) * (1 - fx) * T[1 * 5 + 3] + fy * (1 - fx) * T[2 * 5 + 3]
              + (1 - fy) * fx * T[1 * 5 + 4] + fy * fx * T[2 * 5 + 4])
    assert m.encode(x)[0, 0].item() == pytest.approx(expect.item(), rel=1e-12)


def test_hashgrid_hashed_indices_match_the_formula():
    m = models.build("hashgrid", levels=1, features=2, table_size=2 ** 8, base_resolution=300,
                     finest_resolution=300, width=4, depth=0)
    assert m.dense_levels == [False]
    x = _points(50, 2, seed=5, dtype=torch.float32)
    index, _ = m.lookup(x)
    pos = (x + 1) / 2 * 300
    for p, row in zip(pos.tolist(), index[0].tolist()):
        i0 = [min(math.floor(v), 299) for v in p]
        for c, got in enumerate(row):
            corner = [i0[k] + ((c >> k) & 1) for k in range(2)]
            h32 = ((corner[0] * PRIMES[0]) & 0xFFFFFFFF) ^ ((corner[1] * PRIMES[1]) & 0xFFFFFFFF)
            assert got == h32 % 256   # tiny-cuda-nn's uint32 arithmetic, mod T


def test_hashgrid_gradcheck_on_a_tiny_config():
    m = models.build("hashgrid", levels=2, features=2, table_size=16, base_resolution=2,
                     finest_resolution=6, width=4, depth=0, seed=0).double()
    x = _points(7, 2, seed=1)
    names = [n for n, _ in m.named_parameters()]

    def f(*params):
        return functional_call(m, dict(zip(names, params)), (x,))

    params = tuple(p.detach().clone().requires_grad_() for p in m.parameters())
    assert torch.autograd.gradcheck(f, params)


def test_hashgrid_one_gather_equals_a_loop_over_levels_and_caches_per_coordinates():
    m = small("hashgrid", dim_out=1).double()
    with torch.no_grad():
        m.table.normal_()
    x = _points(300, 2, seed=2)
    assert torch.allclose(m.encode(x), m.encode_reference(x), atol=1e-12)
    first = m.encode(x)                          # from the cached lookup now
    assert torch.equal(first, m.encode(x))
    x.mul_(0.5)                                  # an in-place change rebuilds the lookup
    assert torch.allclose(m.encode(x), m.encode_reference(x), atol=1e-12)
    assert not torch.allclose(m.encode(x), first)


@pytest.mark.parametrize("dim_in", [1, 2, 3])
@pytest.mark.parametrize("table_size", [2 ** 6, 4])
def test_hashgrid_sparse_matrix_path_equals_the_reference(dim_in, table_size):
    # coordinates without a gradient take the CPU's sparse-matrix path (A table, A^T grad);
    # a 4-row table makes corners of one cell share a row, which A must sum into one entry
    # (in 2-D and 3-D; in 1-D the hash of neighbours i, i + 1 differs)
    m = small("hashgrid", dim_in=dim_in, table_size=table_size).double()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = _points(200, dim_in, seed=3)
    interp = m.interpolation(x)
    A = interp.matrix(torch.float64).to_dense()
    k = 2 ** dim_in
    nnz = interp.crow.diff()
    assert (nnz <= k).all() and (table_size > 4 or dim_in == 1 or (nnz < k).any())
    row = torch.repeat_interleave(torch.arange(A.shape[0]), nnz)
    same_row = row[1:] == row[:-1]
    assert (interp.col[1:][same_row] > interp.col[:-1][same_row]).all()   # CSR: ascending, distinct
    assert torch.allclose(A.sum(1), torch.ones(A.shape[0], dtype=torch.float64))  # weights sum to 1
    assert torch.equal(interp.matrix(torch.float64, transpose=True).to_dense(), A.t())
    fast, ref = m(x), m.forward_reference(x)
    scale = float(ref.detach().abs().max())
    assert torch.allclose(fast, ref, rtol=1e-9, atol=1e-10 * scale)
    g = torch.randn_like(fast)
    for a, b in zip(_grads(m, (fast * g).sum()), _grads(m, (ref * g).sum())):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-10 * float(b.abs().max()))
    assert m.interpolation(x) is interp          # kept for the unchanged tensor
    x.add_(0.01)
    assert m.interpolation(x) is not interp      # rebuilt after an in-place change


# --------------------------------------------------------------------------- composites

@pytest.mark.parametrize("name", ["wire", "gauss", "finer", "hashgrid"])
def test_rwf_and_checkpoint_rebuild(name):
    plain = small(name)
    fact = small(name, factorize=True)
    x = _points(40, 2, dtype=torch.float32)
    assert rwf.is_factorized(fact)
    # same function up to the rounding of exp(s) * (W / exp(s)), which WIRE's window
    # exp(-scale^2 |z|^2) (scale 30) amplifies about 1000-fold
    scale = float(plain(x).detach().abs().max())
    assert torch.allclose(fact(x), plain(x), rtol=1e-5, atol=1e-4 * scale)
    again = models.rebuild(fact.config)
    again.load_state_dict(fact.state_dict())
    assert rwf.is_factorized(again) and torch.equal(again(x), fact(x))


def test_grid_rebuilds_and_refuses_rwf_in_one_line():
    m = small("grid")
    again = models.rebuild(m.config)
    assert again.resolution == (12, 12)
    with pytest.raises(InrlabError, match=r"model 'grid' has no linear layers") as e:
        small("grid", factorize=True)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name, kw, key", [
    ("hashgrid", {"levels": 0}, "levels"), ("hashgrid", {"table_size": 1000}, "table_size"),
    ("hashgrid", {"features": 0}, "features"), ("hashgrid", {"base_resolution": -4}, "base_resolution"),
    ("hashgrid", {"base_resolution": 64, "finest_resolution": 32}, "finest_resolution"),
    ("wire", {"scale": -1.0}, "scale"), ("wire", {"w0": 0.0}, "w0"), ("gauss", {"scale": -10.0}, "scale"),
    ("finer", {"bias_scale": -1.0}, "bias_scale"), ("finer", {"w0": -30.0}, "w0"),
    ("grid", {"resolution": 1}, "resolution"), ("grid", {"resolution": "8x0"}, "resolution")])
def test_bad_parameters_give_one_line_naming_them(name, kw, key):
    with pytest.raises(InrlabError) as e:
        models.build(name, **kw)
    msg = str(e.value)
    assert key in msg and "\n" not in msg, msg


def test_models_command_lists_the_new_families():
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["models"]) == 0
    text = out.getvalue()
    for name in NEW:
        assert f"\n{name}:" in "\n" + text
    assert "table_size=16384" in text and "bias_scale=1.0" in text


@pytest.mark.parametrize("name", NEW)
def test_a_few_steps_lower_the_loss(name):
    sig = signals.image("chelsea", size=16)
    m = models.build(name, signal=sig, seed=0, **{k: v for k, v in SMALL[name].items() if k != "resolution"})
    h = fit(m, sig, steps=15, lr=3e-3, progress=False)
    assert h.loss[-1] < h.loss[0]


def test_flops_are_counted():
    for name in NEW:
        m = small(name)
        f = m.flops((16, 16))
        assert f.total > 0 and f.total == m.flops_per_point().total * 256
    hg = small("hashgrid")
    assert hg.gather_bytes((16, 16))["gather"] == 256 * 4 * 4 * (8 + 2 * 4 * 2)


@pytest.mark.parametrize("member, kw", [("gauss", {"scale": 5.0}), ("finer", {"bias_scale": 2.0, "w0": 20.0})])
def test_gauss_and_finer_are_ensemble_members(member, kw):
    from inrlab.models.ensemble import ensemble_reference

    model = models.build("ensemble", grid=3, member=member, width=8, depth=1, dim_out=2, seed=0, **kw)
    model = model.double()
    ref = ensemble_reference(model).double()
    assert type(ref.nets[0]).registry_name == member
    x = _points(200, 2)
    out, out_ref = model(x), ref(x)
    torch.testing.assert_close(out, out_ref, rtol=1e-10, atol=1e-12)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    (out * g).sum().backward()
    (out_ref * g).sum().backward()
    for i, layer in enumerate(model.layers):
        for k, net in enumerate(ref.nets):
            torch.testing.assert_close(layer.weight.grad[k], net.layers[i].weight.grad, rtol=1e-9, atol=1e-11)
    # each member starts as its standalone family would (FINER: the first bias U(-k, k))
    first_bias = model.layers[0].bias
    if member == "finer":
        assert first_bias.abs().max() <= 2.0 and first_bias.abs().max() > 1.5
        assert model.layers[1].weight.abs().max() <= math.sqrt(6 / 8) / 20
    else:
        assert model.layers[1].weight.abs().max() <= 1 / math.sqrt(8)
    with pytest.raises(InrlabError, match="does not apply to member"):
        models.build("ensemble", member="siren", scale=3.0)


def test_gaussian_windows_stay_above_subnormal_floats():
    # a subnormal product costs ~100x on CPU: windows are floored at exp(-30) (~1e-13)
    from inrlab.models.gauss import EXP_FLOOR
    from inrlab.models.wire import gabor

    z = torch.linspace(-3, 3, 1001).requires_grad_()
    y = gauss(z, 10.0)
    exact = torch.exp(-(10.0 * z.detach()) ** 2)
    assert float(y.min()) == pytest.approx(math.exp(-EXP_FLOOR), rel=1e-5)
    assert float((y - exact).abs().max()) <= math.exp(-EXP_FLOOR)
    (g,) = torch.autograd.grad(y.sum(), z)
    assert torch.equal(g[exact < math.exp(-EXP_FLOOR) / 2], torch.zeros_like(g[exact < math.exp(-EXP_FLOOR) / 2]))
    w = gabor(z.detach()[:, None], None, 20.0, 30.0)
    assert float(w.abs().max(1).values.min()) > torch.finfo(torch.float32).tiny
