"""A learnable value grid: R x R values (R for audio), interpolated at the query coordinates.

The baseline the INR benchmark (voilalab/INR-benchmark, NeurIPS 2025) calls "Grid": no network,
only stored values, bilinearly (linearly in 1-D, multilinearly in general) interpolated. It
marks what plain storage reaches at a parameter budget: with as many values as the signal has
samples it stores the signal.

Convention: the project's pixel centres (`inrlab.signals`). Value j of an axis of R values sits
at (j + 0.5) / R * 2 - 1, so a grid of the signal's own size reproduces the signal at its pixel
centres (tested) up to the float32 rounding of the coordinates: an index off by about R * 3e-8,
nothing on an image, a few 1e-4 on a 32000-sample clip (96 dB, not inf). And a grid of another size resamples it as
torch.nn.functional.grid_sample(align_corners=False, padding_mode='border') would. Outside the
outermost centres the value is clamped (held constant up to the border and beyond).

`resolution` is filled from the training signal's shape by build(signal=...) when not given.
Values start at zero (`init_`). The values are one (prod(R), C) parameter, read for every query
by one gather over its 2^d corners; the backward of that gather is autograd's scatter-add. There
is no linear layer, so random weight factorization does not apply (factorize=true is refused).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..flops import FlopCount, n_points
from ..signals import parse_grid
from .base import INR, axis_range
from .registry import register


def corner_offsets(d: int) -> torch.Tensor:
    """(2^d, d) 0/1 offsets of a cell's corners; corner c has bit k of c on axis k."""
    c = torch.arange(2 ** d)
    return torch.stack([(c >> k) & 1 for k in range(d)], dim=1)


def corner_weights(frac: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Multilinear weights (..., 2^d) of the corners `offsets` for fractions frac (..., d)."""
    on = offsets.to(torch.bool)
    f = frac.unsqueeze(-2)                                  # (..., 1, d)
    return torch.where(on, f, 1 - f).prod(-1)


@register("grid")
class ValueGrid(INR):
    pointwise = True
    factorizable = False
    lookup_tables = ("values",)
    adam = {"lr": 0.03}   # inrlab.defaults.SWEEP
    ranges = {**INR.ranges, "resolution": axis_range(2)}

    def __init__(self, dim_in: int = 2, dim_out: int = 1, resolution: int | str | tuple = 64):
        super().__init__()
        self.dim_in, self.dim_out = dim_in, dim_out
        self.resolution = parse_grid(resolution, dim_in, "resolution")
        if min(self.resolution) < 2:
            raise ValueError(f"resolution must be at least 2 per axis, got {self.resolution}")
        d = dim_in
        strides = [math.prod(self.resolution[k + 1:]) for k in range(d)]   # row-major, as signals
        self.register_buffer("sizes", torch.tensor(self.resolution, dtype=torch.float32), persistent=False)
        self.register_buffer("strides", torch.tensor(strides, dtype=torch.long), persistent=False)
        self.register_buffer("offsets", corner_offsets(d), persistent=False)
        self.values = nn.Parameter(torch.empty(math.prod(self.resolution), dim_out))
        self.init_()

    @torch.no_grad()
    def init_(self):
        self.values.zero_()   # no prior on the signal; the optimizer moves every value itself

    @torch.no_grad()
    def set_signal_(self, signal) -> None:
        """Store `signal`'s values (a grid of the signal's own shape) as the grid's values."""
        if tuple(signal.shape) != self.resolution:
            raise ValueError(f"signal shape {tuple(signal.shape)} != grid resolution {self.resolution}")
        self.values.copy_(signal.values)

    def lookup(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(flat value index (N, 2^d), corner weight (N, 2^d)) of coordinates x (N, d)."""
        sizes = self.sizes.to(x.dtype)
        t = (x + 1) * 0.5 * sizes - 0.5                     # continuous index: centre j at t = j
        t = torch.minimum(t.clamp(min=0), sizes - 1)         # clamp at the outermost centres
        i0 = torch.minimum(t.floor(), sizes - 2)             # so that i0 + 1 is a valid value
        frac = t - i0
        corner = i0.long().unsqueeze(1) + self.offsets       # (N, 2^d, d)
        return (corner * self.strides).sum(-1), corner_weights(frac, self.offsets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index, weight = self.lookup(x)
        n, k = index.shape
        vals = self.values.index_select(0, index.reshape(-1)).view(n, k, self.dim_out)
        return torch.bmm(weight.to(vals.dtype).unsqueeze(1), vals).squeeze(1)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The interpolation written out per axis with Python-level loops over the corners."""
        out = x.new_zeros(x.shape[0], self.dim_out, dtype=self.values.dtype)
        grid = self.values.view(*self.resolution, self.dim_out)
        t, lo, fr = [], [], []
        for k, r in enumerate(self.resolution):
            tk = ((x[:, k] + 1) / 2 * r - 0.5).clamp(0, r - 1)
            i = tk.floor().clamp(max=r - 2)
            t.append(tk), lo.append(i.long()), fr.append(tk - i)
        for c in range(2 ** self.dim_in):
            idx, w = [], torch.ones_like(x[:, 0])
            for k in range(self.dim_in):
                bit = (c >> k) & 1
                idx.append(lo[k] + bit)
                w = w * (fr[k] if bit else 1 - fr[k])
            out = out + w[:, None] * grid[tuple(idx)]
        return out

    def flops_per_point(self) -> FlopCount:
        d, k = self.dim_in, 2 ** self.dim_in
        # per axis: add, scale, shift, floor, fraction (5); per corner: d - 1 weight products
        # (plus 1 - f per axis) and a multiply-add per channel
        return FlopCount(encoding=5.0 * d + d + k * (d - 1) + 2.0 * k * self.dim_out)

    def gather_bytes(self, shape) -> dict:
        """Bytes a forward gather and its backward scatter-add move for a signal of `shape`:
        per point and corner, an 8-byte index and C values read, C written (forward); C gradients
        and the index read, C table entries read and written (backward, float32)."""
        per = n_points(shape) * 2 ** self.dim_in
        c = 4 * self.dim_out
        return {"gather": per * (8 + 2 * c), "scatter": per * (8 + 3 * c)}

    def extra_repr(self) -> str:
        return f"resolution={'x'.join(map(str, self.resolution))}, channels={self.dim_out}"
