"""Bad input gets a one-line error naming the offending value: a table of cases across
signals, models.build, fit, checkpoints, the CLI, the study runner and notebook parameters.

Each case is (id, callable, fragment): the callable must raise InrlabError (or, for the CLI,
exit 2 with exactly one stderr line) whose message contains `fragment`.
"""

import math
import os
import signal as os_signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from inrlab import checks, fit, load_checkpoint, models, signals, study
from inrlab.cli import _parse_sets, guarded, main
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
    os.mkfifo(d / "fifo.png")  # opening a FIFO for reading blocks until a writer comes: forever
    os.mkfifo(d / "fifo.wav")
    torch.save({"format": "inrlab-checkpoint-1", "model_config": {"name": "siren"}}, d / "noconfig.pt")
    rng = np.random.default_rng(0)
    io.imsave(d / "wide_floats.tif", (rng.standard_normal((6, 8)) * 2).astype(np.float32), check_contrast=False)
    io.imsave(d / "int32.tif", rng.integers(0, 1000, (6, 8)).astype(np.int32), check_contrast=False)
    (d / "tiny.yaml").write_text("signals: [{source: camera, size: 8, gray: true}]\n"
                                 "grid: {model: [relu], width: [4], depth: [0]}\nsteps: 1\n")
    return d


def _low_memory(call):
    """call() on a host that reports 1 kB available (inrlab.checks reads MemAvailable)."""
    from unittest import mock

    from inrlab import checks

    with mock.patch.object(checks, "available_memory", lambda device: 1024.0):
        return call()


def camera():
    return signals.image("camera", size=16)


def relu(**kw):
    return models.build("relu", dim_in=2, dim_out=1, width=8, depth=0, seed=0, **kw)


def small(name, **kw):
    """A tiny model of a family that splits the domain, built without a signal."""
    size = dict(width=8, depth=0, **({"alpha": 4} if name == "multihead" else {}))
    return models.build(name, seed=0, **size, **kw)


def scattered():
    """Three samples in one corner of the 2-D domain (no grid shape to read cells from)."""
    return signals.Signal(torch.full((3, 2), -0.9), torch.zeros(3, 1), (3,))


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

# Issue 18: every class of input that passed the type check but not the maths, named where it enters.
NEW_CASES = [
    # ---- family parameters: each family's declared ranges, checked by build
    ("siren-w0-zero", lambda f: models.build("siren", w0=0), "w0=0 is out of range"),
    ("siren-w0-nan", lambda f: models.build("siren", w0="nan"), "w0=nan"),
    ("siren-w0-negative", lambda f: models.build("siren", w0=-30), "w0=-30"),
    ("siren-w0-overflow", lambda f: models.build("siren", w0="1e400"), "w0=inf"),
    ("siren-w0-huge", lambda f: models.build("siren", w0=1e6), "<= 100000"),
    ("siren-w0-initial-zero", lambda f: models.build("siren", w0_initial=0), "w0_initial=0"),
    ("relu-pe-freqs-200", lambda f: models.build("relu_pe", pe_freqs=200), "pe_freqs=200"),
    ("relu-pe-freqs-21", lambda f: models.build("relu", pe_freqs=21), "<= 20"),
    ("relu-pe-freqs-negative", lambda f: models.build("relu", pe_freqs=-1), "pe_freqs=-1"),
    ("ff-sigma-nan", lambda f: models.build("ff", sigma=math.nan), "sigma=nan"),
    ("ff-sigma-inf", lambda f: models.build("ff", sigma="inf"), "sigma=inf"),
    ("ff-sigma-negative", lambda f: models.build("ff", sigma=-1), "sigma=-1"),
    ("ff-sigma-huge", lambda f: models.build("ff", sigma=1e7), "<= 10000"),
    ("ff-mapping-zero", lambda f: models.build("ff", mapping_size=0), "mapping_size=0"),
    ("width-zero", lambda f: models.build("siren", width=0), "width=0"),
    ("width-petabytes", lambda f: models.build("siren", width=10 ** 7), "parameters, which need"),
    ("width-beyond-int32", lambda f: models.build("relu", width=2 ** 40), "width=1099511627776"),
    ("depth-huge", lambda f: models.build("siren", depth=10 ** 6), "depth=1000000"),
    ("dim-in-zero", lambda f: models.build("siren", dim_in=0), "dim_in=0"),
    ("mh-alpha-zero", lambda f: models.build("multihead", alpha=0), "alpha=0"),
    ("mh-grid-zero", lambda f: models.build("multihead", grid=0), "grid=0"),
    ("mh-grid-huge", lambda f: models.build("multihead", grid=10 ** 5), "grid (100000, 100000) is larger than the limit of 16384 per axis"),
    ("mh-wiring-seed", lambda f: models.build("multihead", wiring_seed=2 ** 70), "wiring_seed=1180591620717411303424"),
    ("ens-stack-zero", lambda f: models.build("ensemble", stack=0), "stack=0"),
    ("ens-w0-zero", lambda f: models.build("ensemble", member="siren", w0=0), "model 'ensemble': w0=0"),
    ("ens-pe-freqs", lambda f: models.build("ensemble", member="relu_pe", pe_freqs=200), "pe_freqs=200"),
    ("loe-w0-nan", lambda f: models.build("loe", activation="sine", w0="nan"), "w0=nan"),
    ("loe-slope-inf", lambda f: models.build("loe", slope="inf"), "slope=inf"),
    ("loe-resolution-zero", lambda f: models.build("loe", resolution=0), "resolution=0"),
    ("loe-resolution-one", lambda f: models.build("loe", resolution=1), "resolution=1"),
    ("loe-resolution-text", lambda f: models.build("loe", resolution="0x4"), "resolution must be >= 1 per axis, got (0, 4)"),
    ("loe-tiles-huge", lambda f: models.build("loe", tiles=10 ** 5), "tiles (100000, 100000) is larger than the limit of 16384 per axis"),
    ("rwf-sigma-negative", lambda f: models.build("siren", factorize=True, rwf_sigma=-1), "rwf_sigma=-1"),
    ("model-name-number", lambda f: models.build(3), "unknown model '3'"),
    # ---- the Python API: which argument is wrong
    ("build-signal-text", lambda f: models.build("siren", signal="camera"), "signal must be an inrlab Signal"),
    ("fit-model-none", lambda f: fit(None, camera(), steps=2), "model must be a torch.nn.Module"),
    ("fit-signal-none", lambda f: fit(relu(), None, steps=2), "got NoneType"),
    ("fit-eval-every-zero", lambda f: fit(relu(), camera(), steps=2, eval_every=0), "eval_every must be a positive integer, got 0"),
    ("fit-callbacks-item", lambda f: fit(relu(), camera(), steps=2, callbacks=[3]), "got 3"),
    ("fit-callbacks-function", lambda f: fit(relu(), camera(), steps=2, callbacks=print), "list of callables"),
    ("fit-target-psnr-text", lambda f: fit(relu(), camera(), steps=2, target_psnr="high"), "target_psnr must be a finite number or None, got 'high'"),
    ("fit-max-memory-text", lambda f: fit(relu(), camera(), steps=2, max_memory="lots"), "got 'lots'"),
    ("fit-checkpoint-every-alone", lambda f: fit(relu(), camera(), steps=2, checkpoint_every=1), "needs checkpoint=PATH"),
    ("fit-compile-mode", lambda f: fit(relu(), camera(), steps=2, compile="fastest"), "got 'fastest'"),
    # ---- seeds
    ("fit-seed-text", lambda f: fit(relu(), camera(), steps=2, seed="abc"), "seed must be an integer, got 'abc'"),
    ("fit-seed-none", lambda f: fit(relu(), camera(), steps=2, seed=None), "seed must be an integer, got None"),
    ("fit-seed-huge", lambda f: fit(relu(), camera(), steps=2, seed=2 ** 70), "got 1180591620717411303424"),
    ("fit-seed-negative", lambda f: fit(relu(), camera(), steps=2, seed=-1), "got -1"),
    ("fit-seed-bool", lambda f: fit(relu(), camera(), steps=2, seed=True), "got True"),
    ("fit-seed-float", lambda f: fit(relu(), camera(), steps=2, seed=1.5), "got 1.5"),
    ("build-seed-huge", lambda f: models.build("siren", seed=2 ** 70), "got 1180591620717411303424"),
    ("build-seed-negative", lambda f: models.build("siren", seed=-5), "got -5"),
    ("perlin-seed-huge", lambda f: signals.perlin(16, octaves=2, seed=2 ** 70), "perlin seed must be an integer from 0"),
    ("synth-seed-text", lambda f: signals.audio(None, seed="abc"), "seed must be an integer, got 'abc'"),
    ("spec-seed-text", lambda f: signals.load_signal("perlin:2", size=16, seed="x"), "got 'x'"),
    # ---- devices
    ("fit-device-meta", lambda f: fit(relu(), camera(), steps=2, device="meta"), "device 'meta' holds no data"),
    ("fit-device-torch-meta", lambda f: fit(relu(), camera(), steps=2, device=torch.device("meta")), "'meta'"),
    ("fit-device-xpu", lambda f: fit(relu(), camera(), steps=2, device="xpu"), "device 'xpu' requested but XPU is not available"),
    ("fit-device-hpu", lambda f: fit(relu(), camera(), steps=2, device="hpu"), "device 'hpu' is not one inrlab trains on"),
    ("fit-device-int", lambda f: fit(relu(), camera(), steps=2, device=3), "got 3"),
    ("fit-device-empty", lambda f: fit(relu(), camera(), steps=2, device=""), "unknown device ''"),
    ("fit-device-cuda-index", lambda f: fit(relu(), camera(), steps=2, device="cuda:99"), "device 'cuda:99' requested"),
    # ---- grids: uneven cells are allowed, empty cells are refused, for every family that splits the domain
    ("mh-grid-over-pixels", lambda f: models.build("multihead", signal=camera(), grid=32, width=8, alpha=4, depth=0), "grid 32 along axis 0 has more cells than the 16 samples"),
    ("ens-grid-over-pixels", lambda f: models.build("ensemble", signal=camera(), grid=17, width=8, depth=0), "grid 17 along axis 0"),
    ("ens-grid-axis-1", lambda f: models.build("ensemble", signal=camera(), grid="4x32", width=8, depth=0), "grid 32 along axis 1"),
    ("ens-grid-audio", lambda f: models.build("ensemble", signal=signals.sine_mix(64), grid=65, width=8, depth=0), "grid 65 along axis 0 has more cells than the 64 samples"),
    # ---- images whose pixels have no one reading in [0, 1]
    ("image-floats-outside-0-1", lambda f: signals.image(f / "wide_floats.tif"), "holds floats from -"),
    ("image-int32", lambda f: signals.image(f / "int32.tif"), "holds int32 pixels (48 to 996); save it as 8- or 16-bit"),
    # ---- memory the host does not have: refused before the kernel kills the process
    ("image-size-no-memory", lambda f: _low_memory(lambda: signals.image("camera", size=4096)),
     "image 'camera' at 4096x4096 needs about"),
    ("fit-no-memory", lambda f: (lambda sig: _low_memory(lambda: fit(relu(), sig, steps=1)))(camera()),
     "fitting 256 samples x 1 channels needs about"),
    ("mh-grid-at-fit", lambda f: fit(small("multihead", grid=32), camera(), steps=2), "grid 32 along axis 0"),
    ("mh-grid-heldout", lambda f: fit(small("multihead", grid=16), signals.split_every_other(camera()), steps=2), "more cells than the 8 samples"),
    ("ens-grid-scattered", lambda f: fit(small("ensemble", grid=4), scattered(), steps=2), "leaves 15 of its 16 cells without a sample"),
    # ---- signal specs: parsed strictly and completely
    ("spec-perlin-typo", lambda f: signals.load_signal("perlin_typo"), "unknown signal 'perlin_typo' (accepted: perlin"),
    ("spec-perlin-extra-field", lambda f: signals.load_signal("perlin:2:9"), "got 'perlin:2:9'"),
    ("spec-perlin-inf", lambda f: signals.load_signal("perlin:inf"), "got 'perlin:inf'"),
    ("spec-perlin-nan", lambda f: signals.load_signal("perlin:nan"), "got 'perlin:nan'"),
    ("spec-perlin-huge", lambda f: signals.load_signal("perlin:1e9", size=16), "perlin octaves 1000000000.0 do not fit a 16x16 image"),
    ("spec-perlin-too-fine", lambda f: signals.load_signal("perlin:9", size=16), "at most 8 noise cells per side"),
    ("spec-perlin-empty", lambda f: signals.load_signal("perlin:"), "got 'perlin:'"),
    ("spec-perlin-zero", lambda f: signals.load_signal("perlin:0"), "got 'perlin:0'"),
    ("spec-perlin-negative", lambda f: signals.load_signal("perlin:-2"), "got 'perlin:-2'"),
    ("spec-perlin-underscore", lambda f: signals.load_signal("perlin:1_0"), "got 'perlin:1_0'"),
    ("spec-perlin-case", lambda f: signals.load_signal("PERLIN:4"), "unknown signal 'PERLIN:4'"),
    ("spec-synth-extra", lambda f: signals.load_signal("synth:3"), "unknown signal 'synth:3'"),
    ("spec-empty", lambda f: signals.load_signal(""), "signal spec '' is empty"),
    ("spec-spaces", lambda f: signals.load_signal(" camera"), "surrounding spaces"),
    ("spec-none", lambda f: signals.load_signal(None), "got None"),
    ("perlin-octaves-too-fine", lambda f: signals.perlin(16, octaves=9), "at most 8 noise cells"),
    ("perlin-octaves-inf", lambda f: signals.perlin(16, octaves=math.inf), "perlin octaves inf"),
    ("wav-duration-inf", lambda f: signals.audio(None, duration=math.inf), "got inf"),
    ("synth-rate-zero", lambda f: signals.synth_audio(sample_rate=0), "sample_rate must be a positive integer, got 0"),
    # ---- paths: a FIFO or device is refused before it is opened, destinations before training
    ("image-fifo", lambda f: signals.image(f / "fifo.png"), "fifo.png' is a FIFO, not a regular file"),
    ("wav-fifo", lambda f: signals.audio(f / "fifo.wav"), "fifo.wav' is a FIFO"),
    ("spec-fifo", lambda f: signals.load_signal(str(f / "fifo.png")), "is a FIFO"),
    ("image-char-device", lambda f: signals.image("/dev/null"), "'/dev/null' is a device"),
    ("checkpoint-dir", lambda f: fit(relu(), camera(), steps=2, checkpoint=f / "a_dir.png"), "a_dir.png' is a directory"),
    ("checkpoint-under-file", lambda f: fit(relu(), camera(), steps=2, checkpoint=f / "text.png" / "c.pt"), "text.png', which is a file, not a folder"),
    ("checkpoint-fifo-target", lambda f: fit(relu(), camera(), steps=2, checkpoint=f / "fifo.png"), "is a FIFO"),
    ("resume-dir", lambda f: fit(relu(), camera(), steps=2, resume=f / "a_dir.png"), "is a directory, not a checkpoint file"),
    ("resume-fifo", lambda f: fit(relu(), camera(), steps=2, resume=f / "fifo.png"), "is a FIFO"),
    ("load-checkpoint-dir", lambda f: load_checkpoint(f / "a_dir.png"), "is a directory"),
    ("load-checkpoint-fifo", lambda f: load_checkpoint(f / "fifo.png"), "is a FIFO"),
    ("load-checkpoint-damaged", lambda f: load_checkpoint(f / "noconfig.pt"), "noconfig.pt' is damaged"),
]
CASES += NEW_CASES


class Hung(Exception):
    pass


def _no_hang(call, seconds=60):
    """call() under an alarm: a case that blocks (a FIFO opened for reading) fails instead."""
    def ring(*_):
        raise Hung(f"still running after {seconds} s")
    old = os_signal.signal(os_signal.SIGALRM, ring)
    os_signal.alarm(seconds)
    try:
        return call()
    finally:
        os_signal.alarm(0)
        os_signal.signal(os_signal.SIGALRM, old)


@pytest.mark.parametrize("case_id, call, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named(files, case_id, call, fragment):
    with pytest.raises(InrlabError) as err:
        _no_hang(lambda: call(files))
    message = str(err.value)
    assert fragment in message, message
    assert "\n" not in message


def test_the_table_is_large():
    assert len(CASES) + len(CLI_CASES) >= 50
    assert len(NEW_CASES) + len(NEW_CLI_CASES) + len(CLI_FILE_CASES) + len(STUDY_CASES) > 60


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
    (["sweep", "spec.yaml", "--out", "o", "--jobs", "0"], "--jobs must be a positive integer, got 0"),
    (["study", "--only", "no_such_notebook"], "no_such_notebook"),
    (["frobnicate"], "frobnicate"),
]

FIT = ["fit", "--model", "siren", "--signal", "camera", "--size", "16"]
NEW_CLI_CASES = [
    # keys that are the command's own flags (they reached build twice)
    ([*FIT, "--set", "seed=3"], "--set seed=... is not a model parameter: use --seed instead"),
    ([*FIT, "--set", "signal=x"], "use --signal instead"),
    ([*FIT, "--set", "name=x"], "use --model instead"),
    ([*FIT, "--set", "model=relu"], "use --model instead"),
    ([*FIT, "--set", "steps=3"], "use --steps instead"),
    ([*FIT, "--set", "lr=0.1"], "use --lr instead"),
    ([*FIT, "--set", "device=cpu"], "use --device instead"),
    ([*FIT, "--set", "batch_size=4"], "use --batch-size instead"),
    ([*FIT, "--set", "width=8", "--set", "width=16"], "--set width given twice"),
    # family parameters through --set
    ([*FIT, "--set", "w0=0"], "w0=0 is out of range"),
    ([*FIT, "--set", "w0=1e400"], "w0=inf"),
    (["fit", "--model", "relu_pe", "--signal", "camera", "--size", "16", "--set", "pe_freqs=200"], "pe_freqs=200"),
    ([*FIT, "--set", "width=10000000"], "parameters, which need"),
    (["fit", "--model", "multihead", "--signal", "camera", "--size", "16", "--set", "grid=32"], "grid 32 along axis 0"),
    (["fit", "--model", "loe", "--signal", "camera", "--size", "16", "--set", "resolution=0"], "resolution=0"),
    # seeds, devices, compile modes
    ([*FIT, "--seed", str(2 ** 70)], "--seed must be an integer from 0 to 2**63 - 1"),
    ([*FIT, "--seed", "None"], "invalid int value: 'None'"),
    ([*FIT, "--seed", "-3"], "--seed must be an integer from 0 to 2**63 - 1, got -3"),
    ([*FIT, "--device", "meta"], "device 'meta' holds no data"),
    ([*FIT, "--device", "xpu"], "device 'xpu'"),
    ([*FIT, "--compile", "fastest"], "got 'fastest'"),
    # signal specs
    (["fit", "--model", "siren", "--signal", "perlin_typo"], "unknown signal 'perlin_typo'"),
    (["fit", "--model", "siren", "--signal", "perlin:2:9"], "perlin:2:9"),
    (["fit", "--model", "siren", "--signal", "perlin:inf"], "perlin:inf"),
    (["fit", "--model", "siren", "--signal", "perlin:1e9", "--size", "16"], "do not fit a 16x16 image"),
    # the study runner
    (["study", "--only"], "--only needs at least one notebook name"),
    (["study", "--only", ""], "--only got an empty notebook name ''"),
]
CLI_CASES += NEW_CLI_CASES

CLI_FILE_CASES = [
    ("checkpoint-dir", lambda f: [*FIT, "--checkpoint", str(f / "a_dir.png")], "a_dir.png' is a directory"),
    ("checkpoint-under-file", lambda f: [*FIT, "--checkpoint", str(f / "text.png" / "c.pt")], "which is a file, not a folder"),
    ("image-fifo", lambda f: ["fit", "--model", "siren", "--signal", str(f / "fifo.png")], "is a FIFO"),
    ("wav-fifo", lambda f: ["fit", "--model", "siren", "--signal", str(f / "fifo.wav")], "is a FIFO"),
    ("resume-no-run", lambda f: ["study", "--resume", str(f / "a_dir.png")], "holds no study run"),
    ("out-is-file", lambda f: ["study", "--out", str(f / "text.png")], "text.png' is a file, not a folder"),
    ("out-under-file", lambda f: ["study", "--out", str(f / "text.png" / "run")], "which is a file, not a folder"),
    ("sweep-out-is-file", lambda f: ["sweep", str(f / "tiny.yaml"), "--out", str(f / "text.png")], "text.png' is a file, not a folder"),
    ("sweep-out-under-file", lambda f: ["sweep", str(f / "tiny.yaml"), "--out", str(f / "text.png" / "run")], "which is a file, not a folder"),
]
if Path("/proc/self").is_dir():   # Linux: a folder that root may write to by its mode, but no one can create
    CLI_FILE_CASES += [
        ("out-in-proc", lambda f: ["study", "--out", "/proc/inrlab-run"], "--out '/proc/inrlab-run' cannot be "),
        ("sweep-out-in-proc", lambda f: ["sweep", str(f / "tiny.yaml"), "--out", "/proc/inrlab-run"],
         "--out '/proc/inrlab-run' cannot be ")]


@pytest.mark.parametrize("case_id, argv, fragment", CLI_FILE_CASES, ids=[c[0] for c in CLI_FILE_CASES])
def test_cli_bad_paths_are_one_line(files, case_id, argv, fragment, capsys):
    args = argv(files)
    code = _no_hang(lambda: main([*args, *(["--steps", "2"] if args[0] == "fit" else [])]))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err, err


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


# --------------------------------------------------------------------------- the study runner

@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A notebooks folder with two tiny parameterised notebooks, as tests/test_study.py makes."""
    import nbformat

    nbdir = tmp_path / "notebooks"
    (nbdir / "profiles").mkdir(parents=True)
    for name in ("a_first", "b_second"):
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell('steps: int = 1  # steps\nout_dir: str = ""  # output')
        cell.metadata["tags"] = ["parameters"]
        nb.cells = [cell, nbformat.v4.new_code_cell("print(steps)")]
        nbformat.write(nb, nbdir / f"{name}.ipynb")
    profiles = {"quick": "a_first:\n  steps: 3\n", "stepz": "a_first:\n  stepz: 3\n",
                "outdir": "b_second:\n  out_dir: elsewhere\n"}
    for name, text in profiles.items():
        (nbdir / "profiles" / f"{name}.yaml").write_text(text)
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("x")
    for name, text in {"list": "[1, 2]", "string-entry": '{"notebooks": {"a_first": "ok"}}',
                       "ok-text": '{"notebooks": {"a_first": {"ok": "yes"}}}', "not-json": "{"}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "status.json").write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _held(folder):
    """run_study into `folder` while this process holds its lock (as a running study would)."""
    folder.mkdir(exist_ok=True)
    with study.study_lock(folder):
        return study.run_study("quick", out=str(folder))


STUDY_CASES = [
    ("only-no-name", lambda d: study.run_study("quick", only=[]), "--only needs at least one notebook name"),
    ("only-empty-name", lambda d: study.run_study("quick", only=[""]), "--only got an empty notebook name ''"),
    ("only-blank-name", lambda d: study.run_study("quick", only=["a_first", "  "]), "--only got an empty notebook name '"),
    ("only-none-name", lambda d: study.run_study("quick", only=[None]), "empty notebook name None"),
    ("resume-no-run", lambda d: study.run_study("quick", resume=str(d / "empty")), "holds no study run"),
    ("resume-file", lambda d: study.run_study("quick", resume=str(d / "a_file")), "(it is a file)"),
    ("resume-status-list", lambda d: study.run_study("quick", resume=str(d / "list")), "found list"),
    ("resume-status-string-entry", lambda d: study.run_study("quick", resume=str(d / "string-entry")), "the entry for 'a_first' is 'ok', not a status"),
    ("resume-status-ok-text", lambda d: study.run_study("quick", resume=str(d / "ok-text")), "the entry for 'a_first'"),
    ("resume-status-not-json", lambda d: study.run_study("quick", resume=str(d / "not-json")), "not readable JSON"),
    ("out-is-file", lambda d: study.run_study("quick", out=str(d / "a_file")), "a_file' is a file, not a folder"),
    ("out-under-file", lambda d: study.run_study("quick", out=str(d / "a_file" / "run")), "which is a file, not a folder"),
    ("out-and-resume", lambda d: study.run_study("quick", out=str(d / "x"), resume=str(d / "list")), "both given"),
    ("profile-unknown-parameter", lambda d: study.run_study("stepz"), "profile 'stepz.yaml' sets unknown parameter 'stepz' for notebook 'a_first' (its parameters: steps, out_dir)"),
    ("profile-out-dir", lambda d: study.run_study("outdir"), "sets 'out_dir' for notebook 'b_second'; the study runner sets it"),
    ("jobs-bool", lambda d: study.run_study("quick", jobs=True), "got True"),
    ("lock-held", lambda d: _held(d / "run"), f"another study (pid {os.getpid()}) is writing into"),
]


@pytest.mark.parametrize("case_id, call, fragment", STUDY_CASES, ids=[c[0] for c in STUDY_CASES])
def test_study_bad_input_is_named(lab, case_id, call, fragment):
    with pytest.raises(InrlabError) as err:
        call(lab)
    assert fragment in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert (lab / "list" / "status.json").read_text() == "[1, 2]"  # a refused resume writes nothing


# --------------------------------------------------------------------------- never "unexpected"

def test_no_input_of_the_table_ends_in_the_unexpected_line(files, lab, capsys):
    """Every case of the tables, through the CLI's own error handling: exit 2 and one line,
    never the generic 'unexpected SomeError' line (exit 1) kept for internal errors."""
    outcomes = []
    for case_id, call, _ in CASES:
        outcomes.append((case_id, guarded(lambda: _no_hang(lambda: call(files)))))
    for case_id, call, _ in STUDY_CASES:
        outcomes.append((f"study {case_id}", guarded(lambda: call(lab))))
    for argv, _ in CLI_CASES:
        steps = ["--steps", "2"] if argv[0] == "fit" and len(argv) > 3 else []
        outcomes.append((" ".join(argv), main([*argv, *steps])))
    for case_id, argv, _ in CLI_FILE_CASES:
        outcomes.append((f"cli {case_id}", main(argv(files))))
    err = capsys.readouterr().err
    assert "unexpected" not in err and "Traceback" not in err, err
    assert [(k, v) for k, v in outcomes if v != 2] == []
    assert len(err.strip().splitlines()) == len(outcomes)


# --------------------------------------------------------------------------- properties

SPEC_PARTS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["perlin", "perlin:", "star", "star:", "bandnoise", "bandnoise:", "synth", "audio",
                     "camera", "moon", "x.wav", "a/b.png", ":", " "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10, 10 ** 12).map(str))


@settings(max_examples=200, deadline=None)
@given(spec=st.lists(SPEC_PARTS, min_size=1, max_size=3).map(":".join))
def test_signal_spec_parser_is_strict(spec):
    try:
        kind, arg = checks.parse_signal_spec(spec, exists=lambda p: False)
    except InrlabError as e:
        msg = str(e)
        assert "\n" not in msg and (" ".join(spec.split()) in msg or repr(spec) in msg), msg
        assert "accepted" in msg or any(f"{k} spec" in msg for k in ("perlin", "star", "bandnoise"))
        return
    assert kind in ("perlin", "star", "bandnoise", "synth", "wav", "image")
    if kind == "perlin":  # exactly 'perlin' or 'perlin:NUMBER' with a positive finite number
        assert spec == "perlin" or (spec.startswith("perlin:") and float(spec[7:]) == arg)
        assert math.isfinite(arg) and arg > 0
    elif kind == "star":  # 'star' or 'star:DIGITS' with a positive count
        assert spec == "star" or (spec[5:].isdigit() and int(spec[5:]) == arg > 0)
    elif kind == "bandnoise":  # 'bandnoise' or 'bandnoise:NUMBER' in (0, 1]
        assert spec == "bandnoise" or float(spec[10:]) == arg
        assert 0 < arg <= 1
    elif kind == "synth":
        assert spec in ("synth", "audio")
    elif kind == "wav":
        assert spec.lower().endswith(".wav")
    else:
        assert not spec.startswith("perlin") or "." in Path(spec).name or os.sep in spec
        assert spec in signals.SKIMAGE_IMAGES or "." in Path(spec).name or os.sep in spec


@settings(max_examples=30, deadline=None)
@given(octaves=st.floats(0.01, 40))
def test_perlin_octaves_fit_the_image_or_are_named(octaves):
    try:
        sig = signals.load_signal(f"perlin:{octaves!r}", size=16)
    except InrlabError as e:
        assert octaves > 8 and repr(octaves) in str(e) and "16x16" in str(e)
    else:
        assert octaves <= 8 and sig.shape == (16, 16)


def _ranged():
    out = []
    for name in models.available():
        cls = models.registry._constructor(name)
        out += [(name, key, rng) for key, rng in cls.ranges.items() if key in models.parameters(name)]
    return out


RANGED = _ranged()


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(RANGED),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2 ** 70, 2 ** 70),
                       st.sampled_from([0, 1, -1, 20, 21, 100000, 100001, 1024, 1025, 2 ** 31, 2 ** 63]),
                       st.text(max_size=4)))
def test_set_values_follow_the_declared_ranges(case, value):
    """`--set key=value` for every parameter a family declares a range for: accepted exactly
    when the value (converted to the declared type) lies in the range, else one line naming
    the key and the value."""
    name, key, rng = case
    text = repr(value) if isinstance(value, float) else str(value)
    sets = _parse_sets([f"{key}={text}"], name)
    try:
        kwargs = models.registry.checked_kwargs(name, sets)
    except InrlabError as e:
        msg = str(e)
        assert f"'{key}'" in msg or f"{key}=" in msg, msg
        assert "\n" not in msg
        converted = None
        try:
            converted = models.coerce(name, key, text)
        except InrlabError:
            return  # the type check refused it (text, a float for an int), naming it
        items = converted if isinstance(converted, tuple) else (converted,)
        assert not all(rng.contains(v) for v in items if isinstance(v, (int, float))), msg
        return
    v = kwargs[key]
    assert v is None or isinstance(v, str) or all(rng.contains(x) for x in (v if isinstance(v, tuple) else (v,)))


NOTEBOOKS = [Path(f"{n}.ipynb") for n in ("00_explore", "01_spectral_bias", "02_generalization", "03_ensemble_search")]


@settings(max_examples=200, deadline=None)
@given(only=st.one_of(st.none(), st.lists(st.one_of(st.text(max_size=6), st.sampled_from(["0", "01", "02_generalization", "", " "])), max_size=3)))
def test_only_selects_what_was_named_or_names_the_problem(only):
    try:
        chosen = study._select(NOTEBOOKS, only)
    except InrlabError as e:
        msg = str(e)
        assert only is not None and "\n" not in msg
        assert (not only and "--only needs" in msg) or any(
            repr(n) in msg or " ".join(f"'{n}'".split()) in msg for n in only), msg
        return
    if only is None:
        assert chosen == NOTEBOOKS
        return
    assert chosen and len(set(chosen)) == len(chosen)
    assert all(n.strip() for n in only)  # an empty name never selects anything
    assert all(any(p.stem == n or p.stem.startswith(n) for n in only) for p in chosen)
    assert all(any(p.stem == n or p.stem.startswith(n) for p in chosen) for n in only)
