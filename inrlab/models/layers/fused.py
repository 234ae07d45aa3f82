"""Linear layers, and a whole ReLU MLP, with a backward pass tuned to a coordinate network's shapes."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils._python_dispatch import is_in_torch_dispatch_mode


class _LinearFn(torch.autograd.Function):
    """x W^T + b whose backward picks the fast kernel for a coordinate network's odd shapes.

    Its gradients are `_input_grad` and `_weight_grad`, which step around CPU BLAS's slow
    cases (timings in the benchmark). Every op here is differentiable, so higher derivatives
    still work."""

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
            grad_x = _input_grad(grad, weight)
        if ctx.needs_input_grad[1]:
            grad_w = _weight_grad(grad, x)
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
    """relu(linear(.)) through each nn.Linear in `layers` (a ReLU after the last one too)."""
    return relu_mlp(h, layers, relu_last=True)


def relu_mlp(h: torch.Tensor, layers, relu_last: bool = False) -> torch.Tensor:
    """A ReLU MLP: relu(linear(.)) through `layers`, the last one linear unless `relu_last`,
    on (N, d) rows. One autograd function for the whole stack (`_ReluMLPFn`), equal to the
    textbook layers in value and gradient; the textbook layers run under autocast or
    torch.compile and for other than 2-D rows."""
    wb = [t for layer in layers for t in (layer.weight, layer.bias)]
    if h.dim() != 2 or _textbook_ops(h):
        return _relu_mlp_reference(h, wb, relu_last)
    return _ReluMLPFn.apply(h, relu_last, *wb)


def _relu_mlp_reference(h, wb, relu_last):
    n = len(wb) // 2
    for i in range(n):
        h = nn.functional.linear(h, wb[2 * i], wb[2 * i + 1])
        if relu_last or i < n - 1:
            h = torch.relu(h)
    return h


_ONEDNN: list = []   # [bool]: whether oneDNN's fused linear + ReLU runs here (probed once)


def _onednn_ok(x: torch.Tensor, w: torch.Tensor) -> bool:
    """Whether oneDNN's kernels take these float32 CPU tensors: not under a dispatch mode (FLOP
    counting, tracing: the mode then sees the standard addmm), and only if the probe worked."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or w.dtype != torch.float32:
        return False
    if is_in_torch_dispatch_mode():
        return False
    if not _ONEDNN:
        op = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None
        try:
            a, b = torch.randn(5, 3), torch.randn(4, 3)
            ok = op is not None and torch.allclose(op(a, b, None, "relu", [], ""), torch.relu(a @ b.t()), atol=1e-5)
        except RuntimeError:
            ok = False
        _ONEDNN.append(ok)
    return _ONEDNN[0]


def _linear_relu(x, w, b):
    """relu(x W^T + b): oneDNN's fused kernel on a CPU in float32 (1.1-1.9x faster than
    addmm then relu at a coordinate network's shapes), else addmm and an in-place ReLU."""
    if x.is_contiguous() and w.is_contiguous() and _onednn_ok(x, w):
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "relu", [], "")
    return torch.relu_(torch.addmm(b, x, w.t()) if b is not None else torch.mm(x, w.t()))


def _input_grad(g, w):
    """g W, a linear layer's input gradient; for 1 output a broadcast multiply (CPU BLAS is
    slow on a K = 1 GEMM)."""
    return g * w if w.shape[0] == 1 else torch.mm(g, w)


def _weight_grad(g, x):
    """g^T x, a linear layer's weight gradient, a GEMM whose reduction runs over all N samples.
    A small output (at most 4096 entries, both sides 8 or more) leaves CPU BLAS short of work
    to share between threads (64 x 64 at N = 65536: 1.6x on 2 threads over 1), so there the
    samples are split into one block per thread, a batched GEMM, and the blocks summed (2.0x;
    the benchmark's hashgrid_step). Few inputs (K = N, 2 outputs of x^T): as (x^T g)^T."""
    n, t = g.shape[0], torch.get_num_threads()
    if (g.device.type == "cpu" and t > 1 and n % t == 0 and n >= 4096 * t and g.is_contiguous()
            and x.is_contiguous() and g.shape[1] * x.shape[1] <= 4096 and min(g.shape[1], x.shape[1]) >= 8):
        return torch.bmm(g.view(t, n // t, -1).transpose(1, 2), x.view(t, n // t, -1)).sum(0)
    return torch.mm(x.t(), g).t() if x.shape[1] < g.shape[1] else torch.mm(g.t(), x)


class _ReluMLPFn(torch.autograd.Function):
    """A ReLU MLP's forward and backward written out: the forward fuses each linear layer with
    its ReLU (`_linear_relu`) and keeps each layer's input and output; the backward masks each
    gradient in place in the tensor it just made (the incoming one is never written), takes
    `_LinearFn`'s input and weight gradients and sums the bias gradients as a matrix-vector
    product (faster than a column sum on a CPU). Under create_graph it recomputes the textbook
    layers and differentiates them, so higher derivatives stay exact.
    Inputs: x, relu_last, then each layer's weight and bias (None without one)."""

    @staticmethod
    def forward(ctx, x, relu_last, *wb):
        n = len(wb) // 2
        hs = [x]
        for i in range(n):
            w, b = wb[2 * i], wb[2 * i + 1]
            if relu_last or i < n - 1:
                hs.append(_linear_relu(hs[-1], w, b))
            else:
                hs.append(torch.addmm(b, hs[-1], w.t()) if b is not None else torch.mm(hs[-1], w.t()))
        ctx.relu_last, ctx.n = relu_last, n
        kept = hs if relu_last else hs[:-1]   # a ReLU's backward reads its output
        ctx.save_for_backward(*kept, *wb)
        return hs[-1]

    @staticmethod
    def backward(ctx, grad):
        n, relu_last = ctx.n, ctx.relu_last
        saved = ctx.saved_tensors
        hs, wb = saved[:n + relu_last], saved[n + relu_last:]
        need = ctx.needs_input_grad
        if torch.is_grad_enabled():                     # create_graph: differentiate the textbook layers
            inputs = [t for t, want in zip((hs[0], *wb), (need[0], *need[2:])) if want]
            with torch.enable_grad():
                out = _relu_mlp_reference(hs[0], wb, relu_last)
            got = iter(torch.autograd.grad(out, inputs, grad, create_graph=True, allow_unused=True))
            grads = [next(got) if want else None for want in (need[0], *need[2:])]
            return (grads[0], None, *grads[1:])
        grads = [None] * len(wb)
        g, owned, ones = grad, False, None
        for i in reversed(range(n)):
            if relu_last or i < n - 1:
                out = hs[i + 1]
                g = (torch.ops.aten.threshold_backward.grad_input(g, out, 0, grad_input=g) if owned
                     else torch.ops.aten.threshold_backward(g, out, 0))
                owned = True
            x, w, b = hs[i], wb[2 * i], wb[2 * i + 1]
            if need[2 + 2 * i]:
                grads[2 * i] = _weight_grad(g, x)
            if b is not None and need[3 + 2 * i]:
                if ones is None:
                    ones = g.new_ones(g.shape[0])
                grads[2 * i + 1] = torch.mv(g.t(), ones)
            if i == 0 and not need[0]:
                break
            g, owned = _input_grad(g, w), True
        return (g if need[0] else None, None, *grads)
