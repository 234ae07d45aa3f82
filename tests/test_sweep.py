"""The sweep engine (issue 20): spec checks, resume, failures, interruption, stacked seeds, Ray."""

import json
import os

import pytest
import torch

from inrlab import models, signals
from inrlab.cli import main
from inrlab.errors import InrlabError
from inrlab.sweep import engine, fit_stacked, load_spec, read_rows, run_sweep
from inrlab.train import fit

SIGNAL = {"source": "camera", "size": 16, "gray": True}


def sweep(raw, out, **kw):
    """In this process (jobs=1): fast, and the monkeypatched fit() is the one that runs."""
    return run_sweep(raw, out, **{"jobs": 1, **kw})


def spec(**over):
    raw = {"signals": [SIGNAL], "grid": {"model": ["siren", "relu_pe"], "width": [8], "depth": [1]},
           "seeds": [0, 1], "steps": 5}
    raw.update(over)
    return raw


def test_grid_and_list_expand_to_trials_times_seeds():
    s = load_spec(spec(trials=[{"model": "siren", "width": 4, "depth": 1, "lr": 1e-3}]))
    assert len(s.trials) == (1 + 2) * 2
    assert s.trials[0]["params"] == {"width": 4, "depth": 1} and s.trials[0]["lr"] == 1e-3
    assert [t["seed"] for t in s.trials[:2]] == [0, 1]


@pytest.mark.parametrize("over, words", [
    ({"epochs": 3}, "unknown key 'epochs'"),
    ({"grid": {"model": ["nosuch"]}}, "unknown model 'nosuch'"),
    ({"grid": {"model": ["siren"], "widht": [8]}}, "unknown parameter 'widht'"),
    ({"grid": {"model": ["siren"], "width": ["wide"]}}, "'width'"),
    ({"grid": {"model": ["siren"], "width": []}}, "'grid.width' is an empty list"),
    ({"steps": "many"}, "'steps' must be a positive integer"),
    ({"seeds": []}, "'seeds'"),
    ({"signals": [{"source": "camera", "sise": 16}]}, "unknown key 'signals[0].sise'"),
    ({"signals": [{"source": "synth", "size": 64}]}, "'signals[0].size': size=64 is an image option"),
    ({"device": "tpu"}, "'device': unknown device 'tpu' (use auto, cpu, cuda or mps)"),
    ({"device": "meta"}, "'device': device 'meta' is not one inrlab trains on"),
    ({"signals": [{"source": "synth", "gray": True}]}, "'signals[0].gray': gray is an image option"),
    ({"resources": {"cpus": "two"}}, "'resources.cpus' must be a non-negative number"),
    ({"seeds": [0, 2 ** 64]}, "'seeds' must be an integer from 0 to 2**63 - 1"),
    ({"seeds": 10 ** 9}, "'seeds' as a count must be from 1 to 100000"),
    ({"signals": [{**SIGNAL, "seed": -1}]}, "'signals[0].seed' must be an integer from 0 to 2**63 - 1"),
    ({"lr": float("inf")}, "'lr' must be a positive finite number or null"),
    ({"grid": {"model": ["siren"], "width": list(range(1, 1001)), "depth": list(range(1, 101))}},
     "more than 100000 trials"),
    ({"signals": [{"source": "no/such.png", "size": 16}]}, "signal 'no/such.png': image file not found"),
    ({"signals": [{"source": "perlin:100", "size": 16}]}, "signal 'perlin:100'"),
])
def test_malformed_spec_refused_before_anything_runs(tmp_path, over, words):
    with pytest.raises(InrlabError) as e:
        sweep(spec(**over), tmp_path / "out")
    assert words in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_resume_runs_only_missing_trials_and_summary_has_mean_sd_n(tmp_path):
    first = sweep(spec(seeds=[0]), tmp_path)
    assert (first["run"], first["skipped"], first["failed"]) == (2, 0, 0)
    again = sweep(spec(seeds=[0, 1]), tmp_path)
    assert (again["run"], again["skipped"]) == (2, 2)
    rows = read_rows(tmp_path)
    assert len(rows) == 4 and len({r["hash"] for r in rows}) == 4
    for r in rows:
        assert r["status"] == "ok" and r["psnr"] > 0 and r["params"] > 0 and r["flops"] > 0
        assert r["ssim"] is not None and r["device"] == "cpu"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary) == 2
    for e in summary:
        psnrs = [r["psnr"] for r in rows if r["config"]["model"] == e["config"]["model"]]
        m = e["metrics"]["psnr"]
        assert m["n"] == 2 and m["mean"] == pytest.approx(sum(psnrs) / 2)
        assert m["sd"] == pytest.approx(abs(psnrs[0] - psnrs[1]) / 2 ** 0.5)
    assert sweep(spec(seeds=[0, 1]), tmp_path)["run"] == 0


def test_failing_trial_is_recorded_and_others_go_on(tmp_path, monkeypatch):
    import inrlab.train

    real = inrlab.train.fit

    def flaky(model, signal, **kw):
        if kw["seed"] == 1:
            raise RuntimeError("boom\nsecond line")
        return real(model, signal, **kw)

    monkeypatch.setattr(inrlab.train, "fit", flaky)
    result = sweep(spec(stack=False), tmp_path)
    assert (result["run"], result["failed"]) == (4, 2)
    failed = [r for r in read_rows(tmp_path) if r["status"] == "failed"]
    assert {r["config"]["seed"] for r in failed} == {1}
    assert all(r["error"] == "RuntimeError: boom second line" for r in failed)
    assert all(e["metrics"]["psnr"]["n"] == 1 for e in result["summary"])
    monkeypatch.setattr(inrlab.train, "fit", real)  # a rerun retries the failed ones only
    again = sweep(spec(stack=False), tmp_path)
    assert (again["run"], again["skipped"], again["failed"]) == (2, 2, 0)


def test_interrupted_sweep_keeps_finished_rows(tmp_path):
    def stop_after_first(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(spec(stack=False), tmp_path, on_row=stop_after_first)
    rows = read_rows(tmp_path)
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    assert len(json.loads((tmp_path / "summary.json").read_text())) == 1
    assert sweep(spec(stack=False), tmp_path)["run"] == 3


@pytest.mark.parametrize("family, kw, way", [
    ("siren", {}, "fused"),                             # the hand-worked step (inrlab.sweep.fused)
    ("siren", {"depth": 2, "gray": False}, "fused"),    # two hidden layers, three channels
    ("relu_pe", {"pe_freqs": 2}, "fused"),              # a shared encoding, ReLU
    ("ff", {"mapping_size": 8}, "batched"),             # a per-member buffer (B) in the batch
    ("wire", {}, "batched"),                            # complex layers
    ("siren", {"factorize": True}, "vmap"),             # RWF's parametrization: vmap
    ("ff", {"mapping_size": 8, "sigmoid": True}, "vmap"),  # an output map the batch lacks
])
def test_stacked_seeds_equal_separate_fits(family, kw, way):
    kw = {"depth": 1, **kw}
    sig = signals.split_every_other(signals.image("camera", size=16, gray=kw.pop("gray", True)))
    seeds, steps = [0, 1, 2], 15
    stacked = [models.build(family, signal=sig, width=16, seed=s, **kw) for s in seeds]
    histories = fit_stacked(stacked, sig, steps)
    assert {h.config["stacked_with"] for h in histories} == {way}
    for s, h in zip(seeds, histories):
        alone = models.build(family, signal=sig, width=16, seed=s, **kw)
        ref = fit(alone, sig, steps=steps, seed=s, progress=False)
        assert h.loss == pytest.approx(ref.loss, rel=1e-5)
        assert h.final["psnr"] == pytest.approx(ref.final["psnr"], abs=1e-4)
        assert h.final["psnr_heldout"] == pytest.approx(ref.final["psnr_heldout"], abs=1e-4)
    assert histories[0].loss[-1] < histories[0].loss[0]
    assert histories[0].loss != histories[1].loss  # the members are different seeds


@pytest.mark.parametrize("family, kw", [("siren", {"depth": 2}), ("relu_pe", {"depth": 2, "pe_freqs": 3})])
@pytest.mark.parametrize("own_targets", [False, True])
def test_fused_step_gradients_are_the_textbook_ones_over_chunks(family, kw, own_targets):
    """The hand-worked stacked step (inrlab.sweep.fused) in 7 point chunks, the last one short:
    its losses and every layer's gradients are those of the members' textbook forwards in
    float64 (autograd), to float32 rounding."""
    import copy

    from inrlab.sweep.fused import FusedStep, fusable
    from inrlab.sweep.stacked import _Batched

    sig = signals.image("astronaut", size=20, keep_aspect=False)   # 400 points, 3 channels
    built = [models.build(family, signal=sig, width=12, seed=s, **kw) for s in range(3)]
    stack = _Batched(built)
    assert fusable(stack, sig.coords)
    targets = torch.rand(3, *sig.values.shape, generator=torch.Generator().manual_seed(0)) if own_targets else None
    step = FusedStep(stack, sig.coords, sig.values if targets is None else targets, chunk=64)
    assert len(step.spans) == 7 and step.spans[-1] == (384, 400)
    losses = step()
    for k, m in enumerate(built):
        ref = copy.deepcopy(m).double()
        y = (sig.values if targets is None else targets[k]).double()
        loss = ((ref.forward_reference(sig.coords.double()) - y) ** 2).mean()
        loss.backward()
        assert losses[k].item() == pytest.approx(loss.item(), rel=1e-5)
        for mine, theirs in zip(stack.leaves(), ref.parameters()):
            err = (mine.grad[k].double() - theirs.grad).abs().max() / theirs.grad.abs().max()
            assert err < 2e-5, (k, tuple(theirs.shape), err.item())


def test_fused_step_is_only_taken_where_it_holds():
    """SIREN and ReLU members on a float32 CPU take the hand-worked step; another activation,
    a per-member encoding or float64 weights keep autograd (stacked._Batched)."""
    from inrlab.sweep.fused import fusable
    from inrlab.sweep.stacked import _Batched

    sig = signals.image("camera", size=8, gray=True)
    def stack(family, **kw):
        return _Batched([models.build(family, signal=sig, width=8, depth=1, seed=s, **kw) for s in range(2)])
    assert fusable(stack("siren"), sig.coords) and fusable(stack("relu"), sig.coords)
    assert not fusable(stack("finer"), sig.coords) and not fusable(stack("gauss"), sig.coords)
    assert not fusable(stack("ff", mapping_size=4), sig.coords)     # B drawn per member
    assert not fusable(stack("siren"), sig.coords.double())
    doubled = stack("siren")
    doubled.layers.double()
    assert not fusable(doubled, sig.coords)
    trained = stack("relu")   # an encoding that learns is encoded once by the fused step: not for it
    trained.encoding.scale = torch.nn.Parameter(torch.ones(()))
    assert not fusable(trained, sig.coords)


def _octaves16(octaves=(1, 2, 4)):
    return [signals.split_every_other(signals.perlin(16, octaves=k, seed=0)) for k in octaves]


@pytest.mark.parametrize("family, kw", [("relu", {"width": 16, "depth": 1}), ("finer", {"width": 16, "depth": 1}),
                                        ("hashgrid", {"table_size": 64, "width": 16})])
def test_stacked_targets_equal_separate_fits(family, kw):
    """Members with their own targets on one grid (the octaves of notebook 01): each member's
    losses, PSNRs and SSIMs are those of its own fit() on its own signal."""
    sigs, steps = _octaves16(), 15
    stacked = [models.build(family, signal=s, seed=0, **kw) for s in sigs]
    histories = fit_stacked(stacked, sigs, steps)
    for sig, h in zip(sigs, histories):
        ref = fit(models.build(family, signal=sig, seed=0, **kw), sig, steps=steps, seed=0, progress=False)
        assert h.config["signal"] == sig.name and h.config["stacked"] == 3
        assert h.loss == pytest.approx(ref.loss, rel=1e-5)
        for k in ("psnr", "psnr_heldout", "ssim", "ssim_heldout"):
            assert h.final[k] == pytest.approx(ref.final[k], abs=1e-4), k
    assert histories[0].loss[-1] < histories[0].loss[0]
    assert len({h.final["psnr"] for h in histories}) == 3  # the members did fit different targets


@pytest.mark.parametrize("sigs, words", [
    (lambda: _octaves16((1, 2)), "lists 2 signals for 3 models"),
    (lambda: [*_octaves16((1, 2)), signals.perlin(8, octaves=1, seed=0)], "'signal[2]'"),
    (lambda: [*_octaves16((1, 2)), "perlin"], "'signal[2]' must be an inrlab Signal"),
    (lambda: [*_octaves16((1, 2)), signals.split_every_other(signals.image("astronaut", size=16, keep_aspect=False))],
     "has targets of shape"),
])
def test_stacked_targets_refuse_signals_off_the_grid(sigs, words):
    base = _octaves16((1,))[0]
    built = [models.build("relu", signal=base, width=8, depth=1, seed=0) for _ in range(3)]
    with pytest.raises(InrlabError) as e:
        fit_stacked(built, sigs(), 2)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_run_trials_stacks_signals_of_one_grid_and_matches_separate_fits():
    from inrlab.sweep import run_trials

    sigs = _octaves16((1, 4))
    trials = [{"model": "relu", "width": 8, "depth": 1}, {"model": "multihead", "width": 8, "depth": 1, "grid": 2, "alpha": 8}]
    rows = run_trials(trials, signal=sigs, seeds=[0, 1], steps=6, lr=1e-3, eval_every=6, jobs=1)
    assert [(r["config"]["signal"]["source"], r["config"]["model"], r["config"]["seed"]) for r in rows] == [
        (s.name, t["model"], seed) for s in sigs for t in trials for seed in (0, 1)]
    # relu: 2 octaves x 2 seeds in one stack; multihead is not pointwise: one fit() each
    assert [r["stacked"] for r in rows] == [4, 4, 1, 1] * 2
    for r in rows:
        sig = sigs[[s.name for s in sigs].index(r["config"]["signal"]["source"])]
        params = {k: v for k, v in r["config"]["params"].items()}
        ref = fit(models.build(r["config"]["model"], signal=sig, seed=r["config"]["seed"], **params), sig,
                  steps=6, lr=1e-3, seed=r["config"]["seed"], eval_every=6, progress=False)
        assert r["status"] == "ok"
        for k in ("psnr", "psnr_heldout", "ssim"):
            assert r[k] == pytest.approx(ref.final[k], abs=1e-4), k
    unstacked = run_trials(trials, signal=sigs, seeds=[0, 1], steps=6, lr=1e-3, eval_every=6, jobs=1, stack=False)
    assert [r["psnr"] for r in rows] == pytest.approx([r["psnr"] for r in unstacked], abs=1e-4)
    with pytest.raises(InrlabError, match="run_trials: 'signal' is an empty list"):
        run_trials(trials, signal=[], steps=2, jobs=1)


def test_tasks_group_signals_of_one_layout_and_split_other_grids():
    from inrlab.sweep.trial import run_task, tasks_for

    raw = spec(signals=[{"source": "perlin:1", "size": 16}, {"source": "perlin:4", "size": 16},
                        {"source": "perlin:4", "size": 8}], grid={"model": ["relu"], "width": [8], "depth": [1]},
               seeds=[0])
    tasks = tasks_for(load_spec(raw).trials, stack=True)
    assert sorted(len(t) for t in tasks) == [1, 2]  # the two 16^2 octaves together, the 8^2 alone
    assert len(tasks_for(load_spec(raw).trials, stack=False)) == 3
    # a task whose signals turn out to lie on other grids stacks each grid apart, never across
    mixed = [c for t in tasks for c in t]
    rows = run_task(mixed)
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert sorted(r["stacked"] for r in rows) == [1, 2, 2]


def test_sweep_stacks_seeds_and_matches_unstacked_rows(tmp_path):
    one = sweep(spec(grid={"model": ["siren"], "width": [8], "depth": [1]}), tmp_path / "a")
    two = sweep(spec(grid={"model": ["siren"], "width": [8], "depth": [1]}, stack=False), tmp_path / "b")
    a, b = read_rows(tmp_path / "a"), read_rows(tmp_path / "b")
    assert [r["stacked"] for r in a] == [2, 2] and [r["stacked"] for r in b] == [1, 1]
    assert [r["psnr"] for r in a] == pytest.approx([r["psnr"] for r in b], abs=1e-4)
    assert one["run"] == two["run"] == 2


def test_cli_sweep_json_and_bad_spec(tmp_path, capsys):
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(seeds=[0])))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["run"], out["skipped"], out["failed"]) == (2, 0, 0) and len(out["summary"]) == 2
    path.write_text(yaml.safe_dump(spec(grid={"model": ["siren"], "depth": []})))
    assert main(["sweep", str(path), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "'grid.depth' is an empty list" in err and err.count("\n") == 1


def test_ray_backend_on_a_local_instance(tmp_path, local_ray):
    result = sweep(spec(), tmp_path, backend="ray")
    assert (result["run"], result["failed"]) == (4, 0)
    rows = read_rows(tmp_path)
    assert all(r["status"] == "ok" and r["psnr"] > 0 for r in rows)
    local = sweep(spec(), tmp_path / "local")
    assert sorted(r["psnr"] for r in rows) == pytest.approx(
        sorted(r["psnr"] for r in read_rows(tmp_path / "local")), abs=1e-4)
    assert sweep(spec(), tmp_path, backend="ray")["run"] == 0
    local_ray.shutdown()
    with pytest.raises(InrlabError, match="--address joins a Ray cluster"):
        sweep(spec(), tmp_path, address="auto")
    assert engine.BACKENDS == ("local", "ray")


def test_local_process_pool_matches_in_process(tmp_path):
    raw = spec(stack=False, seeds=[0])
    pooled = run_sweep(raw, tmp_path / "pool", jobs=2)
    inline = sweep(raw, tmp_path / "inline")
    assert pooled["run"] == inline["run"] == 2
    by = lambda out: {r["hash"]: r["psnr"] for r in read_rows(out)}
    a, b = by(tmp_path / "pool"), by(tmp_path / "inline")
    assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], abs=1e-5) for k in a)


# run_trials: the same runner over an in-memory Signal (the notebooks' sweeps).

def _sig16():
    return signals.split_every_other(signals.image("camera", size=16, gray=True))


TRIALS = [{"model": "siren", "width": 8, "depth": 1}, {"model": "relu_pe", "width": 8, "depth": 1, "lr": 3e-3}]


def test_run_trials_equals_separate_fits_and_writes_nothing(tmp_path, monkeypatch):
    from inrlab.sweep import run_trials

    monkeypatch.chdir(tmp_path)
    sig = _sig16()
    rows = run_trials(TRIALS, signal=sig, seeds=[0], steps=6, lr=1e-3, jobs=1,
                      schedule="step:2:0.5", eval_every=6)
    assert [r["config"]["model"] for r in rows] == ["siren", "relu_pe"]
    for t, r in zip(TRIALS, rows):
        params = {k: v for k, v in t.items() if k not in ("model", "lr")}
        model = models.build(t["model"], signal=sig, seed=0, **params)
        ref = fit(model, sig, steps=6, lr=t.get("lr", 1e-3), schedule="step:2:0.5", seed=0, eval_every=6,
                  progress=False)
        assert r["status"] == "ok" and r["stacked"] == 1
        assert r["psnr"] == ref.final["psnr"] and r["psnr_heldout"] == ref.final["psnr_heldout"]
        assert r["lr"] == t.get("lr", 1e-3)
    assert list(tmp_path.iterdir()) == []


def test_run_trials_stacks_seeds_and_resumes_into_out(tmp_path, monkeypatch):
    from inrlab.sweep import run_trials

    sig = _sig16()
    rows = run_trials(TRIALS[:1], signal=sig, seeds=[0, 1], steps=5, out=tmp_path, jobs=1)
    assert [r["stacked"] for r in rows] == [2, 2] and [r["config"]["seed"] for r in rows] == [0, 1]
    for s, r in zip([0, 1], rows):
        ref = fit(models.build("siren", signal=sig, width=8, depth=1, seed=s), sig, steps=5, seed=s, progress=False)
        assert r["psnr"] == pytest.approx(ref.final["psnr"], abs=1e-4)
    assert len(read_rows(tmp_path)) == 2 and (tmp_path / "summary.json").exists()
    import inrlab.train

    monkeypatch.setattr(inrlab.train, "fit", lambda *a, **k: pytest.fail("a finished trial ran again"))
    again = run_trials(TRIALS[:1], signal=sig, seeds=[0, 1], steps=5, out=tmp_path, jobs=1)
    assert [r["psnr"] for r in again] == [r["psnr"] for r in rows] and len(read_rows(tmp_path)) == 2


def test_run_trials_pickles_the_signal_to_worker_processes():
    from inrlab.sweep import run_trials

    sig = _sig16()
    kw = dict(signal=sig, seeds=[0], steps=4, eval_every=4, stack=False)
    pooled = run_trials(TRIALS, jobs=2, **kw)
    inline = run_trials(TRIALS, jobs=1, **kw)
    assert [r["status"] for r in pooled] == ["ok", "ok"]
    assert [r["psnr"] for r in pooled] == pytest.approx([r["psnr"] for r in inline], abs=1e-5)


@pytest.mark.parametrize("trials, kw, words", [
    ([{"model": "siren", "widht": 8}], {}, "'trials[0]': unknown parameter 'widht'"),
    ([{"model": "siren"}, {"model": "nosuch"}], {}, "'trials[1].model': unknown model 'nosuch'"),
    ([{"width": 8}], {}, "'trials[0]' needs a 'model'"),
    ([{"model": "siren", "steps": 0}], {}, "'trials[0].steps' must be a positive integer"),
    ([], {}, "'trials' must be a non-empty list"),
    (TRIALS, {"seeds": [0, 0]}, "'seeds' repeats a seed"),
    (TRIALS, {"eval_evry": 3}, "unknown fit() argument 'eval_evry'"),
    (TRIALS, {"signal": "camera"}, "'signal' must be an inrlab Signal"),
    (TRIALS, {"backend": "slurm"}, "unknown backend 'slurm'"),
    (TRIALS, {"resources": {"cpus": -1}}, "'resources.cpus' must be a non-negative number"),
    (TRIALS, {"resources": {"gpu": 1}}, "unknown key 'resources.gpu'"),
    (TRIALS, {"resources": 4}, "'resources' must be a mapping"),
    (TRIALS, {"device": "tpu"}, "run_trials: 'device': unknown device 'tpu'"),
    (TRIALS, {"device": 0}, "run_trials: 'device': must be a device name such as auto, cpu or cuda, got 0"),
    (TRIALS, {"backend": "ray", "address": "head-node"}, "'address' must be 'auto', HOST:PORT or ray://HOST:PORT"),
    (TRIALS, {"backend": "ray", "address": "head:0"}, "got 'head:0'"),
])
def test_run_trials_bad_input_is_one_line_naming_the_key(trials, kw, words, monkeypatch):
    from inrlab.sweep import run_trials
    import inrlab.train

    monkeypatch.setattr(inrlab.train, "fit", lambda *a, **k: pytest.fail("trained before the check"))
    kw = {"signal": _sig16(), **kw}
    with pytest.raises(InrlabError) as e:
        run_trials(trials, steps=3, jobs=1, **kw)
    assert words in str(e.value) and "\n" not in str(e.value) and str(e.value).startswith("run_trials: ")


def test_run_trials_takes_a_torch_device_as_notebooks_pass_it():
    from inrlab.sweep import run_trials

    rows = run_trials([{"model": "relu", "width": 4, "depth": 0}], signal=_sig16(), steps=2, jobs=1,
                      device=torch.device("cpu"), show_progress=False)
    assert rows[0]["status"] == "ok" and rows[0]["device"] == "cpu"


def test_run_trials_on_ray_ships_the_signal(local_ray):
    from inrlab.sweep import run_trials

    sig = _sig16()
    kw = dict(signal=sig, seeds=[0], steps=4, eval_every=4)
    remote = run_trials(TRIALS, backend="ray", **kw)
    local_ray.shutdown()
    inline = run_trials(TRIALS, jobs=1, **kw)
    assert [r["status"] for r in remote] == ["ok", "ok"]
    assert [r["psnr"] for r in remote] == pytest.approx([r["psnr"] for r in inline], abs=1e-5)


def test_sweep_bench_rows_are_registered_as_ratio_cases(monkeypatch):
    import inrlab.sweep.bench as sb
    from inrlab.bench import CASES

    assert not CASES["sweep_pool"].quick and CASES["sweep_stacked"].quick
    monkeypatch.setattr(sb, "pool_row", lambda: {"case": "pool", "one_process_s": 4.0, "pool_s": 2.5, "speedup": 1.6})
    (row,) = CASES["sweep_pool"].run({"quick": False, "device": "cpu"})
    assert row["kind"] == "ratio" and row["row"] == "pool"
    assert (row["fast_s"], row["slow_s"], row["speedup"]) == (2.5, 4.0, pytest.approx(1.6))
    assert CASES["sweep_stacked_targets"].quick
    seen = {}
    monkeypatch.setattr(sb, "targets_row", lambda **kw: seen.update(kw) or {
        "case": "octaves", "sequential_s": 3.0, "stacked_s": 1.5, "speedup": 2.0,
        "sequential_runs_s": [3.0, 3.2], "stacked_runs_s": [1.6, 1.5]})
    (row,) = CASES["sweep_stacked_targets"].run({"quick": True, "device": "cpu"})
    assert seen == {"steps": 50, "device": "cpu", "repeats": 1} and row["row"] == "octaves"
    assert row["speedup"] == pytest.approx(2.0) and row["sequential_runs_s"] == [3.0, 3.2]
    CASES["sweep_stacked_targets"].run({"quick": False, "device": "cpu"})
    assert seen == {"steps": 300, "device": "cpu", "repeats": 3}   # the full bench: best of 3 rounds


def test_best_of_interleaves_the_runs_and_keeps_every_time(monkeypatch):
    import inrlab.bench.core as core

    order, clock = [], iter(range(100))
    monkeypatch.setattr(core.time, "perf_counter", lambda: next(clock))
    times = core.rounds(3, lambda: order.append("a"), lambda: order.append("b"))
    assert order == ["a", "b"] * 3 and times == [[1, 1, 1], [1, 1, 1]]


def test_rounds_alternate_and_take_a_run_s_own_timing():
    from inrlab.bench.core import rounds

    order = []
    times = rounds(3, lambda: order.append("a") or 5.0, lambda: order.append("b"), alternate=True)
    assert order == ["a", "b", "b", "a", "a", "b"] and times[0] == [5.0, 5.0, 5.0]   # a timed itself
    assert all(0 <= t < 1 for t in times[1])


def test_stacked_bench_row_times_a_member_step_alone_and_stacked(monkeypatch):
    import inrlab.sweep.bench as sb
    from inrlab.bench import CASES

    r = sb.stacked_row(seeds=2, steps=3, size=16, repeats=2)
    assert r["speedup"] == pytest.approx(r["sequential_s"] / r["stacked_s"])
    assert len(r["sequential_runs_s"]) == len(r["stacked_runs_s"]) == 2   # each side's best of 2 rounds
    assert r["sequential_s"] == min(r["sequential_runs_s"]) and r["stacked_s"] == min(r["stacked_runs_s"])
    assert r["member_step_alone_s"] > 0 and r["member_step_stacked_s"] > 0
    assert r["fit_s_per_step"] == pytest.approx(r["sequential_s"] / 6)
    # the floor leaves out most of a step's work, so the stacked share cannot beat it
    assert 0 < r["member_step_floor_s"] < r["member_step_stacked_s"]
    assert r["member_step_budget_3x_s"] == pytest.approx(r["fit_s_per_step"] / 3)
    monkeypatch.setattr(sb, "stacked_row", lambda **kw: {**r, "case": "seeds"})
    first, second, third = CASES["sweep_stacked"].run({"quick": True, "device": "cpu"})
    assert first["row"] == "seeds" and first["speedup"] == pytest.approx(r["speedup"])
    assert first["stacked_runs_s"] == r["stacked_runs_s"]
    assert second["fast_s"] == r["member_step_stacked_s"] and second["slow_s"] == r["member_step_alone_s"]
    assert third["fast_s"] == r["member_step_floor_s"] and third["slow_s"] == r["member_step_budget_3x_s"]
    monkeypatch.setattr(sb, "stacked_row", lambda **kw: {**r, "case": "seeds", "member_step_floor_s": None})
    assert len(CASES["sweep_stacked"].run({"quick": True, "device": "cpu"})) == 2   # no floor off the CPU


def test_summary_labels_tell_apart_what_the_groups_differ_in():
    label = engine.label
    base = {"model": "siren", "params": {"width": 8}, "steps": 5, "lr": None,
            "signal": {"source": "camera", "size": 16, "gray": False, "heldout": None, "seed": 0}}
    gray = {**base, "signal": {**base["signal"], "gray": True}}
    held = {**base, "signal": {**base["signal"], "heldout": "every_other"}}
    clip = {**base, "signal": {"source": "synth", "size": None, "gray": False, "heldout": None, "seed": 0}}
    assert label(base) == "siren(width=8), 5 steps on camera@16"
    assert len({label(base), label(gray), label(held)}) == 3
    assert label(held).endswith("camera@16 (held out: every_other)") and label(gray).endswith("camera@16 gray")
    assert label(clip).endswith("steps on synth")   # no size: nothing to print, not '@None'


def test_an_unreachable_ray_address_is_one_line_in_seconds_not_a_hang(tmp_path, capsys):
    # ray.init retries an address where nothing listens for minutes; a port just closed is refused at once
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'inrlab[ray]')")
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(seeds=[0])))
    t = time.perf_counter()
    code = main(["sweep", str(path), "--out", str(tmp_path / "out"), "--backend", "ray",
                 "--address", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and time.perf_counter() - t < 30
    assert err == (f"error: cannot reach a Ray cluster at address '127.0.0.1:{port}': Connection refused "
                   f"(check the head node's address and port)")
    assert read_rows(tmp_path / "out") == []


def test_address_auto_without_a_running_cluster_is_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'inrlab[ray]')")
    import ray
    import yaml

    if os.environ.get("RAY_ADDRESS") or ray.is_initialized():
        pytest.skip("a Ray cluster is named or running here: 'auto' would join it")
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(seeds=[0])))
    code = main(["sweep", str(path), "--out", str(tmp_path / "out"), "--backend", "ray", "--address", "auto"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: cannot join a Ray cluster at address 'auto': ") and "ray start --head" in err


def test_trials_no_node_can_take_are_refused_not_left_waiting(tmp_path, local_ray):
    # Ray holds a task whose resources no node has forever: the sweep would look hung
    if os.environ.get("RAY_ADDRESS"):
        pytest.skip("a joined cluster may grow (an autoscaler): there it is a warning")
    gpus = sum(n["Resources"].get("GPU", 0) for n in local_ray.nodes())
    with pytest.raises(InrlabError) as e:
        sweep(spec(resources={"cpus": 1, "gpus": gpus + 1}), tmp_path, backend="ray")
    assert str(e.value).startswith(f"each trial asks Ray for 1 CPU and {gpus + 1:g} GPU")
    assert "but no node of the cluster has them (the most on one node: 2 CPUs" in str(e.value)
    assert read_rows(tmp_path) == []
    from inrlab.study.remote import ray_executor   # the study's notebooks, likewise

    with pytest.raises(InrlabError, match="each notebook asks Ray for 3 CPUs and 0 GPUs"):
        ray_executor(cpus=3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the local trials could use it")
def test_a_device_this_machine_lacks_is_refused_locally_before_anything_runs(tmp_path):
    # every trial would fail alike; on Ray only the name is checked (the nodes may have one)
    with pytest.raises(InrlabError, match="device 'cuda' requested but CUDA is not available here"):
        sweep(spec(device="cuda"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_trial_listed_twice_runs_once_and_counts_once(tmp_path):
    one = {"model": "siren", "width": 8, "depth": 1}
    raw = spec(trials=[one, one], grid={"model": ["siren"], "width": [8], "depth": [1]})
    result = sweep(raw, tmp_path)
    assert (result["run"], result["skipped"]) == (2, 0)          # one trial x 2 seeds
    (entry,) = result["summary"]
    assert entry["seeds"] == [0, 1] and entry["metrics"]["psnr"]["n"] == 2
    # a table that holds a trial twice (written by an older inrlab) still counts it once
    rows = read_rows(tmp_path)
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows + rows[:1]))
    (entry,) = engine.summarize(read_rows(tmp_path))
    assert entry["seeds"] == [0, 1] and entry["metrics"]["psnr"]["n"] == 2


@pytest.mark.parametrize("text, words", [
    (b"signals: camera\nsignals: astronaut\ntrials: [{model: siren}]\n",
     "repeats the key 'signals' at line 2 (YAML keeps only the last one)"),
    (b"\xff\xfesignals: camera\n", "is not UTF-8 text (byte 0)"),
    (b"signals: [camera\n", "is not valid YAML at line 2"),
])
def test_a_spec_file_that_is_not_clean_yaml_is_one_line(tmp_path, capsys, text, words):
    path = tmp_path / "spec.yaml"
    path.write_bytes(text)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert words in err and str(path) in err and err.count("\n") == 1
    assert main(["sweep", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert f"sweep spec '{tmp_path}' is a directory, not a file" in capsys.readouterr().err


@pytest.mark.parametrize("line, words", [
    ('{"status": "ok", "config": {}}', "line 2 is not a result row (no 'hash')"),
    ('{"hash": "x", "status": "ok"}', "line 2 is not a result row (no 'config')"),
    ('[1, 2]', "line 2 is not a result row (a JSON list, not a mapping)"),
    ('{"hash": "x", "status": "ok", "config": {', "line 2 is not a result row (not JSON)"),
])
def test_a_damaged_results_table_is_refused_naming_the_line(tmp_path, line, words):
    sweep(spec(seeds=[0], grid={"model": ["siren"], "width": [8], "depth": [1]}), tmp_path)
    table = tmp_path / "results.jsonl"
    table.write_text(table.read_text() + line + "\n")
    with pytest.raises(InrlabError) as e:
        sweep(spec(seeds=[0, 1]), tmp_path)
    assert words in str(e.value) and "delete that line to keep the others" in str(e.value)
    assert len(table.read_text().splitlines()) == 2        # nothing rewritten, nothing lost


def _drop_seed(r):
    r["config"].pop("seed")


@pytest.mark.parametrize("edit, words", [
    (lambda r: r.update(psnr="abc"), "line 1 is not a result row ('psnr' is 'abc', not a number)"),
    (_drop_seed, "line 1 is not a result row (its config has no 'seed')"),
    (lambda r: r.update(config={"foo": 1}), "line 1 is not a result row (its config has no 'signal')"),
    (lambda r: r.update(hash="0" * 16), "line 1 is not a result row (its hash is not its config's"),
    (lambda r: r["config"]["params"].update(width=9), "line 1 is not a result row (its hash is not its config's"),
])
def test_a_row_edited_by_hand_is_refused_naming_its_line(tmp_path, edit, words):
    # cells the summary and resume read: a wrong type stopped the sweep with a bare KeyError or
    # ValueError, and a row whose hash is not its config's was counted twice in the summary
    sweep(spec(seeds=[0], grid={"model": ["siren"], "width": [8], "depth": [1]}), tmp_path)
    table = tmp_path / "results.jsonl"
    row = json.loads(table.read_text())
    edit(row)
    table.write_text(json.dumps(row) + "\n")
    with pytest.raises(InrlabError) as e:
        sweep(spec(seeds=[0, 1]), tmp_path)
    assert words in str(e.value) and str(table) in str(e.value)


def test_a_diverging_stacked_member_fails_as_its_fit_does_and_spares_the_others():
    sig = signals.image("camera", size=16, gray=True)
    for family, kw in [("siren", {}), ("ff", {"mapping_size": 8}), ("siren", {"factorize": True})]:
        built = [models.build(family, signal=sig, width=16, depth=1, seed=s, **kw) for s in range(3)]
        with torch.no_grad():
            list(built[1].parameters())[-1].fill_(float("nan"))   # member 1's loss is NaN at step 1
        histories = fit_stacked(built, sig, 6)
        way = histories[0].config["stacked_with"]
        assert histories[1].diverged.startswith("loss became nan at step 1 with lr="), (family, way)
        assert histories[1].loss == [] and histories[1].final["psnr"] is None
        for s in (0, 2):
            ref = fit(models.build(family, signal=sig, width=16, depth=1, seed=s, **kw), sig, steps=6, seed=s,
                      progress=False)
            assert histories[s].diverged is None and histories[s].loss == pytest.approx(ref.loss, rel=1e-5), way


def test_a_diverged_trial_is_a_failed_row_stacked_or_not(tmp_path):
    # the same trials stacked and unstacked: each seed a failed row with fit()'s TrainingDiverged
    raw = spec(grid={"model": ["relu"], "width": [16], "depth": [1]}, lr=1e30, seeds=3, steps=20)
    for stack in (True, False):
        result = sweep({**raw, "stack": stack}, tmp_path / str(stack))
        rows = read_rows(tmp_path / str(stack))
        assert (result["run"], result["failed"]) == (3, 3) and result["summary"] == [], stack
        assert all(r["error"].startswith("TrainingDiverged: ") and "lower the learning rate"
                   in r["error"] for r in rows), rows


def test_cli_names_each_failure_and_exits_non_zero(tmp_path, capsys):
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(grid={"model": ["siren"], "width": [8], "depth": [1], "dim_out": [1, 3]},
                                        seeds=[0, 1])))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    failed = [ln for ln in out.splitlines() if ln.startswith("failed: ")]
    assert len(failed) == 1 and "dim_out=3" in failed[0] and "seeds 0, 1" in failed[0], out
    assert "model outputs 3 channels but signal 'camera' has 1" in failed[0]
    assert "4 trials run (2 failed)" in out
    # --json carries each failure too (it printed only the count)
    assert main(["sweep", str(path), "--out", str(tmp_path / "j"), "--json"]) == 1
    got = json.loads(capsys.readouterr().out)
    assert got["failed"] == 2 and [f["seed"] for f in got["failures"]] == [0, 1]
    assert all("dim_out=3" in f["trial"] and "has 1" in f["error"] and f["hash"] for f in got["failures"])


def test_summary_shows_a_metric_s_own_count_when_seeds_lack_it():
    rows = [{"hash": str(i), "status": "ok", "psnr": v, "seconds": 1.0,
             "config": {"signal": {"source": "camera", "size": 16}, "model": "siren", "params": {}, "steps": 5,
                        "lr": None, "seed": i}} for i, v in enumerate([20.0, float("nan"), 22.0])]
    text = engine.format_summary(engine.summarize(rows))
    assert engine.summarize([{k: v for k, v in r.items() if k != "hash"} for r in rows])[0]["seeds"] == [0, 1, 2]
    assert "psnr 21 ± 1.41 (n=2 of 3)" in text and "seconds 1 ± 0 (n=3)" in text.replace("seconds 1 ± 0;", "")


@pytest.mark.parametrize("jobs,kills", [(1, 1), (2, 2)])
def test_a_sigterm_keeps_the_rows_and_writes_the_summary(tmp_path, jobs, kills):
    # kills=2: a second SIGTERM right after the first (as coreutils timeout sends one to the
    # process, then to its group) is ignored while the first one's clean-up runs
    import signal
    import subprocess
    import sys
    import time

    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(grid={"model": ["siren"], "width": [64], "depth": [2]}, seeds=40,
                                        steps=200, stack=False)))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "inrlab", "sweep", str(path), "--out", str(out), "--jobs", str(jobs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "results.jsonl").exists():
        time.sleep(0.2)
    for _ in range(kills):
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and err.strip().count("\n") == 0 and "error: terminated (SIGTERM)" in err and "Traceback" not in err, err
    rows = read_rows(out)
    assert 1 <= len(rows) < 40
    summary = json.loads((out / "summary.json").read_text())
    assert summary[0]["metrics"]["psnr"]["n"] == len(rows)
