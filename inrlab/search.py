"""Architecture search for ensemble members under a FLOP budget: Algorithm 1 of Kadarvish et
al., "Ensemble Neural Representation Networks" (ENRP, 2022). Their public code has no search;
this is written from the paper's text.

For a grid of M cells, start at depth d = 3, width w = 256 (SIREN's), then alternately

    w <- argmax_w'  20 log10(1 / L(d, w')) - alpha log10(FLOPs(d, w'))  s.t. FLOPs <= F_max
    d <- argmax_d'  20 log10(1 / L(d', w)) - alpha log10(FLOPs(d', w))  s.t. FLOPs <= F_max

until neither changes or after iter_max rounds. Paper settings (sec. V): alpha = 7,
F_max = 1 GFLOP, iter_max = 5, depths {1..5}, widths {16, 32, 64, ...}, 5 repeats of 500 steps.

Choices the paper leaves open, made here:
* L is the root-mean-square error on data mapped to [-1, 1], so 20 log10(1/L) is the paper's
  own PSNR (`metrics.psnr_enrp`: 6.02 dB below the standard [0, 1] PSNR; the offset does not
  change any argmax). Over repeats, L is the geometric mean of the repeats' RMSEs, i.e. the
  first term is the mean of the repeats' PSNRs.
* FLOPs are the paper's convention (ptflops: linear layers' matmuls only, forward, whole
  signal), `Ensemble.flops_enrp`, for the objective and the constraint alike; with it their
  Table I numbers come out exactly. Candidates over F_max are recorded but not trained.
* Ties keep the current value, then prefer fewer FLOPs. A (d, w) already trained is not trained
  again (`reuse=True`). Without convergence the last pair chosen is returned (the paper's
  listing returns d_{iter_max}, one round earlier, which we read as a typo).
* The candidates of one line (all widths at the current depth, or all depths at the current
  width) are independent, so they train as one batch (`evaluate_many`): `search_ensemble`
  sends each batch to the sweep engine (`inrlab.sweep.run_trials`, local or Ray), one trial a
  candidate, its repeats as stacked copies of the ensemble inside that trial.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from .errors import InrlabError

PAPER = {"alpha": 7.0, "f_max": 1e9, "iter_max": 5, "depths": (1, 2, 3, 4, 5),
         "widths": (16, 32, 64, 128, 256, 512), "start": (3, 256), "repeats": 5, "steps": 500}


@dataclass
class Candidate:
    """One (depth, width) the search looked at, in one step of one iteration."""

    iteration: int
    step: str                   # "width" or "depth": which line of Algorithm 1
    depth: int
    width: int
    flops: float
    feasible: bool
    psnr: float | None = None   # mean PSNR over repeats, paper convention (20 log10(1/L))
    psnr_runs: list[float] = field(default_factory=list)
    params: int | None = None
    objective: float | None = None
    chosen: bool = False
    reused: bool = False        # result taken from an earlier evaluation of the same (d, w)


@dataclass
class SearchResult:
    depth: int
    width: int
    converged: bool
    iterations: int
    path: list[Candidate]
    trajectory: list[tuple[int, int]]       # (d_i, w_i): the start, then after each iteration
    settings: dict

    def chosen(self) -> list[Candidate]:
        """The candidate chosen at each step, in order."""
        return [c for c in self.path if c.chosen]

    def iteration_psnr(self) -> list[float]:
        """PSNR of the pair held after each iteration (the curve of the paper's Fig. 3)."""
        return [c.psnr for c in self.path if c.chosen and c.step == "depth"]

    @property
    def psnr(self) -> float | None:
        hits = self.iteration_psnr()
        return hits[-1] if hits else None

    def to_dict(self) -> dict:
        return {"depth": self.depth, "width": self.width, "converged": self.converged,
                "iterations": self.iterations, "trajectory": [list(t) for t in self.trajectory],
                "settings": self.settings, "path": [asdict(c) for c in self.path]}


def objective(psnr: float, flops: float, alpha: float) -> float:
    """20 log10(1/L) - alpha log10(FLOPs), with 20 log10(1/L) given as a PSNR in dB."""
    return psnr - alpha * math.log10(flops)


def _runs(got, who: str) -> list[float]:
    """One candidate's PSNRs as a list of finite floats, or a one-line error naming `who`."""
    runs = [float(v) for v in (got if isinstance(got, (list, tuple)) else [got])]
    if not runs or not all(math.isfinite(v) for v in runs):
        raise InrlabError(f"{who} returned {got!r}; expected finite PSNRs")
    return runs


def search(evaluate: Callable[[int, int], float | Sequence[float]] | None,
           flops: Callable[[int, int], float], *,
           evaluate_many: Callable[[list[tuple[int, int]]], Sequence] | None = None,
           params: Callable[[int, int], int] | None = None,
           alpha: float = 7.0, f_max: float = 1e9, iter_max: int = 5,
           depths: Sequence[int] = (1, 2, 3, 4, 5),
           widths: Sequence[int] = (16, 32, 64, 128, 256, 512),
           start: tuple[int, int] = (3, 256), reuse: bool = True,
           progress: Callable[[Candidate], object] | None = None) -> SearchResult:
    """Algorithm 1. evaluate(depth, width): PSNR in dB (paper convention, 20 log10(1/RMSE))
    of one short training, or a list of them (repeats; averaged). evaluate_many(pairs): the
    same for a list of (depth, width) at once, one result per pair in order; when given it is
    used instead of `evaluate`, called once per step of the algorithm (all widths at the
    current depth, or all depths at the current width) with the feasible pairs not trained
    yet (none: not called). flops(depth, width): the FLOP count constrained by f_max. params:
    optional parameter count for the record. progress: called with every candidate once it
    is decided."""
    if evaluate is None and evaluate_many is None:
        raise InrlabError("search needs evaluate(depth, width) or evaluate_many(pairs)")
    if not isinstance(iter_max, int) or iter_max < 1:
        raise InrlabError(f"iter_max must be a positive integer, got {iter_max!r}")
    if not depths or not widths:
        raise InrlabError("the depth and width search sets must not be empty")
    if not (alpha >= 0 and f_max > 0):
        raise InrlabError(f"alpha must be >= 0 and f_max > 0, got alpha={alpha}, f_max={f_max}")
    depths, widths = sorted(set(int(d) for d in depths)), sorted(set(int(w) for w in widths))
    cache: dict[tuple[int, int], tuple[float, list[float]]] = {}
    path: list[Candidate] = []

    def train(pairs: list[tuple[int, int]]) -> list[list[float]]:
        if evaluate_many is None:
            return [_runs(evaluate(d, w), f"evaluate({d}, {w})") for d, w in pairs]
        got = list(evaluate_many(pairs))
        if len(got) != len(pairs):
            raise InrlabError(f"evaluate_many returned {len(got)} results for {len(pairs)} candidates")
        return [_runs(g, f"evaluate_many, for depth {d} width {w},") for (d, w), g in zip(pairs, got)]

    def consider(it: int, step: str, pairs: list[tuple[int, int]]) -> list[Candidate]:
        """The candidates of one step; the feasible ones not trained yet train as one batch."""
        cands = []
        for d, w in pairs:
            f = float(flops(d, w))
            cands.append(Candidate(iteration=it, step=step, depth=d, width=w, flops=f,
                                   feasible=f <= f_max, params=params(d, w) if params else None))
        todo = []
        for c in cands:
            key = (c.depth, c.width)
            if c.feasible and reuse and key in cache:
                c.psnr, c.psnr_runs, c.reused = cache[key][0], list(cache[key][1]), True
            elif c.feasible:
                todo.append(c)
        if todo:
            for c, runs in zip(todo, train([(c.depth, c.width) for c in todo])):
                c.psnr, c.psnr_runs = sum(runs) / len(runs), runs
                cache[(c.depth, c.width)] = (c.psnr, runs)
        for c in cands:
            if c.feasible:
                c.objective = objective(c.psnr, c.flops, alpha)
        path.extend(cands)
        return cands

    def pick(cands: list[Candidate], current: int, key: str) -> Candidate:
        ok = [c for c in cands if c.feasible]
        if not ok:
            d, w = cands[0].depth, cands[0].width
            fixed = f"depth {d}" if key == "width" else f"width {w}"
            raise InrlabError(f"no {key} in the search set fits F_max = {f_max:.4g} FLOPs at {fixed} "
                              f"(smallest candidate needs {min(c.flops for c in cands):.4g})")
        best = max(c.objective for c in ok)
        tied = [c for c in ok if c.objective == best]
        win = next((c for c in tied if getattr(c, key) == current), None) \
            or min(tied, key=lambda c: c.flops)
        win.chosen = True
        return win

    d, w = int(start[0]), int(start[1])
    trajectory = [(d, w)]
    converged = False
    it = 0
    for it in range(1, iter_max + 1):
        cands = consider(it, "width", [(d, ww) for ww in widths])
        new_w = pick(cands, w, "width").width
        if progress:
            for c in cands:
                progress(c)
        cands = consider(it, "depth", [(dd, new_w) for dd in depths])
        new_d = pick(cands, d, "depth").depth
        if progress:
            for c in cands:
                progress(c)
        trajectory.append((new_d, new_w))
        if new_w == w and new_d == d:
            converged = True
            break
        d, w = new_d, new_w
    d, w = trajectory[-1]
    settings = {"alpha": alpha, "f_max": f_max, "iter_max": iter_max, "depths": depths,
                "widths": widths, "start": list(start), "reuse": reuse}
    return SearchResult(depth=d, width=w, converged=converged, iterations=it, path=path,
                        trajectory=trajectory, settings=settings)


def ensemble_evaluator(signal, grid, *, member: str = "siren", steps: int = 500,
                       lr: float = 1e-4, repeats: int = 5, seed: int = 0, device="auto",
                       **member_kw) -> Callable[[int, int], list[float]]:
    """evaluate(depth, width) for `search`: trains `repeats` seeds of the ensemble at once
    (one model with stack=repeats, see models.ensemble.stack_signal) for `steps` full-batch
    Adam steps and returns each copy's PSNR in the paper's convention (fit, on the training
    samples, predictions clipped to the signal's range)."""
    from . import models
    from .models.ensemble import copy_psnr, stack_signal
    from .train import fit

    stacked = stack_signal(signal, repeats)

    def evaluate(depth: int, width: int) -> list[float]:
        model = models.build("ensemble", signal=signal, grid=grid, member=member, depth=depth,
                             width=width, stack=repeats, seed=seed, **member_kw)
        fit(model, stacked, steps=steps, lr=lr, seed=seed, device=device, progress=False,
            eval_every=steps)
        return copy_psnr(model, signal.to(next(model.parameters()).device), "enrp")

    return evaluate


def ensemble_trials(signal, grid, *, member: str = "siren", steps: int = 500, lr: float = 1e-4,
                    repeats: int = 5, seed: int = 0, device="auto", backend: str = "local",
                    jobs: int | None = None, address: str | None = None,
                    **member_kw) -> Callable[[list[tuple[int, int]]], list[list[float]]]:
    """evaluate_many(pairs) for `search`: the pairs of one step as trials of the sweep engine,
    one call of `sweep.run_trials` on `backend`. A trial is model 'ensemble' at (depth, width)
    with stack=repeats and seed `seed`, so its repeats train at once as stacked copies, the
    same fit as `ensemble_evaluator`'s; its row's per-copy PSNRs in the paper's convention
    (`psnr_enrp_copies`, `models.ensemble.copy_psnr`) are the result. jobs: local, None or 1
    trains in this process (a pool would start anew every step), N a pool of N processes;
    ray, the CPUs of the local instance it starts (None: all; `address` joins a cluster).
    A trial that fails raises one line naming its (depth, width)."""
    from . import sweep

    jobs = (jobs or 1) if backend == "local" else jobs

    def evaluate_many(pairs: list[tuple[int, int]]) -> list[list[float]]:
        trials = [{"model": "ensemble", "grid": grid, "member": member, "depth": d, "width": w,
                   "stack": repeats, **member_kw} for d, w in pairs]
        rows = sweep.run_trials(trials, signal=signal, seeds=[seed], steps=steps, lr=lr,
                                backend=backend, jobs=jobs, address=address, device=device,
                                show_progress=False, eval_every=steps)
        for (d, w), r in zip(pairs, rows):
            if r["status"] != "ok":
                raise InrlabError(f"search: the candidate depth {d}, width {w} (grid {grid}, member "
                                  f"{member}) failed to train: {r['error']}")
        return [r["psnr_enrp_copies"] for r in rows]

    return evaluate_many


def ensemble_cost_functions(signal, grid, *, member: str = "siren", **member_kw):
    """(flops, params) callables for `search`: the paper's FLOP convention and the trainable
    parameters of build('ensemble', ...) for `signal`, computed without allocating weights."""
    from .models.ensemble import ensemble_costs

    base = dict(dim_in=signal.dim_in, dim_out=signal.channels, grid=grid, member=member, **member_kw)

    def costs(d, w):
        return ensemble_costs(signal.shape, depth=d, width=w, **base)

    return (lambda d, w: costs(d, w)["flops_enrp"]), (lambda d, w: costs(d, w)["params"])


def search_ensemble(signal, grid, *, member: str = "siren", steps: int = 500, lr: float = 1e-4,
                    repeats: int = 5, seed: int = 0, device="auto", alpha: float = 7.0,
                    f_max: float = 1e9, iter_max: int = 5,
                    depths: Sequence[int] = (1, 2, 3, 4, 5),
                    widths: Sequence[int] = (16, 32, 64, 128, 256, 512),
                    start: tuple[int, int] = (3, 256), progress=None, backend: str = "local",
                    jobs: int | None = None, address: str | None = None,
                    **member_kw) -> SearchResult:
    """Algorithm 1 for an ensemble on `signal` with `grid` cells per side (paper defaults).
    The signal should hold data in [-1, 1] to follow the paper's protocol (their L is on
    [-1, 1] data); PSNRs in the result are in the paper's convention either way. Each step's
    candidates train as one batch of sweep trials (`ensemble_trials`) on `backend`: 'local'
    (this process by default; `jobs` > 1 a process pool) or 'ray' (`address`: a cluster,
    'auto' the running one; none: RAY_ADDRESS, else a local instance)."""
    from .sweep.engine import check_backend

    check_backend(backend, jobs, address, who="search_ensemble")
    flops, params = ensemble_cost_functions(signal, grid, member=member, **member_kw)
    evaluate_many = ensemble_trials(signal, grid, member=member, steps=steps, lr=lr, repeats=repeats,
                                    seed=seed, device=device, backend=backend, jobs=jobs,
                                    address=address, **member_kw)
    result = search(None, flops, evaluate_many=evaluate_many, params=params, alpha=alpha,
                    f_max=f_max, iter_max=iter_max, depths=depths, widths=widths, start=start,
                    progress=progress)
    result.settings.update({"grid": grid, "member": member, "steps": steps, "lr": lr,
                            "repeats": repeats, "seed": seed, "flops": "enrp (linear matmuls)",
                            "loss": "RMSE on [-1, 1] data; geometric mean over repeats",
                            "backend": backend, **member_kw})
    return result
