"""Build settings that give a family a parameter budget (the equal-parameter study, notebook 06).

`match_budget(family, budget, **fixed)` returns the keyword arguments for models.build that put
`family` as close to `budget` trainable parameters as its size knob allows without exceeding it:

- families with a `width` (MLPs, multi-head, ensemble, LoE, WIRE, Gauss, FINER): the largest width
  (inrlab.flops.match_width) at the other settings given (multi-head: where that width is below its
  default alpha, the widest body with dense heads, alpha = width);
- `grid`: the largest value grid R x R (R for 1-D) within the budget;
- `hashgrid`: the largest power-of-two table (2^T rows per level) within the budget, then the
  widest MLP that still fits (at a small signal the dense levels stop growing before the table
  does, so the MLP takes the rest).

Counts come from inrlab.flops.count_model_params (nothing is allocated). Keys in `fixed` are
passed through and counted (dim_in, dim_out, resolution, factorize, ...).
"""

from __future__ import annotations

from .errors import InrlabError
from .flops import count_model_params, largest_within, match_width

MAX_SEARCH = 1 << 24


def match_budget(family: str, budget: float, signal=None, **fixed) -> dict:
    """Build kwargs (`fixed` plus the size knob) putting `family` at most at `budget` parameters.
    `signal` fills dim_in / dim_out (and `resolution` where the family takes one) unless given,
    as models.build does."""
    from .models.registry import parameters

    own = parameters(family)
    if signal is not None:
        fixed.setdefault("dim_in", signal.dim_in)
        fixed.setdefault("dim_out", signal.channels)
        if "resolution" in own:
            fixed.setdefault("resolution", tuple(signal.shape))

    if not budget or budget <= 0:
        raise InrlabError(f"budget must be a positive number of parameters, got {budget!r}")
    budget = int(budget)
    if family == "grid":
        dim_in = fixed.get("dim_in", 2)
        r = largest_within(lambda k: count_model_params("grid", **{**fixed, "resolution": k}), 2,
                     MAX_SEARCH if dim_in == 1 else 1 << 14, budget)
        if r is None:
            raise InrlabError(f"grid: even a 2-sample grid has more than {budget:,} parameters")
        return {**fixed, "resolution": r}
    if family == "hashgrid":
        def count_t(t):
            return count_model_params("hashgrid", **{**fixed, "table_size": 1 << t})
        if "width" not in fixed and count_t(1) > budget:   # the default MLP alone is over: narrow it first
            w = largest_within(lambda k: count_model_params("hashgrid", **{**fixed, "table_size": 2, "width": k}),
                         1, 4096, budget)
            if w is not None:
                fixed = {**fixed, "width": max(1, w // 2)}   # half of it left for the table
        t = largest_within(count_t, 1, 24, budget)
        if t is None:
            raise InrlabError(f"hashgrid: the smallest table already has more than {budget:,} "
                              f"parameters at {fixed}")
        while t > 1 and count_t(t - 1) == count_t(t):   # every level dense: no larger table helps
            t -= 1
        out = {**fixed, "table_size": 1 << t}
        w = largest_within(lambda k: count_model_params("hashgrid", **{**out, "width": k}), 1, 4096, budget)
        if w is not None:
            out["width"] = w
        return out
    if "width" not in own:
        raise InrlabError(f"model '{family}' has no width or known size knob to match a budget")
    if family != "multihead":
        try:
            return {**fixed, "width": match_width(family, budget, **fixed)}
        except ValueError as e:
            raise InrlabError(f"{family}: {e}") from None
    # multi-head heads read alpha body units, so the body is at least alpha wide: the widest
    # body with the given (else the default) alpha; below the default, dense heads (alpha = width)
    alpha = fixed.get("alpha", own["alpha"].default)
    def count(k, **more):
        return count_model_params(family, **{**fixed, "width": k, **more})
    if count(alpha) <= budget:
        hi = 2 * alpha
        while count(hi) <= budget and hi < MAX_SEARCH:
            hi *= 2
        return {**fixed, "width": largest_within(count, alpha, hi, budget)}
    if "alpha" in fixed:
        raise InrlabError(f"multihead: more than {budget:,} parameters even at width alpha = {alpha}")
    w = largest_within(lambda k: count(k, alpha=k), 1, alpha, budget)
    if w is None:
        raise InrlabError(f"{family}: more than {budget:,} parameters even at width 1, alpha 1")
    return {**fixed, "width": w, "alpha": w}
