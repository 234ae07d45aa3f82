"""SIREN: sine-activated MLP (Sitzmann et al., NeurIPS 2020, "Implicit Neural Representations
with Periodic Activation Functions").

As in the authors' code: every layer but the last computes sin(w0 * (W x + b)) (w0 multiplies
the bias too), the first layer may use its own w0 (w0_initial; 3000 for audio in their
notebook), weights follow sec. 3.2, biases keep nn.Linear's default. depth counts the hidden
width->width layers after the first, as their `hidden_layers` does: SIREN 3x256 is depth=3,
width=256 (five linear layers).
"""

from __future__ import annotations

from functools import partial

import torch

from ..checks import Range
from ..flops import FlopCount, mlp_flops
from .base import INR
from .layers import Encoding, Pointwise, SineAct, default_bias_init_, linear_stack, run_mlp, siren_init_
from .registry import register

# sin(w0 z) in float32: past this the phase of the first layer's sine is kept to ~0.01 rad at best
W0 = Range(0, 1e5, lo_open=True, why="float32 keeps the sine's phase to ~0.01 rad at most up to there")


@register("siren")
class Siren(INR):
    pointwise = True
    ranges = {**INR.ranges, "w0": W0, "w0_initial": W0}
    adam = {"lr": 0.001}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 3,
                 w0: float = 30.0, w0_initial: float | None = None):
        super().__init__()
        self.set_shape(dim_in, dim_out, width, depth)
        self.w0 = float(w0)
        self.w0_initial = float(w0 if w0_initial is None else w0_initial)
        self.dims = [dim_in] + [width] * (depth + 1) + [dim_out]
        self.layers = linear_stack(self.dims)
        self.init_()

    def activation(self) -> SineAct:
        return SineAct(self.w0, self.w0_initial)

    def batched(self) -> Pointwise:
        return Pointwise(Encoding(self.dim_in), self.activation(), partial(linear_stack, list(self.dims)))

    def init_(self, layers=None):
        """Sec. 3.2 (and supplement 1.5): the first layer U(-1/n, 1/n), the others
        U(-sqrt(6/n)/w0, sqrt(6/n)/w0); biases nn.Linear's U(-1/sqrt(n), 1/sqrt(n)).
        `layers`: this network's (default) or a batched stack of members."""
        for i, layer in enumerate(self.layers if layers is None else layers):
            siren_init_(layer.weight, layer.in_features, self.w0, first=(i == 0))
            default_bias_init_(layer.bias, layer.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_mlp(x, self.layers, self.activation())

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The textbook formula, for the fast path's equality test."""
        h = torch.sin(self.w0_initial * self.layers[0](x))
        for layer in self.layers[1:-1]:
            h = torch.sin(self.w0 * layer(h))
        return self.layers[-1](h)

    def flops_per_point(self) -> FlopCount:
        return mlp_flops(self.dims, "sine")
