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

import torch
from torch import nn

from ..flops import FlopCount
from .base import INR
from .gauss import EXP_FLOOR, SCALE
from .layers import linear
from .registry import register
from .siren import W0


class ComplexLinear(nn.Module):
    """z = W h + b with W complex, stored as a real (2, out, in) `weight`; `bias` (2, out)
    complex, or (out,) real where only the real part of z is used (`real_out`)."""

    def __init__(self, in_features: int, out_features: int, real_out: bool = False):
        super().__init__()
        self.in_features, self.out_features, self.real_out = in_features, out_features, real_out
        self.weight = nn.Parameter(torch.empty(2, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features) if real_out else torch.empty(2, out_features))
        self.init_()

    @torch.no_grad()
    def init_(self):
        # nn.Linear(dtype=cfloat)'s rule: U(-1/sqrt(n), 1/sqrt(n)) for each part, n = fan-in
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight.uniform_(-bound, bound)
        self.bias.uniform_(-bound, bound)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """[Re h, Im h] (N, 2 in) -> [Re z, Im z] (N, 2 out), or Re z (N, out) if real_out."""
        re, im = self.weight[0], self.weight[1]
        top = torch.cat([re, -im], dim=1)
        if self.real_out:
            return linear(h, top, self.bias)
        block = torch.cat([top, torch.cat([im, re], dim=1)], dim=0)
        return linear(h, block, self.bias.reshape(-1))

    def complex_weight(self) -> torch.Tensor:
        return torch.complex(self.weight[0], self.weight[1])

    def complex_bias(self) -> torch.Tensor:
        return self.bias if self.real_out else torch.complex(self.bias[0], self.bias[1])


def gabor(a: torch.Tensor, b: torch.Tensor | None, w0: float, scale: float) -> torch.Tensor:
    """exp(j w0 z - |scale z|^2) of z = a + jb (b None: z real) as [real part, imaginary part]."""
    r2 = a * a if b is None else a * a + b * b
    log_m = r2 * -(scale * scale) if b is None else r2 * -(scale * scale) - w0 * b
    m = torch.exp(log_m.clamp(min=-EXP_FLOOR))
    phase = a * w0
    return torch.cat([m * torch.cos(phase), m * torch.sin(phase)], dim=1)


@register("wire")
class Wire(INR):
    pointwise = True
    ranges = {**INR.ranges, "w0": W0, "scale": SCALE}
    adam = {"lr": 0.001}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 2,
                 w0: float = 20.0, scale: float = 30.0):
        super().__init__()
        if width < 1 or depth < 0:
            raise ValueError(f"width must be >= 1 and depth >= 0, got width={width}, depth={depth}")
        if not (w0 > 0 and scale > 0):
            raise ValueError(f"w0 and scale must be positive, got w0={w0}, scale={scale}")
        self.dim_in, self.dim_out, self.width, self.depth = dim_in, dim_out, width, depth
        self.w0, self.scale = float(w0), float(scale)
        self.units = max(1, int(width / math.sqrt(2)))
        self.first = nn.Linear(dim_in, self.units)
        self.hidden = nn.ModuleList(ComplexLinear(self.units, self.units) for _ in range(depth))
        self.last = ComplexLinear(self.units, dim_out, real_out=True)
        self.init_()

    @torch.no_grad()
    def init_(self):
        # every layer keeps nn.Linear's default (WIRE's code sets no initialisation of its own)
        bound = 1.0 / math.sqrt(self.dim_in)
        self.first.weight.uniform_(-bound, bound)
        self.first.bias.uniform_(-bound, bound)
        for layer in [*self.hidden, self.last]:
            layer.init_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.units
        h = gabor(linear(x, self.first.weight, self.first.bias), None, self.w0, self.scale)
        for layer in self.hidden:
            z = layer(h)
            h = gabor(z[:, :u], z[:, u:], self.w0, self.scale)
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
