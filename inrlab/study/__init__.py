"""The study runner: every notebook executed by papermill with one profile's parameters.

    python -m inrlab study [--profile quick|paper] [--only NAMES] [--out DIR] [--jobs N] [--resume DIR]

Profiles are YAML files in notebooks/profiles/ (one per profile): a mapping from notebook name
(file stem) to the parameters papermill injects; a notebook missing from a profile runs with
its own defaults. Each notebook gets a folder <out>/<stem>/ holding the executed notebook, its
figures and metrics.json (the notebook writes them through inrlab.report.Report, given
`out_dir`). A failing notebook is saved with its error and the others go on; status.json and
index.html summarise the run; the exit code is the number of notebooks that failed (capped at
100), or 130 when interrupted.

Every value is checked before a notebook starts: a profile may only set parameters a notebook's
`parameters` cell declares (`out_dir` is the runner's own), `--only` needs names, `--resume`
needs a folder that holds a run, and one study at a time writes into a folder: the first holds
`<out>/.study.lock` (its pid) until it exits; a lock left by a process that no longer runs is
taken over.

The console gets one whole line per notebook start and end (a lock keeps threads from
interleaving them), a progress line per running notebook (cells done / total: redrawn in place
on a terminal, a plain line every PROGRESS_EVERY seconds otherwise) and a summary table at the
end. Kernels talk to the runner over IPC sockets, not TCP, so ipykernel has no reason to warn
that the connection is unencrypted; whatever else a kernel prints on stderr still shows.
`compare_runs(new, old)` writes compare.html: one run's results beside an earlier run's.

The package: `profiles` (notebooks, profiles and their checks), `execute` (one notebook through
papermill), `remote` (one notebook as a Ray task, for `--backend ray`), `console` (start/end
lines, progress, the summary table), `index` (status.json read back, index.html, compare.html)
and `runner` (run_study: checks, lock, worker threads, resume).
The names callers use are re-exported here; `PROGRESS_EVERY` is read from this package when a Console starts.
"""

from __future__ import annotations

PROGRESS_EVERY = 20.0  # seconds between plain progress lines when stdout is not a terminal

from .profiles import (RUNNER_PARAMETERS, check_profile, list_notebooks, load_profile,  # noqa: E402
                       notebook_parameters, notebooks_dir)
from .profiles import _select  # noqa: E402,F401  (tests)
from .execute import export_pngs  # noqa: E402
from .console import Console, summary_lines  # noqa: E402
from .index import compare_runs, read_statuses, write_index  # noqa: E402
from .runner import LOCK_NAME, run_info, run_study, study_lock  # noqa: E402

__all__ = ["LOCK_NAME", "PROGRESS_EVERY", "RUNNER_PARAMETERS", "notebooks_dir", "list_notebooks",
           "load_profile", "notebook_parameters", "check_profile", "export_pngs", "Console",
           "summary_lines", "read_statuses", "study_lock", "run_study", "run_info", "write_index",
           "compare_runs"]
