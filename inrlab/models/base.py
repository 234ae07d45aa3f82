"""The base class every coordinate network derives from."""

from __future__ import annotations

import torch
from torch import nn

from ..checks import DEPTH, SIZE, Range
from ..flops import FlopCount, n_points
from ..signals import MAX_SAMPLES, MAX_SIDE
from .layers.groups import CoordsMemo  # noqa: F401  (the memo the families share)


def axis_range(lo: int) -> Range:
    """The range of a per-axis count (cells, tiles, grid points): up to MAX_SAMPLES, what a 1-D
    signal may hold; `signals.parse_grid` then holds an image's axes to MAX_SIDE."""
    return Range(lo, MAX_SAMPLES, why=f"per axis; at most {MAX_SIDE} on an image")


class INR(nn.Module):
    """Maps (N, dim_in) coordinates in [-1, 1] to (N, dim_out) values.

    Subclasses set dim_in / dim_out and give `flops_per_point`, or override `flops` when the
    cost is not the same for every point (multi-head models render a whole cell per pass).
    `config` is filled by `inrlab.models.build` so a checkpoint can rebuild the model.
    """

    dim_in: int
    dim_out: int
    config: dict
    # True when each point is computed on its own at a cost that does not depend on which
    # other points share the batch (plain MLPs), so fit() may split a full batch into
    # cache-sized pieces on CPU (`memory.CPU_CHUNK_BYTES`) for free. Models that group the
    # points of a batch (ensembles, tiles, heads) leave it False.
    pointwise: bool = False
    # The valid range of each numeric constructor parameter (`checks.Range`), checked by
    # `models.build` before anything is allocated; a family adds its own to these.
    ranges: dict = {"dim_in": SIZE, "dim_out": SIZE, "width": SIZE, "depth": DEPTH}
    # Names of parameters that hold looked-up values (a value grid, hash tables), not weights
    # with a fan-in axis: random weight factorization leaves them alone.
    lookup_tables: tuple[str, ...] = ()
    # False for a family without linear layers (a value grid): factorize=true is refused.
    factorizable: bool = True

    def check_signal(self, signal) -> None:
        """Raise unless this model can be trained on `signal` (build(signal=...) and fit()
        call it). A family that splits the domain into cells refuses cells left empty."""

    def set_shape(self, dim_in: int, dim_out: int, width: int, depth: int) -> None:
        """Check and keep an MLP family's sizes (every such constructor starts here)."""
        if width < 1 or depth < 0:
            raise ValueError(f"width must be >= 1 and depth >= 0, got width={width}, depth={depth}")
        self.dim_in, self.dim_out, self.width, self.depth = dim_in, dim_out, width, depth

    def flops_per_point(self) -> FlopCount:
        raise NotImplementedError

    def flops(self, shape) -> FlopCount:
        """Forward FLOPs to reconstruct a signal laid out as `shape`."""
        return self.flops_per_point() * n_points(shape)

    @torch.no_grad()
    def predict(self, coords: torch.Tensor, chunk: int = 1 << 18) -> torch.Tensor:
        """Evaluate in chunks (to bound memory) without gradients."""
        if coords.shape[0] <= chunk:
            return self(coords)
        return torch.cat([self(c) for c in coords.split(chunk)])
