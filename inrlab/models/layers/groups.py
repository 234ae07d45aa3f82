"""Samples grouped by an integer id (an ensemble's cell, a tiled layer's candidate) for one
batched matmul, and the memo that keeps such a grouping while the same coordinates return."""

from __future__ import annotations

import weakref
from typing import Callable

import torch


class Groups:
    """N samples with ids in [0, n_groups), laid out as `rows` rows of `m` slots each.

    m=None: one row per group, every row padded to the largest group's size (a tiled layer:
    row t is candidate t's matmul). m given: a group with more than m samples takes several
    rows that share its weights (`members`: each row's group; None when row g is group g),
    so padding stays below one row per group (an ensemble's cells). When every group fills
    its rows exactly (`exact`: a full image whose side the cells divide) nothing is padded.
    order: the samples sorted by id, stably (None when they already are); slot: each sample's
    position in the flat (rows * m) layout (None when that is the sample's own index).
    """

    def __init__(self, ids: torch.Tensor, n_groups: int, m: int | None = None):
        ids = ids.reshape(-1).long()
        self.n_groups, self.samples = int(n_groups), ids.numel()
        dev, N = ids.device, ids.numel()
        counts = torch.bincount(ids, minlength=self.n_groups)
        if counts.numel() > self.n_groups:
            raise ValueError(f"group id {int(ids.max())} out of range for {self.n_groups} groups")
        largest = int(counts.max()) if N else 0          # one host sync per grouping
        self.m = largest if m is None else max(1, int(m))
        if N > 1 and bool((ids[1:] >= ids[:-1]).all()):
            self.order, sorted_ids = None, ids
        else:
            self.order = torch.argsort(ids, stable=True)
            sorted_ids = ids[self.order]
        start = torch.cumsum(counts, 0) - counts
        rank = torch.arange(N, device=dev) - start[sorted_ids]
        self.members = None
        if largest <= self.m:
            self.rows = self.n_groups
            sorted_slot = sorted_ids * self.m + rank
        else:  # group g takes ceil(count_g / m) rows, so rows * m <= N + n_groups * m
            chunks = -(-counts // self.m)
            self.rows = int(chunks.sum())
            self.members = torch.repeat_interleave(torch.arange(self.n_groups, device=dev), chunks)
            first_row = torch.cumsum(chunks, 0) - chunks
            sorted_slot = (first_row[sorted_ids] + rank // self.m) * self.m + rank % self.m
        self.exact = self.members is None and N == self.rows * self.m
        if self.exact and self.order is None:
            self.slot = None
        elif self.order is None:
            self.slot = sorted_slot
        else:
            self.slot = torch.empty_like(self.order)
            self.slot[self.order] = sorted_slot

    # names of the ensemble's plan: rows are `groups` of `n` samples, `slots` None when exact
    groups = property(lambda self: self.rows)
    n = property(lambda self: self.m)
    slots = property(lambda self: None if self.exact else self.slot)

    @property
    def padded_rows(self) -> int:
        """Rows the batched matmul computes (N when nothing is padded)."""
        return self.rows * self.m

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C) per sample -> (rows, m, C) per row (padding rows are zero)."""
        shape = (self.rows, self.m, x.shape[1])
        if self.slot is None:
            return x.reshape(shape)
        if self.exact:
            return x.index_select(0, self.order).view(shape)
        return x.new_zeros(self.rows * self.m, x.shape[1]).index_copy(0, self.slot, x).view(shape)

    def scatter(self, y: torch.Tensor) -> torch.Tensor:
        """(rows, m, C) or (rows * m, C) per row -> (N, C) in the samples' original order."""
        y = y.reshape(self.rows * self.m, y.shape[-1])
        return y if self.slot is None else y.index_select(0, self.slot)

    def regroup(self, h: torch.Tensor, prev: "Groups | None") -> torch.Tensor:
        """Rows of `h` laid out by `prev`'s grouping (or per sample when prev is None) ->
        (rows * m, C) laid out by this grouping, with one permutation where possible."""
        if prev is self:
            return h
        if prev is not None:
            if self.exact and prev.slot is not None and self.order is not None:
                return h.index_select(0, prev.slot.index_select(0, self.order))
            h = prev.scatter(h)
        return self.gather(h).reshape(self.rows * self.m, h.shape[1])


def _view_key(coords: torch.Tensor) -> tuple:
    return (coords.untyped_storage().data_ptr(), coords.storage_offset(), tuple(coords.shape),
            coords.stride(), coords.dtype, coords.device, coords._version)


class CoordsMemo:
    """Values derived from a coordinate tensor (a grouping of its samples), kept while the same
    memory comes back unmodified (fit() passes the same tensor every step; a view of the same
    memory hits too) and rebuilt once it is modified in place (its version changes). It keeps
    the `size` most recent entries and pickles empty. hold=False keeps weak references, so a
    coordinate tensor is never kept alive; hold=True keeps them, so that fresh views of the
    same memory (a chunk taken anew each step) hit while the memory cannot be reused."""

    def __init__(self, size: int = 4, hold: bool = False):
        self.size, self.hold = size, hold
        self._items: list = []

    def get(self, coords: torch.Tensor, build: Callable[[], object]):
        key = _view_key(coords)
        for i, (k, ref, value) in enumerate(self._items):
            held = ref()
            if k == key and held is not None and held.untyped_storage().data_ptr() == key[0]:
                self._items.append(self._items.pop(i))      # most recently used last
                return value
        value = build()
        ref = (lambda c=coords: c) if self.hold else weakref.ref(coords)
        live = [e for e in self._items if e[1]() is not None]
        self._items = live[len(live) - self.size + 1:] + [(key, ref, value)]
        return value

    def __getstate__(self):
        return {"size": self.size, "hold": self.hold, "_items": []}
