"""SSIM beside PSNR (issue 17): scikit-image's structural_similarity with the data range stated,
computed once after the last step on the training image and on the held-out image grid."""

import json

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from inrlab import fit, models, signals, train
from inrlab.cli import main
from inrlab.train import History


def _fit(sig, steps=8, **kw):
    m = models.build("relu_pe", signal=sig, width=16, depth=1, pe_freqs=3, seed=0)
    return m, fit(m, sig, steps=steps, lr=3e-3, progress=False, **kw)


def _skimage(pred, target, value_range=(0.0, 1.0)):
    p = np.clip(pred.detach().numpy().astype(np.float64), *value_range)
    return structural_similarity(target.numpy().astype(np.float64), p,
                                 data_range=value_range[1] - value_range[0], channel_axis=-1)


def test_fit_ssim_is_scikit_images_on_the_clipped_image():
    sig = signals.image("rocket", size=24)
    m, h = _fit(sig)
    h_, w_ = sig.shape
    expect = _skimage(m(sig.coords).reshape(h_, w_, 3), sig.values.reshape(h_, w_, 3))
    assert h.final["ssim"] == pytest.approx(expect, rel=1e-9)
    assert h.final["ssim_heldout"] is None and h.final["ssim_note"] is None


def test_every_other_split_measures_heldout_ssim_on_the_odd_pixels():
    full = signals.image("coins", size=20)
    sig = signals.split_every_other(full)
    index, shape = sig.heldout.image_grid()
    assert shape == (full.shape[0] // 2, full.shape[1] // 2)
    odd = signals.pixel_centers(full.shape).view(*full.shape, 2)[1::2, 1::2].reshape(-1, 2)
    assert torch.equal(sig.heldout.coords[index], odd)     # a complete image, never trained on
    m, h = _fit(sig)
    target = full.values.view(*full.shape, 1)[1::2, 1::2]
    assert h.final["ssim_heldout"] == pytest.approx(_skimage(m(odd).reshape(*shape, 1), target), rel=1e-9)
    train_grid = sig.values.view(*sig.shape, 1)
    assert h.final["ssim"] == pytest.approx(_skimage(m(sig.coords).reshape(*sig.shape, 1), train_grid), rel=1e-9)


def test_resolution_split_measures_heldout_ssim_on_the_test_image():
    sig = signals.resolution_split("coins", train_size=12, test_size=24)
    m, h = _fit(sig)
    test = sig.heldout
    expect = _skimage(m(test.coords).reshape(*test.shape, 1), test.values.reshape(*test.shape, 1))
    assert h.final["ssim_heldout"] == pytest.approx(expect, rel=1e-9)


def test_no_ssim_where_there_is_no_image_and_the_note_says_why():
    _, h = _fit(signals.sine_mix(n=64))
    assert h.final["ssim"] is None and "no image grid" in h.final["ssim_note"]
    _, h = _fit(signals.image("coins", size=6))
    assert h.final["ssim"] is None and "smaller than SSIM's 7-pixel window" in h.final["ssim_note"]


def test_ssim_is_computed_only_after_the_last_step(monkeypatch):
    calls = []
    original = train.ssim
    monkeypatch.setattr(train, "ssim", lambda *a: calls.append(1) or original(*a))
    _, h = _fit(signals.split_every_other(signals.image("coins", size=32)), steps=10, eval_every=2)
    assert len(h.eval_step) == 5 and len(calls) == 2         # fit and held-out, once each


def test_history_roundtrip_and_older_histories_load():
    _, h = _fit(signals.image("coins", size=12))
    again = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert again.final == h.final
    old = {k: v for k, v in h.to_dict().items() if not k.startswith("ssim")}
    assert History.from_dict(old).final["ssim"] is None


def test_cli_json_carries_ssim(capsys):
    assert main(["fit", "--model", "relu", "--signal", "coins", "--size", "32", "--steps", "3",
                 "--heldout", "every_other", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 < out["ssim"] <= 1 and out["ssim_heldout"] is not None and out["ssim_note"] is None
