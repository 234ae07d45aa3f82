"""Audio signals: WAV files (any sample type and channel count), a synthesized clip of plucked
notes, and sums of sines. Each is a 1-D Signal on pixel-centre time coordinates with values in
(-1, 1), scaled so max |x| = 1."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .checks import check_seed, refuse_special_file
from .errors import InrlabError
from .signals import MAX_SIDE, Signal, _check_size, from_grid


def _to_mono_float(data: np.ndarray, path: str) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim == 2:
        data = data.astype(np.float64).mean(axis=1) if data.dtype.kind == "f" else data
    if data.dtype.kind == "u":  # 8-bit WAV is unsigned, centred at 128
        bits = 8 * data.dtype.itemsize
        data = (data.astype(np.float64) - 2 ** (bits - 1)) / 2 ** (bits - 1)
    elif data.dtype.kind == "i":
        data = data.astype(np.float64) / np.iinfo(data.dtype).max
    elif data.dtype.kind != "f":
        raise InrlabError(f"WAV file '{path}' has unsupported sample type {data.dtype}")
    if data.ndim == 2:
        data = data.mean(axis=1)
    return data.astype(np.float64)


def audio(source: str | os.PathLike | None = None, *, duration: float | None = None,
          **synth_kw) -> Signal:
    """Audio as a 1-D Signal: mono, amplitude scaled so max |x| = 1, value_range (-1, 1).

    source: a WAV path (integer or float samples, any channel count: channels are averaged), or
    None for the synthesized clip (`synth_audio`). duration: keep only the first seconds.
    """
    if source is None or str(source) == "synth":
        data, rate, name = synth_audio(**synth_kw), synth_kw.get("sample_rate", 16000), "synth"
    else:
        from scipy.io import wavfile

        path = str(source)
        if not os.path.exists(path):
            raise InrlabError(f"WAV file not found: '{path}'")
        if os.path.isdir(path):
            raise InrlabError(f"WAV path '{path}' is a directory")
        refuse_special_file(path, "WAV path")
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rate, raw = wavfile.read(path)
        except Exception as e:
            # scipy's own words say what it met ("not a WAV file"), or, for a damaged header,
            # only where its parser tripped: both follow the part a user can act on
            raise InrlabError(f"could not read WAV file '{path}': not a readable WAV file, or its header "
                              f"is damaged ({type(e).__name__}: {e})") from None
        data = _to_mono_float(raw, path)
        name = Path(path).stem
    if duration is not None:
        _check_duration(duration)
        data = data[: max(2, int(round(duration * rate)))]
    if data.size < 2:
        raise InrlabError(f"audio '{name}' has {data.size} samples; need at least 2")
    if not np.isfinite(data).all():
        raise InrlabError(f"audio '{name}' contains NaN or infinite samples")
    peak = np.abs(data).max()
    if peak == 0:
        raise InrlabError(f"audio '{name}' is silent (all samples are zero)")
    data = (data / peak).astype(np.float32)
    return from_grid(data[:, None], name=name, value_range=(-1.0, 1.0), sample_rate=float(rate))


def _check_duration(duration) -> None:
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not (
            math.isfinite(duration) and duration > 0):
        raise InrlabError(f"audio duration must be a positive number of seconds, got {duration!r}")


def synth_audio(duration: float = 2.0, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A deterministic clip of plucked notes with harmonics (a stand-in for real music)."""
    _check_duration(duration)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise InrlabError(f"synth audio sample_rate must be a positive integer, got {sample_rate!r}")
    if duration * sample_rate < 2 or duration * sample_rate > MAX_SIDE ** 2:
        raise InrlabError(f"synth audio of {duration!r} s at {sample_rate} Hz must hold from 2 to "
                          f"{MAX_SIDE ** 2} samples")
    rng = np.random.default_rng(check_seed(seed))
    t = np.arange(int(duration * sample_rate)) / sample_rate
    out = np.zeros_like(t)
    n_notes = max(1, int(duration * 4))
    starts = np.linspace(0, duration, n_notes, endpoint=False)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
    for start in starts:
        f0 = rng.choice(scale)
        local = t - start
        env = np.where(local >= 0, np.exp(-np.clip(local, 0, None) * 6.0), 0.0)
        for k in range(1, 7):
            out += env * np.sin(2 * np.pi * k * f0 * local) / k
    return out


def sine_mix(n: int = 1024, freqs: Sequence[float] = (2, 8, 32), seed: int = 0) -> Signal:
    """A 1-D sum of sines, one per frequency (cycles across the domain), with seeded phases and
    amplitudes 1/sqrt(rank), scaled so max |x| = 1: a target whose spectrum you choose."""
    n = _check_size(n, "n")
    if not freqs or any(not (isinstance(f, (int, float)) and f > 0) for f in freqs):
        raise InrlabError(f"sine_mix freqs must be positive numbers, got {freqs!r}")
    rng = np.random.default_rng(check_seed(seed))
    x = (np.arange(n) + 0.5) / n
    y = sum(np.sin(2 * np.pi * f * x + rng.uniform(0, 2 * np.pi)) / np.sqrt(i + 1)
            for i, f in enumerate(freqs))
    y = y / np.abs(y).max()
    return from_grid(y[:, None], name=f"sines{'+'.join(f'{f:g}' for f in freqs)}",
                     value_range=(-1.0, 1.0), meta={"freqs": list(freqs)})
