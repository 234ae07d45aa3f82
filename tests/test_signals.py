"""Signals: the coordinate convention, loaders, held-out splits and cells."""

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from inrlab import signals
from inrlab.errors import InrlabError


def test_pixel_centres_at_two_resolutions():
    c4 = signals.pixel_centers((4,))[:, 0]
    assert torch.allclose(c4, torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    c8 = signals.pixel_centers((8,))[:, 0]
    # pixel i at 4 samples is covered exactly by pixels 2i and 2i+1 at 8 samples
    assert torch.allclose((c8[0::2] + c8[1::2]) / 2, c4)
    grid = signals.pixel_centers((3, 5))
    assert grid.shape == (15, 2)
    # row-major, coordinate k indexes axis k
    assert torch.allclose(grid[1], torch.tensor([-1 + 1 / 3, -1 + 3 / 5]))
    assert grid.abs().max() < 1


def test_image_gray_rgb_and_aspect():
    cam = signals.image("camera", size=32)
    assert cam.shape == (32, 32) and cam.channels == 1 and cam.value_range == (0.0, 1.0)
    assert 0 <= float(cam.values.min()) and float(cam.values.max()) <= 1
    rgb = signals.image("chelsea", size=40)  # 300 x 451: longer side -> 40, aspect kept
    assert rgb.channels == 3 and rgb.shape == (27, 40)
    gray = signals.image("chelsea", size=40, gray=True)
    assert gray.channels == 1
    squashed = signals.image("chelsea", size=40, keep_aspect=False)
    assert squashed.shape == (40, 40)
    exact = signals.image("chelsea", size=(20, 30))
    assert exact.shape == (20, 30)


def test_image_from_file(tmp_path):
    from skimage import io
    arr = (np.random.default_rng(0).random((10, 12, 3)) * 255).astype(np.uint8)
    io.imsave(tmp_path / "x.png", arr)
    sig = signals.image(tmp_path / "x.png")
    assert sig.shape == (10, 12) and sig.channels == 3
    assert np.allclose(sig.grid(), arr / 255, atol=1e-6)


@pytest.mark.parametrize("source, fragment", [
    ("does/not/exist.png", "not found"),
    ("no_such_sample", "unknown image"),
])
def test_image_errors(source, fragment):
    with pytest.raises(InrlabError, match=fragment):
        signals.image(source)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello")
    with pytest.raises(InrlabError, match="not a readable image"):
        signals.image(p)


def test_perlin_deterministic_and_cached():
    a = signals.perlin_array(24, octaves=3, seed=5)
    b = signals.perlin_array(24, octaves=3, seed=5)
    c = signals.perlin_array(24, octaves=3, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() == 0 and a.max() == 1
    # higher octave -> more high-frequency energy
    from inrlab.metrics import radial_spectrum
    f, p_lo = radial_spectrum(signals.perlin_array(32, octaves=1, seed=0))
    _, p_hi = radial_spectrum(signals.perlin_array(32, octaves=8, seed=0))
    hi_band = f >= 4
    assert p_hi[hi_band].sum() / p_hi.sum() > 2 * p_lo[hi_band].sum() / p_lo.sum()


def test_audio_int_float_stereo(tmp_path):
    t = np.arange(1000) / 8000
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    wavfile.write(tmp_path / "f.wav", 8000, x.astype(np.float32))
    wavfile.write(tmp_path / "i.wav", 8000, (x * 32767).astype(np.int16))
    wavfile.write(tmp_path / "s.wav", 8000, np.stack([x, x], 1).astype(np.float32))
    sigs = [signals.audio(tmp_path / n) for n in ("f.wav", "i.wav", "s.wav")]
    for s in sigs:
        assert s.shape == (1000,) and s.dim_in == 1 and s.channels == 1
        assert s.value_range == (-1.0, 1.0) and abs(float(s.values.abs().max()) - 1) < 1e-6
        assert s.sample_rate == 8000
    assert np.allclose(sigs[0].grid(), sigs[1].grid(), atol=1e-3)
    assert torch.allclose(sigs[0].coords, signals.pixel_centers((1000,)))


def test_synth_audio_deterministic():
    a, b = signals.audio(None), signals.audio(None)
    assert torch.equal(a.values, b.values) and a.n == 32000 and a.sample_rate == 16000


def test_audio_errors(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    with pytest.raises(InrlabError, match="could not read WAV"):
        signals.audio(bad)
    with pytest.raises(InrlabError, match="not found"):
        signals.audio(tmp_path / "missing.wav")
    wavfile.write(tmp_path / "z.wav", 8000, np.zeros(100, np.int16))
    with pytest.raises(InrlabError, match="silent"):
        signals.audio(tmp_path / "z.wav")


def test_split_every_other():
    sig = signals.image("camera", size=16)
    split = signals.split_every_other(sig)
    assert split.shape == (8, 8) and split.n + split.heldout.n == sig.n
    assert split.heldout.n == 16 * 16 - 64
    # the training samples sit at their true positions in the full image
    assert torch.allclose(split.coords[1], sig.coords[2])
    both = torch.cat([split.coords, split.heldout.coords])
    assert torch.unique(both, dim=0).shape[0] == sig.n


def test_resolution_split_keeps_registration():
    sig = signals.resolution_split("camera", train_size=16, test_size=32)
    assert sig.shape == (16, 16) and sig.heldout.shape == (32, 32)
    # the mean of each 2x2 block of the test image is close to the train pixel it maps to
    test = sig.heldout.grid()[..., 0]
    blocks = test.reshape(16, 2, 16, 2).mean(axis=(1, 3))
    assert np.abs(blocks - sig.grid()[..., 0]).mean() < 0.02


def test_partition_cells_and_local_coords():
    coords = signals.pixel_centers((8, 8))
    cell, local = signals.partition(coords, (2, 4))
    assert cell.shape == (64,) and int(cell.max()) == 7
    # every cell holds 4 x 2 pixels, and each cell's local coordinates are the pixel centres
    # of a 4 x 2 grid
    for c in range(8):
        loc = local[cell == c]
        assert torch.allclose(loc, signals.pixel_centers((4, 2)), atol=1e-6)
    # at twice the resolution the same cells are found, with 8 x 4 local pixels
    cell16, local16 = signals.partition(signals.pixel_centers((16, 16)), (2, 4))
    assert torch.allclose(local16[cell16 == 5], signals.pixel_centers((8, 4)), atol=1e-6)


def test_check_grid_error_names_sizes():
    with pytest.raises(InrlabError, match=r"size 100 .* grid 8.* 96 and 104"):
        signals.check_grid((100, 64), 8)
    assert signals.check_grid((96, 64), 8) == (8, 8)
    assert signals.parse_grid("4x2", 2) == (4, 2)
    with pytest.raises(InrlabError, match="grid"):
        signals.parse_grid("four", 2)


def test_signal_rejects_nan_targets():
    with pytest.raises(InrlabError, match="NaN"):
        signals.Signal(coords=torch.zeros(2, 1), values=torch.tensor([[0.0], [float("nan")]]), shape=(2,))


@pytest.mark.parametrize("spec", ["perlin:2", "camera", "synth"])
def test_load_signal_specs(spec):
    sig = signals.load_signal(spec, size=None if spec == "synth" else 16)
    assert sig.n > 0 and (sig.shape == (16, 16) or spec == "synth")


@pytest.mark.parametrize("kw, words", [({"size": 16}, "size=16 is an image option; audio 'synth' keeps its own length"),
                                       ({"gray": True}, "gray is an image option; audio 'synth' is mono")])
def test_load_signal_refuses_image_options_for_audio(tmp_path, kw, words):
    # ignored, they would leave a config saying size 16 beside a clip of 32000 samples
    with pytest.raises(InrlabError, match=words):
        signals.load_signal("synth", **kw)
    wavfile.write(tmp_path / "a.wav", 8000, np.sin(np.arange(400) / 5.0).astype(np.float32))
    with pytest.raises(InrlabError, match="image option; audio '.*a.wav'"):
        signals.load_signal(str(tmp_path / "a.wav"), **kw)
    assert signals.load_signal(str(tmp_path / "a.wav")).shape == (400,)


def test_axis_limit_is_an_images_side_and_a_clips_length():
    assert signals.parse_grid(signals.MAX_SIDE + 1, 1, "resolution") == (signals.MAX_SIDE + 1,)
    assert signals.parse_grid(signals.MAX_SAMPLES, 1) == (signals.MAX_SAMPLES,)
    with pytest.raises(InrlabError, match=f"resolution \\(16385, 16385\\) is larger than the limit of {signals.MAX_SIDE} per axis$"):
        signals.parse_grid(signals.MAX_SIDE + 1, 2, "resolution")
    with pytest.raises(InrlabError, match="per axis of a 1-D signal"):
        signals.parse_grid(signals.MAX_SAMPLES + 1, 1)


def test_a_cmyk_file_is_read_as_its_rgb_picture(tmp_path):
    from PIL import Image
    from skimage import data

    rgb = data.astronaut()[100:137, 100:153]
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.tif")   # lossless
    got = signals.image(tmp_path / "cmyk.tif").values.reshape(37, 53, 3).numpy()
    # as RGB + alpha the inks would give 1 - RGB; PIL's CMYK -> RGB round trip is exact to a level
    assert np.abs(got - rgb / 255.0).max() <= 1 / 255 + 1e-6


def test_float_images_in_0_1_load_and_others_are_refused(tmp_path):
    from skimage import io

    ramp = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    io.imsave(tmp_path / "ramp.tif", ramp, check_contrast=False)
    assert torch.allclose(signals.image(tmp_path / "ramp.tif").values.reshape(6, 8), torch.from_numpy(ramp))
    io.imsave(tmp_path / "over.tif", ramp * 2, check_contrast=False)
    with pytest.raises(InrlabError, match=r"holds floats from 0 to 2; inrlab's images are in \[0, 1\]"):
        signals.image(tmp_path / "over.tif")


def test_perlin_cache_tells_octaves_apart_that_print_alike(tmp_path, monkeypatch):
    monkeypatch.setenv("INRLAB_CACHE", str(tmp_path))
    a = signals.perlin_array(16, octaves=4)
    b = signals.perlin_array(16, octaves=4.0000001)
    assert len(list(tmp_path.glob("*.npy"))) == 2 and not np.array_equal(a, b)
