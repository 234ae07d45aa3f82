"""Multiresolution hash encoding + a small ReLU MLP (Müller, Evans, Schied, Keller, SIGGRAPH
2022, "Instant Neural Graphics Primitives with a Multiresolution Hash Encoding"), in plain
PyTorch on every device (tiny-cuda-nn, the authors' library, is CUDA only).

Encoding (paper sec. 3): L levels, level l of resolution N_l = floor(N_min b^l), b =
exp((ln N_max - ln N_min) / (L - 1)). A coordinate x in [-1, 1]^d maps to u = (x + 1) / 2 in
[0, 1]^d, scaled to u N_l; the 2^d vertices of its cell carry F trainable features each, read
from the level's table and interpolated (linearly in 1-D, bilinearly in 2-D). A level whose
(N_l + 1)^d vertices fit in the table size T is indexed densely (row-major, no collisions);
otherwise by the spatial hash (XOR_i x_i pi_i) mod T, pi = (1, 2654435761, 805459861). The
level features are concatenated (L F values) and fed to the MLP: ReLU, `width` 64, depth 1 (two
hidden layers of 64, the paper's image setting), Glorot-uniform weights and zero biases. Tables
start U(-1e-4, 1e-4) (paper sec. 4). The paper trains with Adam betas (0.9, 0.99), eps 1e-15.

How it runs: all levels in ONE gather. The tables are one (sum_l T_l, F) parameter (T_l =
min(T, (N_l + 1)^d), so a dense level stores only its vertices); `lookup` builds the (L, N, 2^d)
index and weight tensors for every level at once. The indices and weights depend only on the
coordinates, so they are kept for a coordinate tensor that comes back unchanged (fit passes the
same one every step; `CoordsMemo`). On the CPU they are kept as the sparse interpolation matrix
A (N L rows of 2^d weights, `Interpolation`): the encoding is the product A table (one sparse
matmul instead of a gather and a weighted sum), and the table's gradient the product A^T grad,
with A^T built once on the first backward; that replaces autograd's scatter-add (index_add),
which took over half of a training step at 256^2 (the benchmark's hashgrid_step). Other
devices, coordinates that need a gradient, autocast and torch.compile read the rows with one
index_select and weight and sum the corners.

Differences from the paper's code: tiny-cuda-nn offsets positions by half a cell and sizes
levels slightly differently, and its fully-fused MLP has no biases; we follow the paper's
formulas and keep nn.Linear biases. With `resolution` (filled from the training signal by
build(signal=...)) the finest resolution defaults to the signal's longest side (at least the
base resolution), else 512.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import Range
from ..flops import FlopCount, mlp_flops, n_points
from ..signals import parse_grid
from .base import CoordsMemo, axis_range
from .grid import corner_offsets, corner_weights
from .layers import _textbook_ops
from .layers.sparse import _csr, csr_transpose
from .registry import register
from .relu import EncodedReluMLP

PRIMES = (1, 2654435761, 805459861)
# x_i * pi_i stays below 2^63 (exact in int64) for vertex indices up to 2^31
RES = Range(1, 2 ** 24, why="vertex indices times the hash primes must stay exact in 64-bit integers")


def level_resolutions(levels: int, base: int, finest: int) -> list[int]:
    """N_l = floor(N_min b^l), b = exp((ln N_max - ln N_min) / (L - 1)) (paper eq. 2-3)."""
    if levels == 1:
        return [base]
    b = math.exp((math.log(finest) - math.log(base)) / (levels - 1))
    return [int(math.floor(base * b ** l + 1e-9)) for l in range(levels)]


def spatial_hash(corner: torch.Tensor, table_size: int) -> torch.Tensor:
    """(XOR_i corner_i * pi_i) mod table_size for a power-of-two table size (int64 arithmetic
    keeps the low 32 bits that tiny-cuda-nn's uint32 arithmetic keeps)."""
    h = corner[..., 0] * PRIMES[0]
    for i in range(1, corner.shape[-1]):
        h = h ^ (corner[..., i] * PRIMES[i])
    return h & (table_size - 1)


class Interpolation:
    """The corner weights of one coordinate tensor as a sparse (N L, T) matrix A in CSR form:
    row n L + l holds point n's 2^d corner weights at level l, at the corners' table rows
    (sorted; two corners that hash to one row are summed into it), so that A table, viewed
    (N, L F), is the encoding. A^T, the table gradient's matrix, is built on first use."""

    def __init__(self, index: torch.Tensor, weight: torch.Tensor, rows: int):
        """index, weight: (N L, 2^d) table rows (ascending in each row) and corner weights."""
        n, k = index.shape
        col, w = index.reshape(-1), weight.reshape(-1)
        self.index_dtype = torch.int32 if max(col.numel(), rows) < 2 ** 31 else torch.long
        repeat = torch.zeros_like(col, dtype=torch.bool)  # the same row as the entry before it
        repeat.view(n, k)[:, 1:] = index[:, 1:] == index[:, :-1]
        if repeat.any():   # corners hashed to one row: one entry, the weights summed
            first = ~repeat
            w = w[first].index_add_(0, first.cumsum(0)[repeat] - 1, w[repeat])
            col, count = col[first], first.view(n, k).sum(1)
        else:
            count = torch.full((n,), k)
        self.values, self.col = w, col.to(self.index_dtype)
        self.crow = torch.zeros(n + 1, dtype=torch.long)
        self.crow[1:] = count.cumsum(0)
        self.crow = self.crow.to(self.index_dtype)
        self.shape = (n, rows)
        self._matrices: dict = {}

    def matrix(self, dtype: torch.dtype, transpose: bool = False) -> torch.Tensor:
        key = (dtype, transpose)
        if key not in self._matrices:
            if transpose:   # CSR of A^T: A's entries ordered by column
                crow, col, order = csr_transpose(self.crow, self.col, self.shape[1])
                m = _csr(crow, col, self.values[order].to(dtype), self.shape[::-1])
            else:
                m = _csr(self.crow, self.col, self.values.to(dtype), self.shape)
            self._matrices[key] = m
        return self._matrices[key]


def _sparse_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for a CSR `a`, written straight into a fresh tensor (`a @ b` zero-fills a result and
    copies it once more: about a third of the encoding product's time at 256^2 in a profile)."""
    out = b.new_empty(a.shape[0], b.shape[1])
    return torch.addmm(out, a, b, beta=0, out=out)   # beta=0: out's contents are never read


class _Interpolate(torch.autograd.Function):
    """A table and its table gradient A^T grad, both sparse-dense matmuls (no scatter)."""

    @staticmethod
    def forward(ctx, table, interp):
        ctx.interp = interp
        return _sparse_mm(interp.matrix(table.dtype), table)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        return _sparse_mm(ctx.interp.matrix(grad.dtype, transpose=True), grad.contiguous()), None


@register("hashgrid")
class HashGrid(EncodedReluMLP):
    lookup_tables = ("table",)
    # paper sec. 4: Adam betas (0.9, 0.99), eps 1e-15 (tiny table gradients), lr 1e-2
    adam = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-15}
    ranges = {**EncodedReluMLP.ranges, "levels": Range(1, 64, why="the paper uses 16"),
              "features": Range(1, 64), "table_size": Range(1, 2 ** 30), "base_resolution": RES,
              "finest_resolution": RES, "resolution": axis_range(2)}

    def __init__(self, dim_in: int = 2, dim_out: int = 1, levels: int = 16, features: int = 2,
                 table_size: int = 2 ** 14, base_resolution: int = 16,
                 finest_resolution: int | None = None, width: int = 64, depth: int = 1,
                 resolution: int | str | tuple | None = None):
        super().__init__()
        if dim_in > len(PRIMES):
            raise ValueError(f"dim_in must be at most {len(PRIMES)} (one hash prime per axis), got {dim_in}")
        if table_size < 1 or table_size & (table_size - 1):
            raise ValueError(f"table_size must be a power of two, got table_size={table_size}")
        if finest_resolution is None:   # the signal's longest side (never below the base)
            side = max(parse_grid(resolution, dim_in, "resolution")) if resolution else 512
            finest_resolution = max(side, base_resolution)
        if finest_resolution < base_resolution:
            raise ValueError(f"finest_resolution must be >= base_resolution, got "
                             f"finest_resolution={finest_resolution}, base_resolution={base_resolution}")
        self.dim_in, self.dim_out, self.width, self.depth = dim_in, dim_out, width, depth
        self.levels, self.features, self.table_size = levels, features, table_size
        self.base_resolution, self.finest_resolution = base_resolution, finest_resolution
        self.resolutions = level_resolutions(levels, base_resolution, finest_resolution)
        vertices = [(n + 1) ** dim_in for n in self.resolutions]
        self.dense_levels = [v <= table_size for v in vertices]
        self.sizes = [v if dense else table_size for v, dense in zip(vertices, self.dense_levels)]
        starts = [sum(self.sizes[:l]) for l in range(levels)]
        self.register_buffer("res", torch.tensor(self.resolutions, dtype=torch.float32), persistent=False)
        self.n_dense = sum(self.dense_levels)
        self.register_buffer("start", torch.tensor(starts, dtype=torch.long), persistent=False)
        self.register_buffer("strides", torch.tensor(  # row-major strides of each dense level
            [[(n + 1) ** (dim_in - 1 - k) for k in range(dim_in)] for n in self.resolutions],
            dtype=torch.long), persistent=False)
        self.register_buffer("offsets", corner_offsets(dim_in), persistent=False)
        # a dense level's row of corner c is the cell's row + corner_steps[l, c]; in ascending
        # order for corners sorted by `corner_order` (axis 0's offset first: the largest stride)
        self.register_buffer("corner_steps", (self.strides[:, None, :] * self.offsets).sum(-1),
                             persistent=False)
        self.corner_order = sorted(range(2 ** dim_in), key=lambda c: [(c >> k) & 1 for k in range(dim_in)])
        self.table = nn.Parameter(torch.empty(sum(self.sizes), features))
        dims = [levels * features] + [width] * (depth + 1) + [dim_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self._lookups = CoordsMemo(size=64)
        self.init_()

    @torch.no_grad()
    def init_(self):
        super().init_()                      # MLP: Glorot uniform, zero bias
        self.table.uniform_(-1e-4, 1e-4)     # paper sec. 4

    def lookup(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(table row (L, N, 2^d), corner weight (L, N, 2^d)) of coordinates x, every level at once."""
        u = ((x + 1) * 0.5).clamp(0, 1)
        res = self.res.to(x.dtype)[:, None, None]
        pos = u.unsqueeze(0) * res                              # (L, N, d)
        i0 = torch.minimum(pos.floor(), res - 1)                # u = 1 stays in the last cell
        weight = corner_weights(pos - i0, self.offsets)
        i0, D = i0.long(), self.n_dense       # the dense levels come first (resolutions grow)
        dense = (i0[:D] * self.strides[:D, None, :]).sum(-1, keepdim=True) + self.corner_steps[:D, None, :]
        hashed = spatial_hash(i0[D:].unsqueeze(2) + self.offsets, self.table_size)
        return torch.cat([dense, hashed]) + self.start[:, None, None], weight

    def interpolation(self, x: torch.Tensor) -> Interpolation:
        """The sparse interpolation matrix of coordinates x, kept while x comes back unchanged."""
        return self._lookups.get(x, lambda: Interpolation(*self._sorted_lookup(x), self.table.shape[0]))

    def _sorted_lookup(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`lookup` laid out (N L, 2^d), row n L + l, its table rows ascending in each row: a
        fixed corner order on dense levels, a sort on hashed ones."""
        index, weight = self.lookup(x)
        D, order = self.n_dense, torch.tensor(self.corner_order, device=x.device)
        hashed, by = index[D:].sort(dim=-1)
        index = torch.cat([index[:D].index_select(-1, order), hashed])
        weight = torch.cat([weight[:D].index_select(-1, order), weight[D:].gather(-1, by)])
        rows = (x.shape[0] * self.levels, index.shape[-1])
        return index.transpose(0, 1).reshape(rows), weight.transpose(0, 1).reshape(rows)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        # differentiable in x, traced by torch.compile, or in autocast's precisions: the plain ops
        if x.requires_grad or _textbook_ops(x):
            index, weight = self.lookup(x)
        elif x.device.type == "cpu":
            return _Interpolate.apply(self.table, self.interpolation(x)).view(x.shape[0], -1)
        else:
            index, weight = self._lookups.get(x, lambda: self.lookup(x))
        L, n, k = index.shape
        vals = self.table.index_select(0, index.reshape(-1)).view(L * n, k, self.features)
        feat = torch.bmm(weight.reshape(L * n, 1, k).to(vals.dtype), vals)      # (L N, 1, F)
        return feat.view(L, n, self.features).transpose(0, 1).reshape(n, L * self.features)

    def encode_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The encoding as a loop over levels and corners, from the paper's formulas."""
        u = ((x + 1) / 2).clamp(0, 1)
        out = []
        for l, n in enumerate(self.resolutions):
            pos = u * n
            i0 = pos.floor().clamp(max=n - 1)
            frac, i0 = pos - i0, i0.long()
            level = 0
            for c in range(2 ** self.dim_in):
                bits = [(c >> k) & 1 for k in range(self.dim_in)]
                corner = torch.stack([i0[:, k] + bits[k] for k in range(self.dim_in)], dim=1)
                w = torch.ones_like(x[:, 0])
                for k in range(self.dim_in):
                    w = w * (frac[:, k] if bits[k] else 1 - frac[:, k])
                if self.dense_levels[l]:
                    idx = sum(corner[:, k] * (n + 1) ** (self.dim_in - 1 - k) for k in range(self.dim_in))
                else:
                    idx = spatial_hash(corner, self.table_size)
                start = sum(self.sizes[:l])
                level = level + w[:, None] * self.table[start + idx]
            out.append(level)
        return torch.cat(out, dim=1)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encode_reference(x)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.layers[-1](h)

    def flops_per_point(self) -> FlopCount:
        d, k, F = self.dim_in, 2 ** self.dim_in, self.features
        # u: 2 per axis; per level and axis: scale, floor, fraction, 1 - f (4); per corner: d - 1
        # weight products and a multiply-add per feature
        enc = 2.0 * d + self.levels * (4.0 * d + k * (d - 1) + 2.0 * k * F)
        dims = [self.levels * F] + [self.width] * (self.depth + 1) + [self.dim_out]
        return FlopCount(encoding=enc) + mlp_flops(dims, "relu")

    def gather_bytes(self, shape) -> dict:
        """Bytes the forward gather and its backward scatter-add move for a signal of `shape`:
        per point, level and corner, an 8-byte index and F float32 features read and F written
        (forward); F gradients and the index read, F table entries read and written (backward)."""
        per = n_points(shape) * self.levels * 2 ** self.dim_in
        f = 4 * self.features
        return {"gather": per * (8 + 2 * f), "scatter": per * (8 + 3 * f)}

    def extra_repr(self) -> str:
        dense = sum(self.dense_levels)
        return (f"levels={self.levels} (N {self.resolutions[0]}..{self.resolutions[-1]}, {dense} dense), "
                f"features={self.features}, table_size=2^{int(math.log2(self.table_size))}")
