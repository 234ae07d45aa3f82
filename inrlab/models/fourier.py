"""Fourier-feature MLP (Tancik et al., NeurIPS 2020, "Fourier Features Let Networks Learn High
Frequency Functions in Low Dimensional Domains").

gamma(x) = [sin(2 pi B x), cos(2 pi B x)] with B ~ N(0, sigma^2) of shape (mapping_size,
dim_in), fixed (a buffer, not trained), then a ReLU MLP. Their image setting: sigma 10, 256
frequencies, 4 linear layers of 256 (depth=2 here: first + 2 hidden + output), Glorot init and
a sigmoid output; we keep the output linear by default (sigmoid=True restores theirs) so every
family is compared with the same clipped-linear output. two_pi=False gives the multi-head
paper's weaker variant (no 2 pi).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import SIZE, Range
from ..flops import FlopCount, mlp_flops
from .base import INR
from .registry import register
from .relu import EncodedReluMLP

# 2 pi B x with B ~ N(0, sigma^2): at sigma 1e4 the largest arguments (~2.5e5) keep ~0.02 rad of
# phase in float32
SIGMA = Range(0, 1e4, lo_open=True, why="2 pi B x keeps little phase precision in float32 beyond it")


@register("ff")
class FourierFeatures(EncodedReluMLP):
    ranges = {**INR.ranges, "sigma": SIGMA, "mapping_size": SIZE}
    adam = {"lr": 0.001}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 2,
                 sigma: float = 10.0, mapping_size: int = 256, two_pi: bool = True,
                 sigmoid: bool = False):
        super().__init__()
        if width < 1 or depth < 0 or mapping_size < 1:
            raise ValueError(f"width, mapping_size must be >= 1 and depth >= 0; got "
                             f"width={width}, depth={depth}, mapping_size={mapping_size}")
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.dim_in, self.dim_out, self.width, self.depth = dim_in, dim_out, width, depth
        self.sigma, self.mapping_size, self.two_pi, self.sigmoid = sigma, mapping_size, two_pi, sigmoid
        self.register_buffer("B", torch.randn(mapping_size, dim_in) * sigma)
        dims = [2 * mapping_size] + [width] * (depth + 1) + [dim_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.init_()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = x @ self.B.t()
        if self.two_pi:
            z = z * (2 * math.pi)
        return torch.cat([torch.sin(z), torch.cos(z)], dim=-1)

    def output(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out) if self.sigmoid else out

    def flops_per_point(self) -> FlopCount:
        m = self.mapping_size
        enc = FlopCount(matmul=2.0 * self.dim_in * m, encoding=(m if self.two_pi else 0) + 2.0 * m)
        mlp = mlp_flops([2 * m] + [self.width] * (self.depth + 1) + [self.dim_out], "relu",
                        "sigmoid" if self.sigmoid else "identity")
        return enc + mlp
