"""Notebook 06's claims (the INR benchmark's): the synthetic metrics of each verdict (CASES, run by
tests/test_claims.py's test_each_check_gives_each_verdict) and what the rows name."""

from inrlab import claims


def _eq(rows, **protocol):
    """rows: {family: {budget: [held-out PSNR per seed]}} as notebook 06 records them."""
    return {"eq_heldout_psnr": {f: {str(int(b)): v for b, v in r.items()} for f, r in rows.items()},
            **protocol}


PAPER = {"size": 512, "signal": "DIV2K", "budgets": [1e4, 3e4, 1e5, 3e5, 1e6, 3e6]}
LEAD = {"grid": {1e4: [20.0, 20.1, 19.9], 1e5: [40.0, 40.2, 39.8]},
        "hashgrid": {1e5: [38.0, 38.1, 37.9]},
        "siren": {1e4: [30.0, 30.2, 29.8], 1e5: [33.0, 33.1, 32.9]},
        "siren+rwf": {1e5: [34.0, 34.1, 33.9]}}
FALLS = {"siren": {1e4: [30.0, 30.2, 29.8], 3e4: [32.0, 32.1, 31.9], 1e5: [28.0, 28.1, 27.9]}}

CASES = [
    ("bench-grids-lead", _eq(LEAD, **PAPER), "reproduced"),
    ("bench-grids-lead", _eq(LEAD, size=64), "ordering reproduced"),     # off the paper's protocol
    ("bench-grids-lead", _eq({**LEAD, "siren+rwf": {1e5: [45.0, 45.1, 44.9]}}), "not reproduced"),
    ("bench-grids-lead", _eq({**LEAD, "siren+rwf": {1e5: [39.0, 41.5, 38.0]}}), "not reproduced"),
    ("bench-grids-lead", _eq({"grid": {1e5: [40.0]}, "siren": {1e5: [39.0]}}), "not run"),  # 1 seed
    ("bench-grids-lead", _eq({"siren": LEAD["siren"]}), "not run"),
    ("bench-grids-lead", {}, "not run"),
    ("bench-siren-degrades", _eq(FALLS, **PAPER), "reproduced"),
    ("bench-siren-degrades", _eq(FALLS), "ordering reproduced"),
    ("bench-siren-degrades", _eq({"siren": LEAD["siren"]}), "not reproduced"),   # rises
    ("bench-siren-degrades", _eq({"siren": {1e4: [32.0], 1e5: [31.0]}}), "not run"),
    ("bench-siren-degrades", _eq({"siren": {1e4: [30.0]}}), "not run"),
    ("bench-siren-degrades", _eq({"grid": LEAD["grid"]}), "not run"),
]


# tests/test_claims.py runs every case above through its test_each_check_gives_each_verdict


def test_the_grid_lead_names_the_families_and_the_budget():
    row = claims.evaluate(claims.get("bench-grids-lead"), _eq(LEAD, **PAPER))
    assert "grid leads siren+rwf by 6.00 dB at 100000" in row.detail
    worse = claims.evaluate(claims.get("bench-grids-lead"),
                            _eq({**LEAD, "siren+rwf": {1e5: [45.0, 45.1, 44.9]}}))
    assert "siren+rwf is 5.00 dB above grid" in worse.detail


def test_both_claims_belong_to_notebook_06():
    ids = [c.id for c in claims.registered("06_equal_parameters")]
    assert ids == ["bench-grids-lead", "bench-siren-degrades"]
