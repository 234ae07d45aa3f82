"""Progress bars for the long loops of a notebook (sweeps over heads, octaves, candidates, runs).

    for M in progress.bar(search_grids, desc="search over M"):
        ...

A `tqdm.auto` bar (a widget in JupyterLab, text in a terminal) when someone is watching: the
kernel was started by a Jupyter server (JupyterLab and Notebook put JPY_SESSION_NAME in each
kernel's environment) or the process writes to a terminal. Batch runs (papermill, nbclient, nbval:
the study runner) have neither, so their logs and saved notebooks carry no bar output.
INRLAB_PROGRESS=1 forces bars on, INRLAB_PROGRESS=0 off.
"""

from __future__ import annotations

import os
import sys

from .errors import InrlabError

_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def enabled() -> bool:
    """Whether bars are shown in this process (see the module docstring)."""
    force = os.environ.get("INRLAB_PROGRESS", "").strip().lower()
    if force in _ON:
        return True
    if force in _OFF:
        return False
    if force:
        raise InrlabError(f"INRLAB_PROGRESS must be one of {', '.join(_ON + _OFF)} or unset, got '{force}'")
    if os.environ.get("JPY_SESSION_NAME"):
        return True
    if "ipykernel" in sys.modules:  # a kernel not started by a Jupyter server: a batch run
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def bar(iterable=None, desc: str = "", total: int | None = None, leave: bool = True):
    """A tqdm.auto bar over `iterable` (or a manual one with `total`), disabled where nobody watches."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=not enabled(), mininterval=0.5)
