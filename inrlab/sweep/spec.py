"""A sweep spec: which signals, which trials, which seeds. Checked whole before anything runs.

    signals:                      # one or more (a string is the source alone)
      - {source: camera, size: 32, gray: true, heldout: every_other}
    trials:                       # an explicit list ...
      - {model: siren, width: 64, depth: 2}
    grid:                         # ... and/or a product (every key a non-empty list)
      model: [siren, relu_pe]
      lr: [1.0e-3, 3.0e-3]
    seeds: [0, 1, 2]              # or a count: 3 means 0, 1, 2
    steps: 200                    # defaults for every trial (a trial or the grid may set them)
    lr: null                      # null: the model family's own (inrlab.defaults)
    stack: true                   # small trials of one shape train as one stacked model

A trial's keys are `model`, the fit settings (`steps`, `lr`, `batch_size`) and the model's own
parameters, checked with the registry's parameter checker (`models.registry.checked_kwargs`).
The trials are the explicit list followed by the grid's product; each runs once per seed and
signal, and a trial listed twice (or both listed and in the grid) runs once. Every problem is
one InrlabError naming the key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InrlabError

TOP_KEYS = ("signals", "trials", "grid", "seeds", "steps", "lr", "batch_size", "device", "stack",
            "resources")
SIGNAL_KEYS = {"source": str, "size": (int, type(None)), "gray": bool, "heldout": (str, type(None)),
               "seed": int}
FIT_KEYS = ("steps", "lr", "batch_size")
HELDOUT = (None, "none", "every_other")
RESOURCE_KEYS = ("cpus", "gpus")
MAX_TRIALS = 100_000   # a spec past this is a typo (a count of seeds, a grid); split a real one


@dataclass
class Spec:
    """A checked sweep: `trials` are the fully resolved configs (one per trial), in order."""

    trials: list[dict]
    device: str = "auto"
    stack: bool = True
    resources: dict = field(default_factory=lambda: {"cpus": 1, "gpus": 0})


def config_hash(config: dict) -> str:
    """The identity of a trial: a hash of its config (signal, model, parameters, fit settings,
    seed), so a rerun into the same folder knows what already ran."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def group_key(config: dict) -> str:
    """The hash of a config without its seed: the rows a summary averages over."""
    return config_hash({k: v for k, v in config.items() if k != "seed"})


def stack_key(config: dict) -> str:
    """The hash of what trials must share to train as one stacked model: the config without its
    seed and without the identity of its signal (source, digest, noise seed), so the seeds of a
    configuration and its runs on other signals of one layout (size, shape, gray, held-out split)
    group together. run_task still checks that their coordinates agree."""
    sig = {k: v for k, v in config["signal"].items() if k not in ("source", "digest", "seed")}
    return config_hash({**{k: v for k, v in config.items() if k != "seed"}, "signal": sig})


def load_spec(path_or_dict) -> Spec:
    """A Spec from a YAML file, YAML text or a dict, or one line naming what is wrong."""
    from ..checks import read_yaml

    raw = path_or_dict if isinstance(path_or_dict, dict) else read_yaml(Path(path_or_dict), "sweep spec")
    if not isinstance(raw, dict):
        raise InrlabError("a sweep spec is a mapping with keys " + ", ".join(TOP_KEYS))
    return check_spec(raw)


def check_resources(resources, who: str = "sweep spec") -> dict:
    """{cpus, gpus} a trial asks for (defaults 1 and 0), refused in one line naming the key
    when it is not a mapping of RESOURCE_KEYS to non-negative numbers."""
    resources = resources or {}
    if not isinstance(resources, dict):
        raise _type_error("resources", "a mapping with cpus / gpus", resources, who)
    for k, v in resources.items():
        if k not in RESOURCE_KEYS:
            raise InrlabError(f"{who}: unknown key 'resources.{k}' (valid: {', '.join(RESOURCE_KEYS)})")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise _type_error(f"resources.{k}", "a non-negative number", v, who)
    return {"cpus": resources.get("cpus", 1), "gpus": resources.get("gpus", 0)}


def _type_error(key: str, want: str, value, who: str = "sweep spec") -> InrlabError:
    return InrlabError(f"{who}: '{key}' must be {want}, got {value!r}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _signals(raw) -> list[dict]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise InrlabError("sweep spec: 'signals' is empty; name at least one signal")
    out = []
    for i, s in enumerate(items):
        where = f"signals[{i}]"
        if isinstance(s, str):
            s = {"source": s}
        if not isinstance(s, dict):
            raise _type_error(where, "a source name or a mapping", s)
        for k, v in s.items():
            if k not in SIGNAL_KEYS:
                raise InrlabError(f"sweep spec: unknown key '{where}.{k}' (valid: {', '.join(SIGNAL_KEYS)})")
            want = SIGNAL_KEYS[k]
            if isinstance(v, bool) and want is not bool or not isinstance(v, want):
                raise _type_error(f"{where}.{k}", getattr(want, "__name__", "an integer or null"), v)
        if "source" not in s:
            raise InrlabError(f"sweep spec: '{where}' needs a 'source'")
        if s.get("heldout") not in HELDOUT:
            raise InrlabError(f"sweep spec: '{where}.heldout' must be none or every_other, got {s['heldout']!r}")
        if s.get("size") is not None and s["size"] < 2:
            raise InrlabError(f"sweep spec: '{where}.size' must be at least 2, got {s['size']}")
        from ..checks import parse_signal_spec, refuse_image_options
        try:
            kind, _ = parse_signal_spec(s["source"])
        except InrlabError as e:
            raise InrlabError(f"sweep spec: '{where}.source': {e}") from None
        try:
            refuse_image_options(kind, s["source"], s.get("size"), s.get("gray", False))
        except InrlabError as e:
            key = "size" if s.get("size") is not None else "gray"
            raise InrlabError(f"sweep spec: '{where}.{key}': {e}") from None
        out.append({"source": s["source"], "size": s.get("size"), "gray": bool(s.get("gray", False)),
                    "heldout": None if s.get("heldout") in (None, "none") else s["heldout"],
                    "seed": _signal_seed(s.get("seed", 0), f"{where}.seed")})
    return out


def _signal_seed(seed, where: str) -> int:
    from ..checks import check_seed

    try:
        return check_seed(seed, f"sweep spec: '{where}'")
    except InrlabError as e:
        raise InrlabError(str(e)) from None


def _seeds(raw) -> list[int]:
    if raw is None:
        return [0]
    if _is_int(raw):
        if not 1 <= raw <= MAX_TRIALS:
            raise InrlabError(f"sweep spec: 'seeds' as a count must be from 1 to {MAX_TRIALS}, got {raw}")
        return list(range(raw))
    if not isinstance(raw, list) or not raw:
        raise _type_error("seeds", "a count or a non-empty list of integers", raw)
    for s in raw:
        if not _is_int(s) or s < 0:
            raise _type_error("seeds", "a list of non-negative integers", raw)
        _signal_seed(s, "seeds")   # at most 2**63 - 1, what torch's generators take
    if len(set(raw)) != len(raw):
        raise InrlabError(f"sweep spec: 'seeds' repeats a seed: {raw}")
    return list(raw)


def _fit_value(key: str, value, where: str):
    if key == "steps":
        if not _is_int(value) or value < 1:
            raise _type_error(where, "a positive integer", value)
    elif key == "lr":
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 < value < float("inf")):
            raise _type_error(where, "a positive finite number or null", value)
        value = None if value is None else float(value)
    elif key == "batch_size":
        if value is not None and (not _is_int(value) or value < 1):
            raise _type_error(where, "a positive integer or null", value)
    return value


def _trial(raw: dict, where: str, defaults: dict) -> dict:
    """One trial's model, model parameters and fit settings, checked and typed."""
    from .. import models
    from ..models.registry import checked_kwargs

    if "model" not in raw:
        raise InrlabError(f"sweep spec: '{where}' needs a 'model' (choose from {', '.join(models.available())})")
    name = raw["model"]
    if name not in models.available():
        raise InrlabError(f"sweep spec: '{where}.model': unknown model {name!r} "
                          f"(choose from {', '.join(models.available())})")
    fit = dict(defaults)
    params = {}
    for k, v in raw.items():
        if k == "model":
            continue
        if k in FIT_KEYS:
            fit[k] = _fit_value(k, v, f"{where}.{k}")
        elif k == "seed":
            raise InrlabError(f"sweep spec: '{where}.seed': seeds come from the top-level 'seeds' list")
        else:
            params[k] = v
    try:
        params = checked_kwargs(name, params)
    except InrlabError as e:
        raise InrlabError(f"sweep spec: '{where}': {e}") from None
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    return {"model": name, "params": params, **fit}


def check_spec(raw: dict) -> Spec:
    """Every check of a spec dict; the resolved trials in order (signals x trials x seeds)."""
    for k in raw:
        if k not in TOP_KEYS:
            raise InrlabError(f"sweep spec: unknown key '{k}' (valid: {', '.join(TOP_KEYS)})")
    if "signals" not in raw:
        raise InrlabError("sweep spec: 'signals' is missing; name at least one signal")
    signals = _signals(raw["signals"])
    seeds = _seeds(raw.get("seeds"))
    defaults = {"steps": _fit_value("steps", raw.get("steps", 200), "steps"),
                "lr": _fit_value("lr", raw.get("lr"), "lr"),
                "batch_size": _fit_value("batch_size", raw.get("batch_size"), "batch_size")}
    stack = raw.get("stack", True)
    if not isinstance(stack, bool):
        raise _type_error("stack", "true or false", stack)
    device = raw.get("device", "auto")
    if not isinstance(device, str):
        raise _type_error("device", "a device name such as auto, cpu or cuda", device)
    from ..checks import check_device_name
    try:
        check_device_name(device)
    except InrlabError as e:
        raise InrlabError(f"sweep spec: 'device': {e}") from None
    resources = check_resources(raw.get("resources"))

    listed = raw.get("trials") or []
    if "trials" in raw and not isinstance(raw["trials"], list):
        raise _type_error("trials", "a list of mappings", raw["trials"])
    if "trials" in raw and not raw["trials"]:
        raise InrlabError("sweep spec: 'trials' is empty")
    bases = []
    for i, t in enumerate(listed):
        if not isinstance(t, dict):
            raise _type_error(f"trials[{i}]", "a mapping (model: ..., parameters)", t)
        bases.append(_trial(t, f"trials[{i}]", defaults))
    if "grid" in raw:
        grid = raw["grid"]
        if not isinstance(grid, dict) or not grid:
            raise InrlabError("sweep spec: 'grid' is empty; give each swept key a non-empty list")
        for k, v in grid.items():
            if not isinstance(v, list):
                raise _type_error(f"grid.{k}", "a list of values", v)
            if not v:
                raise InrlabError(f"sweep spec: 'grid.{k}' is an empty list")
        keys = list(grid)
        size = 1
        for k in keys:
            size *= len(grid[k])
        if size * len(signals) * len(seeds) > MAX_TRIALS:
            raise InrlabError(f"sweep spec: 'grid' makes {size} combinations, x {len(signals)} signals x "
                              f"{len(seeds)} seeds: more than {MAX_TRIALS} trials; split the sweep")
        for n, combo in enumerate(itertools.product(*(grid[k] for k in keys))):
            bases.append(_trial(dict(zip(keys, combo)), f"grid.{'/'.join(keys)}", defaults))
    if not bases:
        raise InrlabError("sweep spec: no trials; give 'trials' (a list) and/or 'grid' (a product)")
    trials, seen = [], set()
    for sig in signals:
        for base in bases:
            for seed in seeds:
                t = {"signal": sig, **base, "seed": seed}
                h = config_hash(t)
                if h not in seen:   # a trial listed twice (or in the list and the grid) runs once
                    seen.add(h)
                    trials.append(t)
    return Spec(trials=trials, device=device, stack=stack, resources=resources)


def default_jobs(n_tasks: int) -> int:
    """Worker processes for n_tasks on the local backend: one per core, no more than the tasks."""
    return min(os.cpu_count() or 1, max(1, n_tasks))
