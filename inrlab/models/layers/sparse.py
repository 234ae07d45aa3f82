"""Sparse heads (multi-head ReLU INR, Aftab et al. sec. 3.1.2): each output neuron reads
alpha units of the body."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from .init import glorot_init_


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
    with warnings.catch_warnings():  # torch warns once that sparse CSR is beta
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


def csr_transpose(crow, col, n_cols: int):
    """Index arrays of the transpose of a CSR matrix (crow, col) with `n_cols` columns:
    (tcrow, tcol, perm), perm ordering the entries by column (stable, so each column keeps its
    rows in order): the transpose's values are values[perm]. Dtypes and device follow crow/col."""
    perm = torch.argsort(col, stable=True)
    rows = torch.repeat_interleave(torch.arange(crow.numel() - 1, dtype=col.dtype, device=col.device), crow.diff())
    tcrow = torch.zeros(n_cols + 1, dtype=crow.dtype, device=col.device)
    tcrow[1:] = torch.cumsum(torch.bincount(col, minlength=n_cols), 0)
    return tcrow, rows[perm], perm


class _CsrHeads(torch.autograd.Function):
    """out (R, L) = W_csr @ x^T with W's nonzeros = `weight` (R, alpha) at columns `col`.
    Backward: grad x = W^T @ grad (CSR of the transpose), grad weight = the product grad @ x
    at the wired positions: when at least 1/8 of the inputs are wired (alpha * 8 >= in) as
    the dense product followed by a gather (faster there, since the sampled kernel copies its
    mask), else torch.sparse.sampled_addmm."""

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
        out = (crow, col, *csr_transpose(crow, col, self.in_features))
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
