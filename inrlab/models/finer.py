"""FINER: variable-periodic activations (Liu et al., CVPR 2024, "FINER: Flexible spectral-bias
tuning in Implicit NEural Representation by Variable-periodic Activation Functions").

Every layer but the last computes sin(w0 (|z| + 1) z) on z = W x + b: near z = 0 it is SIREN's
sin(w0 z), and its local frequency grows with |z|, so the bias decides which frequencies a unit
starts with. Initialisation (paper sec. 3.3; liuzhen0212/FINER `models.py`): weights as SIREN
(first layer U(-1/n, 1/n), every other layer including the output U(-sqrt(6/n)/w0,
sqrt(6/n)/w0)); the FIRST layer's bias drawn from the wider U(-k, k) (`bias_scale` = k) to
select frequencies; the other biases keep nn.Linear's U(-1/sqrt(n), 1/sqrt(n)). w0 = 30 on every
layer (`w0_initial` for the first, as SIREN), 3 x 256 as SIREN; the authors' image script
trains with Adam 5e-4.

Differences from the authors' code: their image script leaves the first bias at nn.Linear's
default unless --first_bias_scale is given; we follow the paper's recipe and draw it from
U(-k, k), with k = 1 by default (a value we chose: the paper varies k, its code names none;
bias_scale=None keeps nn.Linear's rule, U(-0.71, 0.71) for 2-D coordinates). As in their code (scale_req_grad=False)
the factor |z| + 1 is treated as a constant in the backward pass by default, so the gradient is
w0 (|z| + 1) cos(.); scale_grad=True differentiates it too (w0 (2|z| + 1) cos(.)).
"""

from __future__ import annotations

from functools import partial

import torch

from ..checks import Range
from ..flops import FlopCount, mlp_flops
from .base import INR
from .layers import Encoding, FinerAct, Pointwise, default_bias_init_, finer, linear_stack, run_mlp, siren_init_  # noqa: F401
from .registry import register
from .siren import W0

# b ~ U(-k, k): past 1e3 the first layer's phase w0 (|b| + 1) b exceeds 3e7 rad, where float32
# keeps no phase at all
BIAS_SCALE = Range(0, 1e3, why="the first layer's phase w0 (k + 1) k keeps no float32 precision beyond it")


@register("finer")
class Finer(INR):
    pointwise = True
    ranges = {**INR.ranges, "w0": W0, "w0_initial": W0, "bias_scale": BIAS_SCALE}
    adam = {"lr": 0.0003}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 3,
                 w0: float = 30.0, w0_initial: float | None = None,
                 bias_scale: float | None = 1.0, scale_grad: bool = False):
        super().__init__()
        if bias_scale is not None and not bias_scale >= 0:
            raise ValueError(f"bias_scale must be >= 0, got bias_scale={bias_scale}")
        self.set_shape(dim_in, dim_out, width, depth)
        self.w0 = float(w0)
        self.w0_initial = float(w0 if w0_initial is None else w0_initial)
        self.bias_scale, self.scale_grad = bias_scale, bool(scale_grad)
        self.dims = [dim_in] + [width] * (depth + 1) + [dim_out]
        self.layers = linear_stack(self.dims)
        self.init_()

    def activation(self) -> FinerAct:
        return FinerAct(self.w0, self.w0_initial, self.scale_grad)

    def batched(self) -> Pointwise:
        return Pointwise(Encoding(self.dim_in), self.activation(), partial(linear_stack, list(self.dims)))

    @torch.no_grad()
    def init_(self, layers=None):
        """Weights: SIREN's rule (Sitzmann et al. sec. 3.2), the FINER code's init_weights, the
        output layer included; biases nn.Linear's, but the first drawn U(-k, k) (sec. 3.3: it
        selects the frequencies). `layers`: this network's (default) or a batched stack."""
        layers = self.layers if layers is None else layers
        for i, layer in enumerate(layers):
            siren_init_(layer.weight, layer.in_features, self.w0, first=(i == 0))
            default_bias_init_(layer.bias, layer.in_features)
        if self.bias_scale is not None:
            layers[0].bias.uniform_(-self.bias_scale, self.bias_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_mlp(x, self.layers, self.activation())

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The textbook formula, for the fast path's equality test."""
        h = x
        for i, layer in enumerate(self.layers[:-1]):
            z = layer(h)
            scale = z.abs() + 1
            if not self.scale_grad:
                scale = scale.detach()
            h = torch.sin((self.w0_initial if i == 0 else self.w0) * scale * z)
        return self.layers[-1](h)

    def flops_per_point(self) -> FlopCount:
        return mlp_flops(self.dims, "finer")

    def extra_repr(self) -> str:
        return f"w0={self.w0:g}, w0_initial={self.w0_initial:g}, bias_scale={self.bias_scale}"
