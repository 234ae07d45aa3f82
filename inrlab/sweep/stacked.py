"""Trials of one shape (seeds of one configuration, or targets on one grid) trained as one stacked model.

The members' parameters are stacked along a new leading axis (`torch.func.stack_module_state`)
and one `vmap` of the family's textbook forward (`forward_reference`) runs all of them at
once. The loss is the sum of the members' MSEs, so each member's gradient is exactly its own
fit's; Adam is elementwise, so one Adam over the stacked tensors takes every member's own step
(the same lr, betas and eps as `fit()`). Per member this is `fit()`'s full-batch run, up to
float rounding of the batched matmuls (tested against separate fits in tests/test_sweep.py).
Members may have their own targets (a list of signals: the octaves of a Perlin study, several
images of one size) as long as they share the coordinates: the targets stack into one
(members, N, C) tensor, and each member is evaluated on its own signal (held-out included).

Only families whose points are independent (`pointwise`) and that offer `forward_reference`
stack; anything else, a mini-batch, or a forward that vmap refuses trains with `fit()`.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from ..defaults import adam_settings
from ..errors import InrlabError
from ..train import History, evaluate, final_ssim, make_optimizer, resolve_device


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
        if s.coords.shape != first.coords.shape or not torch.equal(s.coords, first.coords):
            raise InrlabError(f"fit_stacked: 'signal[{i}]' ({s.name}) has other coordinates than "
                              f"'signal[0]' ({first.name}); stacked members share one coordinate grid")
        if s.values.shape != first.values.shape:
            raise InrlabError(f"fit_stacked: 'signal[{i}]' ({s.name}) has targets of shape "
                              f"{tuple(s.values.shape)}, 'signal[0]' {tuple(first.values.shape)}")
    return list(signal)


def fit_stacked(models: list, signal, steps: int, lr: float | None = None, *, device="auto") -> list[History]:
    """Train `models` (same family and shape, any seeds) as one stacked model for `steps`
    full-batch Adam steps; each model ends with its trained weights and gets a History
    (per-step losses, final fit / held-out PSNR, SSIM; seconds are the stack's share per member).

    signal: one Signal every member fits, or a list with each member's own Signal (same
    coordinates, targets of one shape); each History is then evaluated on its member's signal."""
    members = _member_signals(signal, len(models))
    shared = all(s is members[0] for s in members)
    dev = resolve_device(device)
    models = [m.to(dev) for m in models]
    data = [members[0].to(dev)] * len(models) if shared else [s.to(dev) for s in members]
    own = adam_settings(models[0])
    lr_from = "family" if lr is None else "argument"
    lr = own["lr"] if lr is None else float(lr)
    params, buffers, forward = _stacked_forward(models)
    leaves = [p.requires_grad_() for p in params.values()]
    opt = make_optimizer(leaves, lr, own["betas"], own["eps"], device=dev)
    coords = data[0].coords
    # one target for every member broadcasts; own targets stack to (members, N, C)
    target = data[0].values if shared else torch.stack([s.values for s in data])
    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        pred = forward(params, buffers, coords)                 # (members, N, C)
        per_member = ((pred.float() - target) ** 2).mean(dim=(1, 2))
        per_member.sum().backward()
        losses.append(per_member.detach())
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = (time.perf_counter() - t0) / len(models)
    losses = torch.stack(losses).cpu().t().tolist() if losses else [[] for _ in models]
    histories = []
    with torch.no_grad():
        for i, m in enumerate(models):  # write each member's weights back (once, after training)
            named = dict(_Reference(m).named_parameters())
            for k, v in params.items():
                named[k].copy_(v[i])
    for i, (m, d) in enumerate(zip(models, data)):
        h = History(config={"model": getattr(m, "config", None), "signal": d.name, "steps": steps,
                            "lr": lr, "betas": list(own["betas"]), "eps": own["eps"], "lr_from": lr_from,
                            "batch_size": None, "seed": (getattr(m, "config", None) or {}).get("seed"),
                            "device": str(dev), "stacked": len(models)})
        h.step = list(range(1, steps + 1))
        h.loss = losses[i]
        h.eval_step, h.seconds = [steps], [seconds]
        h.psnr = [evaluate(m, d)]
        h.psnr_heldout = [evaluate(m, d.heldout) if d.heldout is not None else None]
        h.ssim, h.ssim_heldout, h.ssim_note = final_ssim(m, d)
        histories.append(h)
    return histories
