"""ReLU MLP, optionally on a NeRF-style positional encoding (Mildenhall et al., ECCV 2020).

gamma(x) = [x, sin(2^k pi x), cos(2^k pi x) for k < pe_freqs], per coordinate. pe_freqs=0 is
the plain coordinate MLP that shows spectral bias (Rahaman et al. 2019). Glorot-uniform
weights and zero biases (Keras' default, as the multi-head paper's body). The default of 8
frequencies reaches 2^7 = 128 cycles over [-1, 1], the Nyquist limit of a 256-pixel side.
"""

from __future__ import annotations

from functools import partial

import torch

from ..checks import Range
from ..flops import FlopCount, mlp_flops
from .base import INR
from .layers import Pointwise, Positional, Relu, glorot_init_, linear_stack, run_mlp
from .registry import register

# sin(2^k pi x) in float32: at k = 20 (2^20 pi ~ 3.3e6) one ulp of the argument is 0.25 rad, and
# 2^k overflows to inf at k = 128 (NaN at the first step)
PE_FREQS = Range(0, 20, why="sin(2^k pi x) keeps no phase precision in float32 beyond k = 19")


class EncodedReluMLP(INR):
    """An encoding of the coordinates (`self.encoding`), a ReLU MLP on it (`self.layers`,
    Glorot init) and an output map (`output`, identity here): the shape shared by the
    ReLU(+PE) and Fourier-feature networks. Subclasses set the encoding, then call `build`."""
    pointwise = True

    def build(self) -> None:
        self.dims = [self.encoding.out_features] + [self.width] * (self.depth + 1) + [self.dim_out]
        self.layers = linear_stack(self.dims)
        self.init_()

    def init_(self, layers=None):
        """Glorot uniform weights, zero biases (Keras' Dense default, which the Fourier-feature
        and multi-head papers' code keep). `layers`: this network's or a batched stack."""
        for layer in self.layers if layers is None else layers:
            glorot_init_(layer.weight, layer.bias, layer.in_features, layer.out_features)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoding(x)

    def output(self, out: torch.Tensor) -> torch.Tensor:
        return out

    def activation(self) -> Relu:
        return Relu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(run_mlp(self.encode(x), self.layers, self.activation()))

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The textbook formula, for the fast path's equality test."""
        h = self.encode(x)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.output(self.layers[-1](h))

    def flops_per_point(self) -> FlopCount:
        return self.encoding.flops() + mlp_flops(self.dims, "relu", self.output_activation)

    output_activation = "identity"

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("B", "freqs"):   # checkpoints written before the encoding was a module
            if prefix + name in state_dict:
                state_dict[prefix + "encoding." + name] = state_dict.pop(prefix + name)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


@register("relu")
class ReluMLP(EncodedReluMLP):
    ranges = {**INR.ranges, "pe_freqs": PE_FREQS}
    adam = {"lr": 3e-3}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 3,
                 pe_freqs: int = 0):
        super().__init__()
        if pe_freqs < 0:
            raise ValueError(f"pe_freqs must be >= 0, got pe_freqs={pe_freqs}")
        self.set_shape(dim_in, dim_out, width, depth)
        self.pe_freqs = pe_freqs
        self.encoding = Positional(dim_in, pe_freqs)
        self.build()

    def batched(self) -> Pointwise:
        return Pointwise(self.encoding, self.activation(), partial(linear_stack, list(self.dims)))


@register("relu_pe")
class ReluPE(ReluMLP):
    """The ReLU MLP with positional encoding switched on by default."""
    adam = {"lr": 1e-3}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 3,
                 pe_freqs: int = 8):
        super().__init__(dim_in=dim_in, dim_out=dim_out, width=width, depth=depth, pe_freqs=pe_freqs)
