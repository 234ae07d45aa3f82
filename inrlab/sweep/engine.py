"""Run a sweep into a folder: the results table, resume, the summary, and two backends.

DIR/results.jsonl is append-only, one JSON row per finished trial (its config, `hash`, status,
final metrics or its one-line error), rewritten atomically after every row so a crash or Ctrl-C
keeps each finished row and never a half-written one. DIR/summary.json groups the rows over
seeds (mean, sd, n per metric). A rerun skips every hash with an 'ok' row; failed trials run
again.

Backends (no scheduler of our own):
* local: the driver itself with jobs=1, else a `ProcessPoolExecutor` of `jobs` worker processes
  (default: the cores), each with torch's thread count set to cores // jobs.
* ray: Ray tasks asking for `resources` (cpus, gpus) each, `max_retries=1` (a worker lost
  mid-trial is retried once, then recorded as failed); `address='auto'` joins a running cluster,
  None starts a local instance. Rows come back as tasks finish and the driver writes them.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Callable

from ..atomic import atomic_write_json, atomic_write_text
from ..checks import check_output_dir, make_output_dir
from ..errors import InrlabError
from .spec import Spec, config_hash, default_jobs, group_key, load_spec
from .trial import METRICS, failed_row, run_task, tasks_for

RESULTS, SUMMARY = "results.jsonl", "summary.json"
BACKENDS = ("local", "ray")


def read_rows(out) -> list[dict]:
    """The rows of DIR/results.jsonl; one line naming the file and the line for one that is not
    a result row (not JSON, not a mapping, without its hash, status or a config with signal,
    model, params, steps and seed, a hash that is not its config's, a metric that is not a
    number)."""
    from ..checks import read_text_file

    path = Path(out) / RESULTS
    if not path.exists() and not path.is_symlink():
        return []
    if path.is_dir():
        raise InrlabError(f"'{path}' is a folder; a sweep folder's {RESULTS} is its results table")
    rows = []
    for i, line in enumerate(read_text_file(path, "results table").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            why = _not_a_row(row)
        except json.JSONDecodeError:
            why = "not JSON"
        if why:
            raise InrlabError(f"'{path}' line {i} is not a result row ({why}); delete that line to keep "
                              f"the others, or move the file away to start over")
        rows.append(row)
    return rows


def _not_a_row(row) -> str | None:
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not a mapping"
    for key, kind in (("hash", str), ("status", str), ("config", dict)):
        if not isinstance(row.get(key), kind):
            return f"no '{key}'" if key not in row else f"'{key}' is not a {kind.__name__}"
    if row["status"] not in ("ok", "failed"):
        return f"status {row['status']!r}"
    config = row["config"]
    for key, kind in (("signal", dict), ("model", str), ("params", dict), ("steps", int), ("seed", int)):
        if not isinstance(config.get(key), kind) or isinstance(config.get(key), bool):
            return f"its config has no '{key}'" if key not in config else f"its config's '{key}' is not a {kind.__name__}"
    if not isinstance(config["signal"].get("source"), str):
        return "its config's signal has no 'source'"
    if row["hash"] != config_hash(config):  # the summary and resume go by the hash
        return "its hash is not its config's: the line was edited"
    for key in METRICS:
        v = row.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            return f"'{key}' is {v!r}, not a number"
    return None


class Table:
    """The append-only results table of one sweep folder."""

    def __init__(self, out):
        self.out = Path(out)
        self.path = self.out / RESULTS
        self.rows = read_rows(out)
        self._text = "".join(json.dumps(r) + "\n" for r in self.rows)

    def done(self) -> set[str]:
        return {r["hash"] for r in self.rows if r.get("status") == "ok"}

    def append(self, row: dict) -> None:
        self.rows.append(row)
        self._text += json.dumps(row) + "\n"
        atomic_write_text(self.path, self._text)


def summarize(rows: list[dict]) -> list[dict]:
    """One entry per configuration (all but the seed): its config, seeds, and for each metric
    mean, sd (sample standard deviation; None for one seed) and n over the 'ok' rows."""
    groups: dict[str, list[dict]] = {}
    seen = set()
    for r in rows:
        if r.get("status") != "ok" or (r.get("hash") is not None and r["hash"] in seen):
            continue   # a trial (a hash) counts once
        seen.add(r.get("hash"))
        groups.setdefault(group_key(r["config"]), []).append(r)
    out = []
    for key, rs in groups.items():
        config = {k: v for k, v in rs[0]["config"].items() if k != "seed"}
        entry = {"group": key, "config": config, "seeds": sorted(r["config"]["seed"] for r in rs),
                 "metrics": {}}
        for m in METRICS:
            vals = [float(r[m]) for r in rs if r.get(m) is not None and math.isfinite(float(r[m]))]
            if not vals:
                continue
            mean = sum(vals) / len(vals)
            sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
            entry["metrics"][m] = {"mean": mean, "sd": sd, "n": len(vals)}
        out.append(entry)
    return out


def label(config: dict) -> str:
    sig = config["signal"]
    params = ", ".join(f"{k}={v}" for k, v in sorted(config["params"].items()))
    lr = "" if config.get("lr") is None else f", lr={config['lr']:g}"
    where = sig["source"] + ("" if sig.get("size") is None else f"@{sig['size']}")
    where += " gray" if sig.get("gray") else ""
    where += f" (held out: {sig['heldout']})" if sig.get("heldout") else ""
    return f"{config['model']}({params}){lr}, {config['steps']} steps on {where}"


def format_summary(summary: list[dict]) -> str:
    """One line per configuration: mean ± sd of each metric and the seeds' count; a metric
    that some seeds did not record (not finite, or None) shows its own n."""
    lines = []
    for e in summary:
        cells, n = [], len(e["seeds"])
        for m in ("psnr", "psnr_heldout", "ssim", "seconds"):
            s = e["metrics"].get(m)
            if s:
                sd = f" ± {s['sd']:.3g}" if s["sd"] is not None else ""
                own = f" (n={s['n']} of {n})" if s["n"] != n else ""
                cells.append(f"{m} {s['mean']:.4g}{sd}{own}")
        lines.append(f"{label(e['config'])}: {'; '.join(cells)} (n={n})")
    return "\n".join(lines)


def format_failures(rows: list[dict], most: int = 10) -> str:
    """The failed rows as lines 'failed: <trial>, seeds ...: <error>', one per trial and error
    (a configuration whose seeds all fail alike is one line), at most `most` lines."""
    groups: dict[tuple[str, str], list] = {}
    for r in rows:
        if r.get("status") == "failed":
            groups.setdefault((label(r["config"]), r.get("error", "")), []).append(r["config"].get("seed"))
    lines = [f"failed: {where}, seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}: {error}"
             for (where, error), seeds in groups.items()]
    if len(lines) > most:
        lines = lines[:most] + [f"... and {len(lines) - most} more (each error is in {RESULTS})"]
    return "\n".join(lines)


def _local(tasks, spec: Spec, jobs: int, on_rows, progress, signal=None):
    if jobs <= 1 or len(tasks) <= 1:
        for t in tasks:
            on_rows(run_task(t, spec.device, None, signal))
            progress(len(t))
        return
    import concurrent.futures as cf
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // jobs)
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"))
    futures = {pool.submit(run_task, t, spec.device, threads, signal): t for t in tasks}
    try:
        for f in cf.as_completed(futures):
            try:
                rows = f.result()
            except Exception as e:  # noqa: BLE001  (a worker process died)
                rows = [failed_row(c, f"worker lost: {type(e).__name__}: {e}") for c in futures[f]]
            on_rows(rows)
            progress(len(futures[f]))
    except BaseException:
        # stop the workers rather than cancel their futures: the pool then fails what is left
        # itself (cancelling them raced its manager thread, which set an exception on a
        # cancelled future and printed a traceback when a SIGTERM reached the workers too)
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        pool.shutdown(wait=False)
        raise
    pool.shutdown()


def start_ray(address: str | None = None, num_cpus: int | None = None):
    """The `ray` module, joined to the cluster at `address` (or $RAY_ADDRESS, the cluster a
    notebook's environment names; 'auto': the running one), else a local Ray started with
    `num_cpus` (None: all); an instance already running in this process is kept."""
    try:
        import ray
    except ImportError:
        raise InrlabError("the ray backend needs Ray: pip install 'inrlab[ray]'") from None
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        kw = {"address": address} if address else {"num_cpus": num_cpus, "include_dashboard": False}
        if address:
            _reachable(address)
        try:
            ray.init(log_to_driver=False, **kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            if not address:
                raise
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InrlabError(f"cannot join a Ray cluster at address '{address}': {why} (start one with "
                              f"'ray start --head', or leave the address unset for a local Ray)") from None
    return ray


def check_schedulable(ray, cpus: float, gpus: float, address: str | None, what: str = "each trial") -> None:
    """Refuse (a Ray started here) or warn about (a cluster joined at an address, which an
    autoscaler may grow) tasks that no node has the CPUs and GPUs for: Ray would hold them
    forever and the run would look hung."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
        return

    def n(count, unit):
        return f"{count:g} {unit}" + ("" if count == 1 else "s")

    most = ", ".join(n(max((r.get(k, 0) for r in nodes), default=0), k) for k in ("CPU", "GPU"))
    text = (f"{what} asks Ray for {n(cpus, 'CPU')} and {n(gpus, 'GPU')}, but no node of the cluster "
            f"has them (the most on one node: {most})")
    if address or os.environ.get("RAY_ADDRESS"):
        print(f"warning: {text}; the tasks wait until such a node joins", file=sys.stderr, flush=True)
        return
    raise InrlabError(f"{text}; ask for less (the spec's resources) or join a cluster that has them")


def _ray(tasks, spec: Spec, jobs: int | None, address: str | None, on_rows, progress, signal=None):
    ray = start_ray(address, jobs)
    cpus, gpus = spec.resources["cpus"], spec.resources["gpus"]
    check_schedulable(ray, cpus, gpus, address)
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=1)(run_task)
    threads = max(1, int(cpus))
    data = None if signal is None else ray.put(signal)  # one copy in the object store for every task
    pending = {remote.remote(t, spec.device, threads, data): t for t in tasks}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                t = pending.pop(ref)
                try:
                    rows = ray.get(ref)
                except Exception as e:  # noqa: BLE001  (lost twice, or the task itself died)
                    rows = [failed_row(c, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                            for c in t]
                on_rows(rows)
                progress(len(t), running=sum(len(v) for v in pending.values()))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def check_backend(backend, jobs, address, *, who: str | None = None) -> None:
    """One-line errors for the backend arguments, worded for the CLI, or for the Python function
    named `who` (run_trials, search_ensemble)."""
    python = who is not None
    where = f"{who}: " if python else ""
    if backend not in BACKENDS:
        raise InrlabError(f"{where}unknown backend '{backend}' (use {' or '.join(BACKENDS)})")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise InrlabError(f"{where}{repr('jobs') if python else '--jobs'} must be a positive integer, got {jobs!r}")
    if address is not None and backend != "ray":
        raise InrlabError(f"{where}'address' joins a Ray cluster; add backend='ray'" if python
                          else "--address joins a Ray cluster; add --backend ray")
    if address is not None:
        _host_port(address, f"{where}{repr('address') if python else '--address'}")


def check_trial_device(device, backend: str, who: str | None = None) -> None:
    """The trials' device: a name inrlab trains on, and, on the local backend, one this machine
    has (a Ray cluster's nodes may have what the driver lacks)."""
    import torch

    from ..checks import check_device_name
    from ..fitsetup import resolve_device

    where = f"{who}: 'device': " if who else ""
    if isinstance(device, torch.device):   # what resolve_device gives a notebook
        device = str(device)
    if not isinstance(device, str):
        raise InrlabError(f"{where or 'device: '}must be a device name such as auto, cpu or cuda, got {device!r}")
    try:
        check_device_name(device)
        if backend == "local":
            resolve_device(device)
    except InrlabError as e:
        raise InrlabError(f"{where}{e}") from None


def _host_port(address, what: str = "Ray address") -> tuple[str, int] | None:
    """(host, port) of a Ray address 'HOST:PORT' or 'ray://HOST:PORT'; None for 'auto' (the
    cluster running on this machine); one line naming `what` for anything else."""
    if not isinstance(address, str) or not address.strip():
        raise InrlabError(f"{what} must be 'auto', HOST:PORT or ray://HOST:PORT, got {address!r}")
    if address in ("auto", "local"):
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InrlabError(f"{what} must be 'auto', HOST:PORT or ray://HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def _reachable(address: str, seconds: float = 10.0) -> None:
    """Raise one line unless something listens at a HOST:PORT address: ray.init retries an
    unreachable one for minutes, so a typo would look like a hang."""
    import socket

    where = _host_port(address)
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=seconds).close()
    except OSError as e:
        raise InrlabError(f"cannot reach a Ray cluster at address '{address}': {e.strerror or e} "
                          f"(check the head node's address and port)") from None


def drive(tasks, spec: Spec, table: "Table | None", *, backend: str, jobs: int | None, address: str | None,
          desc: str, show_progress: bool | None, on_row: Callable[[dict], object] | None = None,
          signal=None) -> dict:
    """Run `tasks` on the backend behind a progress bar (done / running / failed), each row
    hashed, appended to `table` (None: kept in memory only) and shown to `on_row` as it comes
    back; the table's summary is written even when the run stops. Returns {'run', 'failed',
    'summary'} (summary None without a table).
    signal: the in-memory Signals by digest (`run_trials`), or None (the spec's sources)."""
    from tqdm.auto import tqdm

    from .. import progress as progress_mod

    enabled = progress_mod.enabled() if show_progress is None else show_progress
    bar = tqdm(total=sum(len(t) for t in tasks), desc=desc, disable=not enabled, mininterval=0.5)
    counts = {"run": 0, "failed": 0, "summary": None}

    def on_rows(rows):
        for r in rows:
            r = {"hash": config_hash(r["config"]), **r}
            if table is not None:
                table.append(r)
            counts["run"] += 1
            counts["failed"] += r["status"] != "ok"
            if on_row is not None:
                on_row(r)

    def progress(n, running=None):
        bar.update(n)
        bar.set_postfix(done=counts["run"] - counts["failed"], failed=counts["failed"],
                        running=running if running is not None else "-")

    try:
        if backend == "local":
            _local(tasks, spec, jobs or default_jobs(len(tasks)), on_rows, progress, signal)
        else:
            _ray(tasks, spec, jobs, address, on_rows, progress, signal)
    finally:
        bar.close()
        if table is not None:
            counts["summary"] = summarize(table.rows)
            atomic_write_json(table.out / SUMMARY, counts["summary"])
    return counts


def run_sweep(spec, out, *, backend: str = "local", address: str | None = None,
              jobs: int | None = None, show_progress: bool | None = None,
              on_row: Callable[[dict], object] | None = None) -> dict:
    """Run the trials of `spec` (a path, YAML-loaded dict or Spec) missing from `out`; return
    {'summary', 'run', 'skipped', 'failed', 'out'}. `on_row` sees every row as it is written."""
    check_backend(backend, jobs, address)
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    check_trial_device(spec.device, backend)
    out = check_output_dir(out, "--out")
    table = Table(out)
    done = table.done()
    todo = [c for c in spec.trials if config_hash(c) not in done]
    skipped = len(spec.trials) - len(todo)
    if backend == "local":
        check_sources(todo)
    make_output_dir(out, "--out")   # only once the spec's signals are known to load
    ours = {config_hash(c) for c in spec.trials}
    other = len({r["hash"] for r in table.rows if r["status"] == "ok"} - ours)
    rows: list[dict] = []

    def seen(row):
        rows.append(row)
        if on_row is not None:
            on_row(row)

    counts = drive(tasks_for(todo, spec.stack), spec, table, backend=backend, jobs=jobs, address=address,
                   desc="sweep", show_progress=show_progress, on_row=seen)
    return {"summary": counts["summary"], "run": counts["run"], "skipped": skipped, "failed": counts["failed"],
            "out": str(out), "other": other, "failures": [r for r in rows if r["status"] == "failed"]}


def check_sources(configs: list[dict]) -> None:
    """Load every signal the configs name, once, before any trial runs: a missing file or a
    source its size cannot hold is one line naming it, not a failed row per trial. (The local
    backend only: a Ray cluster's nodes may hold files the driver lacks.)"""
    from .trial import signal_of

    for c in {json.dumps(c["signal"], sort_keys=True): c for c in configs}.values():
        try:
            signal_of(c)
        except InrlabError as e:
            raise InrlabError(f"sweep spec: signal '{c['signal']['source']}': {e}") from None
