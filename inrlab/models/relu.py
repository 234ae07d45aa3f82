"""ReLU MLP, optionally on a NeRF-style positional encoding (Mildenhall et al., ECCV 2020).

gamma(x) = [x, sin(2^k pi x), cos(2^k pi x) for k < pe_freqs], per coordinate. pe_freqs=0 is
the plain coordinate MLP that shows spectral bias (Rahaman et al. 2019). Glorot-uniform
weights and zero biases (Keras' default, as the multi-head paper's body). The default of 8
frequencies reaches 2^7 = 128 cycles over [-1, 1], the Nyquist limit of a 256-pixel side.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import Range
from ..flops import FlopCount, mlp_flops
from .base import INR
from .layers import glorot_init_, linear, relu_stack
from .registry import register

# sin(2^k pi x) in float32: at k = 20 (2^20 pi ~ 3.3e6) one ulp of the argument is 0.25 rad, and
# 2^k overflows to inf at k = 128 (NaN at the first step)
PE_FREQS = Range(0, 20, why="sin(2^k pi x) keeps no phase precision in float32 beyond k = 19")


class EncodedReluMLP(INR):
    """An encoding of the coordinates (`encode`), a ReLU MLP on it (`self.layers`, Glorot
    init) and an output map (`output`, identity here): the shape shared by the ReLU(+PE) and
    Fourier-feature networks."""
    pointwise = True

    def init_(self):
        for layer in self.layers:
            glorot_init_(layer.weight, layer.bias, layer.in_features, layer.out_features)

    def output(self, out: torch.Tensor) -> torch.Tensor:
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = relu_stack(self.encode(x), self.layers[:-1])
        last = self.layers[-1]
        return self.output(linear(h, last.weight, last.bias))

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The textbook formula, for the fast path's equality test."""
        h = self.encode(x)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.output(self.layers[-1](h))


@register("relu")
class ReluMLP(EncodedReluMLP):
    ranges = {**INR.ranges, "pe_freqs": PE_FREQS}
    adam = {"lr": 3e-3}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 3,
                 pe_freqs: int = 0):
        super().__init__()
        if width < 1 or depth < 0 or pe_freqs < 0:
            raise ValueError(f"width must be >= 1, depth and pe_freqs >= 0; got width={width}, "
                             f"depth={depth}, pe_freqs={pe_freqs}")
        self.dim_in, self.dim_out, self.width, self.depth = dim_in, dim_out, width, depth
        self.pe_freqs = pe_freqs
        self.register_buffer("freqs", (2.0 ** torch.arange(pe_freqs)) * math.pi)
        enc_dim = dim_in * (1 + 2 * pe_freqs)
        dims = [enc_dim] + [width] * (depth + 1) + [dim_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.init_()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.pe_freqs == 0:
            return x
        z = (x[:, :, None] * self.freqs).flatten(1)
        return torch.cat([x, torch.sin(z), torch.cos(z)], dim=-1)

    def flops_per_point(self) -> FlopCount:
        k = self.dim_in * self.pe_freqs
        enc = FlopCount(encoding=3.0 * k)  # one multiply, one sin, one cos per frequency
        dims = [self.dim_in * (1 + 2 * self.pe_freqs)] + [self.width] * (self.depth + 1) + [self.dim_out]
        return enc + mlp_flops(dims, "relu")


@register("relu_pe")
class ReluPE(ReluMLP):
    """The ReLU MLP with positional encoding switched on by default."""
    adam = {"lr": 1e-3}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 3,
                 pe_freqs: int = 8):
        super().__init__(dim_in=dim_in, dim_out=dim_out, width=width, depth=depth, pe_freqs=pe_freqs)
