"""The one-parameter geometry of notebook 05 against closed forms."""

import math

import pytest

from inrlab.landscape import gd_paths, geometry_figure


def test_plain_descent_follows_its_closed_form():
    w0, target, eta, n = 0.1, 1.0, 0.05, 30
    curves, _, _ = gd_paths(w0, mu=1.0, eta=eta, n=n, target=target)
    expected = [max(((w0 - target) * (1 - 2 * eta) ** k) ** 2, 1e-16) for k in range(n + 1)]
    assert curves["w"] == pytest.approx(expected, rel=1e-12)


def test_factorized_forms_start_at_the_same_w_and_take_their_own_first_step():
    w0, mu, eta, target = 0.1, 1.0, 0.01, 1.0
    curves, sv, ev = gd_paths(w0, mu, eta, n=1, target=target)
    assert {k: v[0] for k, v in curves.items()} == pytest.approx({k: (w0 - target) ** 2 for k in curves})
    g = 2 * (w0 - target)
    s, v = math.exp(mu), w0 * math.exp(-mu)
    assert tuple(sv[1]) == pytest.approx((s - eta * g * v, v - eta * g * s))
    # exp(s) v: ds = -eta g exp(s) v, dv = -eta g exp(s), from s = mu
    assert tuple(ev[1]) == pytest.approx((mu - eta * g * math.exp(mu) * v, v - eta * g * math.exp(mu)))


def test_rwf_reaches_the_target_in_fewer_steps_from_a_small_start():
    curves, _, _ = gd_paths(0.1, mu=1.0, eta=0.05, n=60, target=1.0)
    first = {k: next((i for i, l in enumerate(v) if l < 1e-4), None) for k, v in curves.items()}
    assert first["exp(s)·v"] is not None and first["w"] is not None and first["exp(s)·v"] < first["w"]


def test_geometry_figure_has_both_surfaces_and_three_curves():
    fig, curves = geometry_figure(0.1, 1.0, 0.05, 20, 1.0, grid_n=21)
    assert set(curves) == {"w", "s·v", "exp(s)·v"}
    assert sum(t.type == "heatmap" or t.type == "contour" for t in fig.data) >= 2
