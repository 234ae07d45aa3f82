"""Gaussian-activated MLP (Ramasinghe & Lucey, ECCV 2022, "Beyond Periodicity: Towards a
Unifying Framework for Activations in Coordinate-MLPs").

Every layer but the last computes exp(-(scale * z)^2) on z = W x + b; the output layer is
linear. The paper writes the activation exp(-z^2 / (2 sigma^2)), so scale = 1 / (sqrt(2) sigma).
Defaults follow the public code the field compares with, WIRE's `modules/gauss.py`
(vishwa91/wire): scale = 10, PyTorch's nn.Linear initialisation for every layer (weights and
biases U(-1/sqrt(n), 1/sqrt(n))); the paper states no special initialisation. width 256 and
depth 3 (four Gaussian layers, SIREN's 3 x 256), as the FINER authors' comparison runs it; their
image script uses scale 30 and Adam 5e-3.

Differences from that code: the activation is one autograd function that allocates one tensor
per direction (`_GaussFn`, as `layers.sine`), and it floors the exponent at -30 (values below
e^-30 ~ 1e-13 become 1e-13, with zero gradient): the narrow Gaussian sends most units to
subnormal floats otherwise, whose arithmetic made a CPU training step 5x slower. The change is
below float32's resolution of any sum it enters. `forward_reference` is the textbook formula.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from ..checks import Range
from ..flops import FlopCount, mlp_flops
from .base import INR
from .layers import MLPParts, _textbook_ops, default_bias_init_, linear
from .registry import register

# exp(-(s z)^2) in float32 is 0 for s |z| > 9.4: past 1e4 every unit is 0 unless |z| < 1e-3
SCALE = Range(0, 1e4, lo_open=True, why="exp(-(scale z)^2) is 0 in float32 for almost every z beyond it")
# Gaussian windows are floored at exp(-EXP_FLOOR): no product of them is a subnormal float
EXP_FLOOR = 30.0


class _GaussFn(torch.autograd.Function):
    """exp(-min((s z)^2, EXP_FLOOR)) with one fresh tensor forward (s z, squared, clamped,
    negated and exponentiated in place) and one backward (-2 s^2 z y g, 0 where floored). Under
    create_graph the backward is built from z with out-of-place ops, so higher derivatives stay
    exact."""

    @staticmethod
    def forward(ctx, z, s):
        y = torch.mul(z, s).square_().clamp_(max=EXP_FLOOR).neg_().exp_()
        ctx.s = s
        ctx.save_for_backward(z, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors
        c = -2.0 * ctx.s ** 2
        if torch.is_grad_enabled():
            return grad * _gauss_reference(z, ctx.s) * z * c * ((z * ctx.s) ** 2 < EXP_FLOOR), None
        g = torch.mul(z, c).mul_(y).mul_(grad)
        return g.masked_fill_(y <= math.exp(-EXP_FLOOR), 0.0), None


def _gauss_reference(z, s):
    return torch.exp(-((z * s) ** 2).clamp(max=EXP_FLOOR))


def gauss(z: torch.Tensor, scale: float) -> torch.Tensor:
    """exp(-(scale z)^2) floored at exp(-EXP_FLOOR), equal to `_gauss_reference` forward and
    backward."""
    if _textbook_ops(z):
        return _gauss_reference(z, scale)
    return _GaussFn.apply(z, float(scale))


@torch.no_grad()
def torch_default_init_(layer: nn.Linear) -> None:
    """nn.Linear's own rule, written out so `init_` redraws it: weights and biases
    U(-1/sqrt(n), 1/sqrt(n)) (kaiming_uniform with a = sqrt(5) gives that weight bound)."""
    bound = 1.0 / layer.in_features ** 0.5
    layer.weight.uniform_(-bound, bound)
    default_bias_init_(layer.bias, layer.in_features)


def _init_layers_(layers) -> None:
    # the paper (sec. 4) and WIRE's gauss.py keep PyTorch's default initialisation
    for layer in layers:
        torch_default_init_(layer)


def _activate(z: torch.Tensor, i: int, scale: float) -> torch.Tensor:
    return gauss(z, scale)


@register("gauss")
class Gauss(INR):
    pointwise = True
    ranges = {**INR.ranges, "scale": SCALE}
    adam = {"lr": 0.0003}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 3,
                 scale: float = 10.0):
        super().__init__()
        if width < 1 or depth < 0:
            raise ValueError(f"width must be >= 1 and depth >= 0, got width={width}, depth={depth}")
        if not scale > 0:
            raise ValueError(f"scale must be positive, got scale={scale}")
        self.dim_in, self.dim_out, self.width, self.depth = dim_in, dim_out, width, depth
        self.scale = float(scale)
        dims = [dim_in] + [width] * (depth + 1) + [dim_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.init_()

    def parts(self) -> MLPParts:
        """The activation and initialisation, for composites (ensemble members)."""
        return MLPParts(partial(_activate, scale=self.scale), _init_layers_)

    def init_(self):
        self.parts().init_layers_(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer in self.layers[:-1]:
            h = gauss(linear(h, layer.weight, layer.bias), self.scale)
        last = self.layers[-1]
        return linear(h, last.weight, last.bias)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The textbook formula, for the fast path's equality test."""
        h = x
        for layer in self.layers[:-1]:
            h = torch.exp(-(self.scale * layer(h)) ** 2)
        return self.layers[-1](h)

    def flops_per_point(self) -> FlopCount:
        return mlp_flops([self.dim_in] + [self.width] * (self.depth + 1) + [self.dim_out], "gauss")

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"
