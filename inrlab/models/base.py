"""The base class every coordinate network derives from."""

from __future__ import annotations

import torch
from torch import nn

from ..flops import FlopCount, n_points


class INR(nn.Module):
    """Maps (N, dim_in) coordinates in [-1, 1] to (N, dim_out) values.

    Subclasses set dim_in / dim_out and give `flops_per_point`, or override `flops` when the
    cost is not the same for every point (multi-head models render a whole cell per pass).
    `config` is filled by `inrlab.models.build` so a checkpoint can rebuild the model.
    """

    dim_in: int
    dim_out: int
    config: dict

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
