"""Batched layers: G independent linear layers (an ensemble's members) as one matmul, and
complex linear layers (WIRE) stored as real tensors, standalone or batched."""

from __future__ import annotations

import torch
from torch import nn

from .fused import linear
from .init import StackedLinear


class BatchedLinear(StackedLinear, nn.Module):
    """`groups` independent linear layers run as one batched matmul (an ensemble's members).

    weight: (G, out, in), members first, fan-in last; bias: (G, out). forward takes
    x of shape (G', n, in) and returns (G', n, out), or with channels_first=True x of shape
    (G', in, n) and returns (G', out, n) (W @ x: the weight gradient then comes out contiguous
    in the weight's own layout, which saves a transposed copy per layer and step on CPU). With
    `index` (G',) long, row g of x uses member index[g] (several rows may share a member, e.g.
    a cell split into chunks); otherwise G' must equal G. `self.weight` is read on every call,
    so a parametrization (random weight factorization) takes effect.
    """

    def __init__(self, groups: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        if groups < 1 or in_features < 1 or out_features < 1:
            raise ValueError(f"groups, in_features and out_features must be >= 1, got "
                             f"{groups}, {in_features}, {out_features}")
        self.groups, self.in_features, self.out_features = groups, in_features, out_features
        self.make_params((groups, out_features, in_features), (groups, out_features) if bias else None)

    def forward(self, x: torch.Tensor, index: torch.Tensor | None = None,
                channels_first: bool = False, scale: float = 1.0) -> torch.Tensor:
        """`scale` multiplies the output, folded into the (small) weight and bias."""
        w = self.weight
        b = self.bias
        if scale != 1.0:
            w = w * scale
            b = b * scale if b is not None else None
        if index is not None:
            w = w.index_select(0, index)
            b = b.index_select(0, index) if b is not None else None
        elif x.shape[0] != self.groups:
            raise ValueError(f"input has {x.shape[0]} groups but the layer has {self.groups}")
        if channels_first:
            return torch.bmm(w, x) if b is None else torch.baddbmm(b.unsqueeze(2), w, x)
        if b is None:
            return torch.bmm(x, w.transpose(1, 2))
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))

    def extra_repr(self) -> str:
        return (f"groups={self.groups}, in_features={self.in_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")



def _block(weight: torch.Tensor, real_out: bool) -> torch.Tensor:
    """(..., 2, out, in) real and imaginary parts -> the real (..., 2 out, 2 in) matrix
    [[Re W, -Im W], [Im W, Re W]] (only its top half, (..., out, 2 in), when real_out)."""
    re, im = weight.select(-3, 0), weight.select(-3, 1)
    top = torch.cat([re, -im], dim=-1)
    return top if real_out else torch.cat([top, torch.cat([im, re], dim=-1)], dim=-2)


class ComplexLinear(StackedLinear, nn.Module):
    """z = W h + b with W complex, stored as a real (2, out, in) `weight` (or (G, 2, out, in)
    for `groups` members); `bias` (2, out) complex, or (out,) real where only the real part of
    z is used (`real_out`). A complex state is the real [Re h, Im h] along the channels, so
    the layer is ONE real matmul with the block matrix of `_block`."""

    def __init__(self, in_features: int, out_features: int, real_out: bool = False,
                 groups: int | None = None):
        super().__init__()
        self.in_features, self.out_features, self.real_out = in_features, out_features, real_out
        self.groups = groups
        lead = () if groups is None else (groups,)   # init_: nn.Linear(dtype=cfloat)'s rule
        self.make_params((*lead, 2, out_features, in_features),
                         (*lead, *(() if real_out else (2,)), out_features))

    def forward(self, h: torch.Tensor, index: torch.Tensor | None = None,
                channels_first: bool = False, scale: float = 1.0) -> torch.Tensor:
        """[Re h, Im h] (N, 2 in) -> [Re z, Im z] (N, 2 out), or Re z (N, out) if real_out;
        batched: (G', 2 in, n) channels first -> (G', 2 out or out, n) (`BatchedLinear`'s
        index and scale)."""
        w, b = _block(self.weight, self.real_out), self.bias
        if self.groups is None:
            b = b.reshape(-1)
            return linear(h, w, b) if scale == 1.0 else linear(h, w * scale, b * scale)
        b = b.reshape(self.groups, -1)
        if scale != 1.0:
            w, b = w * scale, b * scale
        if index is not None:
            w, b = w.index_select(0, index), b.index_select(0, index)
        if not channels_first:
            return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        return torch.baddbmm(b.unsqueeze(2), w, h)

    def complex_weight(self) -> torch.Tensor:
        return torch.complex(self.weight.select(-3, 0), self.weight.select(-3, 1))

    def complex_bias(self) -> torch.Tensor:
        return self.bias if self.real_out else torch.complex(self.bias.select(-2, 0),
                                                             self.bias.select(-2, 1))
