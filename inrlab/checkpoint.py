"""Checkpoint files: one writer (`save_checkpoint`, atomic) and one reader (`read_checkpoint`)
that both `load_checkpoint` and fit()'s resume go through.

A checkpoint holds the model's config and weights, the optimizer, scheduler and sampler
state, the history and the step, so that a resumed fit gives the losses of a run never
interrupted.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .atomic import atomic_write
from .checks import check_input_file
from .errors import InrlabError

FORMAT = "inrlab-checkpoint-1"


def save_checkpoint(path, model, optimizer=None, scheduler=None, history=None, step: int = 0,
                    generator: torch.Generator | None = None, extra: dict | None = None) -> None:
    """Model config + weights, optimizer, scheduler and sampler state, history, step."""
    state = {
        "format": FORMAT,
        "model_config": getattr(model, "config", None),
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
        "generator_state": generator.get_state() if generator is not None else None,
        "history": history.to_dict() if history is not None else None,
        "step": step,
        "extra": extra or {},
    }
    try:
        atomic_write(Path(path), lambda f: torch.save(state, f), binary=True)
    except OSError as e:   # a full disk, a folder gone or made read-only since the fit began
        raise InrlabError(f"checkpoint '{path}' could not be written: {e.strerror or e}") from None


def read_checkpoint(path, what: str = "checkpoint", device="cpu") -> dict:
    """The checkpoint dict at `path`, or one line naming `what` and why there is none."""
    path = check_input_file(path, what, "a checkpoint file")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:
        raise InrlabError(f"could not read checkpoint '{path}': {type(e).__name__}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InrlabError(f"'{path}' is not an inrlab checkpoint")
    return ckpt


def load_weights(model, ckpt: dict, path, problem: str) -> None:
    """The checkpoint's weights into `model`, or one line: the checkpoint's path, `problem`."""
    try:
        model.load_state_dict(ckpt["model_state"])
    except (RuntimeError, KeyError, TypeError, AttributeError):
        raise InrlabError(f"checkpoint '{path}' {problem}") from None


def load_checkpoint(path, device="cpu"):
    """(model rebuilt from its config with the saved weights, the checkpoint dict)."""
    from .models import rebuild

    ckpt = read_checkpoint(path, "checkpoint", device)
    config = ckpt.get("model_config")
    if config is None:
        raise InrlabError(f"checkpoint '{path}' has no model config; load its state_dict by hand")
    damaged = "is damaged: its model config or weights do not rebuild a model"
    try:
        model = rebuild(config).to(device)
    except InrlabError:
        raise
    except (KeyError, TypeError, AttributeError, RuntimeError):
        raise InrlabError(f"checkpoint '{path}' {damaged}") from None
    load_weights(model, ckpt, path, damaged)
    return model, ckpt


def resume_from(path, model, optimizer, scheduler=None, generator=None, scaler=None) -> dict:
    """Load a checkpoint's weights, optimizer, scheduler, sampler generator and gradient scale
    into a fit() about to continue it; return the checkpoint (its step, history, sampler)."""
    ckpt = read_checkpoint(path, "checkpoint to resume")
    load_weights(model, ckpt, path, "does not match this model's parameters")
    if ckpt.get("optimizer_state") is not None:
        optimizer.load_state_dict(ckpt["optimizer_state"])
    if scheduler is not None and ckpt.get("scheduler_state") is not None:
        scheduler.load_state_dict(ckpt["scheduler_state"])
    if generator is not None and ckpt.get("generator_state") is not None:
        generator.set_state(ckpt["generator_state"])
    extra = ckpt.get("extra") or {}
    if scaler is not None and extra.get("scaler"):
        scaler.load_state_dict(extra["scaler"])
    return ckpt
