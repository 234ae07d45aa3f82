"""The loss geometry behind random weight factorization, on one parameter (notebook 05, RWF sec. 2).

Gradient descent on (w - target)^2 three ways from the same start: w itself, w = s v, and RWF's
w = exp(s) v. The factorized forms move w with an effective step that depends on the factors,
which is the self-adaptive rate the RWF paper describes.
"""

from __future__ import annotations

import math

import numpy as np


def gd_paths(w0: float, mu: float, eta: float, n: int, target: float):
    """n gradient-descent steps of size eta on (w - target)^2 for w, w = s v and w = exp(s) v, from
    the same w0 and the same factors (scale exp(mu), v0 = w0 exp(-mu)).

    Returns ({form: loss per step, floored at 1e-16}, the (s, v) path, the (s, v) path of exp(s) v).
    """
    w = [w0]
    sv = [(math.exp(mu), w0 * math.exp(-mu))]
    ev = [(mu, w0 * math.exp(-mu))]
    for _ in range(n):
        g = 2 * (w[-1] - target)
        w.append(w[-1] - eta * g)
        s, v = sv[-1]
        g = 2 * (s * v - target)
        sv.append((s - eta * g * v, v - eta * g * s))
        s, v = ev[-1]
        g = 2 * (math.exp(s) * v - target)
        ev.append((s - eta * g * math.exp(s) * v, v - eta * g * math.exp(s)))

    def loss(ws):
        return [max((x - target) ** 2, 1e-16) for x in ws]

    return ({"w": loss(w), "s·v": loss([s * v for s, v in sv]), "exp(s)·v": loss([math.exp(s) * v for s, v in ev])},
            np.array(sv), np.array(ev))


def geometry_figure(w0: float, mu: float, eta: float, n: int, target: float, grid_n: int = 241):
    """The loss surfaces over (s, v) for w = s v and w = exp(s) v with both descent paths drawn on
    them, beside the three loss curves; returns (figure, {form: loss per step})."""
    from . import plots

    curves, sv, ev = gd_paths(w0, mu, eta, n, target)
    grid = np.linspace(-3, 3, grid_n)
    S, V = np.meshgrid(grid, grid)

    def shown(p):  # a diverging path leaves the plot
        return p[np.isfinite(p).all(1) & (np.abs(p) < 10).all(1)]

    panels = {"loss over (s, v), w = s·v": (grid, grid, np.log10((S * V - target) ** 2 + 1e-3), shown(sv), ("s", "v")),
              "loss over (s, v), w = exp(s)·v": (grid, grid, np.log10((np.exp(S) * V - target) ** 2 + 1e-3), shown(ev),
                                                 ("s", "v"))}
    fig = plots.landscape(panels, {f"GD on {k}": v for k, v in curves.items()},
                          f"(w - {target:g})² from w0 = {w0:.3g}, scale exp({mu:g}), step size {eta:g}")
    return fig, curves
