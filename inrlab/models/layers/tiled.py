"""Position-dependent (tiled) linear layers: the Levels-of-Experts layer (Hao et al. 2022)."""

from __future__ import annotations

import torch
from torch import nn

from .groups import Groups
from .init import StackedLinear


def tile_index(coords: torch.Tensor, scale: float, tiles, offset: float = 0.0) -> torch.Tensor:
    """Candidate index (N,) long of a tiled layer at each coordinate (Levels-of-Experts).

    Along axis k: c_k = floor(scale * (p_k + 1) / 2 + offset) mod tiles[k], with p_k in
    (-1, 1); the axes combine row-major (c_0 * tiles[1] + c_1 for 2-D). `scale` is the number
    of tile cells per domain side, so one cell is 2 / scale coordinate units wide, i.e. n / scale
    pixels of an n-pixel side, and the candidate pattern repeats every tiles[k] cells. Cell
    edges sit on pixel edges whenever n / scale is a whole number, so pixel centres never sit
    on an edge. In the form floor(a p + b) of the LoE paper's snippet, a = scale / 2 and
    b = scale / 2 + offset.
    """
    tiles = tuple(int(t) for t in tiles)
    if coords.ndim != 2 or coords.shape[1] != len(tiles):
        raise ValueError(f"coords of shape {tuple(coords.shape)} do not match a {len(tiles)}-D tile")
    # float64 where the device has it (MPS does not): float32 is also exact for pixel centres,
    # which sit half a pixel from every cell edge, but not for points near an edge
    wide = coords.to(torch.float32 if coords.device.type == "mps" else torch.float64)
    u = torch.floor((wide + 1.0) * (0.5 * float(scale)) + float(offset))
    t = torch.as_tensor(tiles, dtype=u.dtype, device=u.device)
    c = torch.remainder(u, t).long()
    flat = c[:, 0]
    for k in range(1, len(tiles)):
        flat = flat * tiles[k] + c[:, k]
    return flat


class TiledLinear(StackedLinear, nn.Module):
    """A linear layer with `n_tiles` candidate weight matrices; each sample uses the candidate
    its tile id names (hard selection, no blending), as the Levels-of-Experts layer.

    weight: (T, out, in), candidates first, fan-in last (so a per-output-neuron
    parametrization such as random weight factorization applies per candidate). bias: one
    learnable (out,) vector shared by all candidates, or (T, out) with per_tile_bias.
    The fast path groups samples per candidate (`Groups`) and runs one batched matmul;
    `forward_masked_reference` (every candidate on every sample, masked) and
    `forward_per_sample_reference` (each sample's weight gathered) are for tests and the
    benchmark.
    """

    def __init__(self, in_features: int, out_features: int, n_tiles: int, bias: bool = True,
                 per_tile_bias: bool = False):
        super().__init__()
        if in_features < 1 or out_features < 1 or n_tiles < 1:
            raise ValueError(f"in_features, out_features and n_tiles must be >= 1, got "
                             f"{in_features}, {out_features}, {n_tiles}")
        self.in_features, self.out_features, self.n_tiles = in_features, out_features, n_tiles
        self.per_tile_bias = bool(per_tile_bias)
        bias_shape = (n_tiles, out_features) if per_tile_bias else (out_features,)
        self.make_params((n_tiles, out_features, in_features), bias_shape if bias else None)

    def _bias_rows(self, tile_id: torch.Tensor) -> torch.Tensor | None:
        if self.bias is None:
            return None
        return self.bias[tile_id] if self.per_tile_bias else self.bias

    def forward(self, x: torch.Tensor, groups: "Groups | torch.Tensor") -> torch.Tensor:
        if not isinstance(groups, Groups):
            groups = Groups(groups, self.n_tiles)
        if groups.n_groups != self.n_tiles:
            raise ValueError(f"groups for {groups.n_groups} tiles given to a layer with {self.n_tiles}")
        if groups.samples == 0:
            return x.new_zeros(0, self.out_features)
        return groups.scatter(self.forward_grouped(groups.regroup(x, None), groups))

    def forward_grouped(self, h: torch.Tensor, groups: Groups, scale: float = 1.0) -> torch.Tensor:
        """(T * M, in) rows already laid out by `groups` -> (T * M, out) in the same layout,
        so consecutive layers chain without returning to sample order (padding rows carry
        values that are never read back). `scale` multiplies the output, folded into the
        (small) weight and bias."""
        hg = h.view(self.n_tiles, groups.m, self.in_features)
        w = self.weight.transpose(1, 2)
        if scale != 1.0:
            w = w * scale
        if self.bias is None:
            y = torch.bmm(hg, w)
        else:
            b = self.bias.unsqueeze(1) if self.per_tile_bias else self.bias.view(1, 1, -1)
            y = torch.baddbmm(b * scale if scale != 1.0 else b, hg, w)
        return y.view(self.n_tiles * groups.m, self.out_features)

    def forward_masked_reference(self, x: torch.Tensor, tile_id: torch.Tensor) -> torch.Tensor:
        """Every candidate applied to every sample, kept where the tile id matches (T times
        the work of the grouped path)."""
        w = self.weight
        out = x.new_zeros(x.shape[0], self.out_features)
        for t in range(self.n_tiles):
            mask = (tile_id == t).to(x.dtype).unsqueeze(1)
            out = out + mask * (x @ w[t].T)
        b = self._bias_rows(tile_id)
        return out if b is None else out + b

    def forward_per_sample_reference(self, x: torch.Tensor, tile_id: torch.Tensor) -> torch.Tensor:
        """Each sample's own weight matrix gathered (N, out, in) and applied: W[tile_id[n]] x_n."""
        out = torch.einsum("noi,ni->no", self.weight[tile_id], x)
        b = self._bias_rows(tile_id)
        return out if b is None else out + b

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"n_tiles={self.n_tiles}, bias={self.bias is not None}, per_tile_bias={self.per_tile_bias}")
