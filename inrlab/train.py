"""One `fit()` for every model: Adam on the MSE, full batch or mini-batch, seeded, with
callbacks, held-out evaluation and checkpoints that resume exactly.

The loop knows nothing about the model family. Metrics come from the model's outputs: fit PSNR
on the training samples and held-out PSNR on `signal.heldout`, both clipped to the signal's
value range (see inrlab.metrics).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Callable, Iterable

import torch

from .callbacks import Checkpoint, Every, Evaluate, ProgressBar, TargetPSNR
from .checkpoint import load_checkpoint, resume_from, save_checkpoint
from .checks import check_host_memory, check_training_memory
from .fitsetup import (check_fit_arguments, compiled, make_optimizer, make_schedule, precision,
                       resolve_device)
from .errors import InrlabError, TrainingDiverged
from .history import History
from .memory import plan_chunks
from .metrics import SSIM_MIN_SIDE, psnr, psnr_from_mse, ssim
from .signals import Signal, fingerprint

__all__ = ["History", "FitState", "fit", "make_step", "make_optimizer", "make_schedule",
           "backward_in_pieces", "evaluate", "final_ssim", "resolve_device", "load_checkpoint",
           "save_checkpoint"]


# --------------------------------------------------------------------------- metrics

def _image_ssim(model, signal: Signal) -> tuple[float | None, str | None]:
    """SSIM of the model on `signal`'s image grid, or (None, why there is none)."""
    grid = signal.image_grid()
    if grid is None:
        return None, f"'{signal.name}' has no image grid (SSIM is an image metric)"
    index, (h, w) = grid
    if min(h, w) < SSIM_MIN_SIDE:
        return None, f"'{signal.name}' is {h}x{w}, smaller than SSIM's {SSIM_MIN_SIDE}-pixel window"
    coords, values = signal.coords, signal.values
    if index is not None:
        index = index.to(coords.device)
        coords, values = coords.index_select(0, index), values.index_select(0, index)
    with torch.no_grad():
        pred = model.predict(coords) if hasattr(model, "predict") else model(coords)
    grid_of = lambda v: v.detach().float().cpu().numpy().reshape(h, w, -1)
    return ssim(grid_of(pred), grid_of(values), signal.value_range), None


def final_ssim(model, signal: Signal) -> tuple[float | None, float | None, str | None]:
    """(SSIM on the training image, SSIM on the held-out image grid, a note on any None).

    scikit-image's structural_similarity (7 x 7 uniform window, channels averaged) with
    data_range = the signal's value range (hi - lo: 1 for [0, 1] images), predictions clipped
    to that range (`metrics.ssim`). The held-out grid is the held-out image (resolution split)
    or, for the every-other-pixel split, the held-out pixels odd along both axes, which form a
    complete image (`Signal.image_grid`)."""
    fit_ssim, note = _image_ssim(model, signal)
    held, held_note = (None, None)
    if signal.heldout is not None:
        held, held_note = _image_ssim(model, signal.heldout)
    notes = "; ".join(n for n in (note, held_note and f"held-out: {held_note}") if n)
    return fit_ssim, held, notes or None


@torch.no_grad()
def evaluate(model, signal: Signal, chunk: int = 1 << 18) -> float:
    """Fit PSNR of `model` on all of `signal`'s samples (clipped, signal's value range)."""
    pred = model.predict(signal.coords, chunk) if hasattr(model, "predict") else model(signal.coords)
    return psnr(pred, signal.values, signal.value_range)


def flush_every_step(device: torch.device) -> bool:
    """Whether fit() moves each step's loss to the host at once (CPU, where that costs nothing)
    or keeps the losses on the device until an evaluation, callback, checkpoint or the end
    (CUDA, MPS: no host synchronisation per step)."""
    return device.type not in ("cuda", "mps")


def _synchronize(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


# --------------------------------------------------------------------------- fit

def fit(model: torch.nn.Module, signal: Signal, steps: int = 1000, lr: float | None = None, *,
        betas: tuple[float, float] | None = None, eps: float | None = None,
        batch_size: int | None = None, schedule=None, seed: int = 0, device="auto",
        progress: bool = True, callbacks: Iterable[Callable[[FitState], object]] = (),
        callback_every: int = 10, eval_every: int | None = None,
        target_psnr: float | None = None, checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None, resume: str | os.PathLike | None = None,
        fused: bool | None = None, max_memory: float | None = None,
        compile: bool | str = False, amp: str | None = None) -> History:
    """Train `model` to reproduce `signal`; return its History.

    steps: total optimizer steps (a resumed run continues up to this number).
    lr, betas, eps: Adam's; None takes the model family's own default (`defaults.adam_settings`:
    the lr its recorded sweep chose, the betas / eps its paper trains with, else torch's).
    History.config records the values that ran ('lr', 'betas', 'eps') and 'lr_from' ('family'
    or 'argument').
    batch_size: None for full batch; else random mini-batches drawn without replacement per
    epoch from a generator seeded by `seed`. eval_every: how often to record PSNR (default
    about 50 points over the run). target_psnr: stop once fit PSNR reaches it. callbacks:
    called with a FitState every `callback_every` steps; a callback returning True stops
    training (see inrlab.callbacks). checkpoint: path written every `checkpoint_every` steps
    and at the end; resume: a checkpoint to continue from (model weights, optimizer, schedule,
    sampler, history).
    max_memory: bytes a training step may use for activations (default: half the memory
    available on the device); a full batch that needs more is split into chunks whose gradients
    add up to the same full-batch gradient, and a step that cannot fit at all is refused with
    the amount it needed. On CPU a pointwise model's (MLP's) batch is also split into pieces of
    at most CPU_CHUNK_BYTES of activations when it has more than CPU_SPLIT_ABOVE, which is faster
    for the same gradient (inrlab.memory).
    compile: True (or a torch.compile mode such as 'reduce-overhead', which uses CUDA graphs)
    trains through torch.compile; the first steps then include compilation (tens of seconds).
    amp: 'bf16' or 'fp16' runs forward and loss under torch.autocast in that precision
    (fp16 with a gradient scaler, whose scale is checkpointed with the sampler state); weights,
    optimizer and evaluation stay fp32.
    """
    adam, seed, callbacks = check_fit_arguments(
        model, signal, steps, lr, betas, eps, batch_size, seed, callbacks, callback_every,
        eval_every, target_psnr, checkpoint, checkpoint_every, resume, max_memory, amp, compile)
    dev = resolve_device(device)
    check_training_memory(model, dev)
    # beside the signal itself, the host holds per sample about 150 bytes a channel at the
    # evaluations (the prediction, float64 error terms, SSIM's filtered images) and while a
    # step's point chunks run: refused here rather than killed by the kernel without a word
    check_host_memory(signal.n * signal.channels * 150, f"fitting {signal.n:,} samples x {signal.channels} channels",
                      "use a smaller size (or a shorter clip)")
    model, data = model.to(dev), signal.to(dev)
    autocast, scaler = precision(amp, dev)
    sampler = Sampler(data, batch_size, seed)
    optimizer = make_optimizer(model, adam["lr"], adam["betas"], adam["eps"], fused, dev)
    factor = make_schedule(schedule, steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor) if factor else None
    history = History(config={
        "model": getattr(model, "config", None), "signal": signal.name,
        "signal_fingerprint": fingerprint(signal), "steps": steps, **adam, "batch_size": batch_size,
        "schedule": schedule if isinstance(schedule, (str, type(None))) else "custom",
        "seed": seed, "device": str(dev), "compile": compile, "amp": amp})
    state = FitState(0, model, signal, history, optimizer, steps=steps, data=data,
                     scheduler=scheduler, sampler=sampler, scaler=scaler, checkpoint=checkpoint,
                     flush_each=flush_every_step(dev) or target_psnr is not None)
    if resume is not None:
        _resume(state, resume)
    if state.step >= steps:
        return state.history
    chunks = plan_chunks(model, sampler.first_batch(), dev, max_memory)
    state.step_fn = make_step(model, optimizer, forward=compiled(model, compile), chunks=chunks,
                              autocast=autocast, scaler=scaler, scheduler=scheduler,
                              on_loss=state.record_loss)
    every_eval = max(1, steps // 50) if eval_every is None else eval_every
    run_callbacks([Evaluate(every_eval), *([TargetPSNR(target_psnr)] if target_psnr is not None else []),
                   *([ProgressBar(steps, state.step)] if progress else []),
                   *(Every(cb, callback_every) for cb in callbacks),
                   *([Checkpoint(checkpoint, checkpoint_every)] if checkpoint is not None else [])],
                  state)
    return state.history


def run_callbacks(callbacks: list, state: FitState) -> None:
    """The loop: a step, then every callback (any returning True stops training); then the
    final evaluation and SSIM; then every callback once more with `state.finished` set."""
    try:
        for state.step in range(state.step + 1, state.steps + 1):
            state.advance()
            if any([cb(state) is True for cb in callbacks]):  # a list: every callback runs
                break
        state.finish()
    except BaseException as e:
        state.error = e
        raise
    finally:
        state.finished = True
        for cb in callbacks:
            cb(state)


# --------------------------------------------------------------------------- the run

def diverged_message(loss: float, step: int, lr: float) -> str:
    """What a fit says when its loss stops being finite (fit's TrainingDiverged, a stacked
    member's History.diverged)."""
    return f"loss became {loss} at step {step} with lr={lr:g}: lower the learning rate"


def outputs_diverged_message(step: int, lr: float) -> str:
    """What a fit says when every loss was finite but the model's outputs after the update of
    step `step` are not (the last update diverged, which no later loss shows)."""
    return (f"the model's outputs are not finite after step {step} with lr={lr:g} (its last update "
            f"diverged): lower the learning rate")


class FitState:
    """What a callback sees: `step`, `steps`, `model`, `signal`, `history`, `optimizer`; after
    training `finished` (and `error` if it raised). Its methods act on the run: `flush()`
    (losses to the history), `measure()` (an evaluation at this step, once), `save(path)`."""

    def __init__(self, step, model, signal, history, optimizer, *, steps=0, data=None,
                 scheduler=None, sampler=None, scaler=None, checkpoint=None, flush_each=True):
        self.step, self.model, self.signal, self.history, self.optimizer = (
            step, model, signal, history, optimizer)
        self.steps, self.data, self.scheduler, self.sampler, self.scaler = (
            steps, data, scheduler, sampler, scaler)
        self.checkpoint, self.flush_each = checkpoint, flush_each
        self.finished, self.error, self.step_fn = False, None, None
        self.pred = self.target = None      # this step's outputs (before its update) and batch
        self.pending: list[torch.Tensor] = []   # losses since the last flush, on the device
        self.train_seconds = history.seconds[-1] if history.seconds else 0.0
        self.t0 = None                      # when the training clock started (None: stopped)
        self.last_saved = 0

    def advance(self) -> None:
        """One training step; the clock runs from its start to the next flush."""
        if self.t0 is None:
            self.t0 = time.perf_counter()
        coords, self.target = self.sampler()
        _, self.pred = self.step_fn(coords, self.target)
        if self.flush_each:
            self.clock()

    def record_loss(self, loss: torch.Tensor) -> None:
        """A step's loss, before its update: kept on the device, or checked at once."""
        self.pending.append(torch.as_tensor(loss, device=self.data.coords.device).detach())
        if self.flush_each:
            self.drain()  # a non-finite loss raises before the update changes the weights

    def clock(self) -> None:
        """Add the training seconds since t0, after waiting for the device."""
        if self.t0 is not None:
            _synchronize(self.data.coords.device)
            self.train_seconds += time.perf_counter() - self.t0
            self.t0 = None

    def drain(self) -> None:
        """Pending losses to the host in one transfer and into history; the first non-finite
        one raises TrainingDiverged, with only the finite steps before it recorded."""
        if not self.pending:
            return
        values = torch.stack(self.pending).tolist()
        first = self.step - len(self.pending) + 1
        self.pending.clear()
        for s, loss in enumerate(values, first):
            if not math.isfinite(loss):
                raise TrainingDiverged(diverged_message(loss, s, self.history.config["lr"]) + self._kept(),
                                       history=self.history)
            self.history.step.append(s)
            self.history.loss.append(loss)

    def _kept(self) -> str:
        """What a TrainingDiverged adds about the checkpoint that survives it."""
        if self.checkpoint is None or self.last_saved <= 0:
            return ""
        return f"; the last good checkpoint (step {self.last_saved}) is kept at '{self.checkpoint}'"

    def flush(self) -> None:
        self.clock()
        self.drain()

    def measured(self) -> bool:
        """Whether this step has its evaluation."""
        return bool(self.history.eval_step) and self.history.eval_step[-1] == self.step

    def measure(self) -> None:
        """Fit and held-out PSNR at this step (once) and the training seconds so far."""
        if self.measured():
            return
        self.flush()
        h, data = self.history, self.data
        fit_psnr = evaluate(self.model, data)
        if math.isnan(fit_psnr) and self.step >= self.steps:
            # every loss was finite, but the last update broke the weights, which no later loss
            # shows (earlier, the next step's loss names the step, as drain() does)
            raise TrainingDiverged(outputs_diverged_message(self.step, self.history.config["lr"]) + self._kept(),
                                   history=self.history)
        h.eval_step.append(self.step)
        h.psnr.append(fit_psnr)
        h.psnr_heldout.append(evaluate(self.model, data.heldout) if data.heldout is not None else None)
        h.seconds.append(self.train_seconds)

    def batch_psnr(self) -> float | None:
        """PSNR of this step's outputs on a full batch (None for a mini-batch)."""
        if not self.sampler.full_batch:
            return None
        err = self.pred.detach().clamp(*self.data.value_range) - self.target
        return psnr_from_mse(float(torch.mean(err ** 2)), self.data.data_range)

    def finish(self) -> None:
        """After the last step: its evaluation, unless one ran at that step, and SSIM."""
        self.measure()
        self.history.ssim, self.history.ssim_heldout, self.history.ssim_note = final_ssim(
            self.model, self.data)

    def save(self, path) -> None:
        self.flush()  # never checkpoint before the losses up to here are known to be finite
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, self.history, self.step,
                        self.sampler.gen, extra=self.sampler.state_dict(self.scaler))
        self.last_saved = self.step


class Sampler:
    """Each step's batch: the whole signal, or mini-batches drawn without replacement per
    epoch from a generator seeded by `seed` (its state and the epoch's order checkpointed)."""

    def __init__(self, data: Signal, batch_size: int | None, seed: int):
        self.data, self.batch_size = data, batch_size
        self.full_batch = batch_size is None or batch_size >= data.n
        self.gen = torch.Generator(device="cpu")
        self.gen.manual_seed(int(seed))
        self.perm, self.pos = None, 0

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        data = self.data
        if self.full_batch:
            return data.coords, data.values
        if self.perm is None or self.pos + self.batch_size > data.n:
            self.perm, self.pos = torch.randperm(data.n, generator=self.gen).to(data.coords.device), 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return data.coords[idx], data.values[idx]

    def first_batch(self) -> torch.Tensor:
        """Coordinates of a batch's size, for memory planning."""
        return self.data.coords if self.full_batch else self.data.coords[:self.batch_size]

    def state_dict(self, scaler=None) -> dict:
        return {"perm": self.perm.cpu() if self.perm is not None else None, "pos": self.pos,
                "scaler": scaler.state_dict() if scaler is not None else None}

    def load_state_dict(self, extra: dict) -> None:
        if extra.get("perm") is not None:
            self.perm, self.pos = extra["perm"].to(self.data.coords.device), int(extra["pos"])


def make_step(model, optimizer, *, forward=None, chunks: int = 1, autocast=contextlib.nullcontext,
              scaler=None, scheduler=None, on_loss=None):
    """fit()'s training step as `step(coords, target) -> (loss, outputs)`: forward (through
    `forward`, a compiled model say, under `autocast`), MSE, backward (in `chunks` pieces whose
    gradients add up to the whole batch's), `on_loss(loss)` before the update, then Adam (through
    the fp16 `scaler` if any) and the `scheduler`. The benchmark times this same function."""
    forward = model if forward is None else forward  # a compiled module has no truth value
    memo: list = [None, None, None]  # one batch's pieces, reused so models' caches keyed on them hit

    def step(coords, target):
        optimizer.zero_grad(set_to_none=True)
        if chunks == 1:
            with autocast():
                pred = forward(coords)
            loss = torch.nn.functional.mse_loss(pred.float(), target)
            (loss if scaler is None else scaler.scale(loss)).backward()
        else:
            if memo[0] is not coords or memo[1] is not target:
                memo[:] = coords, target, list(zip(coords.chunk(chunks), target.chunk(chunks)))
            loss, pred = backward_in_pieces(forward, memo[2], autocast, scaler)
        if on_loss is not None:
            on_loss(loss)
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()
        if scheduler is not None:
            scheduler.step()
        return loss, pred

    return step


def backward_in_pieces(forward, pieces, autocast=contextlib.nullcontext, scaler=None):
    """Backward of the MSE over all (coords, target) `pieces` taken together, one piece at a
    time (each piece's summed squared error over the total count, so the gradients add up to
    the whole batch's). Returns the loss and the detached predictions in piece order."""
    denom = sum(t.numel() for _, t in pieces)
    loss, parts = 0.0, []
    for coords, target in pieces:
        with autocast():
            pred = forward(coords)
        part = torch.sum((pred.float() - target) ** 2) / denom
        (part if scaler is None else scaler.scale(part)).backward()
        loss = loss + part.detach()
        parts.append(pred.detach())
    return loss, parts[0] if len(parts) == 1 else torch.cat(parts)


def _resume(state: FitState, path) -> None:
    """Continue the checkpoint at `path`: weights, optimizer, schedule, sampler, gradient scale
    and history, refused if it was trained on another signal."""
    ckpt = resume_from(path, state.model, state.optimizer, state.scheduler, state.sampler.gen,
                       state.scaler)
    old = History.from_dict(ckpt["history"]) if ckpt.get("history") else state.history
    saved_fp = (old.config or {}).get("signal_fingerprint")
    if saved_fp is not None and saved_fp != fingerprint(state.signal):
        raise InrlabError(f"checkpoint '{path}' was trained on another signal "
                          f"({old.config.get('signal')}), not '{state.signal.name}'")
    old.config = {**state.history.config, "resumed_from": str(path), "resumed_at": ckpt["step"]}
    state.sampler.load_state_dict(ckpt.get("extra") or {})
    state.step, state.history, state.last_saved = int(ckpt["step"]), old, int(ckpt["step"])
    state.train_seconds = old.seconds[-1] if old.seconds else 0.0
