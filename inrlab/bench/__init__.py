"""The benchmark: where the FLOP savings turn (or fail to turn) into seconds.

    python -m inrlab.bench [--device auto] [--quick] [--only NAMES] [--json FILE]

Everything is measured in ONE run on one machine: first the machine's references (dense fp32
matmul GFLOP/s and copy bandwidth), then each case. Each case runs in its own child process so
its peak memory (max RSS on CPU, max allocated on CUDA) is its own. For every training-step row
the table prints the time, samples/s, useful GFLOP/s (our FLOP count / time), the fraction of
the matmul reference, and the floor max(FLOPs / matmul rate, bytes / copy bandwidth) with the
ratio time / floor. The references are measured at the start and again around every case,
and every floor uses the best rates seen in the whole run. Times are the fastest of several
repetitions (`time_fn`), references included. Bytes moved per step are estimated as: the tensors autograd saves for the
backward pass, written once and read once, plus their gradients written and read (4x the saved
bytes), plus 32 bytes per parameter for the gradient and Adam (fp32: backward writes the
gradient; Adam reads weight, gradient and two moments and writes weight and moments). Peak memory on CPU is the case process's peak resident set
during the case (Linux VmHWM, reset when the case starts) above what it held before it.

The package: `core` (registry, timers, references, the training-step row and its floor), one
module per group of cases (`steps`, `fastpaths`, `quality`; importing them registers their
cases in `CASES`, in this order) and `runner` (child processes, the table, the JSON, the CLI).
"""

from __future__ import annotations

from .core import (CASES, Case, allocator_settings, case, copy_bandwidth, matmul_rate, references,
                   set_floor, time_fn, train_step_row)
from . import steps, fastpaths, quality  # noqa: E402,F401  (registers the cases, in order)
from ..sweep import bench as _sweep_bench  # noqa: E402,F401  (registers the sweep_* cases)
from .fastpaths import compile_amp_rows
from .quality import TTP_CONFIGS, TTP_FAMILY_CONFIGS, time_to_psnr_rows
from .runner import DEFAULT_WAV, format_row, main, measure_overhead, run_bench

__all__ = ["CASES", "Case", "case", "time_fn", "matmul_rate", "copy_bandwidth", "references",
           "train_step_row", "set_floor", "allocator_settings", "compile_amp_rows", "TTP_CONFIGS", "TTP_FAMILY_CONFIGS",
           "time_to_psnr_rows", "measure_overhead", "run_bench", "format_row", "main", "DEFAULT_WAV"]
