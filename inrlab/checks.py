"""Checks of values where they enter inrlab: seeds, devices, paths, parameter ranges, memory.

Each check raises `InrlabError` with one line naming the value and, where it helps, what is
accepted. They live here so that `fit`, `build`, the signal loaders, the CLI and the study
runner refuse the same value with the same words.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import InrlabError

SEED_MAX = 2 ** 63 - 1     # what torch.manual_seed and torch.Generator take without overflow
MAX_INT = 2 ** 31 - 1      # sizes (widths, features): past this torch indexes with 64 bits at best
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def show(value) -> str:
    """A value as the user would type it: 0 rather than 0.0, nan, inf, 1e+400 as inf."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "x".join(show(v) for v in value) if value else repr(value)
    return repr(value) if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------- seeds

def check_seed(seed, what: str = "seed", allow_none: bool = False):
    """An int in [0, 2**63 - 1] (numpy integers too); None only where `allow_none`."""
    if seed is None and allow_none:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) and not _is_np_int(seed):
        raise InrlabError(f"{what} must be an integer, got {seed!r} (from 0 to 2**63 - 1)")
    if not 0 <= int(seed) <= SEED_MAX:
        raise InrlabError(f"{what} must be an integer from 0 to 2**63 - 1, got {seed}")
    return int(seed)


def _is_np_int(v) -> bool:
    import numpy as np
    return isinstance(v, np.integer)


# --------------------------------------------------------------------------- devices

def parse_device(text) -> torch.device:
    """torch.device(text), or one line saying which names are known."""
    try:
        return torch.device(text)
    except (RuntimeError, TypeError):
        raise InrlabError(f"unknown device '{text}' (use auto, cpu, cuda or mps)") from None


def check_device_name(text) -> None:
    """Raise unless `text` names a device inrlab trains on ('auto', 'cpu', 'cuda:1', ...),
    whether or not this machine has it (a sweep's trials may run on other machines)."""
    if text == "auto":
        return
    dev = parse_device(text)
    if dev.type == "meta" or dev.type not in DEVICE_TYPES:
        raise InrlabError(f"device '{text}' is not one inrlab trains on (use auto, cpu, cuda or mps)")


def check_device(dev: torch.device, text) -> torch.device:
    """`dev` (parsed from `text`) if this machine and this PyTorch build can train on it."""
    if dev.type == "meta":
        raise InrlabError(f"device '{text}' holds no data, so nothing can train on it "
                          f"(use auto, cpu, cuda or mps)")
    if dev.type not in DEVICE_TYPES:
        raise InrlabError(f"device '{text}' is not one inrlab trains on (use auto, cpu, cuda or mps)")
    if dev.type == "cpu":
        return dev
    if dev.type == "mps":
        backend = getattr(torch.backends, "mps", None)
        ok, count = backend is not None and backend.is_available(), 1
    else:
        module = getattr(torch, dev.type, None)
        ok = module is not None and module.is_available()
        count = module.device_count() if ok else 0
    if not ok:
        raise InrlabError(f"device '{text}' requested but {dev.type.upper()} is not available here "
                          f"(this PyTorch build or machine has none)")
    if dev.index is not None and dev.index >= count:
        raise InrlabError(f"device '{text}' requested but only {count} {dev.type.upper()} "
                          f"device(s) exist here (indices 0 to {count - 1})")
    return dev


# --------------------------------------------------------------------------- fit's arguments

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def check_number(name, v):
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
        raise InrlabError(f"{name} must be a finite number or None, got {v!r}")


def check_callbacks(callbacks) -> list:
    if callable(callbacks) or isinstance(callbacks, (str, bytes)):
        raise InrlabError(f"callbacks must be a list of callables, got {callbacks!r}")
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise InrlabError(f"callbacks must be a list of callables, got {callbacks!r}") from None
    bad = [cb for cb in callbacks if not callable(cb)]
    if bad:
        raise InrlabError(f"callbacks must be callables taking a FitState, got {bad[0]!r}")
    return callbacks


# --------------------------------------------------------------------------- paths

def refuse_special_file(path, what: str) -> None:
    """Refuse an existing path that is neither a folder nor a regular file (a FIFO would block
    the reader forever, a device never ends) before anything opens it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise InrlabError(f"{what} '{path}' is {kind}, not a regular file")


def check_input_file(path, what: str, noun: str = "a file") -> Path:
    """An existing regular file to read, or one line naming `what` and the path: missing, a
    directory, or a FIFO, socket or device (which would block or never end)."""
    path = Path(path)
    if not path.exists():
        raise InrlabError(f"{what} not found: '{path}'")
    if path.is_dir():
        raise InrlabError(f"{what} '{path}' is a directory, not {noun}")
    refuse_special_file(path, what)
    return path


def read_text_file(path, what: str) -> str:
    """The UTF-8 text of an input file, or one line naming `what` and the path: what
    `check_input_file` refuses, unreadable, or not UTF-8 text."""
    path = check_input_file(path, what)
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise InrlabError(f"{what} '{path}' is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise InrlabError(f"{what} '{path}' cannot be read: {e.strerror or e}") from None


def read_yaml(path, what: str):
    """A YAML input file (safe types only) as Python data; one line naming `what`, the path and
    the line for a file that cannot be read, is not YAML, or repeats a key in one mapping (YAML
    would keep the last value silently)."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:   # an unhashable key: the constructor below names it
                continue
            if repeated:
                raise InrlabError(f"{what} '{path}' repeats the key '{key}' at line "
                                  f"{key_node.start_mark.line + 1} (YAML keeps only the last one)")
        return loader.construct_mapping(node, deep=deep)

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    text = read_text_file(path, what)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InrlabError(f"{what} '{path}' is not valid YAML{where}: {problem}") from None


def _blocking_ancestor(path: Path) -> tuple[Path | None, Path]:
    """(the first ancestor of `path` that exists but is not a folder, or None; the nearest
    existing ancestor)."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            return (None if parent.is_dir() else parent), parent
    return None, Path(".")


def check_output_file(path, what: str) -> Path:
    """A file path inrlab can write to (checked before any work that would end by writing it)."""
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise InrlabError(f"{what} must be a file path, got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise InrlabError(f"{what} '{path}' is a directory; give a file path inside it")
    refuse_special_file(path, what)
    blocker, existing = _blocking_ancestor(path)
    if blocker is not None:
        raise InrlabError(f"{what} '{path}' is under '{blocker}', which is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise InrlabError(f"{what} '{path}' cannot be written: '{existing}' is not writable")
    _probe(existing, what, path)
    return path


def _probe(folder: Path, what: str, path) -> None:
    """Create and remove a file in `folder`: os.access says yes to root everywhere, and a
    virtual file system (/proc, /sys) refuses new files whatever the permissions say."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".inrlab-probe-")
    except OSError as e:
        raise InrlabError(f"{what} '{path}' cannot be written: '{folder}' refuses new files "
                          f"({e.strerror or e})") from None
    os.close(fd)
    os.unlink(tmp)


def check_output_dir(path, what: str) -> Path:
    """A folder path inrlab can create or write into."""
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise InrlabError(f"{what} must be a folder path, got {path!r}")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InrlabError(f"{what} '{path}' is a file, not a folder")
    blocker, existing = _blocking_ancestor(path)
    if blocker is not None:
        raise InrlabError(f"{what} '{path}' is under '{blocker}', which is a file, not a folder")
    target = path if path.is_dir() else existing
    if not os.access(target, os.W_OK):
        raise InrlabError(f"{what} '{path}' cannot be written: '{target}' is not writable")
    return path


def make_output_dir(path, what: str) -> Path:
    """`check_output_dir`, then the folder created (with its parents): a folder that the checks
    pass but the system still refuses (a read-only or virtual file system) is one line too."""
    path = check_output_dir(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InrlabError(f"{what} '{path}' cannot be created: {e.strerror or e}") from None
    return path


# --------------------------------------------------------------------------- parameter ranges

@dataclass(frozen=True)
class Range:
    """The values a numeric model parameter may take: finite, lo <= v (lo < v if lo_open),
    v <= hi. `why` says what the upper bound protects. A tuple value is checked per item."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    why: str = ""

    def contains(self, v) -> bool:
        return (math.isfinite(v) and (v > self.lo if self.lo_open else v >= self.lo)
                and v <= self.hi)

    def describe(self, integer: bool) -> str:
        kind = "an integer" if integer else "a finite number"
        lo = "" if self.lo == -math.inf else f"{'>' if self.lo_open else '>='} {show(self.lo)}"
        hi = "" if self.hi == math.inf else f"<= {show(self.hi)}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        return f"{kind} {bounds}".strip() + (f" ({self.why})" if self.why else "")


SIZE = Range(1, MAX_INT)
DEPTH = Range(0, 1024, why="each layer is built and run in turn; the papers use at most 10")
SEED = Range(0, SEED_MAX)


def check_range(model: str, key: str, value, rng: Range) -> None:
    """Raise unless `value` (a number, or a tuple/list of numbers) lies in `rng`."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return  # not a number: the constructor parses and checks it
        if not rng.contains(v):
            raise InrlabError(f"model '{model}': {key}={show(value)} is out of range: {key} must "
                              f"be {rng.describe(isinstance(v, int))}, got {show(v)}")


# --------------------------------------------------------------------------- memory

def available_memory(device: torch.device) -> float | None:
    """Free bytes on the device (CUDA), or MemAvailable of the host; None if unknown."""
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_host_memory(needed: float, what: str, advice: str) -> None:
    """Refuse work that needs `needed` bytes of host memory when the host has less available
    (MemAvailable; unknown: allowed): one line, before anything is allocated, where the kernel
    would otherwise kill the process without a word."""
    avail = available_memory(torch.device("cpu"))
    if avail is not None and needed > avail:
        raise InrlabError(f"{what} needs about {human_bytes(needed)} of memory, but only {human_bytes(avail)} "
                          f"is available; {advice}")


def human_bytes(n: float) -> str:
    for unit, size in (("PB", 2 ** 50), ("TB", 2 ** 40), ("GB", 2 ** 30), ("MB", 2 ** 20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2 ** 20:.2f} MB"


def tensor_bytes(module: torch.nn.Module) -> tuple[int, int]:
    """(parameter count, bytes of parameters and buffers) of `module` (meta tensors too)."""
    params = sum(p.numel() for p in module.parameters())
    nbytes = sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])
    return params, nbytes


def check_model_memory(name: str, probe: torch.nn.Module, given: dict) -> None:
    """Refuse to build a model whose parameters and buffers (counted on `probe`, a copy built
    on the meta device) would not fit in the host's available memory."""
    params, nbytes = tensor_bytes(probe)
    avail = available_memory(torch.device("cpu"))
    if avail is not None and nbytes > avail:
        shown = ", ".join(f"{k}={show(v)}" for k, v in given.items()
                          if isinstance(v, (int, float, tuple)) and not isinstance(v, bool))
        raise InrlabError(f"model '{name}'{f' with {shown}' if shown else ''} has {params:,} "
                          f"parameters, which need {human_bytes(nbytes)}, but only "
                          f"{human_bytes(avail)} of memory is available; use a smaller model")


def check_training_memory(model: torch.nn.Module, device: torch.device) -> None:
    """Refuse a fit whose weights, gradients and Adam's two moments (4 x the parameters)
    cannot fit on `device`, before anything is moved or allocated."""
    params = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    avail = available_memory(device)
    if avail is not None and 4 * params > avail:
        raise InrlabError(f"training this model needs {human_bytes(4 * params)} for its weights, "
                          f"gradients and Adam's two moments, but only {human_bytes(avail)} is "
                          f"available on {device}; use a smaller model")


# --------------------------------------------------------------------------- signal specs

SPEC_FORMS = ("perlin (4 noise cells per side), perlin:OCTAVES (a positive number, at most "
              "size / 2), star or star:SPOKES (a Siemens star, 32 spokes), bandnoise or "
              "bandnoise:CUTOFF (band-limited noise, cutoff 0.25 of Nyquist), synth, a .wav path, "
              "or an image name or path")
_INTEGER = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# the specs NAME or NAME:ARG: (ARG when absent, its type, its rule, how the message states both)
_ARG_SPECS = {
    "perlin": (4.0, float, lambda v: v > 0, "OCTAVES", "a positive number"),
    "star": (32, int, lambda v: v > 0, "SPOKES", "a positive integer"),
    "bandnoise": (0.25, float, lambda v: 0 < v <= 1, "CUTOFF", "a number in (0, 1] (a fraction of Nyquist)"),
}


def parse_signal_spec(spec, exists=os.path.exists) -> tuple[str, object]:
    """('perlin', octaves) | ('star', spokes) | ('bandnoise', cutoff) | ('synth', None) |
    ('wav', path) | ('image', source), parsed strictly: anything else is refused with the
    accepted forms (the ranges of spokes and cutoff are checked by their constructors)."""
    if not isinstance(spec, (str, os.PathLike)):
        raise InrlabError(f"signal spec must be text, got {spec!r} (accepted: {SPEC_FORMS})")
    text = str(spec)
    if text.strip() != text or not text:
        raise InrlabError(f"signal spec {text!r} is empty or has surrounding spaces "
                          f"(accepted: {SPEC_FORMS})")
    if exists(text):
        return ("wav", text) if text.lower().endswith(".wav") else ("image", text)
    for kind, (default, parse, ok, arg_name, rule) in _ARG_SPECS.items():
        if text == kind:
            return kind, default
        if text.startswith(kind + ":"):
            arg = text[len(kind) + 1:]
            pattern = _INTEGER if parse is int else _NUMBER
            if not pattern.fullmatch(arg) or not math.isfinite(float(arg)) or not ok(parse(arg)):
                raise InrlabError(f"{kind} spec must be '{kind}' or '{kind}:{arg_name}' with {arg_name} "
                                  f"{rule}, got '{text}'")
            return kind, parse(arg)
    if text in ("synth", "audio"):
        return "synth", None
    if text.lower().endswith(".wav"):
        return "wav", text
    from .signals import SKIMAGE_IMAGES

    if text in SKIMAGE_IMAGES or os.sep in text or "." in Path(text).name:
        return "image", text  # a sample name, or a path the image loader reports as missing
    raise InrlabError(f"unknown signal '{text}' (accepted: {SPEC_FORMS}; images: "
                      f"{', '.join(SKIMAGE_IMAGES)})")


def refuse_image_options(kind: str, spec, size=None, gray: bool = False) -> None:
    """Raise if an image option is given for audio (`kind` from `parse_signal_spec`): a clip
    keeps its own length and is mono, so `size` and `gray` would be ignored, and a recorded
    config would claim what did not run."""
    if kind not in ("synth", "wav"):
        return
    if size is not None:
        raise InrlabError(f"size={size!r} is an image option; audio '{spec}' keeps its own length "
                          f"(leave size unset)")
    if gray:
        raise InrlabError(f"gray is an image option; audio '{spec}' is mono already (leave gray unset)")


# --------------------------------------------------------------------------- cells

def check_cells(signal, grid) -> None:
    """Raise unless every cell of `grid` holds at least one sample of `signal`.

    The one rule for every family that splits the domain (multi-head, ensemble): cells may be
    uneven (a side of n samples in g cells gives cells of floor(n/g) or ceil(n/g) samples, as
    `signals.partition` assigns them), but none may be empty, so a grid has at most as many
    cells per side as the signal has samples along it."""
    from .signals import parse_grid, partition

    grid = parse_grid(grid, signal.dim_in)
    if len(signal.shape) == len(grid):
        for axis, (n, g) in enumerate(zip(signal.shape, grid)):
            if g > n:
                raise InrlabError(f"grid {g} along axis {axis} has more cells than the {n} samples "
                                  f"of signal '{signal.name}' along it ({g - n} would be empty); "
                                  f"use at most {n} cells per side")
    cells = math.prod(grid)
    counts = torch.bincount(partition(signal.coords.double(), grid)[0].cpu(), minlength=cells)
    empty = int((counts == 0).sum())
    if empty:
        raise InrlabError(f"grid {show(grid)} leaves {empty} of its {cells} cells without a sample "
                          f"of signal '{signal.name}'; use a coarser grid")
