"""Running a study: the checks before anything starts, the folder's lock, the worker threads
(or Ray tasks) that execute the notebooks, resume, and status.json after each notebook.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from pathlib import Path

from ..atomic import atomic_write_json
from ..checks import check_output_dir, make_output_dir
from ..errors import InrlabError
from .console import Console, summary_lines
from .execute import _execute, _one_line_error
from .index import compare_runs, read_statuses, write_index
from .profiles import _select, check_profile, list_notebooks, load_profile, notebooks_dir

LOCK_NAME = ".study.lock"


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
    (`inrlab.study.remote`; `address` 'auto' joins a running cluster, None starts a local
    Ray) and brings back the executed notebook, its metrics and figures."""
    from ..sweep.engine import check_backend

    check_backend(backend, None, address)
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
        out_root = make_output_dir(Path(out) if out else Path("runs") / time.strftime("%Y%m%d-%H%M%S"),
                                   "--out")
    out_root = out_root.resolve()   # later paths absolute: nothing hangs on the working folder
    execute = _execute
    if backend == "ray":
        from .remote import ray_executor
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
    root = Path(__file__).resolve().parents[2]
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
