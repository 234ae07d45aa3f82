"""Reusable layers: activations and initialisation rules shared by the model families."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


class _LinearFn(torch.autograd.Function):
    """x W^T + b whose backward picks the fast kernel for a coordinate network's odd shapes.

    PyTorch's own backward computes the weight gradient as grad^T x: with a 2-coordinate
    input that product (K = all samples, N = 2) takes about 6x longer on CPU BLAS than the
    same numbers as (x^T grad)^T, and a 1-output layer's input gradient grad W (an outer
    product through a K = 1 GEMM) takes twice as long as a broadcast multiply. Every op here
    is differentiable, so higher derivatives still work."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return torch.addmm(bias, x, weight.t()) if bias is not None else torch.mm(x, weight.t())

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad * weight if weight.shape[0] == 1 else torch.mm(grad, weight)
        if ctx.needs_input_grad[1]:
            if weight.shape[1] < weight.shape[0]:
                grad_w = torch.mm(x.t(), grad).t()
            else:
                grad_w = torch.mm(grad.t(), x)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b


def _textbook_ops(x: torch.Tensor) -> bool:
    """Under autocast (mixed precision) or torch.compile the plain ops are the fast path:
    autocast picks each op's precision itself, and Inductor fuses the elementwise work and
    plans the memory that the hand-written functions save."""
    return torch.is_autocast_enabled(x.device.type) or torch.compiler.is_compiling()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear(x, weight, bias)` for 2-D x, with the backward of `_LinearFn` (equal to
    F.linear's, forward and gradients; tested in tests/test_fastpaths.py)."""
    if x.dim() != 2 or _textbook_ops(x):
        return nn.functional.linear(x, weight, bias)
    return _LinearFn.apply(x, weight, bias)


def relu_stack(h: torch.Tensor, layers) -> torch.Tensor:
    """relu(linear(.)) through each nn.Linear in `layers`. The ReLU runs in place on the fresh
    linear output (its backward needs only the result), one activation-sized tensor fewer
    per layer than `torch.relu(layer(h))`."""
    for layer in layers:
        h = torch.relu_(linear(h, layer.weight, layer.bias))
    return h


class _SineFn(torch.autograd.Function):
    """sin(w0 * z) with one fresh tensor per direction instead of PyTorch's five.

    Eager autograd would allocate w0*z and sin(.) going forward and cos(.), grad*cos and
    w0*(...) going back. On a CPU every fresh activation-sized tensor is page-faulted in by
    the kernel (about 25 ms for 64 MB on the project's 2-core machine, longer than the sine
    itself), so the step time of a sine network is mostly allocation. Here the forward writes
    w0*z once and takes its sine in place; the backward does the same with cos and multiplies
    the incoming gradient in. Under create_graph the backward uses out-of-place ops, so
    higher derivatives (SIREN's gradient and Laplacian supervision) stay exact."""

    @staticmethod
    def forward(ctx, z, w0):
        ctx.w0 = w0
        ctx.save_for_backward(z)
        return torch.mul(z, w0).sin_() if w0 != 1.0 else torch.sin(z)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        w0 = ctx.w0
        if torch.is_grad_enabled():                    # create_graph: stay differentiable
            return grad * torch.cos(z * w0) * w0, None
        g = torch.mul(z, w0).cos_() if w0 != 1.0 else torch.cos(z)
        g.mul_(grad)
        if w0 != 1.0:
            g.mul_(w0)
        return g, None


def sine(z: torch.Tensor, w0: float = 1.0) -> torch.Tensor:
    """sin(w0 * z) through the allocation-saving autograd function (equal to
    `torch.sin(w0 * z)`, forward and gradients; tested in tests/test_fastpaths.py)."""
    if _textbook_ops(z):
        return torch.sin(z * w0) if w0 != 1.0 else torch.sin(z)
    return _SineFn.apply(z, float(w0))


def w0_in_weights(in_features: int, rows: int) -> bool:
    """Where a sine layer applies w0: sin(w0 (W h + b)) computed as sin((w0 W) h + w0 b)
    costs a pass over the weight in each direction, leaving w0 to the sine costs a pass over
    the activation. Folding wins when the layer has no more inputs than the activation has
    rows of samples (the usual case: a batch is far longer than a layer is wide)."""
    return in_features <= rows


class Sine(nn.Module):
    """sin(w0 * z), the SIREN activation."""

    def __init__(self, w0: float = 30.0):
        super().__init__()
        self.w0 = float(w0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return sine(z, self.w0)

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


@dataclass(frozen=True)
class MLPParts:
    """What a plain MLP family (linear layers, one elementwise activation after each but the
    last) offers to a composite that runs many of its networks batched (ensemble members), so
    the composite needs no code of its own per family: `activate(z, i)`, the activation after
    linear layer i, and `init_layers_(layers)`, the family's initialisation drawn into any
    layers with `weight`, `bias` and `in_features` (nn.Linear, BatchedLinear's (G, out, in)
    stacks). Both are plain functions (module-level, or partials of them), so they pickle."""

    activate: Callable[[torch.Tensor, int], torch.Tensor]
    init_layers_: Callable[[list], None]


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


# --------------------------------------------------------------------------- sparse heads
# (multi-head ReLU INR, Aftab et al. sec. 3.1.2: each output neuron reads alpha body units)

def sparse_wiring(in_features: int, outputs: int, alpha: int, seed: int = 0) -> torch.Tensor:
    """(outputs, alpha) sorted, distinct unit indices per output neuron, drawn uniformly from a
    torch.Generator seeded with `seed` (alpha == in_features wires every unit, in order)."""
    if alpha == in_features:
        return torch.arange(in_features).expand(outputs, in_features).clone()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    blocks = []
    for start in range(0, outputs, 8192):  # bounded memory at 256^2 heads (construction only)
        n = min(8192, outputs - start)
        pick = torch.rand(n, in_features, generator=gen).topk(alpha, dim=1).indices
        blocks.append(pick.sort(dim=1).values)
    return torch.cat(blocks) if blocks else torch.empty(0, alpha, dtype=torch.long)


def _csr(crow, col, values, size):
    import warnings
    with warnings.catch_warnings():  # torch warns once that sparse CSR is beta
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


class _CsrHeads(torch.autograd.Function):
    """out (R, L) = W_csr @ x^T with W's nonzeros = `weight` (R, alpha) at columns `col`.
    Backward: grad x = W^T @ grad (CSR of the transpose), grad weight = the product grad @ x
    at the wired positions: when at least 1/8 of the inputs are wired (alpha * 8 >= in) as
    the dense product followed by a gather (CPU: 0.47 vs 0.72 ms at 4096 heads, alpha 64 of
    256, 16 rows; the sampled kernel copies its mask), else torch.sparse.sampled_addmm."""

    @staticmethod
    def forward(ctx, x, weight, crow, col, tcrow, tcol, tperm):
        rows, alpha = weight.shape
        w = _csr(crow, col, weight.reshape(-1), (rows, x.shape[1]))
        ctx.save_for_backward(x, weight, crow, col, tcrow, tcol, tperm)
        return w @ x.t().contiguous()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight, crow, col, tcrow, tcol, tperm = ctx.saved_tensors
        rows, alpha = weight.shape
        grad = grad.contiguous()
        gx = gw = None
        if ctx.needs_input_grad[0]:
            wt = _csr(tcrow, tcol, weight.reshape(-1).index_select(0, tperm), (x.shape[1], rows))
            gx = (wt @ grad).t()
        if ctx.needs_input_grad[1]:
            if 8 * alpha >= x.shape[1]:
                gw = (grad @ x).gather(1, col.view(rows, alpha))
            else:  # beta=0: the mask's values (the weights, to allocate nothing) are not read
                mask = _csr(crow, col, weight.detach().reshape(-1), (rows, x.shape[1]))
                gw = torch.sparse.sampled_addmm(mask, grad, x.contiguous(), beta=0.0).values()
                gw = gw.reshape(rows, alpha)
        return gx, gw, None, None, None, None, None


class SparseHeads(nn.Module):
    """`outputs` linear neurons, neuron o reading only the `alpha` input units idx[o]:
    y_o = sum_j weight[o, j] * x[idx[o, j]] + bias[o].

    weight (outputs, alpha): last axis is fan-in, first indexes output neurons (the layout the
    weight-factorization helper expects). idx is a fixed buffer (saved in checkpoints) from
    `sparse_wiring`. Two ways to run it, both batched over neurons: `table` evaluates the
    chosen neurons on every input row (CSR sparse matmul where torch has it, else a gather +
    bmm; alpha == in_features is a plain addmm), `pairs` evaluates one neuron per input row
    (a gather, for scattered queries). `sparse_heads_reference` is the dense masked equivalent.
    impl: 'auto' (CSR on cpu/cuda, gather elsewhere), 'csr' or 'gather'.
    """

    def __init__(self, in_features: int, outputs: int, alpha: int, seed: int = 0,
                 impl: str = "auto"):
        super().__init__()
        if not 1 <= alpha <= in_features:
            raise ValueError(f"alpha {alpha} must be between 1 and the input width {in_features}")
        if impl not in ("auto", "csr", "gather"):
            raise ValueError(f"impl '{impl}' must be auto, csr or gather")
        self.in_features, self.outputs, self.alpha, self.impl = in_features, outputs, alpha, impl
        self.weight = nn.Parameter(torch.empty(outputs, alpha))
        self.bias = nn.Parameter(torch.empty(outputs))
        self.register_buffer("idx", sparse_wiring(in_features, outputs, alpha, seed))
        self._csr = None
        self.init_()

    def init_(self):
        # Each neuron like a normal layer with fan-in alpha: Glorot uniform over (alpha -> 1),
        # zero bias (Keras' Dense default, which the paper's code uses for its body).
        glorot_init_(self.weight, self.bias, self.alpha, 1)

    @property
    def dense(self) -> bool:
        return self.alpha == self.in_features

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, outputs={self.outputs}, alpha={self.alpha}"

    def _structure(self, rows):
        """CSR index arrays of the wiring (all neurons, or `rows`) and of its transpose."""
        key = (self.idx._version, self.idx.device, self.idx.data_ptr())
        if rows is None and self._csr is not None and self._csr[0] == key:
            return self._csr[1]
        idx = self.idx if rows is None else self.idx[rows]
        n, a = idx.shape
        col = idx.reshape(-1)
        crow = torch.arange(0, n * a + 1, a, device=idx.device)
        tperm = torch.argsort(col, stable=True)
        tcol = torch.arange(n, device=idx.device).repeat_interleave(a)[tperm]
        tcrow = torch.zeros(self.in_features + 1, dtype=torch.long, device=idx.device)
        tcrow[1:] = torch.cumsum(torch.bincount(col, minlength=self.in_features), 0)
        out = (crow, col, tcrow, tcol, tperm)
        if rows is None:
            self._csr = (key, out)
        return out

    def _use_csr(self, x) -> bool:
        if self.impl != "auto":
            return self.impl == "csr"
        return x.device.type in ("cpu", "cuda") and x.dtype in (torch.float32, torch.float64)

    def table(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """(L, R): neurons `rows` (default all) evaluated on every row of x (L, in_features)."""
        weight, bias = self.weight, self.bias
        if rows is not None:
            weight, bias = weight[rows], bias[rows]
        if self.dense:
            return torch.addmm(bias, x, weight.t())
        if self._use_csr(x):
            out = _CsrHeads.apply(x, weight, *self._structure(rows))
        else:
            idx = self.idx if rows is None else self.idx[rows]
            g = x.t().contiguous().index_select(0, idx.reshape(-1))
            out = torch.bmm(weight.unsqueeze(1), g.view(idx.shape[0], self.alpha, x.shape[0]))
            out = out.squeeze(1)
        return (out + bias[:, None]).t()

    def pairs(self, x: torch.Tensor, x_row: torch.Tensor, out_row: torch.Tensor) -> torch.Tensor:
        """(P,): neuron out_row[p] evaluated on input row x_row[p] of x (L, in_features)."""
        flat = x_row[:, None] * self.in_features + self.idx[out_row]
        g = x.reshape(-1)[flat]
        return (g * self.weight[out_row]).sum(-1) + self.bias[out_row]

    def dense_weight(self) -> torch.Tensor:
        """(outputs, in_features): the wired weights in place, zeros elsewhere."""
        w = self.weight
        return torch.zeros(self.outputs, self.in_features, dtype=w.dtype,
                           device=w.device).scatter(1, self.idx, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table(x)


def sparse_heads_reference(x: torch.Tensor, layer: SparseHeads) -> torch.Tensor:
    """(L, outputs): the dense masked equivalent of `layer.table(x)`, x @ W_dense^T + b."""
    return torch.addmm(layer.bias, x, layer.dense_weight().t())


# --------------------------------------------------------------------------- batched linear (ensembles)

class BatchedLinear(nn.Module):
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
        self.weight = nn.Parameter(torch.empty(groups, out_features, in_features))
        if bias:
            self.bias = nn.Parameter(torch.empty(groups, out_features))
        else:
            self.register_parameter("bias", None)
        self.init_()

    @torch.no_grad()
    def init_(self) -> None:
        """nn.Linear's default for every member, with fan-in = in_features of ONE member:
        weight and bias U(-1/sqrt(in), 1/sqrt(in)). (ENRP's batched code used out*in as the
        bias fan-in, which makes a batched member start differently from a standalone one.)
        Models replace this with their family's rule."""
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight.uniform_(-bound, bound)
        if self.bias is not None:
            self.bias.uniform_(-bound, bound)

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


# --------------------------------------------------------------------------- tiled (position-dependent) linear

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


class TileGroups:
    """Samples grouped by candidate, computed once from tile ids and shared by every layer
    that uses the same tiling.

    Group t holds the samples with tile id t; every group is padded to the largest group's
    size M so that one batched matmul (T, M, in) x (T, in, out) serves all candidates. When
    the groups are equal (a full image whose side the cells divide) nothing is padded and
    exactly one matmul row is computed per sample. `slot` is each sample's row in the padded
    (T * M) layout.
    """

    def __init__(self, tile_id: torch.Tensor, n_tiles: int):
        tile_id = tile_id.reshape(-1).long()
        self.n_tiles = int(n_tiles)
        self.n = tile_id.numel()
        counts = torch.bincount(tile_id, minlength=self.n_tiles)
        if counts.numel() > self.n_tiles:
            raise ValueError(f"tile id {int(tile_id.max())} out of range for {self.n_tiles} tiles")
        host = counts.tolist()  # one host sync per tiling
        self.counts = host
        self.m = max(host) if self.n else 0
        self.exact = all(c == self.m for c in host)
        order = torch.argsort(tile_id, stable=True)
        if self.exact:
            slot = torch.empty_like(order)
            slot[order] = torch.arange(self.n, device=order.device)
        else:
            starts = torch.cumsum(counts, 0) - counts
            sorted_tile = tile_id[order]
            pos = torch.arange(self.n, device=order.device) - starts[sorted_tile]
            slot = torch.empty_like(order)
            slot[order] = sorted_tile * self.m + pos
        self.order, self.slot = order, slot

    @property
    def padded_rows(self) -> int:
        """Rows the batched matmul computes (n when the groups are equal)."""
        return self.n_tiles * self.m

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) per sample -> (T, M, C) per group (padding rows are zero)."""
        if self.exact:
            return x.index_select(0, self.order).view(self.n_tiles, self.m, x.shape[1])
        padded = x.new_zeros(self.n_tiles * self.m, x.shape[1])
        return padded.index_copy(0, self.slot, x).view(self.n_tiles, self.m, x.shape[1])

    def scatter(self, y: torch.Tensor) -> torch.Tensor:
        """(T, M, C) or (T * M, C) per group -> (N, C) in the samples' original order."""
        return y.reshape(self.n_tiles * self.m, y.shape[-1]).index_select(0, self.slot)

    def regroup(self, h: torch.Tensor, prev: "TileGroups | None") -> torch.Tensor:
        """Rows of `h` laid out by `prev`'s grouping (or per sample when prev is None) ->
        (T * M, C) laid out by this grouping, with one permutation where possible."""
        if prev is None:
            return self.gather(h).reshape(self.n_tiles * self.m, h.shape[1])
        if prev is self:
            return h
        if self.exact:
            return h.index_select(0, prev.slot.index_select(0, self.order))
        return self.gather(prev.scatter(h)).reshape(self.n_tiles * self.m, h.shape[1])


class TiledLinear(nn.Module):
    """A linear layer with `n_tiles` candidate weight matrices; each sample uses the candidate
    its tile id names (hard selection, no blending), as the Levels-of-Experts layer.

    weight: (T, out, in), candidates first, fan-in last (so a per-output-neuron
    parametrization such as random weight factorization applies per candidate). bias: one
    learnable (out,) vector shared by all candidates, or (T, out) with per_tile_bias.
    The fast path groups samples per candidate (TileGroups) and runs one batched matmul;
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
        self.weight = nn.Parameter(torch.empty(n_tiles, out_features, in_features))
        if bias:
            shape = (n_tiles, out_features) if per_tile_bias else (out_features,)
            self.bias = nn.Parameter(torch.empty(shape))
        else:
            self.register_parameter("bias", None)
        self.init_()

    @torch.no_grad()
    def init_(self) -> None:
        """PyTorch's nn.Linear default for every candidate: weights Kaiming-uniform with
        a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)), and the bias U(-1/sqrt(in), 1/sqrt(in)).
        Models replace this with their paper's rule."""
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight.uniform_(-bound, bound)
        if self.bias is not None:
            self.bias.uniform_(-bound, bound)

    def _bias_rows(self, tile_id: torch.Tensor) -> torch.Tensor | None:
        if self.bias is None:
            return None
        return self.bias[tile_id] if self.per_tile_bias else self.bias

    def forward(self, x: torch.Tensor, groups: "TileGroups | torch.Tensor") -> torch.Tensor:
        if not isinstance(groups, TileGroups):
            groups = TileGroups(groups, self.n_tiles)
        if groups.n_tiles != self.n_tiles:
            raise ValueError(f"groups for {groups.n_tiles} tiles given to a layer with {self.n_tiles}")
        if groups.n == 0:
            return x.new_zeros(0, self.out_features)
        return groups.scatter(self.forward_grouped(groups.regroup(x, None), groups))

    def forward_grouped(self, h: torch.Tensor, groups: "TileGroups", scale: float = 1.0) -> torch.Tensor:
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
