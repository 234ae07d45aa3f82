"""Names shared by the claim modules."""

from __future__ import annotations

MH = "Multi-head ReLU (Aftab et al.)"
ENRP = "ENRP (Kadarvish et al.)"
LOE = "LoE + sine (Atikuzzaman & Bae)"
RWF = "RWF (Wang et al.)"


def by_number(d: dict) -> dict:
    """{'64': v, '4': w} -> {4: w, 64: v} with numeric keys in order."""
    return dict(sorted((float(k), v) for k, v in d.items()))
