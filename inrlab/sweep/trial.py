"""What a worker runs: one task (a single trial, or trials of one shape stacked) -> rows.

Everything here is a plain module-level function of plain data (configs in, row dicts out), so
a process pool or Ray can ship it; nothing writes files (rows go back to the driver)."""

from __future__ import annotations

import functools
import json
import socket


METRICS = ("psnr", "psnr_heldout", "ssim", "ssim_heldout", "seconds", "params", "flops")


@functools.lru_cache(maxsize=8)
def _signal(key: str):
    from .. import signals

    s = json.loads(key)
    sig = signals.load_signal(s["source"], size=s["size"], gray=s["gray"], seed=s["seed"])
    return signals.split_every_other(sig) if s["heldout"] == "every_other" else sig


def signal_of(config: dict):
    return _signal(json.dumps(config["signal"], sort_keys=True))


def _build(config: dict, signal):
    from .. import models

    params = {k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()}
    return models.build(config["model"], signal=signal, seed=config["seed"], **params)


def _copies(model) -> int | None:
    """Independent copies a model holds side by side in its outputs (an ensemble's `stack`);
    None for a model without copies."""
    stack = getattr(model, "stack", None)
    return stack if isinstance(stack, int) and not isinstance(stack, bool) else None


def _fit_signal(model, signal):
    """What `model` trains on: with stacked copies, the signal repeated once per copy
    (`models.ensemble.stack_signal`), so every copy fits the whole signal."""
    if (_copies(model) or 1) == 1:
        return signal
    from ..models.ensemble import stack_signal

    return stack_signal(signal, _copies(model))


def _row(config, model, signal, history, device: str) -> dict:
    from ..flops import count_params, forward_flops

    final = history.final
    row = {"status": "ok", "config": config,
           "psnr": final["psnr"], "psnr_heldout": final["psnr_heldout"],
           "ssim": final["ssim"], "ssim_heldout": final["ssim_heldout"],
           "params": count_params(model),
           # a render is of the whole signal, held-out samples included (not the training lattice)
           "flops": forward_flops(model, signal.meta.get("full_shape", signal.shape)).total,
           "seconds": final["seconds"], "steps": final["steps"], "lr": history.config.get("lr"),
           "device": device, "host": socket.gethostname(),
           "stacked": history.config.get("stacked", 1)}
    if _copies(model) is not None:  # psnr is that of the copies' mean MSE; each copy's own too
        from ..models.ensemble import copy_psnrs

        # 'enrp': the ENRP paper's convention, 20 log10(1/RMSE) on data mapped to [-1, 1]
        both = copy_psnrs(model, signal.to(next(model.parameters()).device))
        row["psnr_copies"], row["psnr_enrp_copies"] = both["standard"], both["enrp"]
    return row


def failed_row(config: dict, error: BaseException | str) -> dict:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"status": "failed", "config": config, "error": " ".join(str(text).split())[:300]}


def run_one(config: dict, device: str = "auto", signal=None) -> dict:
    """One trial: one fit(); a raised error becomes a failed row (the sweep goes on). `signal`:
    an in-memory Signal to train on instead of loading the config's source (`run_trials`);
    the config's 'fit' mapping (if any) holds further fit() arguments (schedule, eval_every).
    A model of stacked copies (an ensemble's `stack`) trains every copy on the whole signal in
    one fit, and its row adds each copy's PSNR: `psnr_copies` (ours), `psnr_enrp_copies`."""
    from ..train import fit, resolve_device

    try:
        signal = signal_of(config) if signal is None else signal
        model = _build(config, signal)
        history = fit(model, _fit_signal(model, signal), steps=config["steps"], lr=config["lr"],
                      batch_size=config["batch_size"], seed=config["seed"], device=device,
                      progress=False, **config.get("fit", {}))
        return _row(config, model, signal, history, str(resolve_device(device)))
    except Exception as e:  # noqa: BLE001  (recorded, one line)
        return failed_row(config, e)


def _stackable_fit(config: dict) -> bool:
    """fit_stacked runs plain full-batch Adam and evaluates once at the end: a config whose
    extra fit() arguments ask for more (a schedule, ...) trains with fit()."""
    extra = dict(config.get("fit", {}))
    every = extra.pop("eval_every", None)
    return not extra and (every is None or every >= config["steps"])


def signal_for(config: dict, signal=None):
    """The Signal `config` trains on: `signal` (an in-memory Signal for every config, or a
    mapping from a signal's digest to it, as run_trials passes) or else the config's source."""
    if signal is None:
        return signal_of(config)
    if isinstance(signal, dict):
        return signal[config["signal"]["digest"]]
    return signal


def _same_grid(data: list) -> list[list[int]]:
    """The indices of `data` grouped by coordinate grid: signals whose coordinates are equal and
    whose targets have one shape (the members a stacked model can train together)."""
    from .stacked import grid_mismatch

    groups: list[tuple[object, list[int]]] = []
    for i, s in enumerate(data):
        for rep, idx in groups:
            if grid_mismatch(s, rep) is None:
                idx.append(i)
                break
        else:
            groups.append((s, [i]))
    return [idx for _, idx in groups]


def run_task(configs: list[dict], device: str = "auto", threads: int | None = None,
             signal=None) -> list[dict]:
    """The rows of a task: `configs` of one shape (`tasks_for`) train stacked where several share
    a coordinate grid and the family allows it (`stacked.can_stack`), each member on its own
    signal, else one fit() each. `signal`: an in-memory Signal for every config, or a mapping
    from digest to Signal (`signal_for`); else each config's source is loaded."""
    import torch

    from .stacked import can_stack, fit_stacked
    from ..train import resolve_device

    if threads:
        torch.set_num_threads(int(threads))
    rows: dict[int, dict] = {}
    if len(configs) > 1 and _stackable_fit(configs[0]):
        try:
            data = [signal_for(c, signal) for c in configs]
        except Exception:  # noqa: BLE001  (a source that fails to load fails in run_one, recorded)
            data = []
        for idx in _same_grid(data) if data else []:
            if len(idx) < 2:
                continue
            try:
                built = [_build(configs[i], data[i]) for i in idx]
                if can_stack(built[0], configs[idx[0]]["batch_size"]):
                    histories = fit_stacked(built, [data[i] for i in idx], configs[idx[0]]["steps"],
                                            configs[idx[0]]["lr"], device=device)
                    dev = str(resolve_device(device))
                    for i, m, h in zip(idx, built, histories):
                        rows[i] = (failed_row(configs[i], f"TrainingDiverged: {h.diverged}") if h.diverged
                                   else _row(configs[i], m, data[i], h, dev))
            except Exception:  # noqa: BLE001  (vmap refused the forward, or a build failed: fall back)
                pass
    return [rows[i] if i in rows else run_one(c, device, signal_for(c, signal) if signal is not None else None)
            for i, c in enumerate(configs)]


def tasks_for(configs: list[dict], stack: bool, max_stack: int = 16) -> list[list[dict]]:
    """Group the configs that may train as one stacked model (`spec.stack_key`: they differ only
    in their seed and in which signal of one layout they fit) into tasks of at most `max_stack`
    when `stack`; else one task per config."""
    if not stack:
        return [[c] for c in configs]
    from .spec import stack_key

    groups: dict[str, list[dict]] = {}
    for c in configs:
        groups.setdefault(stack_key(c), []).append(c)
    tasks = []
    for g in groups.values():
        tasks += [g[i:i + max_stack] for i in range(0, len(g), max_stack)]
    return tasks
