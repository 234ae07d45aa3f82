"""The base class every coordinate network derives from."""

from __future__ import annotations

import weakref
from typing import Callable

import torch
from torch import nn

from ..checks import DEPTH, SIZE
from ..flops import FlopCount, n_points


class CoordsMemo:
    """Values derived from a coordinate tensor (a grouping of its samples), kept while that
    same tensor comes back unmodified, as fit() passes it every step, and rebuilt if it is
    modified in place. Holds weak references only, so it never keeps coordinates alive; it
    keeps the `size` most recent entries and pickles empty."""

    def __init__(self, size: int = 4):
        self.size = size
        self._items: dict = {}

    def get(self, coords: torch.Tensor, build: Callable[[], object]):
        hit = self._items.get(id(coords))
        if hit is not None and hit[0]() is coords and hit[1] == coords._version:
            return hit[2]
        value = build()
        items = {k: v for k, v in self._items.items() if v[0]() is not None}
        if len(items) >= self.size:
            items.pop(next(iter(items)))
        items[id(coords)] = (weakref.ref(coords), coords._version, value)
        self._items = items
        return value

    def __getstate__(self):
        return {"size": self.size, "_items": {}}


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
    # cache-sized pieces on CPU (`train.CPU_CHUNK_BYTES`) for free. Models that group the
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
