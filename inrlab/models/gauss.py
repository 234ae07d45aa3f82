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
per direction (`layers.gauss`, as `layers.sine`), and it floors the exponent at -30 (values below
e^-30 ~ 1e-13 become 1e-13, with zero gradient): the narrow Gaussian sends most units to
subnormal floats otherwise, whose arithmetic made a CPU training step 5x slower. The change is
below float32's resolution of any sum it enters. `forward_reference` is the textbook formula.
"""

from __future__ import annotations

from functools import partial

import torch

from ..checks import Range
from ..flops import FlopCount, mlp_flops
from .base import INR
from .layers import EXP_FLOOR, Encoding, GaussAct, Pointwise, gauss, linear_stack, run_mlp, torch_default_init_  # noqa: F401
from .registry import register

# exp(-(s z)^2) in float32 is 0 for s |z| > 9.4: past 1e4 every unit is 0 unless |z| < 1e-3
SCALE = Range(0, 1e4, lo_open=True, why="exp(-(scale z)^2) is 0 in float32 for almost every z beyond it")


@register("gauss")
class Gauss(INR):
    pointwise = True
    ranges = {**INR.ranges, "scale": SCALE}
    adam = {"lr": 0.0003}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 3,
                 scale: float = 10.0):
        super().__init__()
        if not scale > 0:
            raise ValueError(f"scale must be positive, got scale={scale}")
        self.set_shape(dim_in, dim_out, width, depth)
        self.scale = float(scale)
        self.dims = [dim_in] + [width] * (depth + 1) + [dim_out]
        self.layers = linear_stack(self.dims)
        self.init_()

    def activation(self) -> GaussAct:
        return GaussAct(self.scale)

    def batched(self) -> Pointwise:
        return Pointwise(Encoding(self.dim_in), self.activation(), partial(linear_stack, list(self.dims)))

    def init_(self, layers=None):
        """The paper (sec. 4) and WIRE's gauss.py keep PyTorch's default initialisation.
        `layers`: this network's (default) or a batched stack of members."""
        for layer in self.layers if layers is None else layers:
            torch_default_init_(layer.weight, layer.bias, layer.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_mlp(x, self.layers, self.activation())

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The textbook formula, for the fast path's equality test."""
        h = x
        for layer in self.layers[:-1]:
            h = torch.exp(-(self.scale * layer(h)) ** 2)
        return self.layers[-1](h)

    def flops_per_point(self) -> FlopCount:
        return mlp_flops(self.dims, "gauss")

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"
