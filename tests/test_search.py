"""Algorithm 1 with each step's candidates as one batch (issue 20): `search(evaluate_many=...)`
and `search_ensemble` training them as trials of the sweep engine, locally and on Ray."""

import functools
import math

import pytest
import torch

import inrlab.sweep
import inrlab.train
from inrlab import models, signals
from inrlab.errors import InrlabError
from inrlab.metrics import enrp_signal
from inrlab.models.ensemble import copy_psnr, split_copies, stack_signal
from inrlab.search import ensemble_cost_functions, ensemble_evaluator, search, search_ensemble

# A deterministic stand-in for the PSNR of short trainings, P[depth][width] (as tests/test_ensemble.py).
FAKE = {1: {16: 10, 32: 35, 64: 30, 256: 11},
        2: {16: 12, 32: 25, 64: 18, 256: 13},
        3: {16: 15, 32: 14, 64: 16, 256: 40}}
SETS = {"alpha": 0.0, "f_max": 200, "depths": (1, 2, 3), "widths": (16, 32, 64, 256)}
TINY = dict(steps=4, lr=1e-3, repeats=2, seed=3, depths=(1, 2), widths=(4, 8), iter_max=2, f_max=1e12)


def flops(d, w):
    return d * w


def fake_many(batches):
    def evaluate_many(pairs):
        batches.append(list(pairs))
        return [[FAKE[d][w], FAKE[d][w] + 1.0] for d, w in pairs]
    return evaluate_many


def steps_with_training(res):
    """(iteration, step) -> the pairs that step trained, from the search's own record."""
    out = {}
    for c in res.path:
        if c.feasible and not c.reused:
            out.setdefault((c.iteration, c.step), []).append((c.depth, c.width))
    return list(out.values())


@pytest.fixture(scope="module")
def image():
    return enrp_signal(signals.image("astronaut", size=8, keep_aspect=False))


def test_batches_give_the_per_candidate_search_one_call_per_step():
    batches = []
    res = search(None, flops, evaluate_many=fake_many(batches), **SETS)
    ref = search(lambda d, w: [FAKE[d][w], FAKE[d][w] + 1.0], flops, **SETS)
    assert res.to_dict() == ref.to_dict()
    assert res.trajectory == [(3, 256), (1, 64), (1, 32), (1, 32)]
    # one call per step that had something to train, with exactly that step's new feasible pairs
    assert batches == steps_with_training(res)
    assert batches[0] == [(3, 16), (3, 32), (3, 64)]          # (3, 256) is over F_max: not sent
    sent = [p for b in batches for p in b]
    assert len(sent) == len(set(sent))                          # a cached pair is never sent again
    assert all(c.psnr == FAKE[c.depth][c.width] + 0.5 for c in res.path if c.feasible)
    # without reuse every step sends its feasible pairs again
    again = []
    search(None, flops, evaluate_many=fake_many(again), reuse=False, **SETS)
    assert len(again) == 2 * res.iterations and sum(map(len, again)) > len(sent)


def test_evaluate_many_results_are_checked():
    with pytest.raises(InrlabError, match="returned 2 results for 3 candidates"):
        search(None, flops, evaluate_many=lambda pairs: [[30.0]] * 2, **SETS)
    with pytest.raises(InrlabError, match=r"for depth 3 width 32, returned \[nan\]") as e:
        search(None, flops, evaluate_many=lambda pairs: [[math.nan] if w == 32 else [30.0] for d, w in pairs],
               **SETS)
    assert "\n" not in str(e.value)
    with pytest.raises(InrlabError, match="needs evaluate"):
        search(None, flops, **SETS)


def test_search_ensemble_equals_the_per_candidate_fit_path(image):
    """The sweep engine's rows give bit for bit the PSNRs of fit() + copy_psnr per candidate."""
    fl, params = ensemble_cost_functions(image, 2)
    evaluate = ensemble_evaluator(image, 2, steps=TINY["steps"], lr=TINY["lr"], repeats=TINY["repeats"],
                                  seed=TINY["seed"])
    sets = {k: TINY[k] for k in ("depths", "widths", "iter_max", "f_max")}
    ref = search(evaluate, fl, params=params, **sets)
    res = search_ensemble(image, 2, **TINY)
    assert res.trajectory == ref.trajectory
    assert [(c.step, c.depth, c.width) for c in res.chosen()] == [
        (c.step, c.depth, c.width) for c in ref.chosen()]
    assert [c.psnr_runs for c in res.path] == [c.psnr_runs for c in ref.path]   # exactly, not approx
    assert [c.psnr for c in res.path] == [c.psnr for c in ref.path]
    assert all(len(c.psnr_runs) == 2 and c.psnr_runs[0] != c.psnr_runs[1] for c in res.path if c.feasible)
    assert res.settings["backend"] == "local" and res.settings["repeats"] == 2


def test_rows_hold_each_copys_psnr_in_both_conventions(image):
    """psnr_enrp_copies is 20 log10(1/RMSE) of each copy on [-1, 1] data, predictions clipped."""
    rows = inrlab.sweep.run_trials([{"model": "ensemble", "grid": 2, "depth": 1, "width": 4, "stack": 3}],
                                   signal=image, seeds=[1], steps=5, lr=1e-3, jobs=1, eval_every=5)
    (row,) = rows
    assert row["status"] == "ok" and len(row["psnr_enrp_copies"]) == 3
    model = models.build("ensemble", signal=image, grid=2, depth=1, width=4, stack=3, seed=1)
    inrlab.train.fit(model, stack_signal(image, 3), steps=5, lr=1e-3, seed=1, progress=False, eval_every=5)
    assert row["psnr_enrp_copies"] == copy_psnr(model, image, "enrp")
    assert row["psnr_copies"] == copy_psnr(model, image)
    with torch.no_grad():
        pred = split_copies(model(image.coords), 3).clamp(-1, 1).double()
    rmse = ((pred - image.values.double()) ** 2).mean(dim=(1, 2)).sqrt()
    assert row["psnr_enrp_copies"] == pytest.approx([20 * math.log10(1 / r) for r in rmse.tolist()], abs=1e-9)
    assert [a - b for a, b in zip(row["psnr_copies"], row["psnr_enrp_copies"])] == pytest.approx(
        [20 * math.log10(2)] * 3, abs=1e-9)                     # ours on [-1, 1] data: 6.02 dB higher


def test_the_engine_gets_one_batch_per_step(image, monkeypatch):
    calls = []
    real = inrlab.sweep.run_trials

    def counting(trials, **kw):
        calls.append([(t["depth"], t["width"]) for t in trials])
        assert all(t["model"] == "ensemble" and t["stack"] == 2 and t["grid"] == 2 for t in trials)
        assert kw["seeds"] == [3] and kw["backend"] == "local" and kw["jobs"] == 1
        return real(trials, **kw)

    monkeypatch.setattr(inrlab.sweep, "run_trials", counting)
    res = search_ensemble(image, 2, **TINY)
    assert calls == steps_with_training(res) and len(calls) >= 2
    sent = [p for c in calls for p in c]
    assert len(sent) == len(set(sent)) and any(c.reused for c in res.path)


def test_a_failing_trial_names_the_candidate(image, monkeypatch):
    real = inrlab.train.fit

    @functools.wraps(real)  # run_trials checks its fit arguments against fit()'s signature
    def fit(model, *a, **kw):
        if model.width == 8:
            raise RuntimeError("boom\nsecond line")
        return real(model, *a, **kw)

    monkeypatch.setattr(inrlab.train, "fit", fit)
    with pytest.raises(InrlabError) as e:
        search_ensemble(image, 2, **TINY)
    msg = str(e.value)
    assert "depth 3, width 8" in msg and "RuntimeError: boom second line" in msg and "\n" not in msg
    with pytest.raises(InrlabError, match="^search_ensemble: unknown backend 'spark'"):
        search_ensemble(image, 2, backend="spark", **TINY)
    with pytest.raises(InrlabError, match="'address' joins a Ray cluster"):
        search_ensemble(image, 2, address="auto", **TINY)


def test_search_on_a_local_ray_instance(image, local_ray):
    remote = search_ensemble(image, 2, backend="ray", **TINY)
    local_ray.shutdown()
    local = search_ensemble(image, 2, **TINY)
    assert remote.trajectory == local.trajectory and remote.settings["backend"] == "ray"
    assert [c.psnr for c in remote.path] == pytest.approx([c.psnr for c in local.path], abs=1e-4)
