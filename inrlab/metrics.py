"""Metrics: PSNR (ours and the ENRP paper's convention), SSIM, and the radial spectrum.

Our PSNR: predictions clipped to the signal's value range, then
10 log10(range^2 / MSE) with range = hi - lo stated explicitly ([0, 1] images: range 1;
audio in [-1, 1]: range 2). The ENRP paper maps data to [-1, 1] and uses peak 1, which reads
20 log10(2) = 6.02 dB lower than our PSNR of the same [0, 1] fit; `psnr_enrp` reproduces that
convention so its tables can be compared; `enrp_signal` / `enrp_db` apply it to a Signal (data
mapped to [-1, 1] as the paper's code does) and to a PSNR of ours on such data.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _as_tensor(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def mse(pred, target, value_range=(0.0, 1.0), clip: bool = True) -> float:
    pred, target = _as_tensor(pred).detach().double(), _as_tensor(target).detach().double()
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    if clip:
        if not bool(torch.isfinite(pred).all()):
            return float("nan")   # clipping is for values just outside the range, not for inf
        pred = pred.clamp(value_range[0], value_range[1])
    return float(torch.mean((pred - target) ** 2))


def psnr_from_mse(err: float, data_range: float) -> float:
    if not math.isfinite(err):
        return float("nan")
    return float("inf") if err == 0 else 10.0 * math.log10(data_range ** 2 / err)


def psnr(pred, target, value_range=(0.0, 1.0), clip: bool = True) -> float:
    """PSNR in dB of `pred` against `target` on data in `value_range` (predictions clipped)."""
    lo, hi = value_range
    return psnr_from_mse(mse(pred, target, value_range, clip), hi - lo)


def psnr_enrp(pred, target, value_range=(0.0, 1.0), clip: bool = True) -> float:
    """PSNR as the ENRP paper reports it: data mapped to [-1, 1], peak 1 (20 log10(1/RMSE)).

    For [0, 1] data this equals psnr(...) - 6.02 dB. ENRP's code does not clip; pass clip=False
    to match it exactly.
    """
    lo, hi = value_range
    scale = 2.0 / (hi - lo)
    err = mse(pred, target, value_range, clip) * scale ** 2
    return psnr_from_mse(err, 1.0)


def enrp_signal(signal):
    """The signal with values mapped to [-1, 1], the ENRP paper's data convention (its held-out
    part too). Our PSNR of a fit is unchanged by the mapping (it is relative to the range)."""
    from dataclasses import replace

    lo, hi = signal.value_range
    held = enrp_signal(signal.heldout) if signal.heldout is not None else None
    values = (signal.values - lo) * (2.0 / (hi - lo)) - 1.0
    return replace(signal, values=values, value_range=(-1.0, 1.0), heldout=held)


def enrp_db(db, signal):
    """Our PSNR (dB) of a fit of `signal` -> the ENRP paper's 20 log10(1/RMSE) on [-1, 1] data
    (lower by 20 log10 of the data range: 6.02 dB for [-1, 1]); None stays None."""
    return None if db is None else float(db) - 20.0 * math.log10(signal.data_range)


SSIM_MIN_SIDE = 7   # scikit-image's default window is 7 x 7


def ssim(pred_grid, target_grid, value_range=(0.0, 1.0)) -> float:
    """SSIM (scikit-image's structural_similarity, its default 7 x 7 uniform window, channels
    averaged) of two (H, W, C) arrays with data_range = hi - lo of `value_range`, predictions
    clipped to it; NaN if smaller than the window."""
    from skimage.metrics import structural_similarity

    p = np.clip(np.asarray(pred_grid, dtype=np.float64), *value_range)
    t = np.asarray(target_grid, dtype=np.float64)
    if p.ndim != 3 or min(p.shape[:2]) < SSIM_MIN_SIDE:
        return float("nan")
    return float(structural_similarity(t, p, data_range=value_range[1] - value_range[0],
                                       channel_axis=-1))


def radial_spectrum(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of a 2-D array (channels averaged).

    Returns (frequency in cycles per image side, mean power at that frequency), for integer
    frequency bins 0 .. min(H, W) // 2. Used to show which frequencies a residual still holds.
    """
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim == 3:
        g = g.mean(axis=-1)
    h, w = g.shape
    power = np.abs(np.fft.fft2(g - g.mean())) ** 2 / (h * w)
    fy = np.fft.fftfreq(h) * h
    fx = np.fft.fftfreq(w) * w
    r = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    nbins = min(h, w) // 2 + 1
    bins = np.minimum(np.rint(r).astype(int), nbins)
    sums = np.bincount(bins.ravel(), weights=power.ravel(), minlength=nbins + 1)[:nbins]
    counts = np.bincount(bins.ravel(), minlength=nbins + 1)[:nbins]
    return np.arange(nbins), sums / np.maximum(counts, 1)
