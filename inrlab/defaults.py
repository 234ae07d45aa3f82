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
(`best_lr`). SWEEP holds that run's results (fit PSNR per image and lr); tests/test_defaults.py
checks that every family declares the lr SWEEP names. Betas and eps are the paper's where it
states them (Instant-NGP: (0.9, 0.99), 1e-15), torch's otherwise; the sweep varies only lr.

Reading it: at 64 px most default-size networks (about 2e5 parameters for 3e3-4e3 pixels) can
store the image, and past about 60 dB a fit has stored it, so the sweep picks the largest lr
that still converges within 200 steps (capping every PSNR at 60 dB picks the same lrs). The
picks: grid 3e-2, hashgrid 1e-2 (the Instant-NGP paper's), relu 3e-3, multihead 3e-3, loe 3e-3,
siren 1e-3, relu_pe 1e-3, ff 1e-3 (Tancik et al.'s), wire 1e-3, ensemble 1e-3, gauss 3e-4,
finer 3e-4 (the FINER script's 5e-4 lies between). At larger images and longer runs a lower
lr can win (the SIREN paper trains 512^2 for 10k steps at 1e-4); pass lr= for those. The
ensemble's lr is its default (SIREN members); other members take the same default. Rerun with
`python -m inrlab.defaults [family ...]` (about 90 minutes on 2 busy cores) and paste its
per-image output here.
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

# python -m inrlab.defaults, 2026-12-02, the project's 2-core CPU (shared with other runs; the
# PSNRs do not depend on it): {family: {lr: final fit PSNR in dB on (rocket,
# immunohistochemistry, coins)}}. best_lr(mean_psnr(SWEEP)) is what each family declares.
SWEEP: dict[str, dict[float, tuple[float, ...]]] = {
    "grid": {1e-4: (11.51, 3.90, 7.90), 3e-4: (12.65, 4.42, 8.67), 1e-3: (16.78, 6.34, 11.45),
             3e-3: (28.60, 12.78, 20.62), 1e-2: (77.74, 55.49, 85.02), 3e-2: (104.93, 96.92, 101.09)},
    "hashgrid": {1e-4: (20.98, 8.93, 19.79), 3e-4: (37.99, 29.77, 41.76), 1e-3: (53.07, 42.20, 54.79),
                 3e-3: (59.57, 45.63, 62.29), 1e-2: (60.58, 48.75, 64.32), 3e-2: (50.51, 50.23, 63.92)},
    "siren": {1e-4: (47.10, 34.70, 45.33), 3e-4: (58.55, 45.13, 65.35), 1e-3: (74.34, 53.21, 71.86),
              3e-3: (18.81, 14.15, 14.48), 1e-2: (18.96, 14.69, 14.84), 3e-2: (18.71, 14.63, 14.75)},
    "relu": {1e-4: (24.15, 16.81, 15.53), 3e-4: (25.72, 19.38, 16.17), 1e-3: (27.07, 21.07, 17.87),
             3e-3: (28.42, 22.95, 18.88), 1e-2: (26.80, 22.32, 16.07), 3e-2: (24.69, 19.48, 15.56)},
    "relu_pe": {1e-4: (27.30, 19.82, 22.97), 3e-4: (33.48, 25.05, 34.82), 1e-3: (39.91, 29.32, 46.19),
                3e-3: (35.51, 29.93, 32.12), 1e-2: (30.89, 22.94, 22.33), 3e-2: (19.06, 14.70, 7.53)},
    "ff": {1e-4: (28.20, 19.51, 42.40), 3e-4: (56.66, 33.34, 101.26), 1e-3: (100.83, 61.98, 98.48),
           3e-3: (47.91, 50.96, 53.93), 1e-2: (31.31, 34.42, 48.60), 3e-2: (13.96, 14.70, 8.14)},
    "gauss": {1e-4: (92.18, 42.71, 103.60), 3e-4: (105.20, 77.91, 106.73), 1e-3: (39.73, 90.84, 45.85),
              3e-3: (106.33, 36.22, 106.28), 1e-2: (44.78, 38.70, 48.44), 3e-2: (19.08, 25.66, 15.05)},
    "finer": {1e-4: (51.10, 46.74, 85.79), 3e-4: (61.05, 70.98, 110.01), 1e-3: (42.41, 35.49, 38.76),
              3e-3: (18.74, 14.17, 14.46), 1e-2: (18.92, 14.67, 14.79), 3e-2: (18.70, 14.54, 14.75)},
    "wire": {1e-4: (31.45, 18.42, 30.92), 3e-4: (38.98, 34.32, 41.84), 1e-3: (50.61, 49.31, 62.65),
             3e-3: (50.67, 43.94, 48.79), 1e-2: (26.46, 36.40, 39.80), 3e-2: (19.05, 14.73, 14.89)},
    "multihead": {1e-4: (20.49, 11.33, 18.64), 3e-4: (26.38, 19.67, 21.55), 1e-3: (28.10, 21.98, 27.71),
                  3e-3: (29.84, 23.39, 30.13), 1e-2: (29.13, 23.66, 28.43), 3e-2: (24.76, 20.95, 22.56)},
    "ensemble": {1e-4: (40.33, 31.80, 37.88), 3e-4: (54.30, 40.34, 57.67), 1e-3: (87.66, 52.92, 110.57),
                 3e-3: (42.44, 36.22, 44.21), 1e-2: (48.76, 44.36, 59.61), 3e-2: (21.05, 21.22, 14.95)},
    "loe": {1e-4: (23.17, 18.11, 16.72), 3e-4: (25.34, 19.51, 19.08), 1e-3: (26.44, 22.34, 20.59),
            3e-3: (30.92, 26.36, 23.89), 1e-2: (29.77, 27.35, 23.80), 3e-2: (25.73, 20.60, 20.96)},
}


def adam_settings(model) -> dict:
    """{'lr', 'betas', 'eps'} the model trains with when fit() is given none of them; `model` may
    also be a registered family's name."""
    if isinstance(model, str):
        from .models.registry import _constructor

        model = _constructor(model)
    own = getattr(model, "adam", None) or {}
    return {"lr": float(own.get("lr", DEFAULT_LR)), "betas": tuple(own.get("betas", TORCH_BETAS)),
            "eps": float(own.get("eps", TORCH_EPS))}


def describe(name: str) -> str:
    """The Adam defaults of registered family `name`, as `models` lists them."""
    s = adam_settings(name)
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
