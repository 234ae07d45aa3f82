"""Notebook 06's claims (the INR benchmark's): the synthetic metrics of each verdict (CASES, run by
tests/test_claims.py's test_each_check_gives_each_verdict) and what the rows name."""

import pytest

from inrlab import claims
from inrlab.claimset import benchmark


def _eq(rows, key="eq_heldout_psnr", pixels=1024, **protocol):
    """rows: {family: {budget: [PSNR per seed]}} as notebook 06 records them under `key`."""
    return {key: {f: {str(int(b)): v for b, v in r.items()} for f, r in rows.items()},
            "eq_train_pixels": pixels, **protocol}


PAPER = {"size": 512, "signal": "DIV2K", "budgets": [1e4, 3e4, 1e5, 3e5, 1e6, 3e6], "steps": 1000}
LEAD = {"grid": {1e4: [20.0, 20.1, 19.9], 1e5: [40.0, 40.2, 39.8]},
        "hashgrid": {1e5: [38.0, 38.1, 37.9]},
        "siren": {1e4: [30.0, 30.2, 29.8], 1e5: [33.0, 33.1, 32.9]},
        "siren+rwf": {1e5: [34.0, 34.1, 33.9]}}
FALLS = {"siren": {1e4: [30.0, 30.2, 29.8], 3e4: [32.0, 32.1, 31.9], 1e5: [28.0, 28.1, 27.9]}}
FIT = "eq_fit_psnr"

CASES = [
    ("bench-grids-lead", _eq(LEAD, **PAPER), "reproduced"),
    ("bench-grids-lead", _eq(LEAD, size=64), "ordering reproduced"),     # off the paper's protocol
    ("bench-grids-lead", _eq({**LEAD, "siren+rwf": {1e5: [45.0, 45.1, 44.9]}}), "not reproduced"),
    ("bench-grids-lead", _eq({**LEAD, "siren+rwf": {1e5: [39.0, 41.5, 38.0]}}), "not reproduced"),
    ("bench-grids-lead", _eq({"grid": {1e5: [40.0]}, "siren": {1e5: [39.0]}}), "not run"),  # 1 seed
    ("bench-grids-lead", _eq({"siren": LEAD["siren"]}), "not run"),
    ("bench-grids-lead", _eq(LEAD, pixels=512 * 512), "not run"),   # 1e5 on 512² is not a large budget
    ("bench-grids-lead", {}, "not run"),
    ("bench-grids-lead-fit", _eq(LEAD, key=FIT, **PAPER), "reproduced"),
    ("bench-grids-lead-fit", _eq({**LEAD, "ff": {1e5: [45.0, 45.1, 44.9]}}, key=FIT), "not reproduced"),
    ("bench-grids-lead-fit", _eq(LEAD), "not run"),                  # held-out only: no fit table
    ("bench-siren-degrades", _eq(FALLS, **PAPER), "reproduced"),
    ("bench-siren-degrades", _eq(FALLS), "ordering reproduced"),
    ("bench-siren-degrades", _eq({"siren": LEAD["siren"]}), "not reproduced"),   # rises
    ("bench-siren-degrades", _eq({"siren": {1e4: [32.0], 1e5: [31.0]}}), "not run"),
    ("bench-siren-degrades", _eq({"siren": {1e4: [30.0]}}), "not run"),
    ("bench-siren-degrades", _eq({"grid": LEAD["grid"]}), "not run"),
    ("bench-siren-degrades-fit", _eq(FALLS, key=FIT), "ordering reproduced"),
    ("bench-siren-degrades-fit", _eq({"siren": LEAD["siren"]}, key=FIT), "not reproduced"),
    ("bench-siren-degrades-fit", _eq(FALLS), "not run"),           # held-out only: no fit table
]


# tests/test_claims.py runs every case above through its test_each_check_gives_each_verdict


def test_the_grid_lead_names_the_families_and_the_budget():
    row = claims.evaluate(claims.get("bench-grids-lead"), _eq(LEAD, **PAPER))
    assert "grid leads siren+rwf by 6.00 dB at 100000" in row.detail
    worse = claims.evaluate(claims.get("bench-grids-lead"),
                            _eq({**LEAD, "siren+rwf": {1e5: [45.0, 45.1, 44.9]}}))
    assert "siren+rwf is 5.00 dB above grid" in worse.detail


def test_a_small_budget_is_not_judged_and_says_why():
    row = claims.evaluate(claims.get("bench-grids-lead"), _eq(LEAD, pixels=512 * 512))
    assert "0.38 parameters per training pixel" in row.detail and "3.81" in row.detail


def test_each_claim_is_judged_in_both_conventions():
    ids = [c.id for c in claims.registered("06_equal_parameters")]
    assert ids == ["bench-grids-lead", "bench-grids-lead-fit", "bench-siren-degrades", "bench-siren-degrades-fit"]
    conv = {c.id: c.convention for c in claims.registered("06_equal_parameters")}
    assert "held-out" in conv["bench-grids-lead"] and "fitting PSNR" in conv["bench-grids-lead-fit"]
    # the held-out and the fit tables are read separately: the same numbers under the other key give no verdict
    assert claims.evaluate(claims.get("bench-siren-degrades-fit"), _eq(FALLS)).verdict == "not run"


def test_the_paper_values_are_the_benchmark_numbers():
    c = claims.get("bench-siren-degrades")
    assert c.paper_values["SIREN @ 1e+06"] == 15.87 and c.paper_values["SIREN @ 3e+06"] == 11.22
    assert claims.get("bench-grids-lead").paper_values["Instant-NGP @ 3e+06"] == 63.21


def test_published_at_interpolates_in_log_budget_and_refuses_to_extrapolate():
    per = benchmark.BENCH_PIXELS
    assert benchmark.published_at("siren", 1e4 / per) == pytest.approx(21.98)
    assert benchmark.published_at("grid", 3e6 / per) == pytest.approx(156.53)
    # the log-midpoint of two published budgets gets the mean of their numbers
    mid = benchmark.published_at("ff", (1e4 * 3e4) ** 0.5 / per)
    assert mid == pytest.approx((15.99 + 22.00) / 2)
    assert benchmark.published_at("ff", 9e3 / per) is None and benchmark.published_at("ff", 4e6 / per) is None
    assert benchmark.published_at("loe", 1e5 / per) is None   # a family the benchmark did not run
    # a grid between 3e5 and 1e6 crosses 3 x 512² values, where it can store the RGB image: not interpolated
    assert benchmark.published_at("grid", 5e5 / per) is None and benchmark.published_at("hashgrid", 5e5 / per) is None
    assert benchmark.published_at("grid", 1e6 / per) == pytest.approx(149.73)
    assert benchmark.published_at("ff", 5e5 / per) is not None
