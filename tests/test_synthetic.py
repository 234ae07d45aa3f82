"""Synthetic targets: band-limited noise holds exactly its band, the Siemens star its spokes."""

import numpy as np
import pytest
import torch

from inrlab import signals, synthetic
from inrlab.cli import main
from inrlab.errors import InrlabError
from inrlab.sweep.spec import check_spec


def _radius(h, w):
    """|f| in cycles per pixel of every coefficient of an (h, w) FFT."""
    return np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])


def _power(sig):
    g = sig.grid()[..., 0].astype(np.float64)
    return np.abs(np.fft.fft2(g - g.mean())) ** 2


def test_bandnoise_is_seeded_in_range_and_on_pixel_centres():
    a = synthetic.bandlimited_noise(48, cutoff=0.3, seed=5)
    b = synthetic.bandlimited_noise(48, cutoff=0.3, seed=5)
    c = synthetic.bandlimited_noise(48, cutoff=0.3, seed=6)
    assert torch.equal(a.values, b.values)
    assert (a.values - c.values).abs().mean() > 0.05
    assert a.shape == (48, 48) and a.channels == 1 and a.name == "bandnoise-c0.3-s5"
    assert a.value_range == (0.0, 1.0) and float(a.values.min()) == 0 and float(a.values.max()) == 1
    assert torch.equal(a.coords, signals.pixel_centers((48, 48)))
    rgb = synthetic.bandlimited_noise((20, 30), seed=5, gray=False)
    assert rgb.shape == (20, 30) and rgb.channels == 3
    per_channel = rgb.grid().reshape(-1, 3)
    assert np.allclose(per_channel.min(0), 0) and np.allclose(per_channel.max(0), 1)
    assert not np.allclose(per_channel[:, 0], per_channel[:, 1])


@pytest.mark.parametrize("cutoff", [0.1, 0.25, 0.6, 1.0])
def test_bandnoise_holds_no_power_above_its_cutoff(cutoff):
    n = 96
    power = _power(synthetic.bandlimited_noise(n, cutoff=cutoff, seed=1))
    r = _radius(n, n)
    inside, outside = power[r <= cutoff / 2].sum(), power[r > cutoff / 2].sum()
    assert inside > 0 and outside / inside < 1e-9
    # white inside the band: a disc of half the cutoff's radius holds about a quarter of it
    quarter = power[r <= cutoff / 4].sum() / inside
    assert 0.12 < quarter < 0.4, quarter


def test_a_lower_cutoff_has_less_high_frequency_energy():
    n = 64
    r = _radius(n, n)
    high = [(lambda p: p[r > 0.05].sum() / p.sum())(_power(synthetic.bandlimited_noise(n, c, seed=2)))
            for c in (0.2, 0.5, 1.0)]
    assert high[0] < high[1] < high[2]


def test_star_has_its_spokes_and_symmetries():
    for spokes in (8, 32, 33):
        n = 128
        g = synthetic.siemens_star(n, spokes).grid()[..., 0]
        # along a circle near the rim the sectors are crisp: count dark/light transitions
        theta = np.linspace(0, 2 * np.pi, 8192, endpoint=False)
        radius = 0.85 * n / 2
        rows = np.floor(n / 2 + radius * np.sin(theta)).astype(int)
        cols = np.floor(n / 2 + radius * np.cos(theta)).astype(int)
        v = g[rows, cols]
        level = v[(v < 0.25) | (v > 0.75)] > 0.5  # skip pixels a sector edge crosses
        changes = int((level != np.roll(level, 1)).sum())
        assert changes == 2 * spokes, (spokes, changes)
        # mirrored top to bottom, theta -> -theta: dark and light swap
        assert np.array_equal(g, 1 - g[::-1, :])
        # turned by 180 degrees, theta -> theta + pi: the same star for an even count
        assert np.array_equal(g, g[::-1, ::-1] if spokes % 2 == 0 else 1 - g[::-1, ::-1])


def test_star_is_anti_aliased_towards_its_centre():
    n, spokes = 128, 32
    g = synthetic.siemens_star(n, spokes).grid()[..., 0]
    assert g.min() == 0 and g.max() == 1
    r = np.hypot(*np.meshgrid(np.arange(n) + 0.5 - n / 2, np.arange(n) + 0.5 - n / 2, indexing="ij"))
    inner = g[r < spokes / np.pi / 2]  # sector period under one pixel: pixels blend to gray
    assert np.abs(inner - 0.5).max() < 0.3
    rim = g[(r > 0.8 * n / 2) & (r < n / 2)]
    assert np.mean((rim == 0) | (rim == 1)) > 0.5  # crisp where a pixel resolves the sectors


@pytest.mark.parametrize("spec, name, channels", [
    ("star", "star-32", 1), ("star:48", "star-48", 1),
    ("bandnoise", "bandnoise-c0.25-s3", 3), ("bandnoise:0.1", "bandnoise-c0.1-s3", 3)])
def test_load_signal_specs(spec, name, channels):
    sig = signals.load_signal(spec, size=64, seed=3)
    assert sig.name == name and sig.shape == (64, 64) and sig.channels == channels
    assert signals.load_signal(spec, size=64, gray=True, seed=3).channels == 1
    assert signals.load_signal("star").shape == (256, 256)
    check_spec({"signals": [spec], "trials": [{"model": "siren"}]})


def test_the_cli_fits_a_star(capsys):
    assert main(["fit", "--model", "siren", "--signal", "star:8", "--size", "16", "--steps", "2"]) == 0
    assert "star-8" in capsys.readouterr().out


@pytest.mark.parametrize("call, fragment", [
    (lambda: synthetic.bandlimited_noise(1), "bandnoise size must be at least 2, got 1"),
    (lambda: synthetic.bandlimited_noise(10 ** 6), "bandnoise size 1000000 is larger"),
    (lambda: synthetic.bandlimited_noise(32.5), "bandnoise size must be a positive integer, got 32.5"),
    (lambda: synthetic.bandlimited_noise(32, cutoff=0), "bandnoise cutoff must lie in (0, 1]"),
    (lambda: synthetic.bandlimited_noise(32, cutoff=1.01), "got 1.01"),
    (lambda: synthetic.bandlimited_noise(32, cutoff=float("nan")), "got nan"),
    (lambda: synthetic.bandlimited_noise(32, cutoff="0.5"), "bandnoise cutoff must be a number"),
    (lambda: synthetic.bandlimited_noise(32, cutoff=0.05), "bandnoise cutoff 0.05 keeps only the mean"),
    (lambda: synthetic.bandlimited_noise(32, seed=-1), "bandnoise seed"),
    (lambda: synthetic.siemens_star(1), "star size must be at least 2"),
    (lambda: synthetic.siemens_star(32, spokes=0), "star spokes must be from 1 to 50"),
    (lambda: synthetic.siemens_star(32, spokes=51), "got 51"),
    (lambda: synthetic.siemens_star(32, spokes=4.0), "star spokes must be a positive integer, got 4.0"),
    (lambda: synthetic.siemens_star(32, spokes=True), "got True"),
    (lambda: signals.load_signal("star:4.5"), "star spec must be 'star' or 'star:SPOKES'"),
    (lambda: signals.load_signal("star:-3"), "got 'star:-3'"),
    (lambda: signals.load_signal("bandnoise:1.5"), "bandnoise spec must be"),
    (lambda: signals.load_signal("bandnoise:inf"), "got 'bandnoise:inf'"),
    (lambda: signals.load_signal("bandnoise:"), "got 'bandnoise:'"),
    (lambda: signals.load_signal("stars"), "unknown signal 'stars' (accepted: perlin"),
])
def test_bad_parameters_are_one_line_naming_them(call, fragment):
    with pytest.raises(InrlabError) as e:
        call()
    assert fragment in str(e.value) and "\n" not in str(e.value)
