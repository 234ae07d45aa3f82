"""Linear layers with a backward pass tuned to a coordinate network's shapes."""

from __future__ import annotations

import torch
from torch import nn


class _LinearFn(torch.autograd.Function):
    """x W^T + b whose backward picks the fast kernel for a coordinate network's odd shapes.

    CPU BLAS is slow on the weight gradient grad^T x of a layer with few inputs (K = all
    samples, N = 2) and on a 1-output layer's input gradient (a K = 1 GEMM), so those come as
    (x^T grad)^T and a broadcast multiply (timings in the benchmark). Every op here is
    differentiable, so higher derivatives still work."""

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
