"""The study runner: profiles, failures that do not stop the others, resume, atomic results,
and the set of notebooks CI validates."""

import json
import shutil
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from inrlab import study
from inrlab.errors import InrlabError

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, params: str, body: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


BODY = """
from inrlab.report import Report, check_parameters
check_parameters(globals())
report = Report(out_dir, notebook=name)
report.add(value=steps * 2)
import plotly.graph_objects as go
report.figure(go.Figure(go.Scatter(x=[0, 1], y=[steps, 0])), "line")
if fail:
    raise RuntimeError("boom in " + name)
"""


@pytest.fixture
def lab(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    (nbdir / "profiles").mkdir(parents=True)
    for name in ("a_first", "b_second"):
        _notebook(nbdir / f"{name}.ipynb",
                  f'steps: int = 1  # steps\nfail: bool = False  # fail on purpose\nname: str = "{name}"  # name\nout_dir: str = ""  # output',
                  BODY)
    (nbdir / "profiles" / "quick.yaml").write_text("a_first:\n  steps: 3\n")
    (nbdir / "profiles" / "broken.yaml").write_text("a_first:\n  fail: true\n")
    (nbdir / "profiles" / "typo.yaml").write_text("a_first:\n  steps: '300'\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_study_runs_all_and_records_metrics(lab):
    code = study.run_study("quick", out=str(lab / "run"))
    assert code == 0
    metrics = json.loads((lab / "run" / "a_first" / "metrics.json").read_text())
    assert metrics["metrics"]["value"] == 6  # the profile's steps=3 was injected
    assert (lab / "run" / "b_second" / "b_second.ipynb").exists()
    status = json.loads((lab / "run" / "status.json").read_text())
    assert all(s["ok"] for s in status["notebooks"].values())
    index = (lab / "run" / "index.html").read_text()
    assert "a_first" in index
    assert (lab / "run" / "a_first" / "line.html").exists()
    png = status["notebooks"]["a_first"]["png"]
    if shutil.which("chromium"):  # kaleido renders the figure spec through Chromium
        assert png == "1 written" and (lab / "run" / "a_first" / "line.png").stat().st_size > 1000
        assert "a_first/line.png" in index
    else:
        assert png.startswith("skipped")


def test_failing_notebook_is_saved_and_others_go_on(lab):
    code = study.run_study("broken", out=str(lab / "run"))
    assert code == 1
    status = json.loads((lab / "run" / "status.json").read_text())["notebooks"]
    assert not status["a_first"]["ok"] and "boom in a_first" in status["a_first"]["error"]
    assert status["b_second"]["ok"]
    assert (lab / "run" / "a_first" / "a_first.ipynb").exists()  # saved with its error
    # metrics written before the failure are kept
    assert json.loads((lab / "run" / "a_first" / "metrics.json").read_text())["metrics"]["value"] == 2


def test_study_on_the_ray_backend_brings_back_notebooks_metrics_and_figures(lab, local_ray, monkeypatch):
    # the Ray workers start elsewhere than the lab, so they run the driver's copy of each notebook;
    # one fails on purpose: its error and what it wrote before come back, and the other still runs
    from inrlab.study import runner

    def not_here(*a, **k):
        raise AssertionError("a notebook ran in the driver, not as a Ray task")

    monkeypatch.setattr(runner, "_execute", not_here)
    code = study.run_study("broken", out=str(lab / "run"), backend="ray")
    assert code == 1
    status = json.loads((lab / "run" / "status.json").read_text())["notebooks"]
    assert not status["a_first"]["ok"] and "boom in a_first" in status["a_first"]["error"]
    assert status["b_second"]["ok"]
    for name, value in (("a_first", 2), ("b_second", 2)):
        assert (lab / "run" / name / f"{name}.ipynb").exists()
        assert (lab / "run" / name / "line.html").exists()
        assert json.loads((lab / "run" / name / "metrics.json").read_text())["metrics"]["value"] == value
    assert "b_second" in (lab / "run" / "index.html").read_text()


def test_notebooks_side_by_side_get_kernel_sockets_of_their_own(lab):
    # jupyter_client's IPC default put every kernel on 'kernel-ipc-1..5' in its working folder:
    # two notebooks of one folder run with --jobs 2 bound the same sockets and crossed messages
    from inrlab.study.execute import kernel_manager_class

    a, b = kernel_manager_class()(kernel_name="python3"), kernel_manager_class()(kernel_name="python3")
    assert a.transport == "ipc" and a.ip != b.ip and Path(a.ip).is_absolute()
    for _ in range(2):
        code = study.run_study("quick", out="run", jobs=2)   # relative, as make study's runs/<stamp>
        assert Path.cwd() == lab   # papermill's cwd= chdir'd the process from both threads
        status = json.loads((lab / "run" / "status.json").read_text())["notebooks"]
        assert code == 0, status
        assert all(s["ok"] for s in status.values()) and len(status) == 2
        shutil.rmtree(lab / "run")
    assert not list((lab / "notebooks").glob("kernel-ipc*"))


def test_a_notebook_runs_in_its_own_folder_without_moving_the_runner(lab, monkeypatch):
    import os

    real_chdir = os.chdir

    def no_chdir(path):   # papermill's file handler re-enters the runner's own folder: that is no move
        if Path(path).resolve() != lab.resolve():
            raise AssertionError(f"the runner changed its working folder to {path}")
        real_chdir(path)

    (lab / "notebooks" / "c_where.ipynb").unlink(missing_ok=True)
    _notebook(lab / "notebooks" / "c_where.ipynb", 'out_dir: str = ""  # output',
              "import os\nfrom inrlab.report import Report\nReport(out_dir, notebook='c_where').add(cwd=os.getcwd())")
    monkeypatch.setattr(os, "chdir", no_chdir)
    assert study.run_study("quick", out=str(lab / "run"), only=["c_where"]) == 0
    metrics = json.loads((lab / "run" / "c_where" / "metrics.json").read_text())["metrics"]
    assert Path(metrics["cwd"]) == (lab / "notebooks").resolve()   # relative paths in a notebook keep working


def test_resume_skips_finished_notebooks(lab, capsys):
    study.run_study("broken", out=str(lab / "run"))
    before = (lab / "run" / "b_second" / "metrics.json").stat().st_mtime_ns
    code = study.run_study("quick", resume=str(lab / "run"))
    assert code == 0
    out = capsys.readouterr().out
    assert "b_second: done" in out and "a_first: ok" in out
    assert (lab / "run" / "b_second" / "metrics.json").stat().st_mtime_ns == before


def test_wrong_parameter_type_is_named(lab):
    code = study.run_study("typo", out=str(lab / "run"), only=["a_first"])
    status = json.loads((lab / "run" / "status.json").read_text())["notebooks"]
    assert code == 1
    assert "parameter 'steps' must be int, got '300'" in status["a_first"]["error"]


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(profile="nope"), "unknown profile 'nope'"),
    (dict(profile="quick", only=["zzz"]), "--only 'zzz' matches no notebook"),
    (dict(profile="quick", jobs=0), "--jobs must be a positive integer"),
    (dict(profile="quick", resume="no/such/run"), "--resume folder not found"),
])
def test_study_argument_errors(lab, kwargs, fragment):
    with pytest.raises(InrlabError, match=fragment):
        study.run_study(**kwargs)


def test_profile_naming_unknown_notebook(lab):
    (lab / "notebooks" / "profiles" / "bad.yaml").write_text("no_such_notebook:\n  x: 1\n")
    with pytest.raises(InrlabError, match="unknown notebook 'no_such_notebook'"):
        study.run_study("bad")


# --------------------------------------------------------------------------- the real notebooks

def _notebooks_on_disk():
    return sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


def test_ci_validates_every_notebook_on_disk():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "notebooks" in cfg["testpaths"] and "--nbval-lax" in cfg["addopts"]
    # nbval collects every notebooks/*.ipynb; both profiles must cover exactly those notebooks
    for profile in ("quick", "paper"):
        names = sorted(yaml.safe_load((ROOT / "notebooks" / "profiles" / f"{profile}.yaml").read_text()))
        assert names == _notebooks_on_disk(), profile


@pytest.mark.parametrize("name", _notebooks_on_disk())
def test_notebooks_are_clean_and_parameterised(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = [l for l in tagged[0].source.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    for line in params:  # every parameter typed and commented
        assert ":" in line.split("=")[0] and "#" in line, line
    assert any(l.startswith("out_dir: str") for l in params)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert nb.cells[0].cell_type == "markdown"
    # what `papermill --help-notebook` shows: every parameter with its type and comment
    import papermill

    inferred = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"))
    assert len(inferred) == len(params)
    for pname, info in inferred.items():
        assert info["inferred_type_name"] not in ("None", None) and info["help"], (pname, info)


def test_interrupted_study_keeps_finished_work_and_resumes(lab):
    """Ctrl-C (SIGINT) during the second notebook: the first stays done, exit code 130, and
    --resume runs only what is left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    _notebook(lab / "notebooks" / "b_second.ipynb",
              'steps: int = 1  # steps\nfail: bool = False  # unused\nname: str = "b_second"  # name\nout_dir: str = ""  # output',
              "import time\ntime.sleep(600)")
    out = lab / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # As from a terminal: a shell without job control (a CI runner's background job) starts
    # children with SIGINT ignored, which a Python child then keeps ignoring.
    proc = subprocess.Popen([sys.executable, "-m", "inrlab", "study", "--out", str(out)], cwd=lab, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "status.json").exists():
        time.sleep(0.5)
    time.sleep(3)  # the second notebook is sleeping now
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the study ignored Ctrl-C (still running 120 s later)")
    assert proc.returncode == 130, err
    # our one line says how to continue (the kernel, interrupted too, may log after it)
    assert any(line.startswith("[study] interrupted") and "--resume" in line for line in err.splitlines()), err
    status = json.loads((out / "status.json").read_text())["notebooks"]
    assert status["a_first"]["ok"] and not status.get("b_second", {}).get("ok")
    # finish the job: b_second no longer sleeps
    _notebook(lab / "notebooks" / "b_second.ipynb",
              'steps: int = 1  # steps\nfail: bool = False  # unused\nname: str = "b_second"  # name\nout_dir: str = ""  # output',
              BODY)
    assert study.run_study("quick", resume=str(out)) == 0
    status = json.loads((out / "status.json").read_text())["notebooks"]
    assert status["a_first"]["ok"] and status["b_second"]["ok"]


def test_results_are_written_atomically(tmp_path, monkeypatch):
    from inrlab import atomic as train

    path = tmp_path / "metrics.json"
    train.atomic_write_json(path, {"psnr": 30.0})

    def broken_dumps(*a, **k):
        raise RuntimeError("crash while serialising")

    monkeypatch.setattr(train.json, "dumps", broken_dumps)
    with pytest.raises(RuntimeError):
        train.atomic_write_json(path, {"psnr": 99.0})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"psnr": 30.0}

    # a crash in the middle of writing the file itself leaves the old file and no temp files
    real_fdopen = train.os.fdopen

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()
            return False

        def write(self, text):
            self.f.write(text[: len(text) // 2])
            raise OSError("disk full")

    monkeypatch.setattr(train.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError):
        train.atomic_write_json(path, {"psnr": 99.0})
    assert json.loads(path.read_text()) == {"psnr": 30.0}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_two_studies_into_one_folder_refuse_and_a_dead_holder_is_taken_over(lab, capsys):
    """A second study into the --out of a running one is refused naming the first one's pid,
    before it writes anything; the lock goes when the first one exits (here on Ctrl-C); a lock
    file left by a process that no longer runs is taken over."""
    import os
    import signal
    import subprocess
    import sys
    import time

    _notebook(lab / "notebooks" / "b_second.ipynb",
              'steps: int = 1  # steps\nfail: bool = False  # unused\nname: str = "b_second"  # name\nout_dir: str = ""  # output',
              "import time\ntime.sleep(600)")
    out = lab / "run"
    lock = out / study.LOCK_NAME
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "inrlab", "study", "--out", str(out), "--only", "b_second"],
                            cwd=lab, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (lock.exists() and lock.read_text().strip()):
            time.sleep(0.2)
        assert lock.read_text().split()[0] == str(proc.pid)
        with pytest.raises(InrlabError, match=f"another study \\(pid {proc.pid}\\) is writing into"):
            study.run_study("quick", out=str(out), only=["a_first"])
        assert not (out / "a_first").exists()  # refused before it started anything
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    assert proc.returncode == 130 and not lock.exists()

    # a lock file naming a process that has exited: taken over, and removed at the end
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid} 2000-01-01T00:00:00\n")
    assert study.run_study("quick", out=str(out), only=["a_first"]) == 0
    assert f"took over the lock left in '{out}' by pid {dead.pid}" in capsys.readouterr().out
    assert not lock.exists()
    assert json.loads((out / "status.json").read_text())["notebooks"]["a_first"]["ok"]


def test_every_committed_profile_sets_only_declared_parameters():
    folder = study.notebooks_dir()
    for path in sorted((folder / "profiles").glob("*.yaml")):
        study.check_profile(study.load_profile(path.stem, folder), study.list_notebooks(folder), path.name)


# --------------------------------------------------------------------------- console and report

def test_console_lines_stay_whole_across_threads_and_progress_shows():
    import io
    import threading

    buf = io.StringIO()
    con = study.Console(every=0.0, stream=buf, tty=False)

    def starter(i):
        for j in range(50):
            con.start(f"nb{i}", f"[study] nb{i}: running {j}")
            con.cell(f"nb{i}", j, 50)
            con.tick()

    threads = [threading.Thread(target=starter, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = buf.getvalue().split("\n")
    assert lines[-1] == "" and all(l.startswith("[study] ") for l in lines[:-1])
    assert any(l.startswith("[study] progress: ") and "/50 cells" in l for l in lines)
    # on a terminal: one line redrawn in place, erased before the next whole line
    tty = io.StringIO()
    con = study.Console(stream=tty, tty=True)
    con.start("a_first", "[study] a_first: running")
    con.cell("a_first", 3, 5)
    con._last -= 2
    con.tick()
    con.end("a_first", "[study] a_first: ok in 1.0 s")
    text = tty.getvalue()
    assert "\r[study] a_first [######....] 3/5 cells" in text
    assert text.endswith("\r\x1b[K[study] a_first: ok in 1.0 s\n")


def test_study_console_clean_with_progress_and_summary(lab, capfd, monkeypatch):
    """Through the file descriptors, as a terminal sees it (kernels write there directly): no
    kernel TCP warning, what a kernel really prints on stderr passes, start and end lines whole,
    progress while a notebook runs, and the summary table with each notebook's headline."""
    from inrlab import reportspec

    _notebook(lab / "notebooks" / "b_second.ipynb",
              'steps: int = 1  # steps\nfail: bool = False  # unused\nname: str = "b_second"  # name\nout_dir: str = ""  # output',
              BODY + "\nimport os, time\nos.write(2, b'a real kernel warning\\n')\ntime.sleep(2.5)")
    monkeypatch.setattr(study, "PROGRESS_EVERY", 0.5)
    monkeypatch.setitem(reportspec.NOTEBOOKS, "a_first",
                        reportspec.NotebookSpec("What is twice the steps?", (), ("value",)))
    assert study.run_study("quick", out=str(lab / "run")) == 0
    out, err = capfd.readouterr()
    assert "TCP without encryption" not in out + err and "eavesdropping" not in out + err
    assert "a real kernel warning" in err
    lines = out.splitlines()
    assert "[study] a_first: running (profile quick)" in lines and "[study] b_second: running (profile quick)" in lines
    assert any(l.startswith("[study] a_first: ok in ") and l.endswith(" s") for l in lines)
    assert any(l.startswith("[study] progress: b_second ") and "cells" in l for l in lines)
    head = lines.index("[study] summary")
    table = lines[head + 1: head + 4]
    assert table[0].split() == ["notebook", "status", "seconds", "headline"]
    assert table[1].split()[:2] == ["a_first", "ok"] and table[1].endswith("value: 6")
    assert table[2].split()[:2] == ["b_second", "ok"] and table[2].endswith("—")
    run = json.loads((lab / "run" / "status.json").read_text())["run"]
    assert run["profile"] == "quick" and "CPUs" in run["machine"] and run["torch"] and run["wall_seconds"] > 0


def _fake_run(root: Path, seconds: float, psnr64: float, fail_02: bool = False) -> Path:
    """A study run folder written by hand: 01 ok with figures, 02 failed (or ok)."""
    import base64

    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    nb01 = root / "01_spectral_bias"
    nb01.mkdir(parents=True)
    _notebook(nb01 / "01_spectral_bias.ipynb", "size: int = 64  # side\nsteps: int = 10  # steps", "pass")
    figures = ["targets", "psnr_vs_octave", "mh_heads_octave_heatmap"]
    for f in figures:
        (nb01 / f"{f}.html").write_text("<html></html>")
        (nb01 / f"{f}.png").write_bytes(png)
    metrics01 = {"size": 64, "steps": 10, "psnr_relu_oct64": psnr64, "psnr_siren_oct64": 30.0,
                 "psnr_by_octave": {"relu": {"1": 30.0, "64": psnr64}}, "brand_new_metric_seconds": 1.5}
    (nb01 / "metrics.json").write_text(json.dumps({"notebook": "01_spectral_bias", "metrics": metrics01,
                                                   "figures": [f + ".html" for f in figures]}))
    nb02 = root / "02_generalization"
    nb02.mkdir()
    _notebook(nb02 / "02_generalization.ipynb", "train_size: int = 64  # side", "pass")
    (nb02 / "metrics.json").write_text(json.dumps({"notebook": "02_generalization",
                                                   "metrics": {"train_size": 64, "a64_test_psnr_mh": 25.0}}))
    statuses = {"01_spectral_bias": {"notebook": "01_spectral_bias", "ok": True, "seconds": seconds,
                                     "metrics": metrics01},
                "02_generalization": {"notebook": "02_generalization", "ok": not fail_02, "seconds": 3.0,
                                      "error": "RuntimeError: out of patience" if fail_02 else None,
                                      "metrics": {"train_size": 64, "a64_test_psnr_mh": 25.0}}}
    (root / "status.json").write_text(json.dumps({
        "profile": "quick", "notebooks": statuses,
        "run": {"profile": "quick", "machine": "Linux x86_64, 2 CPUs", "device": "cpu", "torch": "2.13.0",
                "commit": "abc1234", "started": "2025-01-01 10:00:00", "wall_seconds": 75.0}}))
    study.write_index(root, statuses, "quick")
    return root


def test_index_reads_as_a_report(tmp_path):
    from inrlab import reportspec

    run = _fake_run(tmp_path / "run", 12.0, 21.5, fail_02=True)
    page = (run / "index.html").read_text()
    # what was run, then the ledger, then the notebooks
    assert page.index("What was run") < page.index("Claims ledger") < page.index("<h2>01_spectral_bias")
    for fact in ("2 CPUs", "torch</th><td>2.13.0", "abc1234", "1.2 min (75 s)"):
        assert fact in page, fact
    sec01 = page[page.index("<h2>01_spectral_bias"):page.index("<h2>02_generalization")]
    assert reportspec.question("01_spectral_bias") in sec01
    # key figures embedded, captioned, in the spec's order; the targets figure only linked
    assert sec01.index("Fit PSNR against the target") < sec01.index("Multi-head ReLU PSNR per number")
    assert sec01.count("data:image/png;base64,") == 2
    for f in ("targets", "psnr_vs_octave", "mh_heads_octave_heatmap"):
        assert f"href='01_spectral_bias/{f}.html'" in sec01
    # human labels with units, the raw key only as a tooltip; unknown keys become words
    assert "ReLU PSNR at octave 64</td><td class=num>21.50 dB" in sec01
    assert ">psnr_relu_oct64<" not in sec01 and "brand new metric seconds" in sec01
    assert "size = 64" in sec01 and "fit PSNR per family and Perlin octave" in sec01
    # a failed notebook: its error and the saved notebook first
    sec02 = page[page.index("<h2>02_generalization"):]
    assert sec02.index("out of patience") < sec02.index(reportspec.question("02_generalization"))
    assert sec02.index("href='02_generalization/02_generalization.ipynb'") < sec02.index("<h3>Results")
    # self-contained: nothing fetched from elsewhere
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_compare_runs_shows_both_numbers_and_the_change(tmp_path):
    old = _fake_run(tmp_path / "old", 12.0, 20.0)
    new = _fake_run(tmp_path / "new", 12.0, 21.5)
    path = study.compare_runs(new, old)
    assert path == new / "compare.html"
    page = path.read_text()
    row = page[page.index("ReLU PSNR at octave 64"):].split("</tr>")[0]
    assert "20.00 dB" in row and "21.50 dB" in row and "+1.50 dB" in row
    assert "<h2>02_generalization" in page and "size" not in page.split("<h2>01_spectral_bias")[1].split("</table>")[0]
    with pytest.raises(InrlabError, match="run folder not found"):
        study.compare_runs(new, tmp_path / "nowhere")


def test_reportspec_labels_units_and_headlines():
    from inrlab import reportspec

    assert reportspec.label("psnr_relu_pe_oct16") == ("ReLU+PE PSNR at octave 16", "dB")
    assert reportspec.label("ssim_hashgrid_oct16") == ("hash grid SSIM at octave 16", "")
    assert reportspec.label("ssim_by_octave") == ("fit SSIM per family and Perlin octave", "")
    assert reportspec.label("a64_flop_ratio_siren") == ("FLOPs of SIREN per multi-head FLOP, alpha 64", "×")
    assert reportspec.label("psnr_enrp_s2") == ("ENRP PSNR, Table I row S2", "dB")
    assert reportspec.label("recovery_psnr_siren_x0.1_rwf") == ("PSNR after a ×0.1 initialisation, SIREN + RWF", "dB")
    assert reportspec.label("never_seen_mh_flops") == ("never seen multi-head FLOPs", "FLOPs")
    assert reportspec.with_unit(21.345, "dB") == "21.34 dB" and reportspec.with_unit(3.2e9, "FLOPs") == "3.2 G FLOPs"
    assert reportspec.headline("01_spectral_bias", {"psnr_relu_oct64": 20.0}) == ("ReLU PSNR at octave 64", 20.0, "dB")
    assert reportspec.headline("01_spectral_bias", {}) is None
    assert set(reportspec.NOTEBOOKS) == set(_notebooks_on_disk())  # every notebook has a question
    assert all(s.question.endswith("?") and s.headline for s in reportspec.NOTEBOOKS.values())


def test_study_compare_with_an_earlier_run(lab, capsys):
    assert study.run_study("quick", out=str(lab / "old"), only=["a_first"]) == 0
    with pytest.raises(InrlabError, match="--compare folder 'nowhere' holds no study run"):
        study.run_study("quick", out=str(lab / "new"), only=["a_first"], compare="nowhere")
    assert study.run_study("broken", out=str(lab / "new"), only=["a_first"], compare=str(lab / "old")) == 1
    assert f"compared with {lab / 'old'} -> {lab / 'new' / 'compare.html'}" in capsys.readouterr().out
    page = (lab / "new" / "compare.html").read_text()
    row = page[page.index("title='value'"):].split("</tr>")[0]
    assert "6" in row and "2" in row and "-4" in row  # value = 2 * steps: 6 before, 2 now


def test_png_export_counts_only_the_files_written_and_retries_a_dropped_one(tmp_path, monkeypatch):
    import plotly.graph_objects as go
    import plotly.io as pio

    from inrlab.study.execute import export_pngs

    for name in ("a", "b"):
        (tmp_path / f"{name}.plotly.json").write_text(go.Figure(go.Scatter(y=[1, 2])).to_json())
    calls = []

    def flaky(figs, paths, **kw):  # kaleido's way: a timed-out render leaves no file and raises nothing
        calls.append(list(paths))
        for p in paths:
            if not (p.endswith("b.png") and len(calls) < 3):
                open(p, "wb").close()

    monkeypatch.setattr(pio, "write_images", flaky)
    assert export_pngs(tmp_path) == "1 written, 1 failed (b.png)"
    assert calls == [[str(tmp_path / "a.png"), str(tmp_path / "b.png")], [str(tmp_path / "b.png")]]
    (tmp_path / "a.png").unlink()
    calls.clear()
    calls.append("earlier")  # the third call onwards writes b: a retry now recovers it
    assert export_pngs(tmp_path) == "2 written"


def test_atomic_results_are_as_readable_as_any_file_written_here(tmp_path):
    import os

    from inrlab.atomic import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "new.json", "{}")          # mkstemp alone would give 0600
        assert os.stat(tmp_path / "new.json").st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
    path = tmp_path / "kept.json"
    path.write_text("{}")
    os.chmod(path, 0o604)
    atomic_write_text(path, "[]")                               # a replaced file keeps its mode
    assert os.stat(path).st_mode & 0o777 == 0o604 and path.read_text() == "[]"
