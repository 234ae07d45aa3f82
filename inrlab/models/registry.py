"""Name -> constructor registry, with checked keyword arguments.

`build("siren", width=128)` constructs a registered model; an unknown name or keyword raises
a one-line InrlabError listing the valid ones. `coerce` turns CLI/papermill text ("128",
"true", "8x4") into the type the constructor's annotation names.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any, Callable

import torch

from ..errors import InrlabError

_REGISTRY: dict[str, Callable] = {}

# Keywords `build` handles itself for every family (not passed to the constructor).
BUILD_KEYS = ("seed",)


def register(name: str):
    """Class decorator: make a model constructible as build(name, ...)."""

    def deco(cls):
        if name in _REGISTRY:
            raise RuntimeError(f"model name '{name}' registered twice")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return deco


def available() -> list[str]:
    return sorted(_REGISTRY)


def _constructor(name: str):
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InrlabError(f"unknown model '{name}' (choose from {', '.join(available())})")
    return _REGISTRY[name]


def parameters(name: str) -> dict[str, inspect.Parameter]:
    """The keyword parameters a model's constructor takes, with defaults and annotations."""
    sig = inspect.signature(_constructor(name).__init__)
    return {k: p for k, p in sig.parameters.items() if k != "self"
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def valid_keys(name: str) -> list[str]:
    return sorted(list(parameters(name)) + list(BUILD_KEYS))


def _annotation(name: str, key: str):
    cls = _constructor(name)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:
        hints = {}
    return hints.get(key, parameters(name)[key].annotation)


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def coerce(name: str, key: str, value: Any) -> Any:
    """Convert `value` (often text) to the type model `name` declares for `key`."""
    if key not in parameters(name) and key not in BUILD_KEYS:
        raise InrlabError(f"unknown parameter '{key}' for model '{name}' "
                          f"(valid: {', '.join(valid_keys(name))})")
    ann = int if key == "seed" else _annotation(name, key)
    options = typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, getattr(__import__("types"), "UnionType", None)) else (ann,)
    if value is None and type(None) in options:
        return None
    if not isinstance(value, str):
        ok = any(o is float and isinstance(value, (int, float)) and not isinstance(value, bool)
                 or (isinstance(o, type) and isinstance(value, o)
                     and not (o is int and isinstance(value, bool)))
                 or typing.get_origin(o) in (tuple, list) and isinstance(value, (tuple, list))
                 for o in options)
        if ok:
            return float(value) if float in options and int not in options and isinstance(value, int) else value
        raise InrlabError(f"parameter '{key}' of model '{name}' must be {_type_name(ann)}, "
                          f"got {value!r}")
    text = value.strip()
    if text.lower() in ("none", "null") and type(None) in options:
        return None
    for o in options:
        try:
            if o is bool:
                return _parse_bool(text)
            if o is int:
                return int(text)
            if o is float:
                return float(text)
            if o is str:
                return text
        except ValueError:
            continue
    raise InrlabError(f"parameter '{key}' of model '{name}' must be {_type_name(ann)}, "
                      f"got {value!r}")


def _type_name(ann) -> str:
    args = typing.get_args(ann)
    if args:
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    return getattr(ann, "__name__", str(ann))


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def build(name: str, signal=None, **kwargs):
    """Construct model `name`; `signal` fills dim_in / dim_out (and `resolution` where the
    model takes one) unless given. `seed` makes the initialisation reproducible without
    touching the global RNG."""
    cls = _constructor(name)
    params = parameters(name)
    unknown = [k for k in kwargs if k not in params and k not in BUILD_KEYS]
    if unknown:
        raise InrlabError(f"unknown parameter '{unknown[0]}' for model '{name}' "
                          f"(valid: {', '.join(valid_keys(name))})")
    kwargs = {k: coerce(name, k, v) for k, v in kwargs.items()}
    seed = kwargs.pop("seed", None)
    if signal is not None:
        auto = {"dim_in": signal.dim_in, "dim_out": signal.channels, "resolution": tuple(signal.shape)}
        for k, v in auto.items():
            if k in params and k not in kwargs:
                kwargs[k] = v
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        try:
            model = cls(**kwargs)
        except InrlabError:
            raise
        except (TypeError, ValueError) as e:
            raise InrlabError(f"model '{name}': {e}") from None
    model.config = {"name": name, "kwargs": {k: _jsonable(v) for k, v in kwargs.items()},
                    "seed": seed}
    return model


def rebuild(config: dict):
    """Construct a model again from its `config` (as saved in a checkpoint)."""
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config["kwargs"].items()}
    return build(config["name"], seed=config.get("seed"), **kwargs)
