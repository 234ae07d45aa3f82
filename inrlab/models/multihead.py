"""Multi-head ReLU INR (Aftab, Morsali, Ghaemmaghami, "Multi-Head ReLU Implicit Neural
Representation Networks"; code: AlirezaMorsali/MH-RELU-INR).

The domain is split into grid cells (grid=8 on an image: 8 x 8 = 64 heads). A ReLU MLP body
(first layer + `depth` hidden layers, all ReLU; the paper's 4 x Dense(256) is width=256,
depth=3) maps a CELL-LOCAL coordinate to `width` features, and head k, one linear neuron per
channel wired to `alpha` randomly chosen body units (sec. 3.1.2; alpha == width is dense),
turns them into the value of cell k at that local position. On a grid whose side the cells
divide, every cell shares the same local coordinates, so the body runs only N / heads times.

What differs from the paper's code, and why:
- Coordinates: one pixel-centre convention (`signals.partition`); their per-cell
  linspace(-1, 1) puts the same local coordinate on different physical pixels at 256 and 512,
  so their 256 -> 512 generalization test is not registered; ours is, at any resolution.
  Their convention is available by name, for comparison only (not the default):
  local_coords="align_corners" gives each axis' k-th of s distinct local positions the value
  linspace(-1, 1, s)[k] (s = 1 -> -1), s counted in the coordinates being queried, so a 512
  render after training at 256 uses the 512 cell's linspace, as their code does. It is defined
  over one forward call's coordinate set: a full grid, as the paper trains and tests (predict
  does not split it); a minibatch or a subset of a cell's pixels gets another mapping.
- forward(coords) takes any coordinates (scattered held-out pixels, any resolution): it
  finds each point's head and local coordinate, runs the body once per DISTINCT local
  coordinate (rounded to 2^-15 of a cell, the canonical value is what the body sees; exact
  for cells of up to 2^15 pixels per side that are a power of two) and evaluates the heads
  as a batched sparse product, never a loop over heads.
- Head init: Glorot with fan-in alpha per head, like a normal layer (U(+-0.43) at alpha=32).
  Their code draws Glorot over one 1-D vector of alpha * heads values, whose bound
  sqrt(3 / (alpha * heads)) shrinks as heads grow (+-0.0012 at 256^2 heads): with many heads
  the heads start near zero, so the init would change with the number of heads and confound
  the heads sweeps.
- Body init: Glorot weights and zero biases as in their code, but the FIRST layer's bias is
  drawn U(+-1/sqrt(dim_in)) (nn.Linear's rule). With pixel-centre cells the centre pixel of an
  odd-sized cell sits at local (0, 0), where a zero-bias ReLU body outputs all-zero features
  with zero gradient: with one pixel per head (local (0, 0) everywhere) the body would be dead
  and only the head biases could learn. Their align-corners cells never put a pixel at 0 when
  the side is even, and put it at -1 for a 1-pixel cell.
- The wiring is drawn from a torch.Generator seeded with `wiring_seed` and kept as a buffer
  (checkpoints restore it); theirs is unseeded.
- RGB: one head neuron per cell and channel (dim_out neurons per cell), each with its own
  wiring; their code is gray-only.

FLOPs (see `MultiHead.flops`): the body's FLOPs per distinct local coordinate times their
number (N / heads on a dividing grid), plus 2 * alpha + 1 per head output and channel.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..checks import SEED, SIZE, Range, check_cells
from ..errors import InrlabError
from ..flops import FlopCount, count_model_params, match_width, mlp_flops  # noqa: F401  (old import path)
from ..signals import parse_grid, partition
from .base import INR, CoordsMemo, axis_range
from .layers import SparseHeads, default_bias_init_, glorot_init_, relu_stack
from .registry import register

# Cell-local positions are snapped to multiples of 1 / QUANTUM of a cell (per axis) to find the
# distinct ones: float32 coordinates put one local position at slightly different values in
# different cells (errors ~3e-8 * grid), far below this step, far above float noise.
QUANTUM = 2 ** 15


@register("multihead")
class MultiHead(INR):
    """Multi-head ReLU INR (see the module docstring). local_coords: 'pixel_centre' (default,
    `signals.partition`'s cell-local pixel centres) or 'align_corners' (the paper's code: per
    axis, the s distinct local positions of the queried coordinates become linspace(-1, 1, s))."""

    ranges = {**INR.ranges, "grid": axis_range(1), "alpha": SIZE, "wiring_seed": SEED}
    adam = {"lr": 3e-3}   # inrlab.defaults.SWEEP

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 256, depth: int = 3,
                 grid: int | str | tuple = 8, alpha: int = 32, wiring_seed: int = 0,
                 heads_impl: str = "auto", local_coords: str = "pixel_centre"):
        super().__init__()
        if local_coords not in ("pixel_centre", "align_corners"):
            raise ValueError(f"local_coords must be 'pixel_centre' or 'align_corners', got {local_coords!r}")
        if width < 1 or depth < 0:
            raise ValueError(f"width must be >= 1 and depth >= 0, got width={width}, depth={depth}")
        if isinstance(alpha, bool) or not isinstance(alpha, int) or alpha < 1:
            raise ValueError(f"alpha must be a positive integer, got {alpha!r}")
        if alpha > width:
            raise ValueError(f"alpha {alpha} is larger than the body width {width} "
                             f"(alpha counts body units per head; alpha = width is dense)")
        self.dim_in, self.dim_out, self.width, self.depth = dim_in, dim_out, width, depth
        self.grid = parse_grid(grid, dim_in)
        self.heads = math.prod(self.grid)
        self.alpha, self.local_coords = alpha, local_coords
        dims = [dim_in] + [width] * (depth + 1)
        self.body = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = SparseHeads(width, self.heads * dim_out, alpha, seed=wiring_seed,
                                impl=heads_impl)
        # holding the coordinates keeps their memory from being reused, so a key cannot go
        # stale; a few entries serve training coords, held-out coords and fit()'s memory chunks
        self._located = CoordsMemo(size=4, hold=True)
        self._gather = None
        self.init_()

    def init_(self):
        # Body: Glorot uniform weights, zero biases (Keras' default, which the paper's code
        # keeps; the paper, sec. 3.2, only says 'uniform'), except the first layer's bias:
        # U(+-1/sqrt(dim_in)) (nn.Linear's rule), see the module docstring. Heads:
        # SparseHeads.init_, Glorot with fan-in alpha per head.
        for layer in self.body:
            glorot_init_(layer.weight, layer.bias, layer.in_features, layer.out_features)
        default_bias_init_(self.body[0].bias, self.dim_in)
        self.head.init_()

    @staticmethod
    def param_count(grid=8, alpha: int = 32, width: int = 256, depth: int = 3, dim_in: int = 2,
                    dim_out: int = 1, factorize: bool = False, **_) -> int:
        """Trainable parameters by formula (`multihead_params`), without drawing the wiring;
        with `factorize`, RWF's one s per output neuron of every layer, heads included. The
        other keywords (wiring_seed, heads_impl, local_coords) do not change the count."""
        if alpha > width:
            raise InrlabError(f"model 'multihead': alpha {alpha} is larger than the body width "
                              f"{width} (alpha counts body units per head; alpha = width is dense)")
        n = multihead_params(grid, alpha, width, depth, dim_in, dim_out)
        if factorize:
            n += width * (depth + 1) + math.prod(parse_grid(grid, dim_in)) * dim_out
        return n

    def check_signal(self, signal) -> None:
        check_cells(signal, self.grid)  # uneven cells are fine, empty ones are refused

    # ------------------------------------------------------------------ where points fall

    def locate(self, coords: torch.Tensor):
        """(head (N,), local_id (N,), local (L, dim_in)): each point's cell and the index of
        its cell-local coordinate among the L distinct ones. Cached for the last few
        coordinate tensors (training passes the same tensor every step)."""
        if coords.ndim != 2 or coords.shape[1] != self.dim_in:
            raise ValueError(f"coords must be (N, {self.dim_in}), got {tuple(coords.shape)}")
        if coords.requires_grad:  # keep d(output)/d(coords): no snapping, one body row per point
            if self.local_coords == "align_corners":
                raise ValueError("local_coords='align_corners' does not support coords that "
                                 "require grad (its local coordinates are ranks, not differentiable)")
            head, local = partition(coords.double(), self.grid)
            return head, torch.arange(coords.shape[0], device=coords.device), local.to(coords.dtype)
        return self._located.get(coords, lambda: self._locate(coords))

    def _locate(self, coords: torch.Tensor):
        head, local = partition(coords.double(), self.grid)
        q = torch.round((local + 1) * (0.5 * QUANTUM)).long()
        radix = 1
        per_axis = [torch.unique(q[:, k], return_inverse=True) for k in range(self.dim_in)]
        total = math.prod(u.numel() for u, _ in per_axis)
        if total < 2 ** 62:
            # each point's per-axis ranks as the digits of one integer in a mixed radix (the
            # axes' distinct counts), so a 1-D unique finds the distinct points, far faster
            # than torch.unique(dim=0); the digits then give back each distinct point's ranks
            flat = torch.zeros_like(head)
            for u, inv in reversed(per_axis):
                flat = flat + inv * radix
                radix *= u.numel()
            uniq, ids = torch.unique(flat, return_inverse=True)
            cols, rest = [], uniq
            for u, _ in reversed(per_axis):
                cols.append(u[rest % u.numel()])
                rest = rest // u.numel()
            ukey = torch.stack(cols[::-1], dim=1)
        else:
            ukey, ids = torch.unique(q, dim=0, return_inverse=True)
        if self.local_coords == "align_corners":
            # the paper's code: the k-th of an axis' s distinct positions is linspace(-1, 1, s)[k]
            local_u = torch.stack([torch.searchsorted(u, col).double() * (2 / max(u.numel() - 1, 1)) - 1
                                   for (u, _), col in zip(per_axis, ukey.t().contiguous())], dim=1)
            local_u = local_u.to(coords.dtype)
        else:
            local_u = (ukey.double() / (0.5 * QUANTUM) - 1).to(coords.dtype)
        return head, ids, local_u

    def predict(self, coords: torch.Tensor, chunk: int = 1 << 18) -> torch.Tensor:
        # align_corners maps the distinct positions of the whole set: a chunk would get its own
        big = self.local_coords == "align_corners"
        return super().predict(coords, max(chunk, coords.shape[0]) if big else chunk)

    def features(self, local: torch.Tensor) -> torch.Tensor:
        """Body features (L, width) of cell-local coordinates."""
        return relu_stack(local, self.body)

    # ------------------------------------------------------------------ forward

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        head, ids, local = self.locate(coords)
        return self.render(self.features(local), head, ids)

    def _table_index(self, head: torch.Tensor, ids: torch.Tensor, L: int) -> torch.Tensor:
        """Flat index of each (point, channel) in the (heads * C, L) table. `head` and `ids`
        come from the coordinate cache, so the same tensors return every step or render of
        the same coordinates and the index (half the cost of a 512^2 render) is built once."""
        hit = self._gather
        if hit is not None and hit[0] is head and hit[1] is ids and hit[2] == L:
            return hit[3]
        c = self.dim_out
        chan = torch.arange(c, device=head.device)
        flat = ((head[:, None] * c + chan) * L + ids[:, None]).reshape(-1)
        self._gather = (head, ids, L, flat)
        return flat

    def render(self, feat: torch.Tensor, head: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """(N, dim_out) outputs of point n = head[n] applied to feat[ids[n]].

        Full grids: every head on every distinct local coordinate (L x heads ~ N products, a
        sparse matmul). Scattered points: one gather per point and channel."""
        n, c, L = head.shape[0], self.dim_out, feat.shape[0]
        chan = torch.arange(c, device=head.device)
        if L * self.heads <= 2 * n:
            table = self.head.table(feat)                       # (L, heads * C)
            return table.t().contiguous().view(-1).index_select(0, self._table_index(head, ids, L)).view(n, c)
        present, hinv = torch.unique(head, return_inverse=True)
        if L * present.numel() <= 2 * n:
            rows = (present[:, None] * c + chan).reshape(-1)
            table = self.head.table(feat, rows)                 # (L, present * C)
            return table[ids[:, None], hinv[:, None] * c + chan]
        out_row = (head[:, None] * c + chan).reshape(-1)
        x_row = ids.repeat_interleave(c)
        if torch.is_grad_enabled() or out_row.numel() * self.alpha <= 1 << 24:
            return self.head.pairs(feat, x_row, out_row).view(n, c)
        step = max(1, (1 << 24) // self.alpha)
        return torch.cat([self.head.pairs(feat, xr, orow) for xr, orow in
                          zip(x_row.split(step), out_row.split(step))]).view(n, c)

    # ------------------------------------------------------------------ cost

    def distinct_locals(self, shape: Sequence[int]) -> int:
        """Distinct cell-local coordinates of a pixel-centre grid of `shape` (N / heads when
        the grid divides the shape)."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        total = 1
        for n, g in zip(shape, self.grid):
            # local position of sample i is frac((2i + 1) * g / (2n)): count distinct residues
            total *= int(np.unique((2 * np.arange(n, dtype=np.int64) + 1) * g % (2 * n)).size)
        return total

    def flops(self, shape) -> FlopCount:
        """Forward FLOPs to render `shape`: the body (first layer + depth hidden layers, ReLU
        after each) once per distinct local coordinate, then every output pixel and channel
        costs 2 * alpha (its alpha multiply-adds) + 1 (bias). Finding cells and distinct
        coordinates (a few sorts, done once per coordinate set) is not counted."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        n = math.prod(shape)
        body = mlp_flops([self.dim_in] + [self.width] * (self.depth + 1), "relu", "relu")
        heads = FlopCount(matmul=2.0 * self.alpha * n * self.dim_out, bias=float(n * self.dim_out))
        return body * self.distinct_locals(shape) + heads

    def extra_repr(self) -> str:
        extra = "" if self.local_coords == "pixel_centre" else f", local_coords={self.local_coords}"
        return f"grid={'x'.join(map(str, self.grid))}, heads={self.heads}, alpha={self.alpha}{extra}"


# --------------------------------------------------------------------------- references

def multihead_reference(model: MultiHead, coords: torch.Tensor, dedup: bool = True) -> torch.Tensor:
    """The same function with DENSE masked heads (W_dense = wired weights, zeros elsewhere).

    dedup=True: body once per distinct local coordinate, then every head as one dense matmul
    (L, width) x (width, heads * C): the dense-masked baseline the benchmark times against the
    sparse heads. dedup=False: the naive reference, body on every point's own local
    coordinate and each point's head row picked from W_dense (memory N * C * width)."""
    c = model.dim_out
    chan = torch.arange(c, device=coords.device)
    w = model.head.dense_weight()                               # (heads * C, width)
    if dedup:
        head, ids, local = model.locate(coords)
        table = torch.addmm(model.head.bias, model.features(local), w.t())
        return table[ids[:, None], head[:, None] * c + chan]
    head, local = partition(coords.double(), model.grid)
    feat = model.features(local.to(coords.dtype))               # (N, width)
    rows = head[:, None] * c + chan                             # (N, C)
    return torch.einsum("nw,ncw->nc", feat, w[rows]) + model.head.bias[rows]


# --------------------------------------------------------------------------- parameter matching

def multihead_params(grid=8, alpha: int = 32, width: int = 256, depth: int = 3, dim_in: int = 2,
                     dim_out: int = 1) -> int:
    """Trainable parameters: body (dim_in + 1) * width + depth * (width + 1) * width, heads
    heads * dim_out * (alpha + 1). The paper: 64^2 heads, 4 x 256 body: 464,384 at alpha=64,
    1,250,816 at alpha=256."""
    heads = math.prod(parse_grid(grid, dim_in))
    body = (dim_in + 1) * width + depth * (width + 1) * width
    return body + heads * dim_out * (alpha + 1)


def match_alpha(target_params: int, grid=8, width: int = 256, depth: int = 3, dim_in: int = 2,
                dim_out: int = 1) -> int:
    """The largest alpha (<= width) whose multi-head model has at most target_params."""
    heads = math.prod(parse_grid(grid, dim_in))
    body = multihead_params(grid, 0, width, depth, dim_in, dim_out) - heads * dim_out
    alpha = (int(target_params) - body) // (heads * dim_out) - 1
    if alpha < 1:
        raise ValueError(f"target of {target_params:,} parameters is below the smallest "
                         f"multi-head model with this body and grid (alpha=1)")
    return min(alpha, width)
