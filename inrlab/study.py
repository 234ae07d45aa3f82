"""The study runner: every notebook executed by papermill with one profile's parameters.

    python -m inrlab study [--profile quick|paper] [--only NAMES] [--out DIR] [--jobs N] [--resume DIR]

Profiles are YAML files in notebooks/profiles/ (one per profile): a mapping from notebook name
(file stem) to the parameters papermill injects; a notebook missing from a profile runs with
its own defaults. Each notebook gets a folder <out>/<stem>/ holding the executed notebook, its
figures and metrics.json (the notebook writes them through inrlab.report.Report, given
`out_dir`). A failing notebook is saved with its error and the others go on; status.json and
index.html summarise the run; the exit code is the number of notebooks that failed (capped at
100), or 130 when interrupted.
"""

from __future__ import annotations

import html
import json
import os
import queue
import sys
import threading
import time
from pathlib import Path

from .errors import InrlabError
from .atomic import atomic_write_json, atomic_write_text


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


def _select(notebooks: list[Path], only) -> list[Path]:
    if not only:
        return notebooks
    chosen = []
    for name in only:
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


def run_study(profile: str = "quick", only=None, out=None, jobs: int = 1, resume=None) -> int:
    folder = notebooks_dir()
    profiles = load_profile(profile, folder)
    notebooks = _select(list_notebooks(folder), only)
    if not isinstance(jobs, int) or jobs < 1:
        raise InrlabError(f"--jobs must be a positive integer, got {jobs!r}")
    if resume:
        out_root = Path(resume)
        if not out_root.is_dir():
            raise InrlabError(f"--resume folder not found: '{resume}'")
    else:
        out_root = Path(out) if out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    out_root.mkdir(parents=True, exist_ok=True)
    status_path = out_root / "status.json"
    statuses: dict = {}
    if status_path.exists():
        try:
            statuses = json.loads(status_path.read_text()).get("notebooks", {})
        except (OSError, json.JSONDecodeError):
            statuses = {}

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
    failed = [s for s in statuses.values() if not s.get("ok")]
    print(f"[study] {len(statuses) - len(failed)} ok, {len(failed)} failed -> {out_root / 'index.html'}")
    for s in failed:
        print(f"[study] failed: {s['notebook']}: {s['error']}", file=sys.stderr)
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
