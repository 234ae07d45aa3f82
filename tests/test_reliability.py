"""Bad input gets a one-line error naming the offending value: a table of cases across
signals, models.build, fit, checkpoints, the CLI, the study runner and notebook parameters.

Each case is (id, callable, fragment): the callable must raise InrlabError (or, for the CLI,
exit 2 with exactly one stderr line) whose message contains `fragment`.
"""

import math
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from inrlab import fit, load_checkpoint, models, signals
from inrlab.cli import main
from inrlab.errors import InrlabError, TrainingDiverged
from inrlab.report import check_parameters


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    from skimage import io
    io.imsave(d / "one_pixel.png", np.zeros((1, 1), np.uint8), check_contrast=False)
    (d / "empty.png").write_bytes(b"")
    (d / "text.png").write_text("not an image")
    (d / "text.wav").write_text("not a wav")
    wavfile.write(d / "silent.wav", 8000, np.zeros(64, np.int16))
    wavfile.write(d / "nan.wav", 8000, np.array([0.1, np.nan, 0.2], np.float32))
    good = d / "good.wav"
    wavfile.write(good, 8000, (np.sin(np.arange(4000) / 5) * 3000).astype(np.int16))
    raw = good.read_bytes()
    (d / "truncated.wav").write_bytes(raw[:30])
    # a WAV whose format tag says ADPCM (2): a format we do not decode
    (d / "adpcm.wav").write_bytes(raw[:20] + struct.pack("<H", 2) + raw[22:])
    (d / "garbage.pt").write_bytes(b"\x00garbage")
    (d / "a_dir.png").mkdir()
    return d


def camera():
    return signals.image("camera", size=16)


def relu(**kw):
    return models.build("relu", dim_in=2, dim_out=1, width=8, depth=0, seed=0, **kw)


CASES = [
    # ---- signals: images
    ("image-missing", lambda f: signals.image(f / "nope.png"), "image file not found"),
    ("image-directory", lambda f: signals.image(f / "a_dir.png"), "is a directory"),
    ("image-not-image", lambda f: signals.image(f / "text.png"), "not a readable image"),
    ("image-empty-file", lambda f: signals.image(f / "empty.png"), "empty.png"),
    ("image-one-pixel", lambda f: signals.image(f / "one_pixel.png"), "1x1 pixels"),
    ("image-unknown-name", lambda f: signals.image("cameraman"), "unknown image 'cameraman'"),
    ("image-size-zero", lambda f: signals.image("camera", size=0), "at least 2, got 0"),
    ("image-size-negative", lambda f: signals.image("camera", size=-5), "got -5"),
    ("image-size-huge", lambda f: signals.image("camera", size=10 ** 6), "1000000 is larger than the limit"),
    ("image-size-float", lambda f: signals.image("camera", size=2.5), "got 2.5"),
    ("image-size-text", lambda f: signals.image("camera", size="big"), "got 'big'"),
    ("image-size-three", lambda f: signals.image("camera", size=(4, 4, 4)), "(4, 4, 4)"),
    # ---- signals: Perlin, 1-D
    ("perlin-octaves-zero", lambda f: signals.perlin(16, octaves=0), "got 0"),
    ("perlin-octaves-negative", lambda f: signals.perlin(16, octaves=-1), "got -1"),
    ("perlin-seed-text", lambda f: signals.perlin(16, octaves=2, seed="a"), "seed must be an integer, got 'a'"),
    ("perlin-size-one", lambda f: signals.perlin(1, octaves=2), "got 1"),
    ("perlin-spec", lambda f: signals.load_signal("perlin:many"), "perlin:many"),
    ("sines-negative", lambda f: signals.sine_mix(64, freqs=(-2,)), "(-2,)"),
    # ---- signals: audio
    ("wav-missing", lambda f: signals.audio(f / "nope.wav"), "WAV file not found"),
    ("wav-not-wav", lambda f: signals.audio(f / "text.wav"), "could not read WAV file"),
    ("wav-truncated", lambda f: signals.audio(f / "truncated.wav"), "truncated.wav"),
    ("wav-odd-format", lambda f: signals.audio(f / "adpcm.wav"), "adpcm.wav"),
    ("wav-silent", lambda f: signals.audio(f / "silent.wav"), "silent"),
    ("wav-nan", lambda f: signals.audio(f / "nan.wav"), "NaN"),
    ("wav-duration", lambda f: signals.audio(None, duration=-1), "got -1"),
    # ---- signals: targets, grids, splits
    ("signal-nan", lambda f: signals.Signal(torch.zeros(2, 1), torch.tensor([[0.], [math.nan]]), (2,)), "NaN"),
    ("signal-inf", lambda f: signals.Signal(torch.zeros(2, 1), torch.tensor([[0.], [math.inf]]), (2,)), "infinite"),
    ("signal-mismatch", lambda f: signals.Signal(torch.zeros(3, 1), torch.zeros(2, 1), (3,)), "3 coordinates but 2 values"),
    ("signal-shape", lambda f: signals.Signal(torch.zeros(4, 1), torch.zeros(4, 1), (3,)), "shape (3,)"),
    ("grid-not-dividing", lambda f: signals.check_grid((100, 64), 8), "size 100 along axis 0 does not divide into grid 8"),
    ("grid-too-large", lambda f: signals.check_grid((16, 16), 32), "grid 32 along axis 0 is larger than the size 16"),
    ("grid-zero", lambda f: signals.parse_grid(0, 2), "(0, 0)"),
    ("grid-text", lambda f: signals.parse_grid("eight", 2), "'eight'"),
    ("grid-axes", lambda f: signals.parse_grid((2, 2, 2), 2), "(2, 2, 2) has 3 axes"),
    ("split-twice", lambda f: signals.split_every_other(signals.split_every_other(camera())), "already has a held-out set"),
    # ---- models.build
    ("model-unknown", lambda f: models.build("sirne"), "unknown model 'sirne'"),
    ("model-key", lambda f: models.build("siren", hidden=3), "unknown parameter 'hidden'"),
    ("model-width-text", lambda f: models.build("siren", width="wide"), "got 'wide'"),
    ("model-width-negative", lambda f: models.build("siren", width=-3), "width=-3"),
    ("model-depth-negative", lambda f: models.build("relu", depth=-1), "depth=-1"),
    ("model-sigma-zero", lambda f: models.build("ff", sigma=0), "got 0"),
    ("model-bool-text", lambda f: models.build("ff", two_pi="maybe"), "got 'maybe'"),
    ("model-seed-text", lambda f: models.build("siren", seed="x"), "got 'x'"),
    ("model-float-for-int", lambda f: models.build("siren", width=2.5), "got 2.5"),
    # ---- fit
    ("fit-steps-zero", lambda f: fit(relu(), camera(), steps=0), "got 0"),
    ("fit-steps-negative", lambda f: fit(relu(), camera(), steps=-5), "got -5"),
    ("fit-steps-float", lambda f: fit(relu(), camera(), steps=2.5), "got 2.5"),
    ("fit-lr-zero", lambda f: fit(relu(), camera(), steps=2, lr=0), "got 0"),
    ("fit-lr-inf", lambda f: fit(relu(), camera(), steps=2, lr=math.inf), "got inf"),
    ("fit-lr-text", lambda f: fit(relu(), camera(), steps=2, lr="fast"), "got 'fast'"),
    ("fit-batch-zero", lambda f: fit(relu(), camera(), steps=2, batch_size=0), "got 0"),
    ("fit-device", lambda f: fit(relu(), camera(), steps=2, device="tpu"), "'tpu'"),
    ("fit-schedule", lambda f: fit(relu(), camera(), steps=2, schedule="warp"), "'warp'"),
    ("fit-schedule-step", lambda f: fit(relu(), camera(), steps=2, schedule="step:0:0.5"), "step:0:0.5"),
    ("fit-dims", lambda f: fit(models.build("relu", dim_out=3, width=4, depth=0), camera(), steps=2), "outputs 3 channels"),
    ("fit-not-signal", lambda f: fit(relu(), torch.zeros(4, 2), steps=2), "got Tensor"),
    ("fit-resume-missing", lambda f: fit(relu(), camera(), steps=2, resume=f / "none.pt"), "none.pt"),
    ("fit-resume-garbage", lambda f: fit(relu(), camera(), steps=2, resume=f / "garbage.pt"), "garbage.pt"),
    ("fit-memory", lambda f: fit(relu(), camera(), steps=2, max_memory=1), "MB per sample"),
    ("fit-memory-negative", lambda f: fit(relu(), camera(), steps=2, max_memory=-1), "got -1"),
    ("checkpoint-garbage", lambda f: load_checkpoint(f / "garbage.pt"), "garbage.pt"),
    ("checkpoint-missing", lambda f: load_checkpoint(f / "none.pt"), "checkpoint not found"),
    # ---- notebook parameters (what papermill injects)
    ("param-str-for-int", lambda f: check_parameters({"__annotations__": {"steps": int}, "steps": "300"}), "'steps' must be int, got '300'"),
    ("param-bool-for-int", lambda f: check_parameters({"__annotations__": {"steps": int}, "steps": True}), "got True"),
    ("param-str-for-float", lambda f: check_parameters({"__annotations__": {"lr": float}, "lr": "1e-3"}), "'lr' must be float, got '1e-3'"),
    ("param-nan", lambda f: check_parameters({"__annotations__": {"lr": float}, "lr": math.nan}), "must be finite"),
    ("param-list-item", lambda f: check_parameters({"__annotations__": {"octaves": list[int]}, "octaves": [1, "2"]}), "[1, '2']"),
    ("param-choice", lambda f: check_parameters({"__annotations__": {"family": str}, "family": "x"}, {"family": ["relu"]}), "'x'"),
]


@pytest.mark.parametrize("case_id, call, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named(files, case_id, call, fragment):
    with pytest.raises(InrlabError) as err:
        call(files)
    message = str(err.value)
    assert fragment in message, message
    assert "\n" not in message


def test_the_table_is_large():
    assert len(CASES) + len(CLI_CASES) >= 50


CLI_CASES = [
    (["fit", "--model", "nope", "--signal", "camera"], "unknown model 'nope'"),
    (["fit", "--model", "siren", "--signal", "camera", "--set", "width"], "--set expects key=value, got 'width'"),
    (["fit", "--model", "siren", "--signal", "camera", "--steps", "ten"], "'ten'"),
    (["fit", "--model", "siren", "--signal", "camera", "--size", "-4"], "got -4"),
    (["fit", "--model", "siren", "--signal", "camera", "--size", "1"], "got 1"),
    (["fit", "--model", "siren", "--signal", "camera", "--lr", "nan"], "got nan"),
    (["fit", "--model", "siren", "--signal", "nope.wav"], "WAV file not found: 'nope.wav'"),
    (["fit", "--model", "siren", "--signal", "camera", "--device", "cuda:7"], "cuda:7"),
    (["fit", "--model", "siren"], "--signal"),
    (["study", "--profile", "nope"], "unknown profile 'nope'"),
    (["study", "--jobs", "0"], "--jobs must be a positive integer, got 0"),
    (["study", "--only", "no_such_notebook"], "no_such_notebook"),
    (["frobnicate"], "frobnicate"),
]


@pytest.mark.parametrize("argv, fragment", CLI_CASES, ids=[" ".join(a[:4]) for a, _ in CLI_CASES])
def test_cli_bad_input_is_one_line(argv, fragment, capsys):
    code = main([*argv, *(["--steps", "2"] if argv[0] == "fit" and "--steps" not in argv and len(argv) > 3 else [])])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err, err


def test_divergence_is_named_and_keeps_the_last_good_checkpoint(tmp_path):
    ckpt = tmp_path / "c.pt"
    with pytest.raises(TrainingDiverged) as err:
        fit(relu(), camera(), steps=200, lr=1e12, progress=False, checkpoint=ckpt, checkpoint_every=1)
    msg = str(err.value)
    assert "with lr=1e+12" in msg and "at step" in msg
    if "last good checkpoint" in msg:  # diverging after step 1: the last good one is still there
        model, saved = load_checkpoint(ckpt)
        assert all(torch.isfinite(p).all() for p in model.parameters())
        assert saved["step"] < int(msg.split("at step ")[1].split()[0])


@settings(max_examples=60, deadline=None)
@given(size=st.integers(2, 300), grid=st.integers(1, 40))
def test_check_grid_passes_or_names_both_values(size, grid):
    try:
        assert signals.check_grid((size, size), grid) == (grid, grid)
        assert size % grid == 0
    except InrlabError as e:
        assert str(size) in str(e) and str(grid) in str(e)
        assert size % grid != 0 or grid > size


@settings(max_examples=40, deadline=None)
@given(value=st.one_of(st.text(max_size=6), st.floats(allow_nan=True), st.integers(-10, 10), st.booleans()))
def test_image_size_never_crashes_unnamed(value):
    try:
        signals.image("camera", size=value)
    except InrlabError as e:
        assert "size" in str(e)
