"""Signals: sample coordinates, target values, and the range PSNR is measured on.

One coordinate convention everywhere: sample i of an axis with n samples sits at its pixel
centre, x = (i + 0.5) / n * 2 - 1, so x lies in (-1, 1) and a pixel keeps its physical place
when the resolution changes (pixel 3 of 256 covers exactly pixels 6 and 7 of 512). Coordinate
k indexes array axis k (row, then column for images). Several papers use align-corners
coordinates (linspace(-1, 1, n)); those put the same coordinate on different physical pixels at
different resolutions, which is why we do not.

Cells (the multi-head and ensemble models split the domain into a grid) use the same
convention inside each cell: `cells.partition` maps a coordinate to its cell and to a cell-local
coordinate in (-1, 1) that is again a pixel centre of the cell's own pixel grid.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .checks import check_host_memory, check_seed, parse_signal_spec, refuse_image_options, refuse_special_file
from .errors import InrlabError

MAX_SIDE = 16384  # refuse absurd sizes before allocating anything: an image's side, in pixels
MAX_SAMPLES = MAX_SIDE ** 2  # the same for a 1-D signal (audio): as many samples as the largest image has pixels


def axis_limit(dim: int) -> int:
    """The most samples (cells, grid points) a `dim`-D signal may have along one axis."""
    return MAX_SAMPLES if dim == 1 else MAX_SIDE

# scikit-image sample images that ship with the package (no download needed).
SKIMAGE_IMAGES = (
    "astronaut", "brick", "camera", "cat", "chelsea", "checkerboard", "clock", "coffee", "coins",
    "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
    "microaneurysms", "moon", "page", "retina", "rocket", "text",
)


@dataclass
class Signal:
    """Samples of a function on [-1, 1]^d.

    coords: (N, d) float32 sample positions; values: (N, C) float32 targets; shape: how the N
    samples are laid out as a grid (row-major), e.g. (H, W) or (T,); value_range: the range the
    data lives in and PSNR is measured on; heldout: optional samples never trained on.
    """

    coords: torch.Tensor
    values: torch.Tensor
    shape: tuple[int, ...]
    value_range: tuple[float, float] = (0.0, 1.0)
    name: str = "signal"
    heldout: "Signal | None" = None
    sample_rate: float | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.coords.ndim != 2 or self.values.ndim != 2:
            raise InrlabError(
                f"signal '{self.name}': coords and values must be 2-D (N, d) and (N, C), "
                f"got shapes {tuple(self.coords.shape)} and {tuple(self.values.shape)}")
        if self.coords.shape[0] != self.values.shape[0]:
            raise InrlabError(
                f"signal '{self.name}': {self.coords.shape[0]} coordinates but "
                f"{self.values.shape[0]} values")
        if math.prod(self.shape) != self.coords.shape[0]:
            raise InrlabError(
                f"signal '{self.name}': shape {self.shape} holds {math.prod(self.shape)} samples, "
                f"not {self.coords.shape[0]}")
        if not bool(torch.isfinite(self.values).all()):
            bad = int((~torch.isfinite(self.values)).sum())
            raise InrlabError(f"signal '{self.name}': {bad} target values are NaN or infinite")

    @property
    def dim_in(self) -> int:
        return self.coords.shape[1]

    @property
    def channels(self) -> int:
        return self.values.shape[1]

    @property
    def n(self) -> int:
        return self.coords.shape[0]

    @property
    def data_range(self) -> float:
        return float(self.value_range[1] - self.value_range[0])

    def grid(self, values: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
        """Values (the targets by default) as a numpy array of shape `shape + (C,)`."""
        v = self.values if values is None else values
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        return np.asarray(v).reshape(*self.shape, -1)

    def to(self, device) -> "Signal":
        held = self.heldout.to(device) if self.heldout is not None else None
        return replace(self, coords=self.coords.to(device), values=self.values.to(device),
                       heldout=held)

    def image_grid(self) -> tuple[torch.Tensor | None, tuple[int, int]] | None:
        """(sample indices, (H, W)) of samples that form a complete 2-D image grid, row-major:
        every sample (indices None) when the signal is laid out as an image; the sub-lattice a
        held-out set declares in meta['image_grid'] (`split_every_other`); None when there is
        none (audio, scattered samples). SSIM is computed on this grid."""
        if self.dim_in == 2 and len(self.shape) == 2:
            return None, tuple(self.shape)
        declared = self.meta.get("image_grid")
        if declared is not None:
            index, shape = declared
            return index, tuple(shape)
        return None

    def describe(self) -> str:
        held = f", held-out {self.heldout.n} samples" if self.heldout is not None else ""
        return f"{self.name}: {'x'.join(map(str, self.shape))} x {self.channels} ch{held}"


# --------------------------------------------------------------------------- coordinates

def pixel_centers(shape: Sequence[int]) -> torch.Tensor:
    """(prod(shape), len(shape)) pixel-centre coordinates, row-major, (i + 0.5) / n * 2 - 1."""
    shape = tuple(int(s) for s in shape)
    axes = [(torch.arange(n, dtype=torch.float64) + 0.5) / n * 2 - 1 for n in shape]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=-1).to(torch.float32)


def _check_size(size, what: str = "size") -> tuple[int, ...] | int:
    def one(s):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            if isinstance(s, float) and s.is_integer():
                s = int(s)
            else:
                raise InrlabError(f"{what} must be a positive integer, got {s!r}")
        if s < 2:
            raise InrlabError(f"{what} must be at least 2, got {s}")
        if s > MAX_SIDE:
            raise InrlabError(f"{what} {s} is larger than the limit of {MAX_SIDE} per side")
        return int(s)

    if isinstance(size, (tuple, list)):
        return tuple(one(s) for s in size)
    return one(size)


def from_grid(array: np.ndarray, *, name: str, value_range=(0.0, 1.0), **kw) -> Signal:
    """A Signal sampling `array` (shape spatial... x C) at its pixel centres."""
    arr = np.asarray(array, dtype=np.float32)
    shape = arr.shape[:-1]
    return Signal(coords=pixel_centers(shape), values=torch.from_numpy(arr.reshape(-1, arr.shape[-1]).copy()),
                  shape=tuple(shape), value_range=value_range, name=name, **kw)


# --------------------------------------------------------------------------- images

def load_image(source: str | os.PathLike = "camera", size=None, gray: bool = False,
               keep_aspect: bool = True) -> tuple[np.ndarray, str]:
    """An image as float32 (H, W, C) in [0, 1] (C is 1 for gray, 3 for RGB), and its name.

    source: a scikit-image sample name or an image file path. size: None keeps the native
    size; an int makes the longer side that long (the shorter one follows the aspect ratio) or,
    with keep_aspect=False, makes the image size x size; a pair (H, W) is taken as is.
    Resizing is anti-aliased.
    """
    from skimage import color, io, transform, util

    src = str(source)
    if os.path.exists(src):
        if os.path.isdir(src):
            raise InrlabError(f"image path '{src}' is a directory, not an image file")
        refuse_special_file(src, "image path")
        try:
            img = _cmyk_as_rgb(src)
            img = io.imread(src) if img is None else img
        except Exception as e:  # skimage/imageio raise many types for bad files
            raise InrlabError(f"could not read image '{src}': not a readable image file "
                              f"({type(e).__name__})") from None
        name = Path(src).stem
    elif src in SKIMAGE_IMAGES:
        import skimage.data
        img = getattr(skimage.data, src)()
        name = src
    else:
        looks_like_path = os.sep in src or "." in Path(src).name
        if looks_like_path:
            raise InrlabError(f"image file not found: '{src}'")
        raise InrlabError(f"unknown image '{src}': not a file and not a scikit-image sample "
                          f"(choose from {', '.join(SKIMAGE_IMAGES)})")

    img = np.asarray(img)
    if img.dtype == object or img.ndim not in (2, 3):
        raise InrlabError(f"image '{src}' has unsupported array shape {img.shape}")
    if img.ndim == 3 and img.shape[-1] not in (1, 2, 3, 4):
        raise InrlabError(f"image '{src}' has {img.shape[-1]} channels; expected 1, 3 or 4")
    if min(img.shape[:2]) < 2:
        raise InrlabError(f"image '{src}' is {img.shape[0]}x{img.shape[1]} pixels; "
                          f"need at least 2x2")
    _check_pixel_type(img, src)
    img = util.img_as_float32(img) if img.dtype != bool else img.astype(np.float32)
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]  # drop alpha
    if img.ndim == 3 and img.shape[-1] == 2:
        img = img[..., :1]  # gray + alpha
    if img.ndim == 2:
        img = img[..., None]
    if gray and img.shape[-1] == 3:
        img = color.rgb2gray(img)[..., None]
    if size is not None:
        target = _target_size(img.shape[:2], _check_size(size), keep_aspect)
        channels = 1 if gray else img.shape[-1]
        # the resize works in float64, then float32 copies and the pixel-centre coordinates
        check_host_memory(target[0] * target[1] * (40 * channels + 8), f"image '{src}' at {target[0]}x{target[1]}",
                          "use a smaller size")
        if target != img.shape[:2]:
            img = transform.resize(img, target + (img.shape[-1],), anti_aliasing=True,
                                   preserve_range=True)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    if not np.isfinite(img).all():
        raise InrlabError(f"image '{src}' contains NaN or infinite pixels")
    return img, name


def _cmyk_as_rgb(path: str) -> np.ndarray | None:
    """A CMYK file (JPEG, TIFF) as RGB uint8, or None for any other mode: read as it is, its
    four ink channels would pass for RGB + alpha (an inverted picture, K dropped)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")) if im.mode == "CMYK" else None
    except (UnidentifiedImageError, OSError, ValueError):
        return None   # not an image PIL knows: imageio reads it (or says it cannot)


def _check_pixel_type(img: np.ndarray, src: str) -> None:
    """Pixels inrlab maps to [0, 1] without guessing: bool, 8- or 16-bit unsigned integers
    (divided by 255 or 65535), or floats already in [0, 1]. Wider or signed integers would be
    divided by their type's range (an int32 image of 0..999 becomes black), and floats outside
    [0, 1] clipped: both are refused with the values found."""
    kind = img.dtype
    if kind == bool or kind in (np.uint8, np.uint16):
        return
    if np.issubdtype(kind, np.floating):
        finite = img[np.isfinite(img)]   # NaN and inf are refused after conversion
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        if lo >= -1e-3 and hi <= 1 + 1e-3:
            return   # in range, rounding aside
        raise InrlabError(f"image '{src}' holds floats from {lo:.4g} to {hi:.4g}; inrlab's images are in "
                          f"[0, 1]: rescale it first")
    lo, hi = (float(img.min()), float(img.max())) if img.size else (0.0, 0.0)
    raise InrlabError(f"image '{src}' holds {kind} pixels ({lo:g} to {hi:g}); save it as 8- or 16-bit "
                      f"unsigned integers, or as floats in [0, 1]")


def _target_size(hw, size, keep_aspect) -> tuple[int, int]:
    if isinstance(size, tuple):
        if len(size) != 2:
            raise InrlabError(f"image size must be an int or (H, W), got {size}")
        return size
    if not keep_aspect:
        return (size, size)
    h, w = hw
    scale = size / max(h, w)
    return (max(2, round(h * scale)), max(2, round(w * scale)))


def image(source: str | os.PathLike = "camera", size=None, gray: bool = False,
          keep_aspect: bool = True) -> Signal:
    """An image Signal with values in [0, 1] (see `load_image` for the arguments)."""
    img, name = load_image(source, size=size, gray=gray, keep_aspect=keep_aspect)
    return from_grid(img, name=name, value_range=(0.0, 1.0))


# --------------------------------------------------------------------------- Perlin noise

def _cache_dir() -> Path:
    env = os.environ.get("INRLAB_CACHE")
    if env:
        return Path(env)
    repo_data = Path(__file__).resolve().parents[1] / "data"
    if repo_data.is_dir():
        return repo_data / "cache"
    return Path.home() / ".cache" / "inrlab"


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    from .atomic import atomic_write

    atomic_write(path, lambda f: np.save(f, array), binary=True)


def perlin_array(size=256, octaves: float = 4, seed: int = 0) -> np.ndarray:
    """Perlin noise (perlin-noise package) at pixel centres of [0, 1]^2, min-max scaled to [0, 1].

    `octaves` is the package's frequency parameter: about `octaves` noise cells per side, so at
    most half the shorter side (a cell needs 2 pixels to show). Deterministic for a seed; cached under data/cache (or $INRLAB_CACHE) since the package
    evaluates one point at a time.
    """
    shape = _check_size(size if isinstance(size, (tuple, list)) else (size, size))
    if not isinstance(octaves, (int, float)) or isinstance(octaves, bool) or not octaves > 0:
        raise InrlabError(f"perlin octaves must be a positive number, got {octaves!r}")
    if not octaves <= min(shape) / 2:
        raise InrlabError(f"perlin octaves {octaves!r} do not fit a {shape[0]}x{shape[1]} image: "
                          f"at most {min(shape) / 2:g} noise cells per side (2 pixels per cell)")
    seed = check_seed(seed, "perlin seed")
    octs = float(octaves)   # the cache key names the value exactly (4.0000001 is not 4)
    key = f"perlin_{shape[0]}x{shape[1]}_oct{int(octs) if octs.is_integer() else repr(octs)}_seed{seed}"
    path = _cache_dir() / f"{key}.npy"
    if path.exists():
        try:
            arr = np.load(path)
            if arr.shape == shape:
                return arr
        except Exception:
            pass  # a damaged cache file is recomputed below
    from perlin_noise import PerlinNoise

    noise = PerlinNoise(octaves=octaves, seed=int(seed) + 1)  # the package treats seed 0 as "random"
    ys = (np.arange(shape[0]) + 0.5) / shape[0]
    xs = (np.arange(shape[1]) + 0.5) / shape[1]
    arr = np.array([[noise([y, x]) for x in xs] for y in ys], dtype=np.float64)
    lo, hi = arr.min(), arr.max()
    arr = ((arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)).astype(np.float32)
    try:
        atomic_save_npy(path, arr)
    except OSError:
        pass  # a read-only cache only costs time
    return arr


def perlin(size=256, octaves: float = 4, seed: int = 0) -> Signal:
    """A gray Perlin-noise image Signal in [0, 1]."""
    arr = perlin_array(size, octaves, seed)
    return from_grid(arr[..., None], name=f"perlin{octaves:g}",
                     meta={"octaves": octaves, "seed": seed})


# --------------------------------------------------------------------------- held-out data

def split_every_other(signal: Signal) -> Signal:
    """Train on the samples whose indices are all even; hold out every other sample.

    As the Fourier-features paper does: from a 512^2 image this trains on 256^2 pixels (at their
    true positions) and tests on the remaining 3/4 of the pixels.
    """
    if signal.heldout is not None:
        raise InrlabError(f"signal '{signal.name}' already has a held-out set")
    if min(signal.shape) < 2:
        raise InrlabError(f"signal '{signal.name}' of shape {signal.shape} is too small to split")
    idx = np.indices(signal.shape).reshape(len(signal.shape), -1)
    train = torch.from_numpy((idx % 2 == 0).all(axis=0))
    train_shape = tuple((s + 1) // 2 for s in signal.shape)
    # the held-out samples odd along every axis form a complete image (every other pixel,
    # offset by one): the held-out set's image grid, on which held-out SSIM is measured
    odd = torch.from_numpy((idx % 2 == 1).all(axis=0))[~train]
    meta = {}
    if len(signal.shape) == 2 and min(signal.shape) >= 2:
        meta["image_grid"] = (torch.nonzero(odd).reshape(-1), tuple(s // 2 for s in signal.shape))
    held = Signal(coords=signal.coords[~train], values=signal.values[~train],
                  shape=(int((~train).sum()),), value_range=signal.value_range,
                  name=f"{signal.name}[held-out]", sample_rate=signal.sample_rate, meta=meta)
    return replace(signal, coords=signal.coords[train], values=signal.values[train],
                   shape=train_shape, heldout=held, name=f"{signal.name}[even]",
                   meta={**signal.meta, "split": "every_other", "full_shape": signal.shape})


def resolution_split(source="camera", train_size=256, test_size=None, gray=True) -> Signal:
    """Train on the image downsampled to `train_size`, hold out the image at `test_size`.

    The test image (native size by default) is the reference; the training image is its
    anti-aliased downsample. Both use pixel-centre coordinates, so every test pixel is
    evaluated where it physically lies.
    """
    full, name = load_image(source, size=test_size, gray=gray)
    train_size = _check_size(train_size, "train_size")
    small = image_resize(full, train_size)
    test = from_grid(full, name=f"{name}@{full.shape[0]}x{full.shape[1]}")
    train = from_grid(small, name=f"{name}@{small.shape[0]}x{small.shape[1]}", heldout=test,
                      meta={"split": "resolution", "full_shape": full.shape[:2]})
    return train


def image_resize(img: np.ndarray, size) -> np.ndarray:
    from skimage import transform

    target = _target_size(img.shape[:2], size, keep_aspect=True)
    out = transform.resize(img, target + (img.shape[-1],), anti_aliasing=True, preserve_range=True)
    return np.clip(out, 0, 1).astype(np.float32)


# --------------------------------------------------------------------------- from a spec

def load_signal(spec: str, size=None, gray: bool = False, seed: int = 0) -> Signal:
    """A Signal from a short text spec, as the CLI takes it.

    'perlin' or 'perlin:OCTAVES' (size defaults to 256; octaves at most size / 2), 'star' or
    'star:SPOKES' (`synthetic.siemens_star`, 32 spokes; always gray), 'bandnoise' or
    'bandnoise:CUTOFF' (`synthetic.bandlimited_noise`, cutoff 0.25 of Nyquist, seeded; RGB
    unless gray), 'synth' (the synthesized audio clip), a path ending in .wav, or an image
    name/path; parsed strictly (`checks.parse_signal_spec`): anything else is refused with the
    accepted forms. The synthetic targets are 256 x 256 unless `size` says otherwise; audio
    takes neither `size` nor `gray` (refused, not ignored).
    """
    kind, arg = parse_signal_spec(spec)
    refuse_image_options(kind, spec, size, gray)
    seed = check_seed(seed)
    if kind == "perlin":
        return perlin(256 if size is None else size, octaves=arg, seed=seed)
    if kind == "star":
        return siemens_star(256 if size is None else size, spokes=arg)
    if kind == "bandnoise":
        return bandlimited_noise(256 if size is None else size, cutoff=arg, seed=seed, gray=gray)
    if kind == "synth":
        return audio(None, seed=seed)
    if kind == "wav":
        return audio(arg)
    return image(arg, size=size, gray=gray)


def fingerprint(signal: Signal) -> str:
    """A short hash of a signal's data (to check that a checkpoint matches its signal)."""
    h = hashlib.sha1()
    h.update(signal.coords.detach().cpu().numpy().tobytes())
    h.update(signal.values.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:12]


# audio signals and cells live in their own modules; their names stay reachable from here
from .audio import audio, sine_mix, synth_audio  # noqa: E402,F401
from .cells import check_grid, parse_grid, partition  # noqa: E402,F401
from .synthetic import bandlimited_noise, siemens_star  # noqa: E402,F401
