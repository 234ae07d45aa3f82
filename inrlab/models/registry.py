"""Name -> constructor registry, with checked keyword arguments.

`build("siren", width=128)` constructs a registered model; an unknown name or keyword raises
a one-line InrlabError listing the valid ones. `coerce` turns CLI/papermill text ("128",
"true", "8x4") into the type the constructor's annotation names.

Each family declares the valid range of its numeric parameters (`ranges`, see
`inrlab.checks.Range`); `build` checks them, and that the parameters fit in memory (counted on a
copy built on the meta device), before it allocates anything.

Besides a family's own parameters, `build` takes `seed` and the random-weight-factorization
switch for every family: `factorize`, `rwf_mu`, `rwf_sigma`, with `mu` / `sigma` as short names
where the family has no parameter of that name (see inrlab.models.factorize for the rule).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import typing
from collections import abc
from typing import Any, Callable

import torch

from ..checks import check_model_memory, check_range, check_seed
from ..errors import InrlabError

_REGISTRY: dict[str, Callable] = {}

# Keywords `build` handles itself for every family (not passed to the constructor), typed.
BUILD_KEYS = ("seed", "factorize", "rwf_mu", "rwf_sigma")
_BUILD_TYPES = {"seed": int, "factorize": bool, "rwf_mu": float, "rwf_sigma": float}
# Short names of the RWF keys, valid for a family that has no parameter of that name.
RWF_ALIASES = {"mu": "rwf_mu", "sigma": "rwf_sigma"}


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


def build_keys(name: str) -> dict[str, str]:
    """The keywords `build` handles itself for model `name`, each mapped to its canonical key
    (the RWF aliases `mu`/`sigma` only where the family has no parameter of that name)."""
    own = parameters(name)
    keys = {k: k for k in BUILD_KEYS}
    keys.update({a: c for a, c in RWF_ALIASES.items() if a not in own})
    return keys


def valid_keys(name: str) -> list[str]:
    return sorted(list(parameters(name)) + list(build_keys(name)))


def _annotation(name: str, key: str):
    cls = _constructor(name)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:
        hints = {}
    return hints.get(key, parameters(name)[key].annotation)


_NAMES = {"int": int, "float": float, "str": str, "bool": bool, "None": type(None), "list": list,
          "tuple": tuple, "dict": dict, "Any": Any, "typing.Any": Any, "...": Ellipsis}


def _split(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def resolve_annotation(text: str):
    """The type a string annotation names ("int", "float | None", "tuple[int, ...]"), parsed
    without eval; ValueError for anything else."""
    options = []
    for part in (p.strip() for p in _split(text, "|")):
        if part.endswith("]") and "[" in part:
            base = _NAMES.get(part[:part.index("[")].strip())
            if base not in (list, tuple, dict):
                raise ValueError(f"unsupported annotation {text!r}")
            args = tuple(resolve_annotation(a) if a.strip() != "..." else Ellipsis
                         for a in _split(part[part.index("[") + 1:-1], ","))
            options.append(base[args])
        elif part in _NAMES and part != "...":
            options.append(_NAMES[part])
        else:
            raise ValueError(f"unsupported annotation {text!r}")
    return options[0] if len(options) == 1 else typing.Union[tuple(options)]


def matches(value, ann) -> bool:
    """Whether `value` is of the annotated type: the one check for model parameters (`coerce`)
    and notebook parameters (`report.check_parameters`). An int passes where a float is
    declared, a bool never passes as a number; containers are checked element by element (a
    dict's keys and values)."""
    if isinstance(ann, str):
        ann = resolve_annotation(ann)
    if ann is Any:
        return True
    origin = typing.get_origin(ann)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(matches(value, a) for a in typing.get_args(ann))
    if ann is type(None) or ann is None:
        return value is None
    if ann is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ann is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple) or (isinstance(origin, type) and issubclass(origin, abc.Sequence)):
        if not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(ann)
        inner = args[0] if args else Any
        return all(matches(v, inner) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            return False
        args = typing.get_args(ann)
        return not args or all(matches(k, args[0]) and matches(v, args[1]) for k, v in value.items())
    if isinstance(ann, type):
        return isinstance(value, ann)
    return True


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def coerce(name: str, key: str, value: Any) -> Any:
    """Convert `value` (often text) to the type model `name` declares for `key`."""
    own, extra = parameters(name), build_keys(name)
    if key not in own and key not in extra:
        raise InrlabError(f"unknown parameter '{key}' for model '{name}' "
                          f"(valid: {', '.join(valid_keys(name))})")
    ann = _annotation(name, key) if key in own else _BUILD_TYPES[extra[key]]
    if isinstance(ann, str):
        ann = resolve_annotation(ann)
    options = typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, getattr(__import__("types"), "UnionType", None)) else (ann,)
    if value is None and type(None) in options:
        return None
    if not isinstance(value, str):
        ok = matches(value, ann)
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


def checked_kwargs(name: str, kwargs: dict) -> dict:
    """`kwargs` (text or values) converted to the types model `name` declares and checked
    against the family's declared ranges (`ranges`, or `ranges_for(kwargs)` where they depend
    on other arguments, as an ensemble's member options), as `build` takes them."""
    cls = _constructor(name)
    kwargs = {k: coerce(name, k, v) for k, v in kwargs.items()}
    ranges = cls.ranges_for(kwargs) if hasattr(cls, "ranges_for") else getattr(cls, "ranges", {})
    for k, v in kwargs.items():
        if k in ranges and v is not None:
            check_range(name, k, v, ranges[k])
    return kwargs


def build_arguments(name: str, kwargs: dict) -> tuple[dict, int | None, dict | None]:
    """`build`'s checks of its keywords, without building: unknown names, types and ranges.
    Returns (the constructor's keywords, seed or None, the RWF settings or None)."""
    cls = _constructor(name)
    params = parameters(name)
    extra = build_keys(name)
    unknown = [k for k in kwargs if k not in params and k not in extra]
    if unknown:
        raise InrlabError(f"unknown parameter '{unknown[0]}' for model '{name}' "
                          f"(valid: {', '.join(valid_keys(name))})")
    kwargs = checked_kwargs(name, kwargs)
    seed = check_seed(kwargs.pop("seed", None), allow_none=True)
    rwf = _pop_rwf(name, kwargs, params, extra)
    if rwf is not None and not getattr(cls, "factorizable", True):
        raise InrlabError(f"model '{name}' has no linear layers, so random weight factorization "
                          f"(factorize=true) does not apply to it")
    return kwargs, seed, rwf


def build(name: str, signal=None, **kwargs):
    """Construct model `name`; `signal` fills dim_in / dim_out (and `resolution` where the
    model takes one) unless given. `seed` makes the initialisation reproducible without
    touching the global RNG; with no seed it draws from (and moves on) the global RNG."""
    cls = _constructor(name)
    params = parameters(name)
    from ..signals import Signal

    if signal is not None and not isinstance(signal, Signal):
        raise InrlabError(f"build(): signal must be an inrlab Signal (e.g. signals.image('camera')), "
                          f"got {type(signal).__name__} {signal!r:.40}")
    kwargs, seed, rwf = build_arguments(name, kwargs)
    given = dict(kwargs)
    if signal is not None:
        auto = {"dim_in": signal.dim_in, "dim_out": signal.channels, "resolution": tuple(signal.shape)}
        for k, v in auto.items():
            if k in params and k not in kwargs:
                kwargs[k] = v
    if torch.get_default_device().type != "meta":  # count the parameters before allocating them
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            check_model_memory(name, _construct(name, cls, kwargs), given)
    # a seed draws from a stream of its own and leaves the global one as it was; without one,
    # the draws come from the global stream and move it on, so two unseeded builds differ
    with torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext():
        if seed is not None:
            torch.manual_seed(seed)
        model = _construct(name, cls, kwargs)
        if rwf is not None:  # s is drawn here, from the same seeded stream, after init_
            from .factorize import factorize_
            factorize_(model, mu=rwf["rwf_mu"], sigma=rwf["rwf_sigma"])
    if signal is not None:
        model.check_signal(signal)
    saved = {**kwargs, **({"factorize": True, **rwf} if rwf is not None else {})}
    model.config = {"name": name, "kwargs": {k: _jsonable(v) for k, v in saved.items()},
                    "seed": seed}
    return model


def _construct(name: str, cls, kwargs: dict):
    try:
        return cls(**kwargs)
    except InrlabError:
        raise
    except (TypeError, ValueError, RuntimeError) as e:
        raise InrlabError(f"model '{name}': {e}") from None


def _pop_rwf(name: str, kwargs: dict, params: dict, extra: dict) -> dict | None:
    """Take the RWF keywords out of `kwargs`: None (no factorization) or {rwf_mu, rwf_sigma}."""
    from .factorize import DEFAULT_MU, DEFAULT_SIGMA

    factorize = kwargs.pop("factorize", False)
    given, typed = {}, {}
    for key in [k for k in kwargs if k in extra and extra[k] in ("rwf_mu", "rwf_sigma")]:
        canonical = extra[key]
        if canonical in given:
            raise InrlabError(f"model '{name}': '{typed[canonical]}' and '{key}' both set "
                              f"{canonical}; give one")
        given[canonical], typed[canonical] = kwargs.pop(key), key
    if not factorize:
        if given:
            raise InrlabError(f"model '{name}': '{next(iter(typed.values()))}' sets random "
                              f"weight factorization; add factorize=true")
        return None
    for alias, canonical in RWF_ALIASES.items():
        if alias in params and alias in kwargs and canonical not in given:
            raise InrlabError(f"model '{name}': with factorize=true, '{alias}' is ambiguous "
                              f"(it is {name}'s own parameter); name the RWF one {canonical}")
    rwf = {"rwf_mu": float(given.get("rwf_mu", DEFAULT_MU)),
           "rwf_sigma": float(given.get("rwf_sigma", DEFAULT_SIGMA))}
    if not (math.isfinite(rwf["rwf_mu"]) and math.isfinite(rwf["rwf_sigma"]) and rwf["rwf_sigma"] >= 0):
        raise InrlabError(f"model '{name}': rwf_mu must be finite and rwf_sigma >= 0, got "
                          f"rwf_mu={rwf['rwf_mu']}, rwf_sigma={rwf['rwf_sigma']}")
    return rwf


def rebuild(config: dict):
    """Construct a model again from its `config` (as saved in a checkpoint)."""
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config["kwargs"].items()}
    return build(config["name"], seed=config.get("seed"), **kwargs)
