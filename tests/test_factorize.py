"""Random weight factorization: the layer, the converter on every registered family, gradients,
the build switch, the CLI and checkpoints."""

import copy
import json
import math

import pytest
import torch
from torch import nn

from conftest import run_cli
from inrlab import fit, load_checkpoint, models, save_checkpoint, signals
from inrlab.errors import InrlabError
from inrlab.flops import count_params
from inrlab.models import factorize as rwf

# every registered family with linear layers, including ones added later (a value grid has none)
FAMILIES = [n for n in models.available() if models.registry._constructor(n).factorizable]
SMALL = {"width": 16, "depth": 1, "mapping_size": 16, "pe_freqs": 3}


@pytest.fixture(scope="module")
def signal():
    return signals.image("astronaut", size=32)


def small(name, signal, **extra):
    """A small instance of `name` for `signal` (the family's defaults where the small ones do not fit)."""
    kw = {k: v for k, v in SMALL.items() if k in models.parameters(name)}
    try:
        return models.build(name, signal=signal, seed=0, **kw, **extra)
    except InrlabError:
        return models.build(name, signal=signal, seed=0, **extra)


def dense_twin(model):
    """A copy of a factorized model with every weight merged back into a plain parameter."""
    return rwf.merge_(copy.deepcopy(model))


# --------------------------------------------------------------------------- the layer

def test_factorized_linear_equals_dense_product():
    torch.manual_seed(0)
    layer = nn.Linear(5, 4)
    rwf.factorize_(layer)
    s, v = rwf.factors(layer)["weight"]
    with torch.no_grad():                      # arbitrary (trained-looking) factors
        s.copy_(torch.randn(4, 1))
        v.copy_(torch.randn(4, 5))
    dense = nn.Linear(5, 4)
    with torch.no_grad():
        dense.weight.copy_(torch.diag(torch.exp(s[:, 0])) @ v)
        dense.bias.copy_(layer.bias)
    x = torch.randn(7, 5)
    assert torch.allclose(layer(x), dense(x), rtol=1e-6, atol=1e-6)
    assert s.shape == (4, 1) and v.shape == (4, 5)


def test_init_draws_s_per_neuron_and_keeps_w():
    layer = nn.Linear(300, 2000)
    w0 = layer.weight.detach().clone()
    gen = torch.Generator().manual_seed(1)
    rwf.factorize_(layer, mu=0.5, sigma=0.2, generator=gen)
    s, v = rwf.factors(layer)["weight"]
    assert abs(float(s.detach().mean()) - 0.5) < 0.02 and abs(float(s.detach().std()) - 0.2) < 0.02
    assert torch.allclose(v * torch.exp(s), w0, rtol=1e-6, atol=0)
    assert torch.allclose(layer.weight, w0, rtol=1e-6, atol=0)
    # the same generator seed draws the same s
    other = nn.Linear(300, 2000)
    rwf.factorize_(other, mu=0.5, sigma=0.2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(rwf.factors(other)["weight"][0], s)


class Stacked(nn.Module):
    """The layouts other families use: a batched (G, out, in) stack and sparse heads (heads, alpha)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 6, 4))          # G members, out, in
        self.heads = nn.Module()
        self.heads.weight = nn.Parameter(torch.randn(6, 2))        # heads, alpha
        self.register_buffer("wiring", torch.randint(0, 6, (6, 2)))

    def forward(self, x):                      # x: (G, N, in)
        h = torch.tanh(torch.bmm(x, self.weight.transpose(1, 2)))   # (G, N, 6)
        picked = h[..., self.wiring]                                 # (G, N, heads, alpha)
        return (picked * self.heads.weight).sum(-1)


def test_batched_and_sparse_layouts():
    torch.manual_seed(0)
    m = Stacked()
    x = torch.randn(3, 5, 4)
    before = m(x)
    names = rwf.factorize_(m)
    assert names == ["weight", "heads.weight"]
    f = rwf.factors(m)
    assert f["weight"][0].shape == (3, 6, 1) and f["heads.weight"][0].shape == (6, 1)
    assert torch.allclose(m(x), before, rtol=1e-5, atol=1e-6)
    s, v = f["weight"]
    with torch.no_grad():
        s.add_(torch.randn_like(s))
    # every (member, output neuron) row is scaled by its own exp(s)
    assert torch.allclose(m.weight[2, 4], torch.exp(s[2, 4, 0]) * v[2, 4])


def test_errors_are_one_line():
    layer = nn.Linear(2, 2)
    rwf.factorize_(layer)
    with pytest.raises(InrlabError, match="already factorized"):
        rwf.factorize_(layer)
    with pytest.raises(InrlabError, match="sigma must be >= 0"):
        rwf.factorize_(nn.Linear(2, 2), sigma=-1.0)
    with pytest.raises(InrlabError, match="no trainable parameter named 'weight'"):
        rwf.factorize_(nn.ReLU())


# --------------------------------------------------------------------------- every family

@pytest.mark.parametrize("name", FAMILIES)
def test_conversion_keeps_outputs_for_every_family(name, signal):
    model = small(name, signal)
    x = signal.coords[::3]
    before = model(x).detach()
    rwf.factorize_(model, generator=torch.Generator().manual_seed(0))
    after = model(x).detach()
    scale = float(before.abs().max()) + 1e-3
    assert torch.allclose(after, before, rtol=1e-5, atol=1e-5 * scale)
    # in float64 the only difference is rounding of W / exp(s) * exp(s)
    model64 = small(name, signal).double()
    before64 = model64(x.double()).detach()
    rwf.factorize_(model64)
    assert torch.allclose(model64(x.double()), before64, rtol=1e-11, atol=1e-11 * scale)


@pytest.mark.parametrize("name", FAMILIES)
def test_every_weight_matrix_is_factorized(name, signal):
    """Every trainable tensor with a fan-in axis follows the `weight` naming convention."""
    model = small(name, signal, factorize=True)
    tables = type(model).lookup_tables   # looked-up values (hash tables), not weights
    left = [n for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2
            and not n.endswith("bias") and n not in tables
            and ".parametrizations.weight.original" not in n]
    assert left == [], f"{name}: weights not named 'weight' escape factorization: {left}"
    for s, v in rwf.factors(model).values():
        assert s.shape == v.shape[:-1] + (1,)


@pytest.mark.parametrize("name", FAMILIES)
def test_gradients_match_the_dense_chain_rule(name, signal):
    model = small(name, signal, factorize=True).double()
    with torch.no_grad():   # move away from init so exp(s) differs across neurons
        for s, _ in rwf.factors(model).values():
            s.add_(0.3 * torch.randn_like(s))
    dense = dense_twin(model)
    x, y = signal.coords[::2].double(), signal.values[::2].double()
    torch.nn.functional.mse_loss(model(x), y).backward()
    torch.nn.functional.mse_loss(dense(x), y).backward()
    dense_params = dict(dense.named_parameters())
    for wname, (s, v) in rwf.factors(model).items():
        g_w = dense_params[wname].grad                         # dL/dW of the dense form
        g = torch.exp(s)
        expect_s = g * (v * g_w).sum(-1, keepdim=True)        # dL/ds_k = exp(s_k) sum_j V_kj dL/dW_kj
        expect_v = g * g_w                                     # dL/dV = exp(s) dL/dW
        tol = 1e-9 * (float(g_w.abs().max()) + 1e-12)
        assert torch.allclose(s.grad, expect_s, rtol=1e-8, atol=tol), wname
        assert torch.allclose(v.grad, expect_v, rtol=1e-8, atol=tol), wname


@pytest.mark.parametrize("name", FAMILIES)
def test_build_switch_for_every_family(name, signal):
    plain = small(name, signal)
    fact = small(name, signal, factorize=True)
    assert rwf.is_factorized(fact) and not rwf.is_factorized(plain)
    x = signal.coords[::5]
    assert torch.allclose(fact(x), plain(x), rtol=1e-5, atol=1e-5)   # same seed, same W0
    extra = sum(s.numel() for s, _ in rwf.factors(fact).values())
    assert count_params(fact) == count_params(plain) + extra
    assert fact.config["kwargs"]["factorize"] is True
    assert fact.config["kwargs"]["rwf_mu"] == 1.0 and fact.config["kwargs"]["rwf_sigma"] == 0.1
    again = models.rebuild(fact.config)
    assert rwf.is_factorized(again) and torch.equal(again(x), fact(x))
    # flops() leaves out forming W (once per pass, not per point); merge_ restores the plain model
    assert fact.flops(signal.shape) == plain.flops(signal.shape)
    assert rwf.factorization_flops(fact) == sum(s.numel() + v.numel() for s, v in rwf.factors(fact).values())
    merged = dense_twin(fact)
    assert count_params(merged) == count_params(plain) and not rwf.is_factorized(merged)
    assert torch.allclose(merged(x), fact(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", FAMILIES)
def test_forward_computes_each_weight_once(name, signal, monkeypatch):
    model = small(name, signal, factorize=True)
    calls = []
    original = rwf.ExpScale.forward
    monkeypatch.setattr(rwf.ExpScale, "forward", lambda self, s, v: calls.append(1) or original(self, s, v))
    model(signal.coords[:16]).sum().backward()
    assert len(calls) == len(rwf.factors(model))
    calls.clear()
    model(signal.coords[:16])                     # a new pass recomputes (weights may have moved)
    assert len(calls) == len(rwf.factors(model))


def test_cache_is_released_when_forward_fails():
    model = models.build("relu", width=8, depth=1, seed=0, factorize=True)
    with pytest.raises(RuntimeError):
        model(torch.zeros(3, 5))                  # wrong input width
    assert rwf._OPEN_CACHES == [] and torch.nn.utils.parametrize._cache_enabled == 0
    s, _ = rwf.factors(model)["layers.0.weight"]
    w = model.layers[0].weight.detach().clone()
    with torch.no_grad():
        s.add_(1.0)
    assert torch.allclose(model.layers[0].weight, w * math.e)   # no stale cached weight


# --------------------------------------------------------------------------- names

def test_short_names_and_their_clash_with_ff_sigma():
    m = models.build("siren", width=8, depth=1, seed=0, factorize="true", mu="0.5", sigma="0.2")
    assert m.config["kwargs"] == {"width": 8, "depth": 1, "factorize": True, "rwf_mu": 0.5, "rwf_sigma": 0.2}
    s = torch.cat([s.flatten() for s, _ in rwf.factors(m).values()])
    assert abs(float(s.detach().mean()) - 0.5) < 0.1
    with pytest.raises(InrlabError, match="'sigma' is ambiguous .*name the RWF one rwf_sigma"):
        models.build("ff", factorize=True, sigma=0.1)
    ff = models.build("ff", width=8, depth=1, mapping_size=4, seed=0, factorize=True, sigma=5, mu=0.5, rwf_sigma=0.0)
    assert ff.sigma == 5.0 and ff.config["kwargs"]["rwf_sigma"] == 0.0
    assert all(torch.allclose(s, torch.full_like(s, 0.5)) for s, _ in rwf.factors(ff).values())
    with pytest.raises(InrlabError, match="'mu' sets random weight factorization; add factorize=true"):
        models.build("relu", mu=1.0)
    with pytest.raises(InrlabError, match="'mu' and 'rwf_mu' both set rwf_mu"):
        models.build("relu", factorize=True, mu=1.0, rwf_mu=2.0)
    assert {"factorize", "rwf_mu", "rwf_sigma", "mu", "sigma"} <= set(models.valid_keys("relu"))
    assert models.coerce("relu", "sigma", "0.3") == 0.3 and models.coerce("ff", "sigma", "3") == 3.0


# --------------------------------------------------------------------------- training, checkpoints, CLI

def test_factorized_model_trains_and_checkpoint_reloads(tmp_path):
    sig = signals.image("camera", size=16)
    model = models.build("relu_pe", signal=sig, width=16, depth=1, seed=0, factorize=True, mu=0.5)
    s_before = rwf.factors(model)["layers.0.weight"][0].detach().clone()
    h = fit(model, sig, steps=30, lr=3e-3, progress=False)
    assert h.loss[-1] < 0.5 * h.loss[0]
    assert not torch.equal(rwf.factors(model)["layers.0.weight"][0], s_before)   # s is trained
    save_checkpoint(tmp_path / "ck.pt", model, history=h, step=30)
    loaded, _ = load_checkpoint(tmp_path / "ck.pt")
    assert rwf.is_factorized(loaded)
    assert torch.equal(loaded(sig.coords), model(sig.coords))


def test_cli_factorize_any_model(tmp_path):
    ck = tmp_path / "ck.pt"
    r = run_cli("fit", "--model", "relu_pe", "--signal", "camera", "--size", 32, "--steps", 20,
                "--set", "factorize=true", "--set", "mu=1.0", "--set", "sigma=0.1", "--json",
                "--checkpoint", ck)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    plain = models.build("relu_pe", signal=signals.image("camera", size=32))
    assert out["params"] == count_params(plain) + 4 * 256 + 1        # one s per output neuron
    assert out["config"]["factorize"] is True and out["config"]["rwf_sigma"] == 0.1
    model, _ = load_checkpoint(ck)
    sig = signals.image("camera", size=32)
    from inrlab.train import evaluate
    assert rwf.is_factorized(model) and abs(evaluate(model, sig) - out["psnr"]) < 1e-6
    r = run_cli("fit", "--model", "ff", "--signal", "camera", "--size", 8, "--steps", 1,
                "--set", "factorize=true", "--set", "sigma=0.1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "rwf_sigma" in r.stderr


# --------------------------------------------------------------------------- self-adaptive rate

def test_sgd_step_on_factors_is_a_rescaled_step_on_w():
    torch.manual_seed(0)
    layer = nn.Linear(6, 5).double()
    rwf.factorize_(layer)
    x, y = torch.randn(20, 6, dtype=torch.float64), torch.randn(20, 5, dtype=torch.float64)
    s, v = rwf.factors(layer)["weight"]
    w = layer.weight.detach().clone()
    errors = []
    for lr in (1e-2, 1e-3):
        w_now = layer.weight                       # each access recomputes exp(s) * V
        loss = ((nn.functional.linear(x, w_now, layer.bias) - y) ** 2).mean()
        grad_w = torch.autograd.grad(loss, w_now)[0]
        predicted = rwf.self_adaptive_update(s.detach(), v.detach(), grad_w, lr)
        gs, gv = torch.autograd.grad(((layer(x) - y) ** 2).mean(), (s, v))
        actual = (torch.exp(s - lr * gs) * (v - lr * gv) - w).detach()
        errors.append(float((actual - predicted).norm() / predicted.norm()))
        assert errors[-1] < 5 * lr
    assert errors[1] < errors[0] / 5                  # the difference is second order in lr
