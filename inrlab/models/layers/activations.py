"""Elementwise activations of the families, each one autograd function that allocates one
fresh tensor per direction (a CPU page-faults in every fresh activation-sized tensor, so eager
autograd's extra temporaries cost more than the arithmetic; timings in the benchmark). Under
create_graph every backward uses out-of-place ops, so higher derivatives stay exact. Under
autocast or torch.compile the textbook formula runs instead (`_textbook_ops`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .fused import _textbook_ops

# Gaussian windows are floored at exp(-EXP_FLOOR): no product of them is a subnormal float
EXP_FLOOR = 30.0


class _SineFn(torch.autograd.Function):
    """sin(w0 * z): the forward writes w0*z once and takes its sine in place; the backward
    does the same with cos and multiplies the incoming gradient in."""

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


class _GaussFn(torch.autograd.Function):
    """exp(-min((s z)^2, EXP_FLOOR)): s z, squared, clamped, negated and exponentiated in
    place; backward -2 s^2 z y g, 0 where floored."""

    @staticmethod
    def forward(ctx, z, s):
        y = torch.mul(z, s).square_().clamp_(max=EXP_FLOOR).neg_().exp_()
        ctx.s = s
        ctx.save_for_backward(z, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors
        c = -2.0 * ctx.s ** 2
        if torch.is_grad_enabled():
            return grad * _gauss_reference(z, ctx.s) * z * c * ((z * ctx.s) ** 2 < EXP_FLOOR), None
        g = torch.mul(z, c).mul_(y).mul_(grad)
        return g.masked_fill_(y <= math.exp(-EXP_FLOOR), 0.0), None


def _gauss_reference(z, s):
    return torch.exp(-((z * s) ** 2).clamp(max=EXP_FLOOR))


def gauss(z: torch.Tensor, scale: float) -> torch.Tensor:
    """exp(-(scale z)^2) floored at exp(-EXP_FLOOR), equal to `_gauss_reference` forward and
    backward."""
    if _textbook_ops(z):
        return _gauss_reference(z, scale)
    return _GaussFn.apply(z, float(scale))


class _FinerFn(torch.autograd.Function):
    """sin(w0 (|z| + 1) z) with one fresh tensor forward and two backward (the phase's cosine
    and its derivative)."""

    @staticmethod
    def forward(ctx, z, w0, scale_grad):
        ctx.w0, ctx.scale_grad = w0, scale_grad
        ctx.save_for_backward(z)
        return z.abs().add_(1).mul_(z).mul_(w0).sin_()

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        w0, c = ctx.w0, (2.0 if ctx.scale_grad else 1.0)
        if torch.is_grad_enabled():   # the scale stays a constant here too unless scale_grad
            a = z.abs() if ctx.scale_grad else z.abs().detach()
            return grad * torch.cos(w0 * (a + 1) * z) * (w0 * (c * a + 1)), None, None
        a = z.abs()
        g = torch.add(a, 1).mul_(z).mul_(w0).cos_()
        g.mul_(a.mul_(c).add_(1).mul_(w0)).mul_(grad)
        return g, None, None


def finer(z: torch.Tensor, w0: float, scale_grad: bool = False) -> torch.Tensor:
    """sin(w0 (|z| + 1) z), equal to `_finer_reference` forward and backward."""
    if _textbook_ops(z):
        return _finer_reference(z, w0, scale_grad)
    return _FinerFn.apply(z, float(w0), bool(scale_grad))


def _finer_reference(z, w0, scale_grad):
    scale = z.abs() + 1
    return torch.sin(w0 * (scale if scale_grad else scale.detach()) * z)


def gabor(a: torch.Tensor, b: torch.Tensor | None, w0: float, scale: float) -> torch.Tensor:
    """exp(j w0 z - |scale z|^2) of z = a + jb (b None: z real) as [real part, imaginary part]
    concatenated along dim 1 (the channels, of (N, C) rows or (G, C, n) batches)."""
    r2 = a * a if b is None else a * a + b * b
    log_m = r2 * -(scale * scale) if b is None else r2 * -(scale * scale) - w0 * b
    m = torch.exp(log_m.clamp(min=-EXP_FLOOR))
    phase = a * w0
    return torch.cat([m * torch.cos(phase), m * torch.sin(phase)], dim=1)


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
    from ...errors import InrlabError
    raise InrlabError(f"unknown activation '{name}' (choose relu, leaky_relu or sine)")

