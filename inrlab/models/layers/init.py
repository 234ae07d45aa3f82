"""Initialisation rules, each citing where it comes from. Every function draws in place into
tensors of any leading shape (nn.Linear's (out, in), a batched (G, out, in) stack), given one
layer's fan-in."""

from __future__ import annotations

import math

import torch


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
def torch_default_init_(weight: torch.Tensor, bias: torch.Tensor | None, fan_in: int) -> None:
    """nn.Linear's own rule written out so an `init_` redraws it: weights (kaiming_uniform with
    a = sqrt(5)) and biases U(-1/sqrt(n), 1/sqrt(n)), n = the fan-in of ONE layer (of one
    member, one candidate). (ENRP's batched code used out*in as the bias fan-in, which makes a
    batched member start differently from a standalone one.)"""
    bound = 1.0 / math.sqrt(fan_in)
    weight.uniform_(-bound, bound)
    if bias is not None:
        bias.uniform_(-bound, bound)


@torch.no_grad()
def glorot_init_(weight: torch.Tensor, bias: torch.Tensor | None, fan_in: int, fan_out: int) -> None:
    """Glorot/Xavier uniform weights, zero bias (Keras' default, used by the Fourier-features
    and multi-head papers' code)."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    weight.uniform_(-bound, bound)
    if bias is not None:
        bias.zero_()


class StackedLinear:
    """A mixin for layers that keep `weight` (..., out, in) with fan-in `in_features`
    and an optional bias: `make_params` creates them, `init_` draws nn.Linear's default into
    every stacked layer (`torch_default_init_`); models replace it with their paper's rule."""

    def make_params(self, weight_shape: tuple, bias_shape: tuple | None) -> None:
        self.weight = torch.nn.Parameter(torch.empty(weight_shape))
        if bias_shape is None:
            self.register_parameter("bias", None)
        else:
            self.bias = torch.nn.Parameter(torch.empty(bias_shape))
        self.init_()

    def init_(self) -> None:
        torch_default_init_(self.weight, self.bias, self.in_features)
