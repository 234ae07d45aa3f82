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
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import queue
import sys
import threading
import time
from pathlib import Path

from .atomic import atomic_write_json, atomic_write_text
from .checks import check_output_dir
from .errors import InrlabError

LOCK_NAME = ".study.lock"
PROGRESS_EVERY = 20.0  # seconds between plain progress lines when stdout is not a terminal
RUNNER_PARAMETERS = ("out_dir",)  # what the runner injects itself


def notebooks_dir() -> Path:
    for cand in (Path.cwd() / "notebooks", Path(__file__).resolve().parents[1] / "notebooks"):
        if cand.is_dir():
            return cand
    raise InrlabError("no notebooks/ folder found (run from the inrlab repository)")


def list_notebooks(folder: Path | None = None) -> list[Path]:
    folder = folder or notebooks_dir()
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def load_profile(profile: str, folder: Path | None = None) -> dict:
    """{notebook stem: {parameter: value}} for a profile name or a YAML path."""
    import yaml

    folder = folder or notebooks_dir()
    path = Path(profile) if str(profile).endswith((".yaml", ".yml")) else folder / "profiles" / f"{profile}.yaml"
    if not path.exists():
        names = sorted(p.stem for p in (folder / "profiles").glob("*.yaml"))
        raise InrlabError(f"unknown profile '{profile}' (choose from {', '.join(names)} or give a .yaml path)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InrlabError(f"profile '{path}' is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InrlabError(f"profile '{path}' must map notebook names to parameter mappings")
    known = {p.stem for p in list_notebooks(folder)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InrlabError(f"profile '{path.name}' names unknown notebook '{unknown[0]}' "
                          f"(notebooks: {', '.join(sorted(known))})")
    return data


def notebook_parameters(nb: Path) -> list[str]:
    """The names the notebook's cell tagged 'parameters' assigns (what papermill can set)."""
    import ast

    import nbformat

    try:
        cells = nbformat.read(nb, as_version=4).cells
    except Exception as e:
        raise InrlabError(f"notebook '{nb.name}' cannot be read: {type(e).__name__}") from None
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        return []
    try:
        tree = ast.parse(tagged[0].source)
    except SyntaxError as e:
        raise InrlabError(f"notebook '{nb.name}': its parameters cell does not parse ({e.msg})") from None
    names = []
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_profile(profile: dict, notebooks: list[Path], name: str) -> None:
    """Refuse a profile entry that sets a parameter its notebook does not declare."""
    by_stem = {nb.stem: nb for nb in notebooks}
    for stem, params in profile.items():
        if stem not in by_stem:
            continue
        declared = notebook_parameters(by_stem[stem])
        for key in params:
            if key in RUNNER_PARAMETERS:
                raise InrlabError(f"profile '{name}' sets '{key}' for notebook '{stem}'; the study "
                                  f"runner sets it (use --out)")
            if key not in declared:
                raise InrlabError(f"profile '{name}' sets unknown parameter '{key}' for notebook "
                                  f"'{stem}' (its parameters: {', '.join(declared) or 'none'})")


def _select(notebooks: list[Path], only) -> list[Path]:
    if only is None:
        return notebooks
    if isinstance(only, str):
        only = [only]
    only = list(only)
    if not only:
        raise InrlabError("--only needs at least one notebook name (or leave it out to run all)")
    chosen = []
    for name in only:
        if not isinstance(name, str) or not name.strip():
            raise InrlabError(f"--only got an empty notebook name {name!r} "
                              f"(notebooks: {', '.join(p.stem for p in notebooks)})")
        hits = [p for p in notebooks if p.stem == name or p.stem.startswith(name)]
        if not hits:
            raise InrlabError(f"--only '{name}' matches no notebook "
                              f"(notebooks: {', '.join(p.stem for p in notebooks)})")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def _engine() -> str:
    """Register (once) and name the papermill engine the study runs notebooks with: nbclient's,
    plus a per-cell callback (`on_cell(done, total)`) and kernels on IPC transport."""
    from papermill.engines import NBClientEngine, papermill_engines

    if "inrlab" in papermill_engines._engines:
        return "inrlab"
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class IPCKernelManager(AsyncKernelManager):
        # ipykernel warns on every start that TCP without CurveZMQ keys is unencrypted; local
        # IPC sockets (in the Jupyter runtime folder, user-only) need no such warning.
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    class StudyEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, on_cell=None, **kwargs):
            if on_cell is not None:
                complete = nb_man.cell_complete

                def cell_complete(cell, cell_index=None, **kw):
                    complete(cell, cell_index=cell_index, **kw)
                    on_cell((cell_index or 0) + 1, len(nb_man.nb.cells))

                nb_man.cell_complete = cell_complete
            kwargs.setdefault("kernel_manager_class", IPCKernelManager)
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("inrlab", StudyEngine)
    return "inrlab"


def _execute(nb: Path, out_dir: Path, params: dict, on_cell=None) -> dict:
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    status = {"notebook": nb.stem, "ok": False, "error": None}
    try:
        pm.execute_notebook(str(nb), str(out_dir / nb.name),
                            parameters={**params, "out_dir": str(out_dir.resolve())},
                            kernel_name="python3", progress_bar=False, cwd=str(nb.parent),
                            log_output=False, engine_name=_engine(), on_cell=on_cell)
        status["ok"] = True
    except Exception as e:
        status["error"] = _one_line_error(e)
    status["png"] = export_pngs(out_dir)
    status["seconds"] = round(time.time() - t0, 1)
    metrics_path = out_dir / "metrics.json"
    if metrics_path.exists():
        try:
            status["metrics"] = json.loads(metrics_path.read_text()).get("metrics", {})
        except (OSError, json.JSONDecodeError):
            status["metrics"] = {}
    return status


class Console:
    """The study's console: whole lines under one lock (worker threads start notebooks while the
    main thread reports the finished ones), and the progress of every running notebook."""

    def __init__(self, every: float | None = None, stream=None, tty: bool | None = None):
        self.every = PROGRESS_EVERY if every is None else every
        self._stream, self._tty = stream, tty
        self.lock = threading.RLock()
        self.running: dict[str, list] = {}  # stem -> [cells done, cells total, start time]
        self._last = time.time()
        self._bar = False

    @property
    def out(self):
        return self._stream or sys.stdout  # looked up late: tests and callers swap sys.stdout

    @property
    def tty(self) -> bool:
        if self._tty is not None:
            return self._tty
        try:
            return self.out.isatty()
        except (AttributeError, ValueError):
            return False

    def line(self, text: str, err: bool = False) -> None:
        with self.lock:
            self._erase()
            stream = sys.stderr if err else self.out
            stream.write(text.rstrip("\n") + "\n")
            stream.flush()
            self._last = time.time()
            if self.tty and self.running:
                self._draw()

    def start(self, stem: str, text: str) -> None:
        with self.lock:
            self.running[stem] = [0, None, time.time()]
            self.line(text)

    def cell(self, stem: str, done: int, total: int) -> None:
        with self.lock:
            if stem in self.running:
                self.running[stem][:2] = [done, total]

    def end(self, stem: str, text: str) -> None:
        with self.lock:
            self.running.pop(stem, None)
            self.line(text)

    def progress_text(self, bars: bool = False) -> str:
        now, parts = time.time(), []
        for stem, (done, total, t0) in sorted(self.running.items()):
            el = int(now - t0)
            clock = f"{el // 60}:{el % 60:02d}"
            if total:
                bar = ""
                if bars:
                    k = round(10 * done / total)
                    bar = "[" + "#" * k + "." * (10 - k) + "] "
                parts.append(f"{stem} {bar}{done}/{total} cells {clock}")
            else:
                parts.append(f"{stem} starting {clock}")
        return " | ".join(parts)

    def tick(self) -> None:
        """Called often by the waiting main thread: redraw the bar (terminal, every second) or
        print a plain progress line (every `every` seconds)."""
        with self.lock:
            now = time.time()
            if not self.running:
                return
            if self.tty:
                if now - self._last >= 1.0:
                    self._draw()
                    self._last = now
            elif now - self._last >= self.every:
                self.line("[study] progress: " + self.progress_text())

    def close(self) -> None:
        with self.lock:
            self._erase()

    def _draw(self):
        import shutil

        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.out.write("\r[study] " + self.progress_text(bars=True)[: max(10, width - 8)] + "\x1b[K")
        self.out.flush()
        self._bar = True

    def _erase(self):
        if self._bar:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._bar = False


def export_pngs(folder: Path) -> str:
    """Render every saved figure spec (*.plotly.json) in `folder` to PNG in one kaleido session.
    Returns 'n written' or why none were (kaleido needs a Chromium; HTML figures stay)."""
    specs = sorted(folder.glob("*.plotly.json"))
    if not specs:
        return "no figures"
    import shutil

    if "BROWSER_PATH" not in os.environ:
        found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if found:
            os.environ["BROWSER_PATH"] = found
    try:
        import plotly.io as pio

        figs = [pio.from_json(p.read_text()) for p in specs]
        pngs = [str(p.with_name(p.name[: -len(".plotly.json")] + ".png")) for p in specs]
        # kaleido ignores the layout's own size (it draws every figure 700 x 500): pass it on,
        # so an image grid keeps the proportions it was laid out for. Scale 2 reads on a projector.
        pio.write_images(figs, pngs, width=[f.layout.width or 800 for f in figs],
                         height=[f.layout.height or 450 for f in figs], scale=2)
        return f"{len(pngs)} written"
    except Exception as e:
        return f"skipped: {_one_line_error(e)[:200]}"


def _one_line_error(e: Exception) -> str:
    ename = getattr(e, "ename", None)
    evalue = getattr(e, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(e).__name__}: {e}"
    return " ".join(str(text).split())[:400]


def read_statuses(path: Path, strict: bool) -> dict:
    """{notebook: status dict} from a run's status.json ({} if there is none). A damaged file
    is refused when `strict` (a resume must not guess which notebooks finished); otherwise this
    run starts a new one over it."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        problem = None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        data, problem = None, f"not readable JSON ({type(e).__name__})"
    if problem is None:
        entries = data.get("notebooks") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            problem = f"expected an object with a 'notebooks' mapping, found {type(data).__name__}"
        else:
            bad = [k for k, v in entries.items() if not isinstance(v, dict)
                   or not isinstance(v.get("ok", False), bool)]
            if bad:
                problem = f"the entry for '{bad[0]}' is {entries[bad[0]]!r:.60}, not a status"
            else:
                return entries
    if strict:
        raise InrlabError(f"'{path}' is damaged ({problem}); delete it to run every notebook again")
    print(f"[study] {path} is damaged ({problem}); this run writes a new one", flush=True)
    return {}


@contextlib.contextmanager
def study_lock(folder: Path):
    """Hold `folder`/.study.lock while a study writes into `folder`; refuse if another live
    study holds it. The lock is an flock on that file, which the kernel drops when its holder
    dies however it dies, so a lock file left by a process that no longer runs is taken over."""
    import fcntl

    path = folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode(errors="replace").split()
            os.close(fd)
            who = f"pid {owner[0]}" if owner else "a process"
            raise InrlabError(f"another study ({who}) is writing into '{folder}'; wait for it to "
                              f"finish or choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:  # its holder removed it as we locked it: lock the new one
            same = False
        if same:
            break
        os.close(fd)
    old = os.pread(fd, 200, 0).decode(errors="replace").split()
    if old and old[0] != str(os.getpid()):
        print(f"[study] took over the lock left in '{folder}' by pid {old[0]}, which no longer runs",
              flush=True)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode(), 0)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def run_study(profile: str = "quick", only=None, out=None, jobs: int = 1, resume=None, compare=None,
              backend: str = "local", address: str | None = None) -> int:
    """Run the notebooks; `compare`: an earlier run folder, compared with this one at the end
    (compare.html, see compare_runs). backend 'ray' executes each notebook as a Ray task
    (`inrlab.sweep.notebooks`; `address` 'auto' joins a running cluster, None starts a local
    Ray) and brings back the executed notebook, its metrics and figures."""
    if backend not in ("local", "ray"):
        raise InrlabError(f"unknown backend '{backend}' (use local or ray)")
    if address is not None and backend != "ray":
        raise InrlabError("--address joins a Ray cluster; add --backend ray")
    if compare is not None and not (Path(compare) / "status.json").is_file():
        raise InrlabError(f"--compare folder '{compare}' holds no study run (no status.json)")
    folder = notebooks_dir()
    profiles = load_profile(profile, folder)
    notebooks = _select(list_notebooks(folder), only)
    name = Path(profile).name if str(profile).endswith((".yaml", ".yml")) else f"{profile}.yaml"
    check_profile(profiles, notebooks, name)  # only the notebooks this run executes
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InrlabError(f"--jobs must be a positive integer, got {jobs!r}")
    if resume:
        out_root = Path(resume)
        if out and Path(out).resolve() != out_root.resolve():
            raise InrlabError(f"--out '{out}' and --resume '{resume}' both given; a resumed run "
                              f"continues in its own folder")
        if not out_root.is_dir():
            raise InrlabError(f"--resume folder not found: '{resume}'"
                              + (" (it is a file)" if out_root.exists() else ""))
        stems = {nb.stem for nb in list_notebooks(folder)}
        if not (out_root / "status.json").exists() and not any(
                (out_root / s).is_dir() for s in stems):
            raise InrlabError(f"--resume folder '{resume}' holds no study run (no status.json and "
                              f"no notebook folder); use --out to start one there")
        check_output_dir(out_root, "--resume folder")
    else:
        out_root = check_output_dir(Path(out) if out else Path("runs") / time.strftime("%Y%m%d-%H%M%S"),
                                    "--out")
    out_root.mkdir(parents=True, exist_ok=True)
    execute = _execute
    if backend == "ray":
        from .sweep.notebooks import ray_executor
        execute = ray_executor(address)
    with study_lock(out_root):
        code = _run(profile, profiles, notebooks, out_root, jobs, resume, execute)
        if compare is not None and code != 130:
            print(f"[study] compared with {compare} -> {compare_runs(out_root, compare)}", flush=True)
        return code


def run_info(profile: str) -> dict:
    """What was run, for the top of index.html: profile, machine, device, torch, git commit."""
    import platform
    import subprocess

    info = {"profile": profile, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{platform.system()} {platform.release()} {platform.machine()}, "
                       f"{os.cpu_count()} CPUs, Python {platform.python_version()}"}
    try:
        import torch

        info["torch"] = torch.__version__
        info["device"] = (f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available()
                          else "cpu")
    except Exception as e:  # the report says so; the notebooks will fail on their own
        info["torch"], info["device"] = f"not importable ({type(e).__name__})", "unknown"
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if commit:
            info["commit"] = commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _claim_counts(out_root: Path, statuses: dict) -> dict | None:
    """{notebook: {verdict: count}} and '' for the whole run, from the claims ledger (None
    without one, or when no notebook that has claims ran)."""
    from . import claims

    try:
        rows = claims.run_ledger(out_root)
    except InrlabError:
        return None
    if not any(r.notebook in statuses for r in rows):
        return None
    counts: dict = {"": {}}
    for r in rows:
        for key in ("", r.notebook):
            counts.setdefault(key, {})
            counts[key][r.verdict] = counts[key].get(r.verdict, 0) + 1
    return counts


def _counts_text(c: dict) -> str:
    from .claims import VERDICTS

    return ", ".join(f"{c[v]} {v}" for v in VERDICTS if c.get(v))


def summary_lines(statuses: dict, out_root: Path) -> list[str]:
    """The end-of-run table: notebook, status, seconds, headline number (and claim verdicts)."""
    from . import reportspec

    counts = _claim_counts(out_root, statuses) or {}
    rows = [("notebook", "status", "seconds", "headline", "claims" if counts else "")]
    for name in sorted(statuses):
        st = statuses[name]
        head = reportspec.headline(name, st.get("metrics") or {})
        rows.append((name, "ok" if st.get("ok") else "FAILED", f"{st.get('seconds', 0.0):.1f}",
                     f"{head[0]}: {reportspec.with_unit(head[1], head[2])}" if head else "—",
                     _counts_text(counts.get(name, {})) if counts else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = ["[study] summary"]
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3].ljust(widths[3]), r[4]]
        out.append("  " + "  ".join(cells).rstrip())
    if counts:
        out.append(f"[study] claims: {_counts_text(counts['']) or 'none registered'} -> {out_root / 'claims.json'}")
    return out


def _run(profile, profiles, notebooks, out_root: Path, jobs: int, resume, execute=None) -> int:
    execute = execute or _execute
    status_path = out_root / "status.json"
    statuses = read_statuses(status_path, strict=bool(resume))
    console = Console()
    t_start = time.time()
    info = run_info(profile)
    if resume:
        with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
            before = json.loads(status_path.read_text()).get("run") or {}
            info["resumed"] = f"resumed; first started {before.get('started', '?')}"
            info["earlier_seconds"] = float(before.get("wall_seconds", 0.0))

    todo = [nb for nb in notebooks if not (resume and statuses.get(nb.stem, {}).get("ok"))]
    for nb in notebooks:
        if nb not in todo:
            console.line(f"[study] {nb.stem}: done in {resume}, skipped")

    def save():
        info["wall_seconds"] = round(info.get("earlier_seconds", 0.0) + time.time() - t_start, 1)
        atomic_write_json(status_path, {"profile": profile, "run": info, "notebooks": statuses})
        write_index(out_root, statuses, profile)

    def record(st: dict):
        statuses[st["notebook"]] = st
        save()
        mark = "ok" if st["ok"] else f"FAILED ({st['error']})"
        console.end(st["notebook"], f"[study] {st['notebook']}: {mark} in {st['seconds']} s")

    def one(nb: Path) -> dict:
        console.start(nb.stem, f"[study] {nb.stem}: running (profile {profile})")
        return execute(nb, out_root / nb.stem, profiles.get(nb.stem, {}),
                        on_cell=lambda done, total: console.cell(nb.stem, done, total))

    # Notebooks run in daemon worker threads and the main thread only waits, so Ctrl-C always
    # reaches the runner: nbclient, when it runs in the main thread, installs its own SIGINT
    # handler that shuts the kernel down instead, and the cut-short notebook could then be
    # recorded as finished. On Ctrl-C the workers are abandoned; their kernels exit when they
    # see this process gone.
    pending: queue.Queue = queue.Queue()
    for nb in todo:
        pending.put(nb)
    done: queue.Queue = queue.Queue()

    def worker():
        while True:
            try:
                nb = pending.get_nowait()
            except queue.Empty:
                return
            try:
                done.put(one(nb))
            except BaseException as e:  # _execute records notebook errors; this is a bug in it
                done.put({"notebook": nb.stem, "ok": False, "error": _one_line_error(e), "seconds": 0.0})

    try:
        for _ in range(min(jobs, len(todo))):
            threading.Thread(target=worker, daemon=True).start()
        for _ in todo:
            while True:
                try:
                    st = done.get(timeout=0.2)
                    break
                except queue.Empty:
                    console.tick()
            record(st)
    except KeyboardInterrupt:
        console.close()
        save()
        console.line(f"[study] interrupted; finished notebooks are kept in {out_root} "
                     f"(continue with --resume {out_root})", err=True)
        return 130
    if not todo:
        save()
    console.close()
    failed = [name for name, s in statuses.items() if not s.get("ok")]
    for text in summary_lines(statuses, out_root):
        console.line(text)
    console.line(f"[study] {len(statuses) - len(failed)} ok, {len(failed)} failed -> {out_root / 'index.html'}")
    for name in failed:
        console.line(f"[study] failed: {name}: {statuses[name].get('error')}", err=True)
    return min(len(failed), 100)


def _ledger_section(out_root: Path) -> list[str]:
    """The claims ledger of the run so far (also written as claims.json), for the top of index.html."""
    from . import claims

    try:
        rows = claims.write_ledger(out_root)
    except InrlabError:
        return []
    counts = ", ".join(f"{sum(r.verdict == v for r in rows)} {v}" for v in claims.VERDICTS)
    return ["<h2>Claims ledger</h2>",
            f"<p>{html.escape(counts)}. Verdicts are computed from this run's metrics "
            f"(<a href='claims.json'>claims.json</a>; vocabulary in <code>inrlab.claims</code>).</p>",
            claims.ledger_html(rows)]


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;"
        "vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}"
        ".fail{color:#b00}.failbox{border-left:4px solid #b00;background:#fdf0f0;padding:.4em .8em}"
        ".question{font-size:1.1em;font-style:italic}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}"
        "figcaption{color:#444;max-width:900px}small,.muted{color:#666}section{border-top:2px solid #ddd;margin-top:2em}"
        "details{margin:.5em 0}summary{cursor:pointer}")


def _figure_names(folder: Path) -> list[str]:
    """The notebook's figures in the order it drew them (metrics.json), else by name."""
    names = []
    with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError, TypeError):
        names = [Path(f).stem for f in json.loads((folder / "metrics.json").read_text()).get("figures", [])]
    names = [n for n in dict.fromkeys(names) if (folder / f"{n}.html").exists()]
    if not names and folder.is_dir():
        names = sorted(p.name[: -len(".plotly.json")] for p in folder.glob("*.plotly.json"))
    return names


def _parameters_of(folder: Path, stem: str) -> list[str]:
    with contextlib.suppress(InrlabError, OSError):
        if (folder / f"{stem}.ipynb").exists():
            return notebook_parameters(folder / f"{stem}.ipynb")
    return []


def _split_metrics(metrics: dict, params: list[str]) -> tuple[dict, dict, dict]:
    """(run parameters, scalar results, nested results) of a notebook's metrics."""
    ps, flat, nested = {}, {}, {}
    for k, v in (metrics or {}).items():
        if k in params or k == "profile":
            ps[k] = v
        elif isinstance(v, (dict, list)) and not (isinstance(v, list) and len(v) <= 12 and all(
                not isinstance(x, (dict, list)) for x in v)):
            nested[k] = v
        else:
            flat[k] = v
    return ps, flat, nested


def _cell(v, unit: str = "") -> str:
    from .reportspec import fmt

    num = isinstance(v, (int, float)) and not isinstance(v, bool)
    return f"<td{' class=num' if num else ''}>{html.escape(fmt(v, unit))}</td>"


def _nested_html(value, unit: str, limit: int = 40) -> str:
    """A nested result as a table: {row: scalar}, {row: {col: scalar}} or [{col: scalar}]."""
    from .reportspec import label, words

    def scalar(x):
        return not isinstance(x, (dict, list))

    if isinstance(value, dict) and value and all(scalar(v) for v in value.values()) and len(value) <= limit:
        return ("<table>" + "".join(f"<tr><th>{html.escape(words(k))}</th>{_cell(v, unit)}</tr>"
                                    for k, v in value.items()) + "</table>")
    rows = list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    if not rows or len(rows) > limit or not all(isinstance(r, dict) and all(scalar(x) for x in r.values())
                                                for _, r in rows):
        return ""
    cols = list(dict.fromkeys(c for _, r in rows for c in r))
    if len(cols) > 14:
        return ""
    units = {c: (label(c)[1] or unit) for c in cols}
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(words(c))}</th>" for c in cols) + "</tr>"
    body = "".join(f"<tr><th>{html.escape(words(k) if isinstance(k, str) else str(k + 1))}</th>"
                   + "".join(_cell(r.get(c), units[c]) if c in r else "<td></td>" for c in cols) + "</tr>"
                   for k, r in rows)
    return f"<table>{head}{body}</table>"


def _results_table(flat: dict) -> str:
    from .reportspec import label, with_unit

    if not flat:
        return ""
    out = ["<table><tr><th>result</th><th>value</th></tr>"]
    for k, v in flat.items():
        lab, unit = label(k)
        num = isinstance(v, (int, float)) and not isinstance(v, bool)
        out.append(f"<tr><td title='{html.escape(k)}'>{html.escape(lab)}</td>"
                   f"<td{' class=num' if num else ''}>{html.escape(with_unit(v, unit))}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _img_tag(png: Path, alt: str, embed: bool) -> str:
    import base64

    if embed:
        src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    else:
        src = f"{png.parent.name}/{png.name}"
    return f"<img src='{src}' alt='{html.escape(alt)}'>"


def _notebook_section(out_root: Path, name: str, st: dict) -> list[str]:
    from . import reportspec
    from .reportspec import label, words

    folder = out_root / name
    q = html.escape(name)
    ok = st.get("ok")
    parts = [f"<section id='{q}'>",
             f"<h2>{q} — {'ok' if ok else '<span class=fail>failed</span>'} ({st.get('seconds', '?')} s)</h2>"]
    nb_link = f"<a href='{q}/{q}.ipynb'>{'saved notebook (with its error)' if not ok else 'executed notebook'}</a>"
    if st.get("error") or not ok:
        parts.append(f"<div class=failbox><p class=fail><b>Error:</b> {html.escape(st.get('error') or 'no error recorded')}"
                     f"</p><p>{nb_link}: open it to see the failing cell and its traceback. Results below are "
                     f"what the notebook recorded before it stopped.</p></div>")
    if reportspec.question(name):
        parts.append(f"<p class=question>{html.escape(reportspec.question(name))}</p>")
    figures = _figure_names(folder)
    links = [nb_link, f"<a href='{q}/metrics.json'>metrics.json</a>"] if (folder / "metrics.json").exists() else [nb_link]
    parts.append("<p class=muted>" + " · ".join(links) + "</p>")
    for fig, caption in reportspec.key_figures(name, figures):
        png = folder / f"{fig}.png"
        body = _img_tag(png, fig, embed=True) if png.exists() else f"(interactive only: {html.escape(fig)})"
        parts.append(f"<figure><a href='{q}/{html.escape(fig)}.html'>{body}</a>"
                     f"<figcaption><b>{html.escape(words(fig))}.</b> {html.escape(caption)}</figcaption></figure>")
    params, flat, nested = _split_metrics(st.get("metrics") or {}, _parameters_of(folder, name))
    if flat:
        parts.append("<h3>Results</h3>" + _results_table(flat))
    for k, v in nested.items():
        table = _nested_html(v, label(k)[1])
        if table:
            parts.append(f"<details><summary>{html.escape(label(k)[0])}</summary>{table}</details>")
    if params:
        from .reportspec import fmt

        parts.append("<p class=muted><b>Run with</b> " + " · ".join(
            f"{html.escape(k)} = {html.escape(fmt(v))}" for k, v in params.items()) + "</p>")
    if figures:
        items = []
        for fig in figures:
            f = html.escape(fig)
            png = f" (<a href='{q}/{f}.png'>PNG</a>)" if (folder / f"{fig}.png").exists() else ""
            items.append(f"<li><a href='{q}/{f}.html'>{html.escape(words(fig))}</a>{png}</li>")
        parts.append(f"<details><summary>All {len(figures)} figures</summary><ul>{''.join(items)}</ul></details>")
    parts.append("</section>")
    return parts


def _what_was_run(out_root: Path, profile: str, statuses: dict) -> list[str]:
    from . import reportspec

    info = {}
    with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
        info = json.loads((out_root / "status.json").read_text()).get("run") or {}
    wall = info.get("wall_seconds")
    rows = [("profile", profile), ("machine", info.get("machine")), ("device", info.get("device")),
            ("torch", info.get("torch")), ("git commit", info.get("commit")),
            ("started", " ".join(x for x in (info.get("started"), info.get("resumed") and f"({info['resumed']})") if x)),
            ("wall time", f"{wall / 60:.1f} min ({wall:.0f} s)" if isinstance(wall, (int, float)) else None),
            ("notebooks", f"{sum(1 for s in statuses.values() if s.get('ok'))} ok, "
                          f"{sum(1 for s in statuses.values() if not s.get('ok'))} failed")]
    out = ["<h2>What was run</h2><table>"]
    out += [f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows if v]
    out.append("</table>")
    heads = ["<table><tr><th>notebook</th><th>status</th><th>seconds</th><th>headline</th></tr>"]
    for name in sorted(statuses):
        st = statuses[name]
        h = reportspec.headline(name, st.get("metrics") or {})
        heads.append(f"<tr><td><a href='#{html.escape(name)}'>{html.escape(name)}</a></td>"
                     f"<td>{'ok' if st.get('ok') else '<span class=fail>failed</span>'}</td>"
                     f"<td class=num>{st.get('seconds', '?')}</td>"
                     f"<td>{html.escape(f'{h[0]}: {reportspec.with_unit(h[1], h[2])}') if h else '—'}</td></tr>")
    heads.append("</table>")
    return out, heads


def write_index(out_root: Path, statuses: dict, profile: str) -> None:
    """index.html, self-contained (key figures embedded as PNG data, no external scripts): what
    was run, the claims ledger, each notebook's headline, then one section per notebook."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>inrlab study ({html.escape(profile)})</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>inrlab study — profile <code>{html.escape(profile)}</code></h1>"]
    run, heads = _what_was_run(out_root, profile, statuses)
    parts += run
    parts += _ledger_section(out_root)
    parts += ["<h2>Notebooks</h2>"] + heads
    for name in sorted(statuses):
        parts += _notebook_section(out_root, name, statuses[name])
    parts.append("</body></html>")
    atomic_write_text(out_root / "index.html", "\n".join(parts))


def _load_run(run: Path) -> tuple[dict, dict]:
    """(profile, {notebook: metrics}) of a study run folder; InrlabError if it is not one."""
    if not run.is_dir():
        raise InrlabError(f"run folder not found: '{run}'")
    statuses = read_statuses(run / "status.json", strict=True)
    stems = set(statuses) | {p.parent.name for p in run.glob("*/metrics.json")}
    if not stems:
        raise InrlabError(f"'{run}' is not a study run (no status.json, no <notebook>/metrics.json)")
    profile = "?"
    with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
        profile = json.loads((run / "status.json").read_text()).get("profile", "?")
    metrics = {}
    for stem in sorted(stems):
        m = None
        with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
            m = json.loads((run / stem / "metrics.json").read_text()).get("metrics")
        metrics[stem] = m if isinstance(m, dict) else (statuses.get(stem, {}).get("metrics") or {})
    return profile, metrics


def compare_runs(new, old) -> Path:
    """Write <new>/compare.html: every notebook's results in the earlier run `old` and in `new`,
    with the change, and the claims whose verdict differs. Returns the page's path."""
    from . import claims
    from .reportspec import fmt, label, with_unit

    new, old = Path(new), Path(old)
    new_profile, new_m = _load_run(new)
    old_profile, old_m = _load_run(old)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>inrlab: {html.escape(new.name)} "
             f"against {html.escape(old.name)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(str(new))} against {html.escape(str(old))}</h1>",
             f"<p>New run: profile <code>{html.escape(str(new_profile))}</code>, "
             f"earlier run: profile <code>{html.escape(str(old_profile))}</code>. Change is new minus earlier.</p>"]
    try:
        rows_new = {r.id: r for r in claims.run_ledger(new)}
        rows_old = {r.id: r for r in claims.run_ledger(old)}
    except InrlabError:
        rows_new = rows_old = {}
    if rows_new:
        parts.append("<h2>Claims</h2><table><tr><th>claim</th><th>earlier</th><th>new</th></tr>")
        for cid, r in rows_new.items():
            before = rows_old[cid].verdict if cid in rows_old else "—"
            mark = " style='background:#fff3cd'" if before != r.verdict else ""
            parts.append(f"<tr{mark}><td>{html.escape(cid)}<br><small>{html.escape(r.statement)}</small></td>"
                         f"<td>{html.escape(before)}</td><td><b>{html.escape(r.verdict)}</b></td></tr>")
        parts.append("</table>")
    for stem in sorted(set(new_m) | set(old_m)):
        a, b = old_m.get(stem) or {}, new_m.get(stem) or {}
        params = set(_parameters_of(new / stem, stem)) | set(_parameters_of(old / stem, stem)) | {"profile"}
        keys = [k for k in dict.fromkeys([*b, *a]) if k not in params
                and not isinstance(b.get(k, a.get(k)), dict)
                and not (isinstance(b.get(k, a.get(k)), list) and len(b.get(k, a.get(k))) > 12)]
        parts.append(f"<section><h2>{html.escape(stem)}</h2>")
        if stem not in old_m or stem not in new_m:
            parts.append(f"<p class=muted>only in the {'new' if stem in new_m else 'earlier'} run</p>")
        if keys:
            parts.append("<table><tr><th>result</th><th>earlier</th><th>new</th><th>change</th></tr>")
            for k in keys:
                lab, unit = label(k)
                va, vb = a.get(k), b.get(k)
                change = ""
                if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb)):
                    d = vb - va
                    change = ("+" if d > 0 else "") + with_unit(d, unit) if d else "="
                parts.append(f"<tr><td title='{html.escape(k)}'>{html.escape(lab)}</td>"
                             f"<td class=num>{html.escape(with_unit(va, unit) if k in a else '—')}</td>"
                             f"<td class=num>{html.escape(with_unit(vb, unit) if k in b else '—')}</td>"
                             f"<td class=num>{html.escape(change)}</td></tr>")
            parts.append("</table>")
        differ = [k for k in sorted(params) if k in a and k in b and a[k] != b[k]]
        if differ:
            parts.append("<p class=muted><b>Parameters that differ:</b> " + " · ".join(
                f"{html.escape(k)} {html.escape(fmt(a[k]))} → {html.escape(fmt(b[k]))}" for k in differ) + "</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    path = new / "compare.html"
    atomic_write_text(path, "\n".join(parts))
    return path
