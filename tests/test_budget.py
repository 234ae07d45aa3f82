"""inrlab.budget: each family's build settings within a parameter budget (notebook 06)."""

import pytest

from inrlab import models, signals
from inrlab.budget import match_budget
from inrlab.errors import InrlabError
from inrlab.flops import count_model_params, count_params


@pytest.fixture(scope="module")
def sig():
    return signals.split_every_other(signals.image("camera", size=64, gray=True))


@pytest.mark.parametrize("family", ["siren", "ff", "relu_pe", "multihead", "ensemble", "loe",
                                    "hashgrid", "grid", "wire", "gauss", "finer"])
@pytest.mark.parametrize("budget", [3e3, 1e4, 3e4])
def test_built_model_is_within_the_budget_and_near_it(sig, family, budget):
    kw = match_budget(family, budget, signal=sig)
    n = count_params(models.build(family, signal=sig, **kw))
    assert n <= budget
    assert n >= 0.8 * budget, (family, kw, n)


def test_the_knob_is_the_largest_that_fits(sig):
    kw = match_budget("siren", 3e4, signal=sig)
    bigger = count_params(models.build("siren", signal=sig, **{**kw, "width": kw["width"] + 1}))
    assert bigger > 3e4
    g = match_budget("grid", 1e4, dim_in=2, dim_out=1)
    assert g["resolution"] == 100                      # 100 x 100 values = 1e4 exactly


def test_rwf_variant_is_counted_with_its_scales(sig):
    plain = match_budget("siren", 1e4, signal=sig)
    rwf = match_budget("siren", 1e4, signal=sig, factorize=True)
    assert rwf["width"] <= plain["width"]
    assert count_params(models.build("siren", signal=sig, **rwf)) <= 1e4


def test_hashgrid_table_stops_where_every_level_is_dense(sig):
    kw = match_budget("hashgrid", 1e5, signal=sig)
    smaller = count_params(models.build("hashgrid", signal=sig, **{**kw, "table_size": kw["table_size"] // 2}))
    assert smaller < count_params(models.build("hashgrid", signal=sig, **kw))


@pytest.mark.parametrize("family,budget,msg", [("siren", 0, "budget must be a positive"),
                                               ("siren", 5, "siren:"),
                                               ("grid", 3, "grid: even a 2-sample grid")])
def test_bad_budget_gives_one_line_error(family, budget, msg):
    with pytest.raises(InrlabError, match=msg):
        match_budget(family, budget, dim_in=2, dim_out=1)


def test_multihead_below_its_alpha_takes_dense_heads(sig):
    kw = match_budget("multihead", 2e3, signal=sig)
    assert kw["alpha"] == kw["width"] < 32
    assert count_params(models.build("multihead", signal=sig, **kw)) <= 2e3


@pytest.mark.parametrize("kw", [dict(grid=4, alpha=8, width=16, depth=1),
                                dict(grid="3x5", alpha=8, width=16, depth=2, dim_out=3)])
@pytest.mark.parametrize("factorize", [False, True])
def test_multihead_formula_counts_what_build_allocates(kw, factorize):
    # the formula (no wiring drawn) against the built model, RWF's one s per output neuron included
    kw = {**kw, "factorize": factorize}
    assert count_model_params("multihead", **kw) == count_params(models.build("multihead", **kw))


def test_multihead_formula_checks_its_keywords_as_build_does():
    with pytest.raises(InrlabError, match="unknown parameter 'bogus'"):
        count_model_params("multihead", bogus=1)
    with pytest.raises(InrlabError, match="alpha 999 is larger than the body width 8"):
        count_model_params("multihead", alpha=999, width=8)


@pytest.mark.parametrize("fixed", [{}, {"factorize": True}, {"alpha": 16}])
@pytest.mark.parametrize("budget", [3e3, 3e4])
def test_multihead_budget_is_the_widest_body_within_it(fixed, budget):
    kw = match_budget("multihead", budget, dim_in=2, dim_out=1, grid=8, **fixed)
    n = count_params(models.build("multihead", **kw))
    wider = {**kw, "width": kw["width"] + 1}
    if "alpha" in kw and "alpha" not in fixed:   # dense heads widen with the body
        wider["alpha"] = wider["width"]
    assert n <= budget < count_params(models.build("multihead", **wider))


def test_multihead_budget_below_a_given_alpha_is_refused():
    with pytest.raises(InrlabError, match="even at width alpha = 64"):
        match_budget("multihead", 3e3, dim_in=2, dim_out=1, grid=8, alpha=64)
