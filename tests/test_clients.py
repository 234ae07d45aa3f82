"""What the notebooks used to compute themselves, now in the package (issue 16: notebooks are
clients): the ENRP data and PSNR convention, the keyword filter the explorer and notebook 05 build
models with, the one table helper, and when progress bars show."""

import math

import numpy as np
import pytest
import torch

from inrlab import models, plots, progress, signals
from inrlab.errors import InrlabError
from inrlab.explore import family_kwargs
from inrlab.metrics import enrp_db, enrp_signal, psnr, psnr_enrp


def test_enrp_convention_matches_the_papers_psnr():
    sig = signals.split_every_other(signals.image("astronaut", size=16))
    sym = enrp_signal(sig)
    assert sym.value_range == (-1.0, 1.0) and sym.heldout.value_range == (-1.0, 1.0)
    assert torch.allclose(sym.values, sig.values * 2 - 1) and torch.allclose(sym.heldout.values, sig.heldout.values * 2 - 1)
    pred = (sig.values + 0.05 * torch.randn(sig.values.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    ours_on_sym = psnr(pred * 2 - 1, sym.values, sym.value_range)
    assert ours_on_sym == pytest.approx(psnr(pred, sig.values), abs=1e-5)  # the mapping leaves our PSNR alone
    assert enrp_db(ours_on_sym, sym) == pytest.approx(psnr_enrp(pred, sig.values), abs=1e-5)
    assert enrp_db(ours_on_sym, sym) == pytest.approx(ours_on_sym - 20 * math.log10(2), abs=1e-9)
    assert enrp_db(None, sym) is None


def test_family_kwargs_keeps_what_a_family_takes():
    values = dict(width=32, depth=2, grid=4, alpha=64, mapping_size=16, sigma=5.0, pe_freqs=6)
    for fam in models.available():
        kw = family_kwargs(fam, **values)
        assert set(kw) <= set(models.parameters(fam)) and set(kw) == set(values) & set(models.parameters(fam))
    assert family_kwargs("multihead", **values)["alpha"] == 32  # capped at the width
    assert family_kwargs("ff", **values) == {"width": 32, "depth": 2, "mapping_size": 16, "sigma": 5.0}
    assert family_kwargs("siren", **values) == {"width": 32, "depth": 2}


def test_table_text_and_html():
    t = plots.table({"SIREN": {"M": 1, "psnr": 23.456, "held": None}, "S0": {"M": 2, "psnr": 30.1, "held": 3.0}},
                    columns={"M": "M", "psnr": "PSNR (dB)", "held": "held-out (dB)"}, formats={"held": ".1f"},
                    index="row", title="Table I")
    lines = str(t).splitlines()
    assert lines[0] == "Table I" and lines[1].split() == ["row", "M", "PSNR", "(dB)", "held-out", "(dB)"]
    assert lines[3].split() == ["SIREN", "1", "23.46", "-"] and lines[4].split() == ["S0", "2", "30.10", "3.0"]
    assert len({len(l) for l in lines[1:]}) == 1  # aligned columns
    h = t._repr_html_()
    assert h.count("<tr>") == 3 and "<td style='text-align:right;padding:2px 8px'>23.46</td>" in h
    assert "&lt;b&gt;" in plots.table([{"a": "<b>"}])._repr_html_()  # escaped
    assert str(plots.table([{"n": 1234567}])).splitlines()[-1].strip() == "1,234,567"
    words = str(plots.table([{"a": "x", "b": "long words", "c": 1.5}, {"a": "yy", "b": "w", "c": None}])).splitlines()
    assert words[-1] == "yy  w              -"  # words left-aligned, numbers right
    with pytest.raises(ValueError, match="no row has the column"):
        plots.table([{"a": 1}], columns={"b": "B"})


@pytest.mark.parametrize("env, expected", [({"INRLAB_PROGRESS": "1"}, True), ({"INRLAB_PROGRESS": "0"}, False),
                                           ({"JPY_SESSION_NAME": "/x/03.ipynb"}, True),
                                           ({"JPY_SESSION_NAME": "/x.ipynb", "INRLAB_PROGRESS": "off"}, False)])
def test_progress_bars_show_where_someone_watches(monkeypatch, env, expected):
    for k in ("INRLAB_PROGRESS", "JPY_SESSION_NAME"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert progress.enabled() is expected
    bar = progress.bar(range(3), desc="t")
    assert bar.disable is (not expected)
    assert list(bar) == [0, 1, 2]


def test_progress_is_off_in_a_batch_kernel_and_checks_its_switch(monkeypatch):
    monkeypatch.delenv("INRLAB_PROGRESS", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setitem(__import__("sys").modules, "ipykernel", object())  # a kernel papermill started
    assert progress.enabled() is False
    monkeypatch.setenv("INRLAB_PROGRESS", "maybe")
    with pytest.raises(InrlabError, match="INRLAB_PROGRESS must be one of"):
        progress.enabled()
