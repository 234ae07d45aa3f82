"""Trials of one shape (seeds of one configuration, or targets on one grid) trained as one stacked model.

Families with batched parts (`batched()`: SIREN, ReLU(+PE), FF, WIRE, Gauss, FINER; the parts an
ensemble runs its members with) stack as one batch of those layers: member k's tensors are
copied into slice k of batched matmuls and run with the family's fused activations, as `fit()`
runs one network. Other pointwise families (and parametrized ones, such as RWF) stack their
parameters along a new leading axis (`torch.func.stack_module_state`) under one `vmap` of the
family's textbook forward (`forward_reference`). Either way the loss is the sum of the members'
MSEs, so each member's gradient is exactly its own fit's; Adam is elementwise, so one Adam over
the stacked tensors takes every member's own step (the same lr, betas and eps as `fit()`). Per
member this is `fit()`'s full-batch run, up to float rounding of the batched matmuls (tested
against separate fits in tests/test_sweep.py). Members may have their own targets (a list of
signals: the octaves of a Perlin study, several images of one size) as long as they share the
coordinates: the targets stack into one (members, N, C) tensor, and each member is evaluated on
its own signal (held-out included).

Only families whose points are independent (`pointwise`) and that offer `forward_reference`
stack; anything else, a mini-batch, or a forward that vmap refuses trains with `fit()`.
SIREN and ReLU(+PE) stacks on a float32 CPU go one step further: their batched layers take a
training step whose gradients are worked out by hand in cache-sized point chunks
(`inrlab.sweep.fused`, the same gradients to float rounding, at a fraction of autograd's
memory traffic). History.config["stacked_with"] says which way a stack ran ("fused",
"batched" or "vmap").
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn

from ..defaults import adam_settings
from ..errors import InrlabError
from ..models.layers import run_batched
from .fused import FusedStep, fusable
from ..train import (History, diverged_message, evaluate, final_ssim, make_optimizer, outputs_diverged_message,
                     resolve_device)


class _Reference(nn.Module):
    """A module whose forward is the wrapped model's textbook formula (vmap-able ops only)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_reference(x)


def can_stack(model, batch_size=None) -> bool:
    return (getattr(model, "pointwise", False) and callable(getattr(model, "forward_reference", None))
            and batch_size is None)


def _stacked_forward(models):
    from torch.func import functional_call, stack_module_state

    params, buffers = stack_module_state([_Reference(m) for m in models])
    base = _Reference(copy.deepcopy(models[0]).to("meta"))  # the shape only; weights come stacked

    def one(p, b, x):
        return functional_call(base, (p, b), (x,))

    return params, buffers, torch.vmap(one, in_dims=(0, 0, None))


class _Batched:
    """The members as one batch of the family's own batched layers (`batched()`: the parts an
    ensemble runs its members with, fused activations and w0 folded as in `fit()`), on the
    shared coordinates, channels first. Member k's tensors are the batched ones at [k]."""

    way = "batched"   # "fused" once `stacked_step` gives it the hand-worked step

    def __init__(self, models):
        parts = models[0].batched()
        G = len(models)
        self.activation = parts.activation
        self.encoding = parts.encoding.batched(G).to(_device(models[0]))
        self.layers = parts.layers(G).to(_device(models[0]))
        self.pairs = [list(zip(_member_tensors(m, self.encoding), self._tensors(), strict=True)) for m in models]
        with torch.no_grad():
            for k, pairs in enumerate(self.pairs):
                for mine, theirs in pairs:
                    if mine.shape != theirs.shape[1:]:
                        raise ValueError("the member's tensors do not line up with its batched layers")
                    theirs[k].copy_(mine)

    def _tensors(self):
        return [*self.layers.parameters(), *(self.encoding.get_buffer(n) for n in self.encoding.per_member)]

    def leaves(self):
        return list(self.layers.parameters())

    def __call__(self, coords):
        x = coords.t().unsqueeze(0).expand(len(self.pairs), *coords.t().shape)
        return run_batched(self.encoding(x, None), self.layers, self.activation, None)   # (G, C, N)

    @torch.no_grad()
    def write_back(self):
        for k, pairs in enumerate(self.pairs):
            for mine, theirs in pairs:
                mine.copy_(theirs[k])


def _device(model):
    return next(model.parameters()).device


def _member_tensors(model, encoding):
    return [*model.parameters(), *(model.encoding.get_buffer(n) for n in encoding.per_member)]


def _batchable(model) -> bool:
    """A family with batched parts whose parameters are its plain tensors (no parametrization,
    such as random weight factorization, and no output map such as FF's sigmoid)."""
    from torch.nn.utils import parametrize

    if not callable(getattr(model, "batched", None)):
        return False
    if any(parametrize.is_parametrized(m) for m in model.modules()):
        return False
    try:
        model.batched()
    except ValueError:      # a variant the batched parts do not run (ff with a sigmoid)
        return False
    return True


class _Vmapped:
    """The members' textbook forwards (`forward_reference`) under one vmap, outputs (G, N, C)."""

    way = "vmap"

    def __init__(self, models):
        self.models = models
        self.params, self.buffers, self.forward = _stacked_forward(models)

    def leaves(self):
        return [p.requires_grad_() for p in self.params.values()]

    def __call__(self, coords):
        return self.forward(self.params, self.buffers, coords)

    @torch.no_grad()
    def write_back(self):
        for i, m in enumerate(self.models):
            named = dict(_Reference(m).named_parameters())
            for k, v in self.params.items():
                named[k].copy_(v[i])


def _member_signals(signal, n: int) -> list:
    """One Signal per member: `signal` itself for all, or the list given (checked: n signals on
    the same coordinates, with targets of one shape)."""
    if not isinstance(signal, (list, tuple)):
        return [signal] * n
    if len(signal) != n:
        raise InrlabError(f"fit_stacked: 'signal' lists {len(signal)} signals for {n} models (one per model)")
    from ..signals import Signal

    for i, s in enumerate(signal):
        if not isinstance(s, Signal):
            raise InrlabError(f"fit_stacked: 'signal[{i}]' must be an inrlab Signal, got {type(s).__name__}")
    first = signal[0]
    for i, s in enumerate(signal[1:], 1):
        why = grid_mismatch(s, first)
        if why:
            raise InrlabError(f"fit_stacked: 'signal[{i}]' ({s.name}) {why} 'signal[0]' ({first.name})")
    return list(signal)


def grid_mismatch(s, first) -> str | None:
    """Why signal `s` cannot stack with `first` (other coordinates, or targets of another
    shape), or None when they share one coordinate grid and target shape."""
    if s is first:
        return None
    if s.coords.shape != first.coords.shape or not torch.equal(s.coords, first.coords):
        return "has other coordinates than"   # stacked members share one coordinate grid
    if s.values.shape != first.values.shape:
        return f"has targets of shape {tuple(s.values.shape)}, unlike those {tuple(first.values.shape)} of"
    return None


def stacked_step(models: list, data: list, lr: float, adam: dict):
    """(step, stack): `step()` takes one full-batch Adam step of every member (each on its own
    signal of `data`, on the models' device) and returns the members' MSEs; `stack` holds the
    stacked tensors (`write_back()` copies them into the models)."""
    batched = all(_batchable(m) for m in models)
    stack = _Batched(models) if batched else _Vmapped(models)
    opt = make_optimizer(stack.leaves(), lr, adam["betas"], adam["eps"], device=data[0].coords.device)
    coords = data[0].coords
    # one target for every member broadcasts; own targets stack to (members, N, C); the
    # batched layers' outputs are channels first, (members, C, N)
    shared = all(d is data[0] for d in data)
    target = data[0].values if shared else torch.stack([d.values for d in data])
    if batched:
        target = target.transpose(-1, -2)

    if batched and fusable(stack, coords):   # SIREN or ReLU on a CPU: the hand-worked step
        stack.way = "fused"
        fused = FusedStep(stack, coords, target.transpose(-1, -2))

        def step() -> torch.Tensor:
            per_member = fused()
            opt.step()
            return per_member

        return step, stack

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        per_member = ((stack(coords).float() - target) ** 2).mean(dim=(1, 2))
        per_member.sum().backward()
        opt.step()
        return per_member.detach()

    return step, stack


def fit_stacked(models: list, signal, steps: int, lr: float | None = None, *, device="auto") -> list[History]:
    """Train `models` (same family and shape, any seeds) as one stacked model for `steps`
    full-batch Adam steps; each model ends with its trained weights and gets a History
    (per-step losses, final fit / held-out PSNR, SSIM; seconds are the stack's share per member).

    signal: one Signal every member fits, or a list with each member's own Signal (same
    coordinates, targets of one shape); each History is then evaluated on its member's signal.
    A member whose loss stops being finite does not stop the others (members share no
    gradient); its History keeps the finite steps, no evaluation, and `diverged` says at which
    step, in the words of fit()'s TrainingDiverged."""
    members = _member_signals(signal, len(models))
    shared = all(s is members[0] for s in members)
    dev = resolve_device(device)
    models = [m.to(dev) for m in models]
    data = [members[0].to(dev)] * len(models) if shared else [s.to(dev) for s in members]
    own = adam_settings(models[0])
    lr_from = "family" if lr is None else "argument"
    lr = own["lr"] if lr is None else float(lr)
    step, stack = stacked_step(models, data, lr, own)
    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        losses.append(step())
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = (time.perf_counter() - t0) / len(models)
    losses = torch.stack(losses).cpu().t().tolist() if losses else [[] for _ in models]
    histories = []
    stack.write_back()   # each member's trained weights, once, after training
    for i, (m, d) in enumerate(zip(models, data)):
        bad = next((s for s, loss in enumerate(losses[i], 1) if not math.isfinite(loss)), None)
        h = History(config={"model": getattr(m, "config", None), "signal": d.name, "steps": steps,
                            "lr": lr, "betas": list(own["betas"]), "eps": own["eps"], "lr_from": lr_from,
                            "batch_size": None, "seed": (getattr(m, "config", None) or {}).get("seed"),
                            "device": str(dev), "stacked": len(models),
                            "stacked_with": stack.way})
        if bad is not None:   # as fit(): the finite steps before it, no evaluation, and why
            h.step, h.loss = list(range(1, bad)), losses[i][:bad - 1]
            h.diverged = diverged_message(losses[i][bad - 1], bad, lr)
            histories.append(h)
            continue
        h.step = list(range(1, steps + 1))
        h.loss = losses[i]
        fit_psnr = evaluate(m, d)
        if math.isnan(fit_psnr):   # finite losses, but the last update broke this member's weights
            h.diverged = outputs_diverged_message(steps, lr)
            histories.append(h)
            continue
        h.eval_step, h.seconds = [steps], [seconds]
        h.psnr = [fit_psnr]
        h.psnr_heldout = [evaluate(m, d.heldout) if d.heldout is not None else None]
        h.ssim, h.ssim_heldout, h.ssim_note = final_ssim(m, d)
        histories.append(h)
    return histories
