"""Per-family Adam defaults (issue 17): fit() without lr trains at the family's own settings,
an explicit value wins, History and the CLI record what ran, and every family declares the lr
its recorded sweep chose."""

import json
import math

import pytest
import torch

from inrlab import defaults, fit, models, signals
from inrlab.cli import main
from inrlab.errors import InrlabError


@pytest.fixture(scope="module")
def sig():
    return signals.image("coins", size=12)


def _group(model, sig, **kw):
    """The optimizer's settings in the first step of fit(model, sig, **kw), and the History."""
    seen = {}

    def cb(state):
        g = state.optimizer.param_groups[0]
        seen.update(lr=g["lr"], betas=tuple(g["betas"]), eps=g["eps"])

    h = fit(model, sig, steps=1, progress=False, callbacks=[cb], callback_every=1, **kw)
    return seen, h


def test_fit_without_lr_uses_the_family_defaults_and_records_them(sig):
    m = models.build("hashgrid", signal=sig, levels=2, width=8, seed=0)
    seen, h = _group(m, sig)
    assert seen == {"lr": type(m).adam["lr"], "betas": (0.9, 0.99), "eps": 1e-15}
    assert (h.config["lr"], h.config["betas"], h.config["eps"]) == (seen["lr"], [0.9, 0.99], 1e-15)
    assert h.config["lr_from"] == "family"
    s = models.build("siren", signal=sig, width=8, depth=1, seed=0)
    seen, h = _group(s, sig)
    assert seen == defaults.adam_settings(s) and seen["betas"] == (0.9, 0.999) and seen["eps"] == 1e-8


def test_explicit_settings_win(sig):
    m = models.build("hashgrid", signal=sig, levels=2, width=8, seed=0)
    seen, h = _group(m, sig, lr=3e-4, betas=(0.8, 0.9), eps=1e-6)
    assert seen == {"lr": 3e-4, "betas": (0.8, 0.9), "eps": 1e-6}
    assert h.config["lr_from"] == "argument" and h.config["lr"] == 3e-4


def test_a_model_without_declared_defaults_trains_at_the_global_default(sig):
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    seen, h = _group(net, sig)
    assert seen["lr"] == defaults.DEFAULT_LR == 1e-4 and h.config["lr"] == 1e-4


@pytest.mark.parametrize("kw, fragment", [({"betas": (0.9,)}, "betas must be two numbers"),
                                          ({"betas": (0.9, 1.0)}, "betas must be two numbers"),
                                          ({"eps": -1.0}, "eps must be a non-negative"),
                                          ({"eps": float("nan")}, "eps must be a non-negative"),
                                          ({"lr": 0.0}, "learning rate must be a positive")])
def test_bad_settings_are_one_line(sig, kw, fragment):
    m = models.build("relu", signal=sig, width=4, depth=0)
    with pytest.raises(InrlabError, match=fragment) as e:
        fit(m, sig, steps=1, progress=False, **kw)
    assert "\n" not in str(e.value)


def test_cli_without_lr_reports_the_family_default(capsys):
    code = main(["fit", "--model", "hashgrid", "--signal", "coins", "--size", "12", "--steps", "2",
                 "--set", "levels=2", "--set", "width=8", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lr"] == models.registry._constructor("hashgrid").adam["lr"]
    assert out["betas"] == [0.9, 0.99] and out["eps"] == 1e-15 and out["lr_from"] == "family"
    assert main(["fit", "--model", "relu", "--signal", "coins", "--size", "12", "--steps", "2",
                 "--lr", "3e-3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lr"] == 3e-3 and out["lr_from"] == "argument"


def test_models_shows_each_familys_adam_defaults(capsys):
    assert main(["models"]) == 0
    lines = {l.split(":")[0]: l for l in capsys.readouterr().out.splitlines()}
    assert set(lines) == set(models.available())
    for name, line in lines.items():
        lr = defaults.adam_settings(models.registry._constructor(name))["lr"]
        assert f"; Adam lr={lr:g}" in line
    assert "betas=(0.9, 0.99), eps=1e-15" in lines["hashgrid"]


def test_the_sweep_runs_and_picks_the_best_lr():
    res = defaults.sweep(["relu"], images=("coins",), size=8, steps=2, lrs=(1e-3, 1e-2))
    assert set(res) == {"relu"} and set(res["relu"]) == {1e-3, 1e-2} and len(res["relu"][1e-3]) == 1
    means = {"a": {1e-3: 20.0, 1e-2: 25.0, 3e-2: float("nan")}, "b": {1e-3: float("nan")}}
    assert defaults.best_lr(means) == {"a": 1e-2}
    assert math.isnan(defaults.mean_psnr({"x": {1e-3: [1.0, float("nan")]}})["x"][1e-3])


def test_every_family_declares_the_lr_its_sweep_chose():
    best = defaults.best_lr(defaults.mean_psnr(defaults.SWEEP))
    assert set(best) == set(models.available()), "rerun python -m inrlab.defaults for new families"
    for name, lr in best.items():
        assert defaults.adam_settings(models.registry._constructor(name))["lr"] == lr, name
