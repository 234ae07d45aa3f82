"""Synthetic targets whose frequency content is known by construction.

`bandlimited_noise` holds every frequency up to a cutoff and none above it, so a fit's error
can be read against a known band; `siemens_star` is the classic resolution target, whose local
frequency rises towards its centre until no pixel grid can hold it. Both follow the signals'
conventions: values in [0, 1] sampled at pixel centres, seeded where random.
"""

from __future__ import annotations

import math

import numpy as np

from .checks import check_seed
from .errors import InrlabError
from .signals import Signal, _check_size, from_grid

STAR_SUBSAMPLES = 8  # sub-samples per pixel side when box-filtering the star


def _shape(size, what: str) -> tuple[int, int]:
    shape = _check_size(size if isinstance(size, (tuple, list)) else (size, size), what)
    if len(shape) != 2:
        raise InrlabError(f"{what} must be an int or (H, W), got {size!r}")
    return shape


def _real(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InrlabError(f"{what} must be a number, got {value!r}")
    return float(value)


def bandlimited_noise(size=256, cutoff: float = 0.25, seed: int = 0, gray: bool = True) -> Signal:
    """White Gaussian noise low-passed to a disc of frequencies, as an image Signal in [0, 1].

    Frequencies are the FFT's, in cycles per pixel: (fy, fx) = (k / H, l / W) with |fy|, |fx|
    up to the Nyquist frequency 1/2. The filter keeps exactly the coefficients with
    sqrt(fy^2 + fx^2) <= cutoff / 2 (cutoff is a fraction of Nyquist, in (0, 1]; cutoff 1 keeps
    the disc inscribed in the frequency square, not its corners) and zeroes the rest, so the
    image is periodic (it tiles seamlessly). Each channel is then mapped to [0, 1] by its own
    min-max (min -> 0, max -> 1): an affine map, so no frequency above the cutoff comes back.

    size: an int or (H, W); gray=False gives 3 independent channels. The noise is drawn from
    numpy's default Generator seeded with `seed`: the same seed gives the same image.
    """
    h, w = _shape(size, "bandnoise size")
    if not 0 < _real(cutoff, "bandnoise cutoff") <= 1:
        raise InrlabError(f"bandnoise cutoff must lie in (0, 1] (a fraction of Nyquist), "
                          f"got {cutoff!r}")
    cutoff = float(cutoff)
    lowest = 1 / max(h, w)  # the lowest non-zero frequency the image holds, cycles/pixel
    if cutoff / 2 < lowest:
        raise InrlabError(f"bandnoise cutoff {cutoff!r} keeps only the mean of a {h}x{w} image; "
                          f"use a cutoff of at least {2 * lowest:g}")
    seed = check_seed(seed, "bandnoise seed")
    channels = 1 if gray else 3
    noise = np.random.default_rng(seed).standard_normal((channels, h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    keep = np.hypot(fy, fx) <= cutoff / 2
    field = np.fft.irfft2(np.fft.rfft2(noise) * keep, s=(h, w))
    lo = field.min(axis=(1, 2), keepdims=True)
    hi = field.max(axis=(1, 2), keepdims=True)
    arr = (field - lo) / (hi - lo)
    return from_grid(np.moveaxis(arr, 0, -1), name=f"bandnoise-c{cutoff:g}-s{seed}",
                     meta={"cutoff": cutoff, "seed": seed})


def max_spokes(size) -> int:
    """The most spokes a star of this size can have with its outer rim still resolved: a dark and
    a light sector at least one pixel wide each on the largest circle inside the image."""
    h, w = _shape(size, "star size")
    return max(1, int(math.pi * min(h, w) / 2))


def siemens_star(size=256, spokes: int = 32) -> Signal:
    """A Siemens star: `spokes` dark and `spokes` light sectors around the image centre.

    The ideal target is 1/2 + 1/2 sign(sin(spokes * theta)), theta = atan2(row, column) measured
    in pixels from the image centre (so the star stays round on a non-square image). Sampled at
    pixel centres it aliases near the centre, so each pixel is the mean of that function over
    STAR_SUBSAMPLES^2 evenly spaced points inside it (a box filter, as a camera pixel would
    integrate): the wedges are crisp where a pixel can resolve them and blend to 1/2 where it
    cannot. The sector period on a circle of radius r pixels is 2 pi r / spokes pixels, so the
    radius where it drops to 2 pixels (Nyquist) is spokes / pi.

    spokes: an integer from 1 to `max_spokes(size)` (beyond that even the rim is under 2 pixels
    a period). size: an int or (H, W).
    """
    h, w = _shape(size, "star size")
    if isinstance(spokes, bool) or not isinstance(spokes, (int, np.integer)):
        raise InrlabError(f"star spokes must be a positive integer, got {spokes!r}")
    top = max_spokes((h, w))
    if not 1 <= spokes <= top:
        raise InrlabError(f"star spokes must be from 1 to {top} on a {h}x{w} image "
                          f"(the rim needs 2 pixels a period), got {spokes}")
    spokes = int(spokes)
    k = STAR_SUBSAMPLES
    offsets = (np.arange(k) + 0.5) / k - 0.5  # sub-sample positions inside a pixel, symmetric
    rows = np.arange(h)[:, None] + 0.5 - h / 2
    cols = np.arange(w)[None, :] + 0.5 - w / 2
    total = np.zeros((h, w))
    for dy in offsets:  # k^2 passes over (H, W) arrays keep memory at a few images
        for dx in offsets:
            wave = np.sin(spokes * np.arctan2(rows + dy, cols + dx))
            # sub-samples on a sector edge (the diagonals hold some) count as the edge's 1/2,
            # whichever side rounding puts them on, so the star keeps its symmetries exactly
            total += np.sign(np.where(np.abs(wave) < 1e-9, 0.0, wave))
    arr = 0.5 + 0.5 * total / k ** 2
    return from_grid(arr[..., None], name=f"star-{spokes}", meta={"spokes": spokes})
