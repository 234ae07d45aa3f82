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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch

from .atomic import atomic_write
from .checks import (COMPILE_MODES, available_memory, check_callbacks, check_device, check_number,
                     check_output_file, check_seed, check_training_memory, refuse_special_file)
from .defaults import adam_settings
from .errors import InrlabError, TrainingDiverged
from .metrics import SSIM_MIN_SIDE, psnr, psnr_from_mse, ssim
from .signals import Signal, fingerprint


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
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InrlabError(f"unknown device '{device}' (use auto, cpu, cuda or mps)") from None
    return check_device(dev, device)


# --------------------------------------------------------------------------- history

@dataclass
class History:
    """What a fit recorded. Per step: the training loss (MSE before that step's update).
    Per evaluation (every `eval_every` steps and after the last step): fit PSNR, held-out PSNR
    (None without a held-out set) and the training wall seconds so far (evaluation excluded).
    After the last step only (SSIM is costly): `ssim` on the training image and `ssim_heldout`
    on the held-out image grid (`final_ssim`), with `ssim_note` saying why one is None."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    psnr_heldout: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    ssim: float | None = None
    ssim_heldout: float | None = None
    ssim_note: str | None = None

    @property
    def final(self) -> dict:
        """Metrics after the last step."""
        ssim = {"ssim": self.ssim, "ssim_heldout": self.ssim_heldout, "ssim_note": self.ssim_note}
        if not self.eval_step:
            return {"psnr": None, "psnr_heldout": None, "seconds": 0.0, "steps": 0, **ssim}
        return {"psnr": self.psnr[-1], "psnr_heldout": self.psnr_heldout[-1],
                "seconds": self.seconds[-1], "steps": self.eval_step[-1], **ssim}

    def seconds_to(self, target_psnr: float) -> float | None:
        """Training seconds until fit PSNR first reached `target_psnr` (None if never)."""
        for p, s in zip(self.psnr, self.seconds):
            if p is not None and p >= target_psnr:
                return s
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)


@dataclass
class FitState:
    """What a callback sees."""

    step: int
    model: torch.nn.Module
    signal: Signal
    history: History
    optimizer: torch.optim.Optimizer


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


# --------------------------------------------------------------------------- checkpoints

def _atomic_torch_save(obj, path: Path) -> None:
    atomic_write(path, lambda f: torch.save(obj, f), binary=True)


def save_checkpoint(path, model, optimizer=None, scheduler=None, history: History | None = None,
                    step: int = 0, generator: torch.Generator | None = None, extra: dict | None = None):
    """Model config + weights, optimizer, scheduler and sampler state, history, step."""
    _atomic_torch_save({
        "format": "inrlab-checkpoint-1",
        "model_config": getattr(model, "config", None),
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
        "generator_state": generator.get_state() if generator is not None else None,
        "history": history.to_dict() if history is not None else None,
        "step": step,
        "extra": extra or {},
    }, Path(path))


def _read_checkpoint(path, what: str, device="cpu") -> dict:
    """The checkpoint dict at `path`, or one line saying why there is none."""
    path = Path(path)
    if not path.exists():
        raise InrlabError(f"{what} not found: '{path}'")
    if path.is_dir():
        raise InrlabError(f"{what} '{path}' is a directory, not a checkpoint file")
    refuse_special_file(path, what)
    try:
        ckpt = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:
        raise InrlabError(f"could not read checkpoint '{path}': {type(e).__name__}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != "inrlab-checkpoint-1":
        raise InrlabError(f"'{path}' is not an inrlab checkpoint")
    return ckpt


def load_checkpoint(path, device="cpu"):
    """(model rebuilt from its config with the saved weights, the checkpoint dict)."""
    from .models import rebuild

    ckpt = _read_checkpoint(path, "checkpoint", device)
    config = ckpt.get("model_config")
    if config is None:
        raise InrlabError(f"checkpoint '{path}' has no model config; load its state_dict by hand")
    try:
        model = rebuild(config).to(device)
        model.load_state_dict(ckpt["model_state"])
    except InrlabError:
        raise
    except (KeyError, TypeError, AttributeError, RuntimeError):
        raise InrlabError(f"checkpoint '{path}' is damaged: its model config or weights do not "
                          f"rebuild a model") from None
    return model, ckpt


# --------------------------------------------------------------------------- fit

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
    training. checkpoint: path written every `checkpoint_every` steps and at the end; resume:
    a checkpoint to continue from (model weights, optimizer, schedule, sampler, history).
    max_memory: bytes a training step may use for activations (default: half the memory
    available on the device); a full batch that needs more is split into chunks whose gradients
    add up to the same full-batch gradient, and a step that cannot fit at all is refused with
    the amount it needed. On CPU a pointwise model's (MLP's) batch is also split into pieces of
    at most CPU_CHUNK_BYTES of activations when it has more than CPU_SPLIT_ABOVE, which is faster
    for the same gradient.
    compile: True (or a torch.compile mode such as 'reduce-overhead', which uses CUDA graphs)
    trains through torch.compile; the first steps then include compilation (tens of seconds).
    amp: 'bf16' or 'fp16' runs forward and loss under torch.autocast in that precision
    (fp16 with a gradient scaler, whose scale is checkpointed with the sampler state); weights,
    optimizer and evaluation stay fp32.
    """
    if not isinstance(model, torch.nn.Module):
        raise InrlabError(f"fit(): model must be a torch.nn.Module (e.g. models.build('siren', "
                          f"signal=...)), got {type(model).__name__}")
    _positive_int("steps", steps)
    own = adam_settings(model)
    lr_from = "family" if lr is None else "argument"
    lr = own["lr"] if lr is None else lr
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0):
        raise InrlabError(f"learning rate must be a positive number, got {lr!r}")
    betas = own["betas"] if betas is None else betas
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise InrlabError(f"betas must be two numbers in [0, 1), got {betas!r}")
    betas = (float(betas[0]), float(betas[1]))
    eps = own["eps"] if eps is None else eps
    if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and math.isfinite(eps) and eps >= 0):
        raise InrlabError(f"eps must be a non-negative number, got {eps!r}")
    _check_compatible(model, signal)
    seed = check_seed(seed)
    if batch_size is not None:
        _positive_int("batch_size", batch_size)
    _positive_int("callback_every", callback_every)
    eval_every = max(1, steps // 50) if eval_every is None else eval_every
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

    dev = resolve_device(device)
    check_training_memory(model, dev)
    model = model.to(dev)
    data = signal.to(dev)
    forward = model
    if compile:
        forward = torch.compile(model, **({"mode": compile} if isinstance(compile, str) else {}))
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = torch.amp.GradScaler(dev.type) if amp == "fp16" else None

    def autocast():
        return torch.autocast(dev.type, dtype=amp_dtype, enabled=amp_dtype is not None)
    n = data.n
    full_batch = batch_size is None or batch_size >= n

    n_chunks = plan_chunks(model, data.coords if full_batch else data.coords[:batch_size], dev, max_memory)
    # a full batch's pieces are the same views every step, so models' caches keyed on them hit
    full_pieces = list(zip(data.coords.chunk(n_chunks), data.values.chunk(n_chunks))) if full_batch else None

    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    if fused is None:
        fused = dev.type in ("cpu", "cuda")
    try:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, eps=eps, fused=fused)
    except (RuntimeError, TypeError):
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, eps=eps)
    factor = make_schedule(schedule, steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor) if factor else None

    history = History(config={
        "model": getattr(model, "config", None), "signal": signal.name,
        "signal_fingerprint": fingerprint(signal), "steps": steps, "lr": lr,
        "betas": list(betas), "eps": eps, "lr_from": lr_from,
        "batch_size": batch_size, "schedule": schedule if isinstance(schedule, (str, type(None))) else "custom",
        "seed": seed, "device": str(dev), "compile": compile, "amp": amp})
    start, perm, pos = 0, None, 0
    if resume is not None:
        start, history, sampler = _resume(resume, model, optimizer, scheduler, gen, signal, history)
        if sampler.get("perm") is not None:
            perm, pos = sampler["perm"].to(dev), int(sampler["pos"])
        if scaler is not None and sampler.get("scaler"):
            scaler.load_state_dict(sampler["scaler"])
    if start >= steps:
        return history

    train_seconds = history.seconds[-1] if history.seconds else 0.0
    last_saved_step = start
    bar = _progress(progress, steps, start)
    stop = False
    step = start
    # target_psnr's per-step check of the outputs' PSNR reads them on the host anyway, so such
    # a run flushes every step on CUDA too
    flush_each = flush_every_step(dev) or target_psnr is not None
    pending: list[torch.Tensor] = []  # losses of the steps since the last flush, on the device
    t0 = None  # when the training clock started (None: stopped)

    def clock():
        """Add the training seconds since t0, after waiting for the device."""
        nonlocal train_seconds, t0
        if t0 is not None:
            _synchronize(dev)
            train_seconds += time.perf_counter() - t0
            t0 = None

    def drain():
        """Pending losses to the host in one transfer and into history; the first non-finite
        one raises TrainingDiverged, with only the finite steps before it recorded."""
        if not pending:
            return
        values = torch.stack(pending).tolist()
        first = step - len(pending) + 1
        pending.clear()
        for s, loss_value in enumerate(values, first):
            if not math.isfinite(loss_value):
                kept = (f"; the last good checkpoint (step {last_saved_step}) is kept at '{checkpoint}'"
                        if checkpoint is not None and last_saved_step > 0 else "")
                raise TrainingDiverged(
                    f"loss became {loss_value} at step {s} with lr={lr:g}: lower the learning "
                    f"rate{kept}", history=history)
            history.step.append(s)
            history.loss.append(loss_value)

    def flush():
        clock()
        drain()

    try:
        for step in range(start + 1, steps + 1):
            if t0 is None:
                t0 = time.perf_counter()
            if full_batch:
                coords, target = data.coords, data.values
            else:
                if perm is None or pos + batch_size > n:
                    perm, pos = torch.randperm(n, generator=gen).to(dev), 0
                idx = perm[pos:pos + batch_size]
                pos += batch_size
                coords, target = data.coords[idx], data.values[idx]
            optimizer.zero_grad(set_to_none=True)
            if n_chunks == 1:
                with autocast():
                    pred = forward(coords)
                loss = torch.nn.functional.mse_loss(pred.float(), target)
                (loss if scaler is None else scaler.scale(loss)).backward()
            else:  # same gradient as the whole batch, in pieces
                pieces = full_pieces or list(zip(coords.chunk(n_chunks), target.chunk(n_chunks)))
                loss, pred = backward_in_pieces(forward, pieces, autocast, scaler)
            pending.append(torch.as_tensor(loss, device=dev).detach())
            if flush_each:
                drain()  # checked before the update, as it always was
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)
                scaler.update()
            if scheduler is not None:
                scheduler.step()
            if flush_each:
                clock()

            due_eval = step % eval_every == 0 or step == steps
            if due_eval or target_psnr is not None:
                if full_batch and not due_eval and pred is not None:
                    # cheap check on this step's (pre-update) outputs for target_psnr
                    p = psnr_from_mse(float(torch.mean((pred.detach().clamp(*data.value_range)
                                                        - target) ** 2)), data.data_range)
                    due_eval = p >= target_psnr
                if due_eval:
                    flush()
                    fit_psnr = evaluate(model, data)
                    held = evaluate(model, data.heldout) if data.heldout is not None else None
                    history.eval_step.append(step)
                    history.psnr.append(fit_psnr)
                    history.psnr_heldout.append(held)
                    history.seconds.append(train_seconds)
                    if bar is not None:
                        bar.set_postfix(loss=f"{history.loss[-1]:.2e}", psnr=f"{fit_psnr:.2f}")
                    if target_psnr is not None and fit_psnr >= target_psnr:
                        stop = True
            if bar is not None:
                bar.update(1)
            if callbacks and (step % callback_every == 0 or step == steps):
                flush()
                state = FitState(step, model, signal, history, optimizer)
                for cb in callbacks:
                    if cb(state) is True:
                        stop = True
            if checkpoint is not None and checkpoint_every and step % checkpoint_every == 0:
                flush()  # never checkpoint before the losses up to here are known to be finite
                save_checkpoint(checkpoint, model, optimizer, scheduler, history, step, gen,
                                extra=_sampler_state(perm, pos, scaler))
                last_saved_step = step
            if stop:
                break
        flush()
    finally:
        if bar is not None:
            bar.close()
    if not history.eval_step or history.eval_step[-1] != step:
        history.eval_step.append(step)
        history.psnr.append(evaluate(model, data))
        history.psnr_heldout.append(evaluate(model, data.heldout) if data.heldout is not None else None)
        history.seconds.append(train_seconds)
    history.ssim, history.ssim_heldout, history.ssim_note = final_ssim(model, data)
    if checkpoint is not None:
        save_checkpoint(checkpoint, model, optimizer, scheduler, history, step, gen,
                        extra=_sampler_state(perm, pos, scaler))
    return history


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


def _sampler_state(perm, pos, scaler=None) -> dict:
    return {"perm": perm.cpu() if perm is not None else None, "pos": pos,
            "scaler": scaler.state_dict() if scaler is not None else None}


def saved_bytes(model, coords) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass of one forward
    (activations; the model's own parameters and buffers, which do not grow with the batch,
    are left out)."""
    seen = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    total = 0

    def pack(t):
        nonlocal total
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(coords)
    return total


# On CPU, a full batch of a pointwise model whose saved activations exceed CPU_SPLIT_ABOVE
# bytes runs in pieces of at most CPU_CHUNK_BYTES (8,192 samples of a 3 x 256 SIREN, whose
# largest activation is then 8 MB, below glibc's largest mmap threshold of 32 MB: such
# tensors are reused from the heap instead of being mapped and page-faulted afresh every
# step). Same gradient up to float rounding, activations held for one piece at a time.
# Measured on the 2-core CPU with PyTorch's huge pages on (inrlab imported before torch),
# best of interleaved steps: the 308k-sample audio SIREN 3x256 (2.4 GB of activations)
# 1.2-1.3x faster, SIREN 3x512 at 256^2 (1 GB) 1.33x; SIREN 3x256 at 256^2 (0.5 GB) between
# 0.8x and 1.06x across runs, hence the gate. With huge pages off (torch imported first) the
# audio SIREN was 2.2x faster and SIREN 3x256 at 256^2 1.3x.
CPU_CHUNK_BYTES = 64 * 2 ** 20
CPU_SPLIT_ABOVE = 2 ** 30


def cpu_pieces(model, coords: torch.Tensor, per_sample: float | None = None) -> int:
    """Pieces of at most CPU_CHUNK_BYTES of saved activations that `coords` make (ungated)."""
    if per_sample is None:
        per_sample = activation_bytes(model, coords)[1]
    return max(1, min(coords.shape[0], math.ceil(per_sample * coords.shape[0] / CPU_CHUNK_BYTES)))


def plan_chunks(model, coords: torch.Tensor, device, max_memory: float | None = None) -> int:
    """How many chunks a step over `coords` needs so its activations fit in `max_memory` bytes,
    and, for a pointwise model on CPU whose activations exceed CPU_SPLIT_ABOVE, so each chunk's
    activations stay within CPU_CHUNK_BYTES.

    The activation memory (what autograd saves, fixed and per sample) is measured on two small
    strided probe passes (`activation_bytes`) and doubled for the gradients of those activations."""
    n = coords.shape[0]
    if max_memory is not None and not max_memory > 0:
        raise InrlabError(f"max_memory must be positive, got {max_memory!r}")
    budget = max_memory if max_memory is not None else (
        None if (avail := available_memory(device)) is None else 0.5 * avail)
    cache = (torch.device(device).type == "cpu" and getattr(model, "pointwise", False)
             and CPU_CHUNK_BYTES > 0)
    if budget is None and not cache:
        return 1
    fixed, per_sample = activation_bytes(model, coords)
    chunks = 1
    if budget is not None and 2.0 * (fixed + per_sample * n) > budget:  # activations + their grads
        room = budget - 2.0 * fixed
        chunks = math.ceil(2.0 * per_sample * n / room) if room > 0 else n + 1
        if chunks > n:
            raise InrlabError(f"a training step needs about {2 * per_sample / 2**20:.1f} MB per sample "
                              f"(+{2 * fixed / 2**20:.0f} MB fixed) but only {budget / 2**20:.1f} MB may "
                              f"be used; use a smaller model or signal")
    if cache and per_sample * n > CPU_SPLIT_ABOVE:
        chunks = max(chunks, cpu_pieces(model, coords, per_sample))
    return chunks


def activation_bytes(model, coords: torch.Tensor) -> tuple[float, float]:
    """(fixed, per-sample) bytes autograd saves in a forward pass over `coords`, measured on
    two evenly strided subsets so that per-pass costs (gathered weights, tables) and per-sample
    costs are told apart."""
    n = coords.shape[0]
    if n <= 4096:
        return 0.0, saved_bytes(model, coords) / max(1, n)
    a, b = coords[::16], coords[::8]
    ba, bb = saved_bytes(model, a), saved_bytes(model, b)
    per = max(bb - ba, 0) / max(1, b.shape[0] - a.shape[0])
    return max(ba - per * a.shape[0], 0.0), per


def _resume(path, model, optimizer, scheduler, gen, signal, history):
    path = Path(path)
    ckpt = _read_checkpoint(path, "checkpoint to resume")
    try:
        model.load_state_dict(ckpt["model_state"])
    except (RuntimeError, KeyError, TypeError, AttributeError):
        raise InrlabError(f"checkpoint '{path}' does not match this model's parameters") from None
    if ckpt.get("optimizer_state") is not None:
        optimizer.load_state_dict(ckpt["optimizer_state"])
    if scheduler is not None and ckpt.get("scheduler_state") is not None:
        scheduler.load_state_dict(ckpt["scheduler_state"])
    if ckpt.get("generator_state") is not None:
        gen.set_state(ckpt["generator_state"])
    old = History.from_dict(ckpt["history"]) if ckpt.get("history") else history
    saved_fp = (old.config or {}).get("signal_fingerprint")
    if saved_fp is not None and saved_fp != fingerprint(signal):
        raise InrlabError(f"checkpoint '{path}' was trained on another signal "
                          f"({old.config.get('signal')}), not '{signal.name}'")
    old.config = {**history.config, "resumed_from": str(path), "resumed_at": ckpt["step"]}
    return int(ckpt["step"]), old, ckpt.get("extra") or {}


def _progress(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc="fit", leave=False, mininterval=0.5)
