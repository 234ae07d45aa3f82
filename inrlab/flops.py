"""Parameter and FLOP counting, and the parameter budget helpers every family shares.

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
from dataclasses import dataclass

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


def count_model_params(family: str, **kwargs) -> int:
    """Trainable parameters of models.build(family, **kwargs), counted without allocating:
    by the family's `param_count` formula where it has one (multi-head: drawing its wiring
    costs more than the count), else built on the meta device."""
    from .models import build
    from .models.registry import _constructor, build_arguments

    formula = getattr(_constructor(family), "param_count", None)
    if formula is not None:  # the keywords checked as build() checks them, RWF's s included
        checked, _, rwf = build_arguments(family, dict(kwargs))
        return formula(**checked, factorize=rwf is not None)
    with torch.device("meta"):
        return count_params(build(family, **kwargs))


def match_width(family: str, target_params: int, **kwargs) -> int:
    """The largest width at which models.build(family, width=..., **kwargs) has at most
    `target_params` trainable parameters (the paper's fair comparison: equal parameters).

    Reproduces the paper's baselines at 1,250,816 (MH 64^2 heads, alpha=256): SIREN
    depth=3 -> 644, FF depth=3 with 128 frequencies -> 603."""
    def count(w):
        return count_model_params(family, width=w, **kwargs)

    if count(1) > target_params:
        raise ValueError(f"{family} has more than {target_params:,} parameters even at width 1")
    lo, hi = 1, 2
    while count(hi) <= target_params:
        lo, hi = hi, hi * 2
        if hi > 1 << 20:
            raise ValueError(f"no {family} width up to {hi} reaches {target_params:,} parameters")
    return largest_within(count, lo, hi, target_params)


def largest_within(count, lo: int, hi: int, budget: int) -> int | None:
    """The largest integer k in [lo, hi] with count(k) <= budget (count non-decreasing), or None."""
    if count(lo) > budget:
        return None
    if count(hi) <= budget:
        return hi
    while hi - lo > 1:  # bisection: count(lo) <= budget < count(hi)
        mid = (lo + hi) // 2
        if count(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


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
