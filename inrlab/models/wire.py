"""WIRE: wavelet implicit neural representations (Saragadam et al., CVPR 2023, "WIRE: Wavelet
Implicit Neural Representations").

Each hidden unit is a complex Gabor wavelet of its complex pre-activation z = W h + b:
psi(z) = exp(j w0 z - |scale z|^2). The first layer takes the real coordinates with a real
linear map (z real); the hidden and output layers are complex; the output is the real part.
As the authors' code (vishwa91/wire, modules/wire.py): the hidden width is divided by sqrt(2)
(`units` = int(width / sqrt(2)) complex units) so the parameter count matches a real network
of `width`; every layer keeps nn.Linear's initialisation (weights and biases U(-1/sqrt(n),
1/sqrt(n)), real and imaginary parts drawn alike); defaults w0 = 20, scale = 30 (their
suggestion for image representation; 4 and 4 for denoising), depth 2 x 256; Adam 5e-3 to 2e-2
in their comments (the FINER authors' sweep peaks at 5e-3).

How it runs: a complex matrix is stored as a real (2, out, in) `weight` (real, imaginary) and a
complex hidden state as the real (N, 2 units) [Re h, Im h], so a complex layer is ONE real matmul
with the block matrix [[Re W, -Im W], [Im W, Re W]], and Adam (fused), the parameter count and
random weight factorization see real tensors. With z = a + jb the wavelet is
exp(-w0 b - scale^2 (a^2 + b^2)) (cos(w0 a) + j sin(w0 a)). `forward_reference` is the complex
formula with torch's complex tensors.

Differences from the authors' code: the output layer's bias is real (the imaginary part of
the output bias never reaches the real output, so it is not a parameter); RWF scales the real
and the imaginary row of each neuron separately (s of shape (2, out, 1)); the wavelet's
magnitude is floored at e^-30 (~1e-13, zero gradient there), as `gauss.EXP_FLOOR`: with scale 30
most units are otherwise subnormal floats, which made a CPU training step 10x slower.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from ..flops import FlopCount
from .base import INR
from .gauss import SCALE
from .layers import (BatchedLinear, ComplexLinear, Encoding, GaborAct, Pointwise, gabor,  # noqa: F401
                     linear, torch_default_init_)
from .registry import register
from .siren import W0


def wire_layers(dim_in: int, units: int, depth: int, dim_out: int, groups: int | None = None) -> nn.ModuleList:
    """The real first layer, `depth` complex hidden layers and the complex output layer with a
    real bias, standalone (groups None) or for `groups` members."""
    first = nn.Linear(dim_in, units) if groups is None else BatchedLinear(groups, dim_in, units)
    hidden = [ComplexLinear(units, units, groups=groups) for _ in range(depth)]
    return nn.ModuleList([first, *hidden, ComplexLinear(units, dim_out, real_out=True, groups=groups)])


@register("wire")
class Wire(INR):
    adam = {"lr": 0.001}   # inrlab.defaults.SWEEP
    pointwise = True
    ranges = {**INR.ranges, "w0": W0, "scale": SCALE}

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 2,
                 w0: float = 20.0, scale: float = 30.0):
        super().__init__()
        if not (w0 > 0 and scale > 0):
            raise ValueError(f"w0 and scale must be positive, got w0={w0}, scale={scale}")
        self.set_shape(dim_in, dim_out, width, depth)
        self.w0, self.scale = float(w0), float(scale)
        self.units = max(1, int(width / math.sqrt(2)))
        layers = wire_layers(dim_in, self.units, depth, dim_out)
        self.first, self.hidden, self.last = layers[0], nn.ModuleList(layers[1:-1]), layers[-1]
        self.init_()

    def activation(self) -> GaborAct:
        return GaborAct(self.w0, self.scale)

    def batched(self) -> Pointwise:
        return Pointwise(Encoding(self.dim_in), self.activation(),
                         partial(wire_layers, self.dim_in, self.units, self.depth, self.dim_out))

    @torch.no_grad()
    def init_(self, layers=None):
        """Every layer keeps nn.Linear's default (WIRE's code sets no initialisation of its
        own; complex parts drawn alike). `layers`: this network's or a batched stack."""
        for layer in [self.first, *self.hidden, self.last] if layers is None else layers:
            torch_default_init_(layer.weight, layer.bias, layer.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.activation()
        h = act(linear(x, self.first.weight, self.first.bias), 0)
        for layer in self.hidden:
            h = act(layer(h), 1)
        return self.last(h)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The authors' formula on complex tensors, for the fast path's equality test."""
        z = self.first(x)
        h = torch.exp(1j * self.w0 * z - (self.scale * z).abs().square())
        for layer in self.hidden:
            z = h @ layer.complex_weight().T + layer.complex_bias()
            h = torch.exp(1j * self.w0 * z - (self.scale * z).abs().square())
        return (h @ self.last.complex_weight().T + self.last.complex_bias()).real

    def flops_per_point(self) -> FlopCount:
        u, d, c = self.units, self.dim_in, self.dim_out
        # per unit: first layer a^2, * -s^2, exp, w0 a, cos, sin, two products (8); hidden
        # layers also b^2, the sum and -w0 b (12); a complex multiply-add is 4 real ones
        first = FlopCount(matmul=2.0 * d * u, bias=float(u), activation=8.0 * u)
        hidden = FlopCount(matmul=8.0 * u * u, bias=2.0 * u, activation=12.0 * u) * self.depth
        last = FlopCount(matmul=4.0 * u * c, bias=float(c))
        return first + hidden + last

    def extra_repr(self) -> str:
        return f"units={self.units} complex, w0={self.w0:g}, scale={self.scale:g}"
