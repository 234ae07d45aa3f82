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


def _execute(nb: Path, out_dir: Path, params: dict) -> dict:
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    status = {"notebook": nb.stem, "ok": False, "error": None}
    try:
        pm.execute_notebook(str(nb), str(out_dir / nb.name),
                            parameters={**params, "out_dir": str(out_dir.resolve())},
                            kernel_name="python3", progress_bar=False, cwd=str(nb.parent),
                            log_output=False)
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
        pio.write_images(figs, pngs)
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


def run_study(profile: str = "quick", only=None, out=None, jobs: int = 1, resume=None) -> int:
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
    with study_lock(out_root):
        return _run(profile, profiles, notebooks, out_root, jobs, resume)


def _run(profile, profiles, notebooks, out_root: Path, jobs: int, resume) -> int:
    status_path = out_root / "status.json"
    statuses = read_statuses(status_path, strict=bool(resume))

    todo = [nb for nb in notebooks if not (resume and statuses.get(nb.stem, {}).get("ok"))]
    for nb in notebooks:
        if nb not in todo:
            print(f"[study] {nb.stem}: done in {resume}, skipped", flush=True)

    def record(st: dict):
        statuses[st["notebook"]] = st
        atomic_write_json(status_path, {"profile": profile, "notebooks": statuses})
        write_index(out_root, statuses, profile)
        mark = "ok" if st["ok"] else f"FAILED ({st['error']})"
        print(f"[study] {st['notebook']}: {mark} in {st['seconds']} s", flush=True)

    def one(nb: Path) -> dict:
        print(f"[study] {nb.stem}: running (profile {profile})", flush=True)
        return _execute(nb, out_root / nb.stem, profiles.get(nb.stem, {}))

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
                    continue
            record(st)
    except KeyboardInterrupt:
        write_index(out_root, statuses, profile)
        print(f"[study] interrupted; finished notebooks are kept in {out_root} "
              f"(continue with --resume {out_root})", file=sys.stderr)
        return 130
    failed = [name for name, s in statuses.items() if not s.get("ok")]
    print(f"[study] {len(statuses) - len(failed)} ok, {len(failed)} failed -> {out_root / 'index.html'}")
    for name in failed:
        print(f"[study] failed: {name}: {statuses[name].get('error')}", file=sys.stderr)
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


def write_index(out_root: Path, statuses: dict, profile: str) -> None:
    """One HTML page: each notebook's status, headline metrics and figures."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>inrlab study ({html.escape(profile)})</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
             ".fail{color:#b00}img{max-width:520px;margin:4px;border:1px solid #ddd}</style></head><body>",
             f"<h1>inrlab study — profile <code>{html.escape(profile)}</code></h1>"]
    parts += _ledger_section(out_root)
    for name in sorted(statuses):
        st = statuses[name]
        ok = st.get("ok")
        parts.append(f"<h2>{html.escape(name)} — "
                     f"{'ok' if ok else '<span class=fail>failed</span>'} ({st.get('seconds', '?')} s)</h2>")
        parts.append(f"<p><a href='{html.escape(name)}/{html.escape(name)}.ipynb'>executed notebook</a></p>")
        if st.get("error"):
            parts.append(f"<p class=fail>{html.escape(st['error'])}</p>")
        metrics = st.get("metrics") or {}
        flat = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
        if flat:
            parts.append("<table><tr><th>metric</th><th>value</th></tr>")
            for k, v in flat.items():
                val = f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))
                parts.append(f"<tr><td>{html.escape(k)}</td><td>{val}</td></tr>")
            parts.append("</table>")
        folder = out_root / name
        for img in sorted(folder.glob("*.png")) if folder.is_dir() else []:
            parts.append(f"<a href='{name}/{img.stem}.html'><img src='{name}/{img.name}' alt='{img.stem}'></a>")
        htmls = sorted(p for p in folder.glob("*.html")) if folder.is_dir() else []
        if htmls and not any(folder.glob("*.png")):
            parts.append("<ul>" + "".join(f"<li><a href='{name}/{p.name}'>{p.stem}</a></li>" for p in htmls) + "</ul>")
    parts.append("</body></html>")
    atomic_write_text(out_root / "index.html", "\n".join(parts))
