"""How fit() is set up: its arguments checked (each bad one named in one line), the device,
Adam with the model family's defaults, the learning-rate schedule, torch.compile and autocast.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .checks import (COMPILE_MODES, check_callbacks, check_device, check_number, check_output_file,
                     check_seed, parse_device, refuse_special_file)
from .defaults import adam_settings
from .errors import InrlabError
from .signals import Signal


# --------------------------------------------------------------------------- device

def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; anything else is checked to exist here."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise InrlabError(f"device must be a name such as 'cpu' or 'cuda:0', got {device!r}")
    return check_device(parse_device(device), device)

# --------------------------------------------------------------------------- schedules

def make_schedule(schedule, steps: int) -> Callable[[int], float] | None:
    """A learning-rate factor per step. None/'constant'; 'cosine' (to 0 at `steps`);
    'step:EVERY:FACTOR' (multiply by FACTOR every EVERY steps, e.g. the multi-head paper's
    'step:50:0.9048' = x exp(-0.1) every 50 epochs); or any callable step -> factor."""
    if schedule in (None, "constant", "none"):
        return None
    if callable(schedule):
        return schedule
    if schedule == "cosine":
        return lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1)))
    if isinstance(schedule, str) and schedule.startswith("step:"):
        try:
            _, every, factor = schedule.split(":")
            every, factor = int(every), float(factor)
            assert every > 0 and factor > 0
        except Exception:
            raise InrlabError(f"schedule '{schedule}' must read 'step:EVERY:FACTOR'") from None
        return lambda s: factor ** (s // every)
    raise InrlabError(f"unknown schedule {schedule!r} (use constant, cosine, 'step:EVERY:FACTOR')")

# --------------------------------------------------------------------------- arguments

def _check_compatible(model, signal: Signal):
    if not isinstance(signal, Signal):
        raise InrlabError(f"fit() needs an inrlab Signal, got {type(signal).__name__}")
    d_in, d_out = getattr(model, "dim_in", None), getattr(model, "dim_out", None)
    if d_in is not None and d_in != signal.dim_in:
        raise InrlabError(f"model takes {d_in}-D coordinates but signal '{signal.name}' is "
                          f"{signal.dim_in}-D")
    if d_out is not None and d_out != signal.channels:
        raise InrlabError(f"model outputs {d_out} channels but signal '{signal.name}' has "
                          f"{signal.channels}")
    check = getattr(model, "check_signal", None)
    if callable(check):  # families that split the domain refuse cells the signal leaves empty
        check(signal)


def _positive_int(name, v, allow_zero=False):
    if isinstance(v, bool) or not isinstance(v, int) or v < (0 if allow_zero else 1):
        raise InrlabError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                          f"integer, got {v!r}")

def check_fit_arguments(model, signal, steps, lr, betas, eps, batch_size, seed, callbacks,
                        callback_every, eval_every, target_psnr, checkpoint, checkpoint_every,
                        resume, max_memory, amp, compile) -> tuple[dict, int, list]:
    """fit()'s arguments checked, each bad one named in one line; returns the Adam settings
    that run (lr, betas, eps: the family's where None; lr_from: 'family' | 'argument'), the
    seed as an int and the callbacks as a list."""
    if not isinstance(model, torch.nn.Module):
        raise InrlabError(f"fit(): model must be a torch.nn.Module (e.g. models.build('siren', "
                          f"signal=...)), got {type(model).__name__}")
    _positive_int("steps", steps)
    adam = _adam(model, lr, betas, eps)
    _check_compatible(model, signal)
    seed = check_seed(seed)
    if batch_size is not None:
        _positive_int("batch_size", batch_size)
    _positive_int("callback_every", callback_every)
    if eval_every is not None:
        _positive_int("eval_every", eval_every)
    callbacks = check_callbacks(callbacks)
    check_number("target_psnr", target_psnr)
    check_number("max_memory", max_memory)
    if checkpoint_every is not None:
        _positive_int("checkpoint_every", checkpoint_every)
        if checkpoint is None:
            raise InrlabError(f"checkpoint_every={checkpoint_every} needs checkpoint=PATH to write to")
    if checkpoint is not None:
        check_output_file(checkpoint, "checkpoint")
    if resume is not None:
        refuse_special_file(resume, "checkpoint to resume")
    if amp not in (None, "bf16", "fp16"):
        raise InrlabError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if not isinstance(compile, (bool, str)) or isinstance(compile, str) and compile not in COMPILE_MODES:
        raise InrlabError(f"compile must be True, False or a torch.compile mode "
                          f"({', '.join(COMPILE_MODES)}), got {compile!r}")
    return adam, seed, callbacks


def _adam(model, lr, betas, eps) -> dict:
    """Adam's lr, betas and eps, the model family's own where None, checked."""
    own = adam_settings(model)
    lr_from = "family" if lr is None else "argument"
    lr = own["lr"] if lr is None else lr
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0):
        raise InrlabError(f"learning rate must be a positive number, got {lr!r}")
    betas = own["betas"] if betas is None else betas
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise InrlabError(f"betas must be two numbers in [0, 1), got {betas!r}")
    eps = own["eps"] if eps is None else eps
    if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and math.isfinite(eps) and eps >= 0):
        raise InrlabError(f"eps must be a non-negative number, got {eps!r}")
    return {"lr": lr, "betas": [float(betas[0]), float(betas[1])], "eps": eps, "lr_from": lr_from}


def make_optimizer(model, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, fused: bool | None = None,
                   device: torch.device | None = None) -> torch.optim.Adam:
    """fit()'s Adam over a model's parameters (or a list of tensors): fused on CPU and CUDA unless
    told not (or torch cannot here)."""
    if fused is None:
        fused = device is not None and device.type in ("cpu", "cuda")
    params = list(model.parameters()) if isinstance(model, torch.nn.Module) else list(model)
    try:
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps, fused=fused)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps)


def compiled(model, compile: bool | str):
    """The model's forward through torch.compile (in `compile`'s mode), or None for eager."""
    if not compile:
        return None
    return torch.compile(model, **({"mode": compile} if isinstance(compile, str) else {}))


def precision(amp: str | None, dev: torch.device):
    """(autocast context factory, fp16 gradient scaler or None) for `amp`."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = torch.amp.GradScaler(dev.type) if amp == "fp16" else None
    return (lambda: torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None)), scaler
