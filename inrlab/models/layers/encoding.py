"""Coordinate encodings as modules: applied along dim 1, to (N, d) rows of one network or to
the channels-first (G, d, n) batch of G member networks (`rows`: each batch row's member)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ...flops import FlopCount


class Encoding(nn.Module):
    """gamma(x), the identity here. `batched(groups)` is the same encoding for `groups`
    members (a per-member random draw gets a leading groups axis), `init_` redraws it.
    per_member: names of the buffers that hold one slice per member."""

    per_member: tuple = ()

    def __init__(self, dim_in: int):
        super().__init__()
        self.dim_in = self.out_features = dim_in

    def batched(self, groups: int) -> "Encoding":
        return type(self)(self.dim_in)

    def init_(self) -> None:
        pass

    def flops(self) -> FlopCount:
        return FlopCount()

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        return x


class Positional(Encoding):
    """NeRF's gamma(x) = [x, sin(2^k pi x), cos(2^k pi x) for k < freqs] (Mildenhall et al.
    2020, sec. 5.1), per coordinate; freqs = 0 is the identity."""

    def __init__(self, dim_in: int, freqs: int):
        super().__init__(dim_in)
        self.pe_freqs = freqs
        self.out_features = dim_in * (1 + 2 * freqs)
        self.register_buffer("freqs", (2.0 ** torch.arange(freqs)) * math.pi)

    def batched(self, groups: int) -> "Positional":
        return Positional(self.dim_in, self.pe_freqs)

    def flops(self) -> FlopCount:
        return FlopCount(encoding=3.0 * self.dim_in * self.pe_freqs)  # multiply, sin, cos

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if self.pe_freqs == 0:
            return x
        f = self.freqs if x.dim() == 2 else self.freqs[:, None]
        z = (x.unsqueeze(2) * f).flatten(1, 2)
        return torch.cat([x, torch.sin(z), torch.cos(z)], dim=1)


class RandomFourier(Encoding):
    """Tancik et al. 2020, sec. 6: gamma(x) = [sin(2 pi B x), cos(2 pi B x)], B ~ N(0, sigma^2)
    of shape (mapping_size, dim_in), fixed (a buffer). Standalone, B is drawn at construction;
    batched, B is (groups, mapping_size, dim_in), drawn per member by `init_`."""

    def __init__(self, dim_in: int, mapping_size: int, sigma: float, two_pi: bool = True,
                 groups: int | None = None):
        super().__init__(dim_in)
        self.mapping_size, self.sigma, self.two_pi = mapping_size, sigma, two_pi
        self.out_features = 2 * mapping_size
        B = torch.randn(mapping_size, dim_in) * sigma if groups is None else \
            torch.empty(groups, mapping_size, dim_in)
        self.register_buffer("B", B)
        self.per_member = () if groups is None else ("B",)

    def batched(self, groups: int) -> "RandomFourier":
        return RandomFourier(self.dim_in, self.mapping_size, self.sigma, self.two_pi, groups)

    @torch.no_grad()
    def init_(self) -> None:
        self.B.normal_().mul_(self.sigma)

    def flops(self) -> FlopCount:
        m = self.mapping_size
        return FlopCount(matmul=2.0 * self.dim_in * m, encoding=(m if self.two_pi else 0) + 2.0 * m)

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() == 2:
            z = x @ self.B.t()
        else:
            z = torch.bmm(self.B if rows is None else self.B.index_select(0, rows), x)
        if self.two_pi:
            z = z * (2 * math.pi)
        return torch.cat([torch.sin(z), torch.cos(z)], dim=1)
