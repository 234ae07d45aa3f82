"""Reusable layers: activations and initialisation rules shared by the model families."""

from __future__ import annotations

import math

import torch
from torch import nn


class Sine(nn.Module):
    """sin(w0 * z), the SIREN activation."""

    def __init__(self, w0: float = 30.0):
        super().__init__()
        self.w0 = float(w0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * z)

    def extra_repr(self) -> str:
        return f"w0={self.w0:g}"


def make_activation(name: str, w0: float = 30.0, slope: float = 0.2) -> tuple[nn.Module, str]:
    """An activation module and its FLOP-table name."""
    if name == "relu":
        return nn.ReLU(), "relu"
    if name == "leaky_relu":
        return nn.LeakyReLU(slope), "leaky_relu"
    if name == "sine":
        return Sine(w0), "sine"
    from ..errors import InrlabError
    raise InrlabError(f"unknown activation '{name}' (choose relu, leaky_relu or sine)")


@torch.no_grad()
def siren_init_(weight: torch.Tensor, fan_in: int, w0: float, first: bool) -> None:
    """SIREN (Sitzmann et al. 2020, sec. 3.2 and supplement 1.5): the first layer draws from
    U(-1/n, 1/n); every other layer from U(-sqrt(6/n)/w0, sqrt(6/n)/w0), so that w0 * W x
    keeps unit-variance pre-activations."""
    bound = 1.0 / fan_in if first else math.sqrt(6.0 / fan_in) / w0
    weight.uniform_(-bound, bound)


@torch.no_grad()
def default_bias_init_(bias: torch.Tensor, fan_in: int) -> None:
    """nn.Linear's bias rule U(-1/sqrt(n), 1/sqrt(n)); the SIREN code leaves biases at this."""
    bound = 1.0 / math.sqrt(fan_in)
    bias.uniform_(-bound, bound)


@torch.no_grad()
def glorot_init_(weight: torch.Tensor, bias: torch.Tensor | None, fan_in: int, fan_out: int) -> None:
    """Glorot/Xavier uniform weights, zero bias (Keras' default, used by the Fourier-features
    and multi-head papers' code)."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    weight.uniform_(-bound, bound)
    if bias is not None:
        bias.zero_()
