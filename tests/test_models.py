"""Baseline families and the registry."""

import math

import pytest
import torch

from inrlab import models, signals
from inrlab.errors import InrlabError


def test_registry_lists_baselines():
    assert {"siren", "ff", "relu", "relu_pe"} <= set(models.available())


def test_unknown_model_lists_valid_names():
    with pytest.raises(InrlabError, match=r"unknown model 'sirne' \(choose from .*siren"):
        models.build("sirne")


def test_unknown_keyword_lists_valid_ones():
    with pytest.raises(InrlabError, match=r"unknown parameter 'widht' for model 'siren' \(valid: .*width"):
        models.build("siren", widht=3)


def test_coerce_from_text():
    m = models.build("siren", width="12", depth="1", w0="20")
    assert m.width == 12 and m.w0 == 20.0
    m = models.build("ff", two_pi="false", sigma="3")
    assert m.two_pi is False and m.sigma == 3.0
    with pytest.raises(InrlabError, match="parameter 'width' of model 'siren' must be int, got 'wide'"):
        models.build("siren", width="wide")


@pytest.mark.parametrize("name", ["siren", "ff", "relu", "relu_pe"])
@pytest.mark.parametrize("dims", [(1, 1), (2, 3), (3, 2)])
def test_any_input_output_dimension(name, dims):
    m = models.build(name, dim_in=dims[0], dim_out=dims[1], width=8, depth=1, seed=0)
    out = m(torch.rand(5, dims[0]) * 2 - 1)
    assert out.shape == (5, dims[1]) and torch.isfinite(out).all()


def test_without_a_seed_builds_draw_from_the_global_rng():
    # two unseeded builds differ (the global stream moves on), and a global seed repeats them
    a, b = (models.build("siren", width=8, depth=1) for _ in range(2))
    assert not torch.equal(a.layers[0].weight, b.layers[0].weight)
    torch.manual_seed(5)
    c = models.build("siren", width=8, depth=1)
    torch.manual_seed(5)
    d = models.build("siren", width=8, depth=1)
    assert torch.equal(c.layers[0].weight, d.layers[0].weight)


def test_seed_makes_init_reproducible_without_touching_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = models.build("siren", width=8, depth=1, seed=7)
    after = torch.rand(1)
    b = models.build("siren", width=8, depth=1, seed=7)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_siren_init_follows_the_paper():
    m = models.build("siren", dim_in=2, width=512, depth=2, w0=30, seed=0)
    first, hidden = m.layers[0].weight, m.layers[1].weight
    assert first.abs().max() <= 1 / 2 and first.abs().max() > 0.45
    bound = math.sqrt(6 / 512) / 30
    assert hidden.abs().max() <= bound and hidden.abs().max() > 0.95 * bound
    # uniform: std = bound / sqrt(3)
    assert hidden.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_glorot_init_for_relu_and_ff():
    m = models.build("relu", width=256, depth=1, seed=0)
    w = m.layers[1].weight
    bound = math.sqrt(6 / 512)
    assert w.abs().max() <= bound and w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert all(float(l.bias.detach().abs().max()) == 0 for l in m.layers)


def test_ff_encoding_scale():
    m = models.build("ff", sigma=5.0, mapping_size=4096, seed=0)
    assert m.B.std().item() == pytest.approx(5.0, rel=0.05)


def test_relu_pe_encoding():
    m = models.build("relu_pe", dim_in=1, pe_freqs=3, width=4, depth=0)
    x = torch.tensor([[0.25]])
    enc = m.encode(x)[0]
    expected = [0.25] + [math.sin(2 ** k * math.pi * 0.25) for k in range(3)] + \
               [math.cos(2 ** k * math.pi * 0.25) for k in range(3)]
    assert torch.allclose(enc, torch.tensor(expected), atol=1e-6)


def test_build_from_signal_fills_dimensions():
    sig = signals.image("astronaut", size=8)
    m = models.build("siren", signal=sig, width=8, depth=1)
    assert (m.dim_in, m.dim_out) == (2, 3)
    assert m.config == {"name": "siren", "kwargs": {"width": 8, "depth": 1, "dim_in": 2, "dim_out": 3},
                        "seed": None}


def test_one_annotation_checker_serves_models_and_notebooks():
    import typing
    from inrlab.models.registry import matches, resolve_annotation
    from inrlab.report import check_parameters

    assert resolve_annotation("int | None") == typing.Optional[int]
    assert resolve_annotation("tuple[int, ...]") == tuple[int, ...]
    with pytest.raises(ValueError, match="unsupported annotation"):
        resolve_annotation("__import__('os').getcwd()")        # parsed, never evaluated
    assert matches(3, "float") and not matches(True, "int") and not matches([1, "a"], "list[int]")
    check_parameters({"__annotations__": {"n": "int", "f": "float | None"}, "n": 3, "f": None})
    with pytest.raises(InrlabError, match="parameter 'n' must be int"):
        check_parameters({"__annotations__": {"n": "int"}, "n": 2.5})
    rates = "dict[str, float | None]"                        # notebook 01's family_lr
    assert matches({"hashgrid": None, "finer": 3e-4}, rates) and not matches({"finer": "fast"}, rates)
    assert not matches({1: 0.1}, rates) and not matches([("finer", 0.1)], rates)
    check_parameters({"__annotations__": {"r": rates}, "r": {"siren": 1e-3}}, choices={"r": ["siren"]})
    with pytest.raises(InrlabError, match="parameter 'r' has key 'sirne'; choose from siren"):
        check_parameters({"__annotations__": {"r": rates}, "r": {"sirne": 1e-3}}, choices={"r": ["siren"]})
    with pytest.raises(InrlabError, match="must be"):
        models.build("ensemble", grid=[1.5, 2])


def test_param_budget_helpers_live_with_the_flop_counts():
    from inrlab.flops import count_model_params, match_width
    from inrlab.models.multihead import multihead_params

    assert count_model_params("multihead", grid=4, alpha=8, width=16, depth=1) == multihead_params(4, 8, 16, 1)
    w = match_width("siren", 5000, depth=1)
    assert count_model_params("siren", width=w, depth=1) <= 5000 < count_model_params("siren", width=w + 1, depth=1)


def test_one_memo_keys_by_memory_and_version():
    import gc
    import weakref
    from inrlab.models.layers import CoordsMemo

    coords = torch.rand(64, 2)
    calls = []
    held, weak = CoordsMemo(size=2, hold=True), CoordsMemo(size=2)
    for memo in (held, weak):
        first = memo.get(coords, lambda: calls.append(1) or object())
        assert memo.get(coords[:], lambda: object()) is first        # a fresh view of the same memory
        assert memo.get(coords[:32], lambda: object()) is not first  # other rows
    with torch.no_grad():
        coords.add_(1.0)                                              # in place: rebuilt
    assert weak.get(coords, lambda: "new") == "new"
    ref = weakref.ref(coords)
    del coords
    gc.collect()
    assert ref() is not None            # the holding memo keeps the coordinates alive ...
    held._items.clear()
    gc.collect()
    assert ref() is None                # ... the weak one never did
