"""What a pointwise family offers to a composite that runs many of its networks batched (an
ensemble's members): its encoding and activation as objects and a factory for its linear
layers (`Pointwise`), so the composite has no code of its own per family. The same objects
run the family's own network (`run_mlp`), so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .activations import finer, gabor, gauss, sine, w0_in_weights
from .batched import BatchedLinear
from .encoding import Encoding
from .fused import linear, relu_mlp


class Activation:
    """f_i(z), the activation after linear layer i, on (N, C) rows or (G, C, n) batches (the
    channels along dim 1). `gain(i)`: f_i(z) = f(gain z) with a gain the caller may fold into
    the layer's (small) weight and bias instead (`w0_in_weights`); it then calls with
    folded=True."""

    def gain(self, i: int) -> float:
        return 1.0

    def __call__(self, z: torch.Tensor, i: int, folded: bool = False) -> torch.Tensor:
        raise NotImplementedError


class Relu(Activation):
    def __call__(self, z, i, folded=False):
        return torch.relu_(z)   # in place on the fresh linear output (its backward reads only the result)


@dataclass(frozen=True)
class SineAct(Activation):
    """SIREN: sin(w0 z), w0_initial after the first layer."""
    w0: float
    w0_initial: float

    def gain(self, i):
        return self.w0_initial if i == 0 else self.w0

    def __call__(self, z, i, folded=False):
        return sine(z) if folded else sine(z, self.gain(i))


@dataclass(frozen=True)
class GaussAct(Activation):
    """exp(-(scale z)^2), floored (`activations.gauss`)."""
    scale: float

    def __call__(self, z, i, folded=False):
        return gauss(z, self.scale)


@dataclass(frozen=True)
class FinerAct(Activation):
    """FINER: sin(w0 (|z| + 1) z), w0_initial after the first layer."""
    w0: float
    w0_initial: float
    scale_grad: bool = False

    def __call__(self, z, i, folded=False):
        return finer(z, self.w0_initial if i == 0 else self.w0, self.scale_grad)


@dataclass(frozen=True)
class GaborAct(Activation):
    """WIRE's complex Gabor wavelet: after the first (real) layer of z, after the others of
    the complex z = [Re z, Im z] along the channels."""
    w0: float
    scale: float

    def __call__(self, z, i, folded=False):
        if i == 0:
            return gabor(z, None, self.w0, self.scale)
        u = z.shape[1] // 2
        return gabor(z[:, :u], z[:, u:], self.w0, self.scale)


def linear_stack(dims, groups: int | None = None) -> nn.ModuleList:
    """Linear layers dims[0] -> dims[1] -> ...: nn.Linear, or for `groups` members
    BatchedLinear (G, out, in) stacks, each with nn.Linear's default initialisation."""
    pairs = zip(dims[:-1], dims[1:])
    if groups is None:
        return nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
    return nn.ModuleList(BatchedLinear(groups, a, b) for a, b in pairs)


@dataclass(frozen=True)
class Pointwise:
    """A pointwise family's parts. encoding: its coordinate encoding (`Encoding.batched`
    gives the members' one); activation: after every linear layer but the last; layers:
    groups -> the batched layers, whose parameters line up one to one, in order, with a
    standalone network's `parameters()` (member k's tensor is the batched one at [k]). The
    family's `init_(layers)` draws its initialisation into them."""

    encoding: Encoding
    activation: Activation
    layers: Callable[[int], nn.ModuleList]


def run_mlp(h: torch.Tensor, layers, act: Activation) -> torch.Tensor:
    """One network's nn.Linear `layers` with `act` after each but the last, on (N, d) rows
    (a ReLU network as one fused function, `relu_mlp`)."""
    if type(act) is Relu:
        return relu_mlp(h, layers)
    for i, layer in enumerate(layers[:-1]):
        g = act.gain(i)
        if g != 1.0 and w0_in_weights(layer.in_features, h.shape[0]):
            h = act(linear(h, layer.weight * g, layer.bias * g), i, folded=True)
        else:
            h = act(linear(h, layer.weight, layer.bias), i)
    last = layers[-1]
    return linear(h, last.weight, last.bias)


def run_batched(h: torch.Tensor, layers, act: Activation, rows: torch.Tensor | None) -> torch.Tensor:
    """The members' batched `layers` on channels-first (G', d, n) inputs, batch row g being
    member rows[g] (None: member g)."""
    for i, layer in enumerate(layers[:-1]):
        g = act.gain(i)
        if g != 1.0 and w0_in_weights(layer.in_features, h.shape[-1]):
            h = act(layer(h, rows, channels_first=True, scale=g), i, folded=True)
        else:
            h = act(layer(h, rows, channels_first=True), i)
    return layers[-1](h, rows, channels_first=True)
