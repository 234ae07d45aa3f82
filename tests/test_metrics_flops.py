"""Metrics against scikit-image; FLOP counts against torch's flop counter."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from inrlab import models, signals
from inrlab.flops import count_params, forward_flops, measured_matmul_flops, train_step_flops
from inrlab.metrics import psnr, psnr_enrp, radial_spectrum, ssim


def test_psnr_matches_skimage():
    rng = np.random.default_rng(0)
    target = rng.random((16, 16, 3))
    pred = target + rng.normal(0, 0.05, target.shape)
    ours = psnr(torch.tensor(pred), torch.tensor(target))
    ref = peak_signal_noise_ratio(target, np.clip(pred, 0, 1), data_range=1.0)
    assert ours == pytest.approx(ref, abs=1e-9)
    # audio in [-1, 1]: data range 2
    a_t, a_p = 2 * target - 1, 2 * pred - 1
    ref_audio = peak_signal_noise_ratio(a_t, np.clip(a_p, -1, 1), data_range=2.0)
    assert psnr(torch.tensor(a_p), torch.tensor(a_t), (-1, 1)) == pytest.approx(ref_audio, abs=1e-9)


def test_psnr_clips_predictions():
    target = torch.ones(10)
    assert psnr(target + 5, target) == math.inf  # clipped back onto the target
    assert psnr(target + 5, target, clip=False) < 0


def test_enrp_convention_is_6dB_lower():
    rng = np.random.default_rng(1)
    t = torch.tensor(rng.random(100))
    p = t + 0.01 * torch.tensor(rng.standard_normal(100))
    assert psnr_enrp(p, t) == pytest.approx(psnr(p, t) - 20 * math.log10(2), abs=1e-9)


def test_ssim_identical_is_one():
    img = np.random.default_rng(2).random((16, 16, 1))
    assert ssim(img, img) == pytest.approx(1.0)


def test_radial_spectrum_finds_a_sine():
    y, x = np.mgrid[0:32, 0:32]
    f, p = radial_spectrum(np.sin(2 * np.pi * 5 * x / 32))
    assert f[np.argmax(p)] == 5


@pytest.mark.parametrize("name, kw", [
    ("siren", dict(width=16, depth=2)),
    ("relu", dict(width=16, depth=3)),
    ("relu_pe", dict(width=8, depth=1, pe_freqs=4)),
    ("ff", dict(width=16, depth=2, mapping_size=12)),
])
def test_flops_match_flop_counter(name, kw):
    model = models.build(name, dim_in=2, dim_out=3, seed=0, **kw)
    shape = (8, 6)
    ours = forward_flops(model, shape)
    measured = measured_matmul_flops(model, signals.pixel_centers(shape))
    assert ours.matmul == measured
    assert ours.bias > 0 and ours.activation > 0 and ours.total > ours.matmul
    assert train_step_flops(model, shape) == 3 * ours.total


def test_siren_flops_and_params_formula():
    m = models.build("siren", dim_in=2, dim_out=3, width=256, depth=3, seed=0)
    # ENRP Table I: SIREN 3x256 at 128^2 counted as linear-layer matmuls only: 6.48 G
    assert forward_flops(m, (128, 128)).matmul / 1e9 == pytest.approx(6.48, abs=0.005)
    assert count_params(m) == (2 * 256 + 256) + 3 * (256 * 256 + 256) + (256 * 3 + 3)
    per_point = forward_flops(m, (1,))
    assert per_point.activation == 2 * 256 * 4  # four sine layers: w0 multiply + sin


def test_ff_buffer_not_counted_as_parameter():
    m = models.build("ff", dim_in=2, dim_out=1, width=8, depth=0, mapping_size=4, seed=0)
    assert count_params(m) == (8 * 8 + 8) + (8 + 1)
