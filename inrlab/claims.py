"""The claims ledger: each paper's headline claim, and a verdict computed from a run's metrics.

A claim names its paper, figure or table, the claim in one sentence, the paper's numbers, the
paper's protocol and the notebook that measures it. Its check reads that notebook's metrics
(`metrics.json`, or `Report.metrics` inside the notebook) and returns an Outcome: a verdict
and the measured numbers. The verdict vocabulary is fixed:

- ``reproduced``: the claim holds, and where the paper gives levels, ours are within the
  claim's tolerance of them;
- ``ordering reproduced``: the same ranking or direction, at other levels;
- ``not reproduced``: the run measured the opposite, or a difference within its noise;
- ``not run``: the run lacks what the check needs (a notebook failed or was not run, a sweep
  missed the points the claim is about, or a difference under 2 dB measured with < 3 seeds).

Beside each verdict the ledger lists the run's protocol differences: every protocol key the
claim names whose value in the run is not the paper's ("steps 300 instead of 2000").

    python -m inrlab claims --list [--json]
    python -m inrlab claims --run RUN_DIR [--json]
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .errors import InrlabError

VERDICTS = ("reproduced", "ordering reproduced", "not reproduced", "not run")
# A difference smaller than this needs at least MIN_SEEDS seeds before it can carry a verdict.
SMALL_DB = 2.0
MIN_SEEDS = 3


@dataclass
class Outcome:
    verdict: str
    measured: dict = field(default_factory=dict)
    detail: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


class NotRun(Exception):
    """Raised inside a check when the metrics lack what it needs; becomes verdict 'not run'."""


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    where: str
    notebook: str
    statement: str
    paper_values: dict
    protocol: dict
    check: Callable[[dict], Outcome]
    convention: str = "ours"
    figure: str = ""
    gpu_note: str = ""
    # protocol keys that must be the paper's for levels to compare: where one differs, a
    # 'reproduced' (levels within tolerance) counts only as 'ordering reproduced'
    levels_need: tuple = ()

    def describe(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "check"}
        return d


_CLAIMS: dict[str, Claim] = {}


def claim(id: str, *, paper: str, where: str, notebook: str, statement: str,
          paper_values: dict | None = None, protocol: dict | None = None,
          convention: str = "ours", figure: str = "", gpu_note: str = "", levels_need: tuple = ()):
    """Decorator: register a check function as the claim `id`."""

    def deco(fn):
        if id in _CLAIMS:
            raise RuntimeError(f"claim '{id}' registered twice")
        _CLAIMS[id] = Claim(id, paper, where, notebook, statement, dict(paper_values or {}),
                            dict(protocol or {}), fn, convention, figure, gpu_note, tuple(levels_need))
        return fn

    return deco


def registered(notebook: str | None = None) -> list[Claim]:
    return [c for c in _CLAIMS.values() if notebook is None or c.notebook == notebook]


def get(id: str) -> Claim:
    if id not in _CLAIMS:
        raise InrlabError(f"unknown claim '{id}' (claims: {', '.join(_CLAIMS)})")
    return _CLAIMS[id]


# --------------------------------------------------------------------------- numbers

@dataclass
class Stat:
    """Mean, sample standard deviation and count of a metric over seeds."""
    mean: float
    sd: float
    n: int

    def __str__(self):
        return f"{self.mean:.2f}" if self.n < 2 else f"{self.mean:.2f} ± {self.sd:.2f} (n={self.n})"


def _finite(v) -> bool:
    return v is not None and not isinstance(v, bool) and math.isfinite(float(v))


def stat(values) -> Stat:
    """Over every value given: a missing (None) or non-finite one (a diverged seed) makes the
    statistic NotRun, never a mean of the seeds that are left."""
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values]
    values = list(values)
    bad = [v for v in values if not _finite(v)]
    if not values or bad:
        raise NotRun("no values over seeds" if not values else
                     f"{len(bad)} of {len(values)} values over seeds are missing or not finite "
                     f"({', '.join(map(str, bad[:3]))}): a seed diverged or was not recorded")
    vals = [float(v) for v in values]
    n = len(vals)
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return Stat(mean, sd, n)


def need(m: dict, *path):
    """m[path[0]][path[1]]...; NotRun naming the missing key."""
    cur = m
    for key in path:
        if not isinstance(cur, dict) or str(key) not in cur or cur[str(key)] is None:
            raise NotRun(f"the run recorded no {'/'.join(map(str, path))}")
        cur = cur[str(key)]
    if isinstance(cur, float) and not math.isfinite(cur):
        raise NotRun(f"the run recorded a non-finite {'/'.join(map(str, path))} ({cur})")
    return cur


def number(value, what: str) -> float:
    """`value` as a float; NotRun naming `what` when it is missing, not a number or not finite."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise NotRun(f"the run recorded no number for {what} (got {value!r})") from None
    if not math.isfinite(x):
        raise NotRun(f"the run recorded a non-finite {what} ({x})")
    return x


def numbers(values, what: str) -> list[float]:
    """A recorded list (a curve, a sweep) as floats; NotRun naming `what` and the first index
    that is missing or not finite."""
    if not isinstance(values, (list, tuple)):
        raise NotRun(f"the run recorded no list for {what} (got {type(values).__name__})")
    return [number(v, f"{what}[{i}]") for i, v in enumerate(values)]


def difference(a, b) -> tuple[Stat, str | None]:
    """a - b over seeds (paired when both have the same count), and why it cannot carry a
    verdict (None if it can): within its noise, or under SMALL_DB with too few seeds."""
    sa, sb = stat(a), stat(b)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and len(a) > 1:
        d = stat([x - y for x, y in zip(a, b)])
    else:
        d = Stat(sa.mean - sb.mean, math.hypot(sa.sd, sb.sd), min(sa.n, sb.n))
    if d.n >= 2 and abs(d.mean) <= d.sd:
        return d, f"within noise ({d.mean:+.2f} ± {d.sd:.2f} dB over {d.n} seeds)"
    if abs(d.mean) < SMALL_DB and d.n < MIN_SEEDS:
        return d, f"a difference of {d.mean:+.2f} dB needs at least {MIN_SEEDS} seeds (this run: {d.n})"
    return d, None


def ranking(measured: dict, order: list, paper: dict | None = None, tol_db: float = 3.0,
            unit: str = "dB") -> Outcome:
    """Check that measured[order[0]] > measured[order[1]] > ... (each a value or a list over
    seeds). All pairs hold: 'reproduced' when every level is within tol_db of the paper's,
    else 'ordering reproduced'. A reversed pair: 'not reproduced'; a pair too close to call
    (within noise): 'not reproduced'; too few seeds for a small gap: 'not run'."""
    missing = [k for k in order if measured.get(k) is None]
    if missing:
        raise NotRun(f"the run has no {', '.join(map(str, missing))}")
    stats = {k: stat(measured[k]) for k in order}
    shown = {str(k): str(stats[k]) for k in order}
    # every pair is judged, so a clear reversal further down is not hidden by a pair that lacks seeds
    reversed_, noisy, unsure = [], [], []
    for hi, lo in zip(order[:-1], order[1:]):
        d, why = difference(measured[hi], measured[lo])
        if why and why.startswith("within noise"):
            noisy.append(f"{hi} vs {lo}: {why}")
        elif why:  # too few seeds for a gap this small, whichever its sign
            unsure.append(f"{hi} vs {lo}: {why}")
        elif d.mean <= 0:
            reversed_.append(f"{lo} ({stats[lo].mean:.2f}) is not below {hi} ({stats[hi].mean:.2f} {unit})")
    if reversed_ or noisy:
        return Outcome("not reproduced", shown, "; ".join(reversed_ + noisy))
    if unsure:
        return Outcome("not run", shown, "; ".join(unsure))
    chain = " > ".join(map(str, order))
    if paper and all(k in paper for k in order):
        off = {k: stats[k].mean - paper[k] for k in order}
        worst = max(off, key=lambda k: abs(off[k]))
        if abs(off[worst]) <= tol_db:
            return Outcome("reproduced", shown, f"{chain}, every level within {tol_db:g} {unit} of the paper's")
        return Outcome("ordering reproduced", shown,
                       f"{chain} as in the paper; levels differ by up to {off[worst]:+.2f} {unit} ({worst})")
    return Outcome("reproduced" if not paper else "ordering reproduced", shown, f"{chain}")


def ratio_check(measured: float, paper: float, rel_tol: float, label: str) -> Outcome:
    measured = number(measured, f"{label} ratio")
    off = measured / paper - 1
    verdict = "reproduced" if abs(off) <= rel_tol else "not reproduced"
    return Outcome(verdict, {label: f"{measured:.4g}x"},
                   f"{measured:.4g}x against the paper's {paper:g}x ({off:+.1%}; tolerance {rel_tol:.0%})")


# --------------------------------------------------------------------------- the ledger

@dataclass
class Row:
    id: str
    paper: str
    where: str
    notebook: str
    statement: str
    convention: str
    paper_values: dict
    verdict: str
    measured: dict
    detail: str
    differences: list
    figure: str = ""

    def measured_text(self) -> str:
        return "; ".join(f"{k} {v}" for k, v in self.measured.items()) or "—"

    def paper_text(self) -> str:
        return "; ".join(f"{k} {v}" for k, v in self.paper_values.items()) or "—"


def _short(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(map(_short, v)) + "]" if len(v) <= 6 else \
            f"[{_short(v[0])}, {_short(v[1])}, ..., {_short(v[-1])}] ({len(v)} values)"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def differences(c: Claim, metrics: dict) -> list[str]:
    """The run's departures from the paper's protocol, one phrase per protocol key."""
    out = []
    for key, paper_value in c.protocol.items():
        if key not in metrics:
            out.append(f"{key} not recorded (paper: {_short(paper_value)})")
            continue
        ran = metrics[key]
        same = ran == paper_value or (isinstance(ran, (int, float)) and isinstance(paper_value, (int, float))
                                      and not isinstance(ran, bool)
                                      and math.isclose(float(ran), float(paper_value), rel_tol=1e-9))
        if not same:
            out.append(f"{key} {_short(ran)} instead of {_short(paper_value)}")
    return out


def evaluate(c: Claim, metrics: dict | None, why_not: str = "") -> Row:
    """The ledger row of claim `c` for one notebook's metrics (None: the notebook did not run)."""
    if metrics is None:
        outcome, diffs = Outcome("not run", {}, why_not or f"{c.notebook} was not run"), []
    else:
        diffs = differences(c, metrics)
        try:
            outcome = c.check(metrics)
        except NotRun as e:
            outcome = Outcome("not run", {}, str(e))
        except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError, OverflowError,
                AttributeError) as e:  # a value of the wrong shape (a list where a mapping belongs)
            outcome = Outcome("not run", {}, f"the metrics could not be read ({type(e).__name__}: {e})")
    if outcome.verdict == "reproduced" and metrics is not None:
        other = [k for k in c.levels_need if k in c.protocol and any(d.startswith(f"{k} ") for d in diffs)]
        if other:
            outcome.verdict = "ordering reproduced"
            outcome.detail = (f"{outcome.detail}; levels not comparable: the run's {', '.join(other)} "
                              f"differ from the paper's")
    if outcome.verdict == "not run" and c.gpu_note:
        outcome.detail = f"{outcome.detail}; {c.gpu_note}" if outcome.detail else c.gpu_note
    return Row(c.id, c.paper, c.where, c.notebook, c.statement, c.convention, c.paper_values,
               outcome.verdict, outcome.measured, outcome.detail, diffs, c.figure)


def findings(metrics: dict, notebook: str) -> list[Row]:
    """Every claim of `notebook` judged on its metrics (what a notebook's last cell prints)."""
    return [evaluate(c, metrics) for c in registered(notebook)]


def print_findings(metrics: dict, notebook: str) -> list[Row]:
    rows = findings(metrics, notebook)
    print(format_rows(rows))
    return rows


def format_rows(rows: list[Row]) -> str:
    """The ledger as text: a block per claim."""
    lines = []
    for r in rows:
        lines.append(f"[{r.verdict}] {r.id} ({r.paper}, {r.where}; convention: {r.convention})")
        lines.append(f"    claim:    {r.statement}")
        lines.append(f"    paper:    {r.paper_text()}")
        lines.append(f"    measured: {r.measured_text()}")
        if r.detail:
            lines.append(f"    why:      {r.detail}")
        lines.append("    protocol: " + ("; ".join(r.differences) if r.differences else "the paper's"))
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines)


def run_ledger(run_dir) -> list[Row]:
    """One row per registered claim for a study run folder (status.json + <notebook>/metrics.json)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise InrlabError(f"run folder not found: '{run_dir}'")
    status_path = run / "status.json"
    statuses = {}
    if status_path.is_file():
        try:
            data = json.loads(status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # ValueError: bad JSON or bytes that are not UTF-8
            raise InrlabError(f"'{status_path}' is not readable JSON") from None
        statuses = data.get("notebooks", {}) if isinstance(data, dict) else None
        if not isinstance(statuses, dict):
            raise InrlabError(f"'{status_path}' has no notebooks mapping")
    has_metrics = any((run / c.notebook / "metrics.json").is_file() for c in registered())
    if not statuses and not has_metrics:
        raise InrlabError(f"'{run_dir}' is not a study run (no status.json, no <notebook>/metrics.json)")
    rows, cache = [], {}
    for c in registered():
        if c.notebook not in cache:
            st = statuses.get(c.notebook) if isinstance(statuses.get(c.notebook), dict) else {}
            path = run / c.notebook / "metrics.json"
            metrics, why = None, f"{c.notebook} was not run in this folder"
            if st and not st.get("ok", False):
                why = f"{c.notebook} failed: {st.get('error') or 'no error recorded'}"
            elif path.is_file():
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                    metrics = data.get("metrics", None) if isinstance(data, dict) else None
                    if not isinstance(metrics, dict):
                        metrics, why = None, f"'{path}' holds no metrics mapping"
                except (OSError, ValueError):  # bad JSON or bytes that are not UTF-8
                    why = f"'{path}' is not readable JSON"
            cache[c.notebook] = (metrics, why)
        metrics, why = cache[c.notebook]
        row = evaluate(c, metrics, why)
        if row.figure and (run / c.notebook / f"{row.figure}.html").is_file():
            row.figure = f"{c.notebook}/{row.figure}.html"
        else:
            row.figure = ""
        rows.append(row)
    return rows


def rows_json(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]


_COLOURS = {"reproduced": "#d4edda", "ordering reproduced": "#fff3cd", "not reproduced": "#f8d7da",
            "not run": "#e2e3e5"}


def ledger_html(rows: list[Row]) -> str:
    """The ledger as an HTML table (verdicts coloured, each row linking to its figure)."""
    import html as h

    out = ["<table class=ledger><tr><th>claim</th><th>paper</th><th>paper's numbers</th>"
           "<th>measured</th><th>verdict</th><th>protocol differences</th></tr>"]
    for r in rows:
        name = h.escape(r.id)
        if r.figure:
            name = f"<a href='{h.escape(r.figure)}'>{name}</a>"
        why = f"<br><small>{h.escape(r.detail)}</small>" if r.detail else ""
        out.append(
            f"<tr><td>{name}<br><small>{h.escape(r.statement)}</small></td>"
            f"<td>{h.escape(r.paper)}, {h.escape(r.where)}<br><small>convention: {h.escape(r.convention)}</small></td>"
            f"<td>{h.escape(r.paper_text())}</td><td>{h.escape(r.measured_text())}</td>"
            f"<td style='background:{_COLOURS[r.verdict]}'><b>{h.escape(r.verdict)}</b>{why}</td>"
            f"<td><small>{h.escape('; '.join(r.differences) or 'none')}</small></td></tr>")
    out.append("</table>")
    return "\n".join(out)


def ledger_markdown(rows: list[Row]) -> str:
    """The ledger as a Markdown table (README)."""
    def cell(s):
        return str(s).replace("|", "/").replace("\n", " ")

    out = ["| claim | paper | paper's numbers | measured | verdict | protocol differences |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| `{r.id}` {cell(r.statement)} | {cell(r.paper)}, {cell(r.where)} ({cell(r.convention)}) "
                   f"| {cell(r.paper_text())} | {cell(r.measured_text())} "
                   f"| **{r.verdict}**{': ' + cell(r.detail) if r.detail else ''} "
                   f"| {cell('; '.join(r.differences) or 'none')} |")
    return "\n".join(out)


def write_ledger(run_dir) -> list[Row]:
    """Compute the ledger of a run and write claims.json beside its status.json."""
    from .atomic import atomic_write_json

    rows = run_ledger(run_dir)
    atomic_write_json(Path(run_dir) / "claims.json", {"verdicts": list(VERDICTS), "claims": rows_json(rows)})
    return rows


from . import claimset  # noqa: E402,F401  (registers the claims)
