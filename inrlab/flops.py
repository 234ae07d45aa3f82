"""Parameter and FLOP counting.

Conventions (ours): one multiply-add is 2 FLOPs, so a linear layer costs 2*in*out per sample
for the matmul plus `out` for the bias; every elementwise operation costs one FLOP, and
`ACTIVATION_FLOPS` says how many an activation takes per element (a sine layer computes
sin(w0 * z): one multiply and one sine, so 2; sin counts as one FLOP, as libraries that count
activations at all do). Input encodings (Fourier features, positional encoding) are counted
under `encoding`, and so are interpolated look-ups (value grid, hash grid: the interpolation
weights and the weighted sums; their integer index arithmetic is not floating-point work and
is not counted). A sparse head wired to alpha units costs 2*alpha per output plus its bias.

The ENRP paper counted with ptflops: linear layers only, no bias, no activations, forward
only; `FlopCount.matmul` is exactly that number (their SIREN 3x256 at 128^2: 6.48 G). We report
both. Training FLOPs per step are approximated as 3x the forward pass (the backward pass costs
about twice the forward); optimizer updates are not counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

ACTIVATION_FLOPS = {"identity": 0, "relu": 1, "leaky_relu": 2, "sine": 2, "sigmoid": 3,
                    # exp(-(s z)^2): multiply, square, exp (the sign folds into the exp)
                    "gauss": 3,
                    # sin(w0 (|z| + 1) z): abs, add, two multiplies, sine
                    "finer": 5}


@dataclass(frozen=True)
class FlopCount:
    matmul: float = 0.0
    bias: float = 0.0
    activation: float = 0.0
    encoding: float = 0.0

    @property
    def total(self) -> float:
        return self.matmul + self.bias + self.activation + self.encoding

    def __add__(self, other: "FlopCount") -> "FlopCount":
        return FlopCount(*(a + b for a, b in zip(self.astuple(), other.astuple())))

    def __mul__(self, k: float) -> "FlopCount":
        return FlopCount(*(a * k for a in self.astuple()))

    __rmul__ = __mul__

    def astuple(self):
        return (self.matmul, self.bias, self.activation, self.encoding)

    def as_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def linear_flops(fan_in: int, fan_out: int, activation: str = "identity", bias: bool = True) -> FlopCount:
    """FLOPs of one sample through a linear layer and its activation."""
    return FlopCount(matmul=2.0 * fan_in * fan_out, bias=float(fan_out) if bias else 0.0,
                     activation=float(ACTIVATION_FLOPS[activation] * fan_out))


def mlp_flops(dims: list[int], activation: str, last_activation: str = "identity") -> FlopCount:
    """Per-sample FLOPs of an MLP with layer sizes dims[0] -> dims[1] -> ... -> dims[-1]."""
    total = FlopCount()
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        act = last_activation if i == len(dims) - 2 else activation
        total = total + linear_flops(a, b, act)
    return total


def count_params(model: torch.nn.Module) -> int:
    """Trainable parameters (fixed buffers such as a Fourier matrix B are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def forward_flops(model, shape) -> FlopCount:
    """FLOPs to reconstruct a whole signal laid out as `shape` (e.g. (512, 512))."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return model.flops(shape)


def train_step_flops(model, shape) -> float:
    """Approximate FLOPs of one full-batch training step over a signal of `shape`."""
    return 3.0 * forward_flops(model, shape).total


def measured_matmul_flops(model: torch.nn.Module, coords: torch.Tensor) -> int:
    """Matmul FLOPs that torch's FlopCounterMode sees in one forward pass (a check on ours)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(coords)
    return int(counter.get_total_flops())


def n_points(shape) -> int:
    return math.prod((shape,) if isinstance(shape, int) else shape)
