"""Cells: the grid the multi-head and ensemble models split the domain into.

`partition` maps a pixel-centre coordinate to its cell and to a cell-local coordinate in
(-1, 1) that is again a pixel centre of the cell's own pixel grid (see inrlab.signals).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .errors import InrlabError, nearest_valid
from .signals import axis_limit


def parse_grid(grid, dim: int, what: str = "grid") -> tuple[int, ...]:
    """Cells per axis: an int (same for every axis), a sequence, or a string '8' / '8x4';
    from 1 to `signals.axis_limit(dim)` per axis (MAX_SIDE on an image, MAX_SAMPLES on audio).
    `what` names the value in errors (grid, tiles, resolution)."""
    if isinstance(grid, str):
        try:
            grid = tuple(int(g) for g in grid.lower().split("x"))
        except ValueError:
            raise InrlabError(f"{what} must be an integer or 'AxB', got {grid!r}") from None
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        grid = (int(grid),) * dim
    if not isinstance(grid, (tuple, list)) or not all(
            isinstance(g, (int, np.integer)) and not isinstance(g, bool) for g in grid):
        raise InrlabError(f"{what} must be an integer or a tuple of integers, got {grid!r}")
    grid = tuple(int(g) for g in grid)
    if len(grid) == 1 and dim > 1:
        grid = grid * dim
    if len(grid) != dim:
        raise InrlabError(f"{what} {grid} has {len(grid)} axes but the signal has {dim}")
    if any(g < 1 for g in grid):
        raise InrlabError(f"{what} must be >= 1 per axis, got {grid}")
    limit = axis_limit(dim)
    if any(g > limit for g in grid):
        raise InrlabError(f"{what} {grid} is larger than the limit of {limit} per axis"
                          + (" of a 1-D signal" if dim == 1 else ""))
    return grid


def check_grid(shape: Sequence[int], grid) -> tuple[int, ...]:
    """Raise a clear error unless every axis of `shape` splits evenly into `grid` cells."""
    grid = parse_grid(grid, len(shape))
    for axis, (n, g) in enumerate(zip(shape, grid)):
        if g > n:
            raise InrlabError(f"grid {g} along axis {axis} is larger than the size {n}")
        if n % g:
            lo, hi = nearest_valid(n, g)
            raise InrlabError(f"size {n} along axis {axis} does not divide into grid {g}; "
                              f"nearest sizes that work: {lo} and {hi}")
    return grid


def partition(coords: torch.Tensor, grid: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell index (row-major, (N,) long) and cell-local coordinates ((N, d) in (-1, 1)).

    Cell c_k = floor((x_k + 1) / 2 * G_k); local x_k = 2 * frac((x_k + 1) / 2 * G_k) - 1. For
    pixel-centre samples of a size that divides into the grid, the local coordinates are the
    pixel centres of one cell's own pixel grid, at every resolution.
    """
    grid_t = torch.as_tensor(grid, dtype=coords.dtype, device=coords.device)
    u = (coords + 1) * 0.5 * grid_t
    cell = torch.floor(u).clamp_(min=0)
    cell = torch.minimum(cell, grid_t - 1)
    local = (u - cell) * 2 - 1
    idx = cell.long()
    flat = idx[:, 0]
    for k in range(1, len(grid)):
        flat = flat * int(grid[k]) + idx[:, k]
    return flat, local
