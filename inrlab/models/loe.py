"""Levels-of-Experts (Hao, Mallya, Belongie, Liu, NeurIPS 2022, "Implicit Neural
Representations with Levels-of-Experts") with the sine activation of Atikuzzaman & Bae,
"Efficient and Effective INR: A Dive into Levels-of-Experts (LoE) and Sine Activation".

Every hidden layer is position-dependent: it holds T candidate weight matrices laid out as a
tile (2 x 2 in 2-D, 2 in 1-D by default) that repeats over the domain, and a sample at position
p uses the candidate its tile cell names (`layers.tile_index`, hard selection, the authors'
snippet). Layers differ by the scale of their tiling. The seed paper's network: 10 layers of
64 channels, nine position-dependent layers then a plain linear one (here width=64, depth=8:
the first layer plus 8 hidden ones are position-dependent, the output layer is nn.Linear).

Scales. `scale` = tile cells per domain side (see `layers.tile_index`): one cell covers
n / scale pixels of an n-pixel side and the candidate pattern repeats every t cells (t = tile
size per axis). With `scales=None` they follow from `resolution` (the training signal's shape,
filled by build(signal=...)):
    coarsest: scale = t, so one tile covers the whole domain (t x t blocks; 2 x 2 quadrants);
    finest:   scale = t^(K+1), K the largest integer with t^(K+1) <= n / 2 for the shortest
              side n, so a cell covers at least 2 pixels (2 exactly for powers of two);
    layer l of L (coarse-to-fine order): scale = t^(1 + e_l), e_l = floor(l * K / (L - 1) + 1/2),
    exponents spread evenly from 0 to K (a lone layer takes the coarsest). Consecutive layers
    multiply the scale by t when L = K + 1 (then, for t = 2, the tile choices of the layers
    spell a pixel's quad-tree address); with more layers than levels some levels repeat, with
    fewer some are skipped. 'fine_to_coarse' is the same list reversed.
A public port fixes the scales without regard to the image: its finest layer then has cells
smaller than a pixel (aliasing) and its coarsest a single cell (one candidate, a wasted layer).

Activations: 'leaky_relu' (slope 0.2, the LoE default) or 'sine' (sin(w0 z), w0 = 30, on
every position-dependent layer, as SIREN). The seed paper uses sine "without any special
initialisation"; we read that as PyTorch's nn.Linear default for every candidate and every
layer (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))), and use the same default for
LeakyReLU, for which neither paper states a rule. `siren_init=True` uses SIREN's rule instead.

Differences from the papers' code: (1) no official code exists; the authors' real layer is a
fused CUDA kernel, ours groups samples per candidate and runs one batched matmul per layer
(`impl='grouped'`), with the masked and per-sample references selectable for tests and
timing; (2) biases are learnable parameters (the public port's are plain tensors that never
train), one per layer shared by the candidates (`per_tile_bias` for one per candidate);
(3) scales are chosen from the training resolution as above, never below 2 pixels per cell
(for sides of at least 2t pixels; smaller images get the coarsest scale t alone).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..flops import FlopCount, linear_flops
from ..checks import Range
from ..signals import parse_grid
from .base import INR, CoordsMemo, axis_range
from .layers import (Groups, TiledLinear, default_bias_init_, linear, make_activation, sine, siren_init_,
                     tile_index, w0_in_weights)
from .registry import register
from .siren import W0

ARRANGEMENTS = ("fine_to_coarse", "coarse_to_fine")
ALIASES = {"quad_tree": "coarse_to_fine", "quadtree": "coarse_to_fine"}
IMPLS = ("grouped", "masked", "per_sample")
PAPER_RESOLUTION = 512  # the seed paper's cameraman side, used when no resolution is given

# FLOPs to locate one sample's tile cell along one axis: multiply, add, floor, modulo.
TILE_INDEX_FLOPS_PER_AXIS = 4


def default_scales(resolution, tiles: tuple[int, ...], n_layers: int) -> list[float]:
    """Coarse-to-fine scales (tile cells per side) for `n_layers` layers at `resolution`
    (see the module docstring for the rule)."""
    if len(set(tiles)) != 1:
        raise ValueError(f"default scales need the same tile size on every axis, got tiles "
                         f"{tiles}; give scales explicitly")
    t = tiles[0]
    if t < 2:
        return [1.0] * n_layers  # one candidate: the scale does not matter
    res = (resolution,) if isinstance(resolution, int) else tuple(resolution)
    n = min(int(r) for r in res)
    k = 0
    while t ** (k + 2) <= n / 2:
        k += 1
    if n_layers == 1:
        exps = [0]
    else:
        exps = [int(math.floor(l * k / (n_layers - 1) + 0.5)) for l in range(n_layers)]
    return [float(t ** (1 + e)) for e in exps]


def parse_scales(scales, n_layers: int) -> list[float]:
    """'1,2,4' or a sequence -> one positive float per position-dependent layer."""
    if isinstance(scales, str):
        try:
            vals = [float(s) for s in scales.replace(" ", "").split(",") if s]
        except ValueError:
            raise ValueError(f"scales must be comma-separated numbers, got {scales!r}") from None
    else:
        vals = [float(s) for s in scales]
    if len(vals) != n_layers:
        raise ValueError(f"scales has {len(vals)} values but the network has {n_layers} "
                         f"position-dependent layers (depth + 1)")
    if not all(math.isfinite(v) and v > 0 for v in vals):
        raise ValueError(f"scales must be positive, got {scales!r}")
    return vals


@register("loe")
class LoE(INR):
    ranges = {**INR.ranges, "tiles": axis_range(1), "resolution": axis_range(2),
              "w0": W0, "slope": Range()}
    adam = {"lr": 3e-3}   # inrlab.defaults.SWEEP (leaky_relu, the default)

    def __init__(self, dim_in: int = 2, dim_out: int = 1, width: int = 64, depth: int = 8,
                 tiles: int | str | tuple = 2, arrangement: str = "fine_to_coarse",
                 scales: str | tuple | None = None, resolution: int | str | tuple | None = None,
                 activation: str = "leaky_relu", w0: float = 30.0, slope: float = 0.2,
                 siren_init: bool = False, per_tile_bias: bool = False, impl: str = "grouped"):
        super().__init__()
        if width < 1 or depth < 0 or dim_in < 1 or dim_out < 1:
            raise ValueError(f"width, dim_in, dim_out must be >= 1 and depth >= 0, got "
                             f"width={width}, depth={depth}, dim_in={dim_in}, dim_out={dim_out}")
        arrangement = ALIASES.get(arrangement, arrangement)
        if arrangement not in ARRANGEMENTS:
            raise ValueError(f"unknown arrangement '{arrangement}' (choose fine_to_coarse, "
                             f"coarse_to_fine or quad_tree)")
        if activation not in ("leaky_relu", "sine"):
            raise ValueError(f"unknown activation '{activation}' (choose leaky_relu or sine)")
        if siren_init and activation != "sine":
            raise ValueError("siren_init=True needs activation='sine'")
        if impl not in IMPLS:
            raise ValueError(f"unknown impl '{impl}' (choose {', '.join(IMPLS)})")
        self.dim_in, self.dim_out, self.width, self.depth = dim_in, dim_out, width, depth
        self.tiles = parse_grid(tiles, dim_in, "tiles")
        if resolution is not None:  # the training signal's shape, which scales are chosen for
            resolution = parse_grid(resolution, dim_in, "resolution")
            if min(resolution) < 2:
                raise ValueError(f"resolution must be at least 2 samples per axis, got {resolution}")
        self.n_tiles = math.prod(self.tiles)
        self.arrangement, self.activation, self.impl = arrangement, activation, impl
        self.w0, self.slope, self.siren_init = float(w0), float(slope), bool(siren_init)
        n_layers = depth + 1
        if scales is not None:
            self.scales = parse_scales(scales, n_layers)
        else:
            res = PAPER_RESOLUTION if resolution is None else resolution
            coarse_to_fine = default_scales(res, self.tiles, n_layers)
            self.scales = coarse_to_fine[::-1] if arrangement == "fine_to_coarse" else coarse_to_fine
        dims = [dim_in] + [width] * n_layers
        self.layers = nn.ModuleList(TiledLinear(a, b, self.n_tiles, per_tile_bias=per_tile_bias)
                                    for a, b in zip(dims[:-1], dims[1:]))
        self.head = nn.Linear(width, dim_out)
        self.act, self._act_name = make_activation(activation, w0=self.w0, slope=self.slope)
        self._groups = CoordsMemo(size=1)
        self.init_()

    @torch.no_grad()
    def init_(self):
        if self.siren_init:
            # SIREN, Sitzmann et al. 2020, sec. 3.2: first layer U(-1/n, 1/n), the others
            # U(-sqrt(6/n)/w0, sqrt(6/n)/w0), biases nn.Linear's default; every candidate alike.
            for i, layer in enumerate(self.layers):
                siren_init_(layer.weight, layer.in_features, self.w0, first=(i == 0))
                default_bias_init_(layer.bias, layer.in_features)
            siren_init_(self.head.weight, self.width, self.w0, first=False)
            default_bias_init_(self.head.bias, self.width)
        else:
            # Seed paper sec. IV: sine "without any special initialisation" = PyTorch's
            # nn.Linear default per candidate (TiledLinear.init_); LeakyReLU keeps it too.
            for layer in self.layers:
                layer.init_()
            self.head.reset_parameters()

    # ------------------------------------------------------------------ routing
    def tile_groups(self, coords: torch.Tensor) -> dict[float, Groups]:
        """{scale: Groups} of `coords`, reused while the same, unmodified coordinate
        tensor comes back (every training step), since sorting samples by tile costs about
        5 % of a step."""
        return self._groups.get(coords, lambda: {
            s: Groups(tile_index(coords, s, self.tiles), self.n_tiles) for s in dict.fromkeys(self.scales)})

    def tile_ids(self, coords: torch.Tensor) -> list[torch.Tensor]:
        """Per position-dependent layer, the (N,) candidate index of each coordinate."""
        cache: dict[float, torch.Tensor] = {}
        out = []
        for s in self.scales:
            if s not in cache:
                cache[s] = tile_index(coords, s, self.tiles)
            out.append(cache[s])
        return out

    @torch.no_grad()
    def tile_maps(self, shape) -> torch.Tensor:
        """(layers, *shape) tile index of every pixel centre of a grid of `shape`."""
        from ..signals import pixel_centers

        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        ids = self.tile_ids(pixel_centers(shape))
        return torch.stack([i.view(*shape) for i in ids])

    # ------------------------------------------------------------------ forward
    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        if self.impl != "grouped":
            return self.forward_reference(coords, self.impl)
        # Rows stay grouped by candidate from layer to layer: one permutation between two
        # tilings, none between layers that share a scale, and the output layer runs in the
        # last layer's layout so only dim_out channels go back to sample order.
        h, prev = coords, None
        groups = self.tile_groups(coords)
        for layer, s in zip(self.layers, self.scales):
            g = groups[s]
            x = g.regroup(h, prev)
            if self.activation == "sine" and w0_in_weights(layer.in_features, g.m):
                h = sine(layer.forward_grouped(x, g, scale=self.w0))
            else:
                h = self.act(layer.forward_grouped(x, g))
            prev = g
        return prev.scatter(linear(h, self.head.weight, self.head.bias))

    def forward_reference(self, coords: torch.Tensor, mode: str = "masked") -> torch.Tensor:
        """The same network through a reference layer: 'masked' (a loop over candidates,
        each applied to every sample and masked) or 'per_sample' (each sample's weight
        gathered)."""
        if mode not in ("masked", "per_sample"):
            raise ValueError(f"unknown reference mode '{mode}' (choose masked or per_sample)")
        h = coords
        for layer, ids in zip(self.layers, self.tile_ids(coords)):
            f = layer.forward_masked_reference if mode == "masked" else layer.forward_per_sample_reference
            h = self.act(f(h, ids))
        return self.head(h)

    def flops_per_point(self) -> FlopCount:
        """One matmul per sample per layer (its own candidate), bias and activation, plus the
        tile lookup of each position-dependent layer (under `encoding`). The masked reference
        computes T times the matmuls; the grouped path computes exactly this when the groups are
        equal and pads the smaller groups otherwise."""
        total = FlopCount(encoding=float(TILE_INDEX_FLOPS_PER_AXIS * self.dim_in * len(self.layers)))
        for layer in self.layers:
            total = total + linear_flops(layer.in_features, layer.out_features, self._act_name)
        return total + linear_flops(self.width, self.dim_out)

    def extra_repr(self) -> str:
        return (f"arrangement={self.arrangement}, tiles={self.tiles}, "
                f"scales={[f'{s:g}' for s in self.scales]}, activation={self.activation}, impl={self.impl}")
