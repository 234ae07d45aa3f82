"""Notebook 05: random weight factorization (RWF) on image regression and from a poor initialization."""

from __future__ import annotations

from ..claims import NotRun, Outcome, claim, difference, need
from ._common import RWF

RWF_PROTOCOL = {"size": 512, "width": 256, "depth": 2, "steps": 2000, "lr": 0.001, "ff_features": 256,
                "ff_sigma": 10.0, "rwf_mu": 1.0, "rwf_sigma": 0.1}


def _gain(m, a, b, key="psnr_heldout"):
    """rwf_runs: {'<image>/<family>/<variant>': {psnr: [...], psnr_heldout: [...]}} over seeds,
    variants 'plain', 'rwf', 'lrctl'. The paired gain of variant a over b, pooled over images and
    families (pairs share the seed)."""
    runs = need(m, "rwf_runs")
    pairs = []
    for k, v in runs.items():
        image_family, _, var = k.rpartition("/")
        if var == a and f"{image_family}/{b}" in runs:
            pairs += list(zip(need(v, key), need(runs[f"{image_family}/{b}"], key)))
    if not pairs:
        raise NotRun(f"the run has no paired '{a}' and '{b}' runs")
    return [x for x, _ in pairs], [y for _, y in pairs]


def _rwf_verdict(a, b, what):
    d, why = difference(a, b)
    shown = {f"gain ({what})": f"{d.mean:+.2f} ± {d.sd:.2f} dB (n={d.n})"}
    # noise and seed count first: a small gap of either sign with < 3 seeds cannot carry a verdict
    if why:
        return Outcome("not reproduced" if why.startswith("within") else "not run", shown, why)
    if d.mean <= 0:
        return Outcome("not reproduced", shown, f"RWF was {-d.mean:.2f} dB below")
    return Outcome("ordering reproduced", shown, "RWF above (the paper gives no numbers in the text we have)")


def _gain_check(base, what):
    """The check of 'RWF beats variant `base`' on held-out PSNR (rwf_runs)."""
    def check(m):
        a, b = _gain(m, "rwf", base)
        return _rwf_verdict(a, b, what)
    return check


# (id, the variant RWF is compared with, what the gain is, claim text)
_GAIN_CLAIMS = [
    ("rwf-image", "plain", "held-out, RWF - plain",
     dict(where="abstract, image regression", convention="FF paper: held-out PSNR on the odd pixels, Adam at one lr",
          statement="RWF improves image regression over the same network at the same learning rate.",
          paper_values={"gain": "positive (words only)"})),
    ("rwf-image-lr-control", "lrctl", "held-out, RWF - plain at lr x e^mu",
     dict(where="abstract (our control)", convention="FF paper: held-out PSNR; the plain network at lr x e^mu",
          statement="RWF's gain is more than a larger step: it beats the plain network trained at lr x e^mu.",
          paper_values={"gain": "not tested in the paper"})),
]
for _id, _base, _what, _text in _GAIN_CLAIMS:
    claim(_id, paper=RWF, notebook="05_factorization_landscape", protocol=RWF_PROTOCOL, **_text)(
        _gain_check(_base, _what))


@claim("rwf-recovery", paper=RWF, where="abstract, sec. 2", notebook="05_factorization_landscape",
       convention="ours: fit PSNR after the last step",
       statement="From a poor (scaled-down) initialization, the network with RWF reaches a higher fit PSNR than the plain one.",
       paper_values={"recovery": "quick (words only)"}, protocol=RWF_PROTOCOL)
def _rwf_recovery(m):
    """recovery_runs: {'<family>/x<scale>/<variant>': [fit PSNR per seed]}."""
    runs = need(m, "recovery_runs")
    a, b = [], []
    for k, v in runs.items():
        head, _, var = k.rpartition("/")
        if var == "rwf" and f"{head}/plain" in runs:
            xs, ys = list(v), list(runs[f"{head}/plain"])
            a += xs[:len(ys)]
            b += ys[:len(xs)]
    if not a:
        raise NotRun("the run has no paired recovery runs")
    return _rwf_verdict(a, b, "fit, RWF - plain, scaled init")
