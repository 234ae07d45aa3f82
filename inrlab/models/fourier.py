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

from functools import partial

import torch

from ..checks import SIZE, Range
from .base import INR
from .layers import Pointwise, RandomFourier, linear_stack
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
        if mapping_size < 1 or not sigma > 0:
            raise ValueError(f"mapping_size must be >= 1 and sigma positive; got "
                             f"mapping_size={mapping_size}, sigma={sigma}")
        self.set_shape(dim_in, dim_out, width, depth)
        self.sigma, self.mapping_size, self.two_pi, self.sigmoid = sigma, mapping_size, two_pi, sigmoid
        self.output_activation = "sigmoid" if sigmoid else "identity"
        self.encoding = RandomFourier(dim_in, mapping_size, sigma, two_pi)   # B drawn first
        self.build()

    @property
    def B(self) -> torch.Tensor:
        return self.encoding.B

    def batched(self) -> Pointwise:
        if self.sigmoid:
            raise ValueError("ff members with a sigmoid output are not supported")
        return Pointwise(self.encoding, self.activation(), partial(linear_stack, list(self.dims)))

    def output(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out) if self.sigmoid else out
