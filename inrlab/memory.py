"""Memory planning for fit()'s training step: how many pieces a batch runs in so that its
activations fit a budget, and (CPU, pointwise models) so that each piece's activations stay
cache- and heap-sized.

The activation memory is what autograd saves for the backward pass, measured on small probe
passes (`activation_bytes`) and doubled for the gradients of those activations.
"""

from __future__ import annotations

import math

import torch

from .checks import available_memory
from .errors import InrlabError

# A CPU batch of a pointwise model whose saved activations exceed CPU_SPLIT_ABOVE bytes runs in
# pieces of at most CPU_CHUNK_BYTES, so that its largest activation stays below glibc's largest
# mmap threshold (32 MB) and is reused from the heap instead of being mapped afresh every step;
# the gradient is the same up to float rounding. The gate sits where the benchmark's
# `cpu_pieces` case stops showing a gain (README, Measured results).
CPU_CHUNK_BYTES = 64 * 2 ** 20
CPU_SPLIT_ABOVE = 2 ** 30


def saved_bytes(model, coords) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass of one forward
    (activations; the model's own parameters and buffers, which do not grow with the batch,
    are left out)."""
    seen = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    total = 0

    def pack(t):
        nonlocal total
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(coords)
    return total


def activation_bytes(model, coords: torch.Tensor) -> tuple[float, float]:
    """(fixed, per-sample) bytes autograd saves in a forward pass over `coords`, measured on
    two evenly strided subsets so that per-pass costs (gathered weights, tables) and per-sample
    costs are told apart."""
    n = coords.shape[0]
    if n <= 4096:
        return 0.0, saved_bytes(model, coords) / max(1, n)
    a, b = coords[::16], coords[::8]
    ba, bb = saved_bytes(model, a), saved_bytes(model, b)
    per = max(bb - ba, 0) / max(1, b.shape[0] - a.shape[0])
    return max(ba - per * a.shape[0], 0.0), per


def cpu_pieces(model, coords: torch.Tensor, per_sample: float | None = None) -> int:
    """Pieces of at most CPU_CHUNK_BYTES of saved activations that `coords` make (ungated)."""
    if per_sample is None:
        per_sample = activation_bytes(model, coords)[1]
    return max(1, min(coords.shape[0], math.ceil(per_sample * coords.shape[0] / CPU_CHUNK_BYTES)))


def plan_chunks(model, coords: torch.Tensor, device, max_memory: float | None = None) -> int:
    """How many chunks a step over `coords` needs so its activations fit in `max_memory` bytes
    (default: half the memory available on `device`), and, for a pointwise model on CPU whose
    activations exceed CPU_SPLIT_ABOVE, so each chunk's activations stay within CPU_CHUNK_BYTES.
    A step that cannot fit even one sample at a time is refused with the amount it needs."""
    n = coords.shape[0]
    if max_memory is not None and not max_memory > 0:
        raise InrlabError(f"max_memory must be positive, got {max_memory!r}")
    budget = max_memory if max_memory is not None else (
        None if (avail := available_memory(device)) is None else 0.5 * avail)
    cache = (torch.device(device).type == "cpu" and getattr(model, "pointwise", False)
             and CPU_CHUNK_BYTES > 0)
    if budget is None and not cache:
        return 1
    fixed, per_sample = activation_bytes(model, coords)
    chunks = 1
    if budget is not None and 2.0 * (fixed + per_sample * n) > budget:  # activations + their grads
        room = budget - 2.0 * fixed
        chunks = math.ceil(2.0 * per_sample * n / room) if room > 0 else n + 1
        if chunks > n:
            raise InrlabError(f"a training step needs about {2 * per_sample / 2**20:.1f} MB per sample "
                              f"(+{2 * fixed / 2**20:.0f} MB fixed) but only {budget / 2**20:.1f} MB may "
                              f"be used; use a smaller model or signal")
    if cache and per_sample * n > CPU_SPLIT_ABOVE:
        chunks = max(chunks, cpu_pieces(model, coords, per_sample))
    return chunks
