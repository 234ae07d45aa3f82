"""One sweep engine for every study: a spec of signals x trials x seeds, run locally (a process
pool sized to the cores) or on Ray, resumable, with a results table and a summary over seeds.

    from inrlab.sweep import run_sweep
    result = run_sweep("spec.yaml", "runs/sweep", backend="local")   # or backend="ray"

`python -m inrlab sweep SPEC.yaml --out DIR [--backend local|ray] [--address auto] [--jobs N] [--json]`
is the same from the command line; `run_trials(trials, signal=...)` runs trials on in-memory
Signals from Python (one, or a list: the notebooks' sweeps; `api`). See `spec` for the spec's keys, `engine`
for the results table and backends, `stacked` for the runs of one model shape (its seeds, and its targets on
one coordinate grid) trained as one stacked model (`fused`: the hand-worked step SIREN and ReLU stacks take
on a CPU).
"""

from .api import check_trials, run_trials
from .engine import BACKENDS, format_failures, format_summary, read_rows, run_sweep, summarize
from .spec import Spec, check_spec, config_hash, load_spec
from .stacked import can_stack, fit_stacked
from .trial import run_one, run_task

__all__ = ["BACKENDS", "Spec", "can_stack", "check_spec", "check_trials", "config_hash", "fit_stacked",
           "format_failures", "format_summary", "load_spec", "read_rows", "run_one", "run_sweep", "run_trials",
           "run_task", "summarize"]
