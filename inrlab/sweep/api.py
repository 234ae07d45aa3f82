"""Sweeps over in-memory Signals, from Python: the notebooks' and searches' loops.

    from inrlab.sweep import run_trials
    rows = run_trials([{"model": "multihead", "grid": g, "alpha": 32} for g in (1, 4, 16)],
                      signal=data, seeds=[0], steps=300, lr=1e-3, eval_every=300)

`signal` is one Signal or a list of them (the octaves of a Perlin study, several images): every
trial runs on every signal. A trial is a mapping of `model` plus the model's parameters and,
optionally, its own `steps`, `lr` or `batch_size`; they are checked exactly as a spec's trials
are (one-line errors naming the key, before anything runs). Further keyword arguments are fit()
arguments shared by every trial (schedule, eval_every, ...). Each trial runs once per seed
through the spec's trial runner (`trial.run_task`: the runs of one model shape stacked, its
seeds and its signals on one coordinate grid, where `stacked.can_stack` allows and the fit
arguments are plain full-batch Adam, else one fit() each) on the local or Ray backend; the
signals travel to worker processes by pickling (Ray: once, through the object store).

The rows come back in order (signals x trials x seeds), each the same dict a sweep writes.
Nothing is written unless `out` names a folder: then it gets the sweep's results.jsonl and
summary.json, and a rerun into it only trains what is missing.
"""

from __future__ import annotations

import hashlib
import inspect
import json

from ..checks import make_output_dir
from ..errors import InrlabError
from .spec import Spec, _fit_value, _seeds, _trial, check_resources, config_hash

# fit() arguments a trial's config already sets, or that cannot travel to a worker as data.
_OWN = ("model", "signal", "steps", "lr", "batch_size", "seed", "device", "progress", "callbacks",
        "checkpoint", "resume")


def _api_error(e: InrlabError) -> InrlabError:
    return InrlabError(str(e).replace("sweep spec: ", "run_trials: ", 1))


def signal_key(signal) -> dict:
    """What identifies an in-memory signal in a config (and so in the trial's hash): its name,
    grid shape and a digest of its samples (coordinates, values, held-out samples)."""
    from ..signals import Signal

    if not isinstance(signal, Signal):
        raise InrlabError(f"run_trials: 'signal' must be an inrlab Signal, got {type(signal).__name__}")
    h = hashlib.sha1()
    for s in (signal, signal.heldout):
        if s is not None:
            for t in (s.coords, s.values):
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return {"source": signal.name, "size": int(signal.shape[0]), "shape": [int(n) for n in signal.shape],
            "digest": h.hexdigest()[:16]}


def _fit_kw(fit_kw: dict) -> dict:
    from ..train import fit

    known = inspect.signature(fit).parameters
    for k, v in fit_kw.items():
        if k in _OWN:
            raise InrlabError(f"run_trials: '{k}' is not a shared fit() argument here "
                              "(steps, lr, batch_size and seeds are run_trials' own; a trial may set steps / lr)")
        if k not in known:
            raise InrlabError(f"run_trials: unknown fit() argument '{k}'")
        try:
            json.dumps(v)
        except TypeError:
            raise InrlabError(f"run_trials: fit argument '{k}' must be plain data (a number, string, "
                              f"list or mapping), got {type(v).__name__}") from None
    return dict(fit_kw)


def _signal_list(signal) -> list:
    """`run_trials`' signal argument as a non-empty list of Signals."""
    if isinstance(signal, (list, tuple)):
        if not signal:
            raise InrlabError("run_trials: 'signal' is an empty list; give a Signal or a list of them")
        return list(signal)
    return [signal]


def check_trials(trials, *, signal, seeds=(0,), steps: int = 200, lr=None, batch_size=None,
                 **fit_kw) -> list[dict]:
    """The resolved configs (signals x trials x seeds) of `run_trials`, or one InrlabError
    naming the key."""
    return _resolve(trials, signal, seeds, steps, lr, batch_size, fit_kw)[0]


def _resolve(trials, signal, seeds, steps, lr, batch_size, fit_kw) -> tuple[list[dict], dict]:
    """(configs, the Signals by digest): each signal's key (and digest) worked out once."""
    try:
        if isinstance(trials, dict) or not isinstance(trials, (list, tuple)) or not trials:
            raise InrlabError("sweep spec: 'trials' must be a non-empty list of mappings "
                              "(model: ..., parameters)")
        seeds = _seeds(list(seeds) if isinstance(seeds, (tuple, range)) else seeds)
        defaults = {"steps": _fit_value("steps", steps, "steps"), "lr": _fit_value("lr", lr, "lr"),
                    "batch_size": _fit_value("batch_size", batch_size, "batch_size")}
        bases = []
        for i, t in enumerate(trials):
            if not isinstance(t, dict):
                raise InrlabError(f"sweep spec: 'trials[{i}]' must be a mapping (model: ..., parameters), got {t!r}")
            bases.append(_trial(t, f"trials[{i}]", defaults))
    except InrlabError as e:
        raise _api_error(e) from None
    extra = _fit_kw(fit_kw)
    keyed = [(signal_key(s), s) for s in _signal_list(signal)]
    configs = [{"signal": key, **base, **({"fit": extra} if extra else {}), "seed": seed}
               for key, _ in keyed for base in bases for seed in seeds]
    return configs, {key["digest"]: s for key, s in keyed}   # what run_task looks configs up in


def run_trials(trials, *, signal, seeds=(0,), steps: int = 200, lr=None, batch_size=None,
               backend: str = "local", jobs: int | None = None, address: str | None = None,
               device: str = "auto", stack: bool = True, resources: dict | None = None,
               out=None, show_progress: bool | None = None, **fit_kw) -> list[dict]:
    """Train every trial once per seed on each signal; return the rows in order (signals x
    trials x seeds).

    signal: a Signal, or a list of Signals (every trial on each; those on one coordinate grid
    stack with the seeds, `stack`).
    trials: mappings of `model` plus its parameters (and optionally steps / lr / batch_size).
    backend: 'local' (jobs=1: in this process; else a pool of `jobs` processes, default the
    cores) or 'ray' (`address`: a cluster, 'auto' the running one; None starts a local one).
    out: a folder for results.jsonl / summary.json (resumable); None writes nothing.
    fit_kw: further fit() arguments for every trial (schedule, eval_every, ...)."""
    from .engine import Table, check_backend, check_trial_device, drive
    from .trial import tasks_for

    check_backend(backend, jobs, address, who="run_trials")
    check_trial_device(device, backend, who="run_trials")
    if not isinstance(stack, bool):
        raise InrlabError(f"run_trials: 'stack' must be True or False, got {stack!r}")
    res = check_resources(resources, who="run_trials")
    configs, data = _resolve(trials, signal, seeds, steps, lr, batch_size, fit_kw)
    hashes = [config_hash(c) for c in configs]
    rows: dict[str, dict] = {}
    table = None
    if out is not None:
        out = make_output_dir(out, "run_trials: out")
        table = Table(out)
        rows.update({r["hash"]: r for r in table.rows if r.get("status") == "ok"})
    todo, seen = [], set(rows)
    for c, h in zip(configs, hashes):
        if h not in seen:  # a trial listed twice trains once
            seen.add(h)
            todo.append(c)
    spec = Spec(trials=todo, device=device, stack=stack, resources=res)
    drive(tasks_for(todo, stack), spec, table, backend=backend, jobs=jobs, address=address, desc="trials",
          show_progress=show_progress, on_row=lambda r: rows.__setitem__(r["hash"], r), signal=data)
    return [rows[h] for h in hashes]
