"""How the study report and console speak about each notebook: the question it asks (one
sentence), its key figures with what to look at, its headline number, and a human label and
unit for every metric key.

Metric keys are patterns (regular expressions, first match wins); a key no pattern knows is
turned into words through VOCABULARY, with its unit guessed from those words, so a metric a
notebook adds tomorrow still reads as English in index.html.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NotebookSpec:
    question: str  # one sentence, ends with '?'
    figures: tuple = ()  # (figure name glob, caption saying what to look at), in reading order
    headline: tuple = ()  # metric key globs; the first present one is the notebook's headline
    notes: dict = field(default_factory=dict)


NOTEBOOKS: dict[str, NotebookSpec] = {
    "00_explore": NotebookSpec(
        "How fast does a coordinate network learn an image, and which details does it get last?",
        (("live_view", "The live view after Train: loss and PSNR over steps beside the reconstruction; "
                       "where the PSNR curve flattens the model has stopped gaining detail."),),
        ("psnr",)),
    "01_spectral_bias": NotebookSpec(
        "Which frequencies does a coordinate network learn first, and how much do positional encoding, "
        "Fourier features, sine activations and multiple heads help with the high ones?",
        (("psnr_vs_octave", "Fit PSNR against the target's Perlin octave (finer detail to the right): a line "
                            "that falls steeply is a family that cannot fit high frequencies in this many steps."),
         ("mh_heads_octave_heatmap", "Multi-head ReLU PSNR per number of heads (rows) and octave (columns): "
                                     "read down a column to see what more heads buy at that frequency."),
         ("residual_spectrum_*", "Residual energy per frequency band as training goes on: bands that stay "
                                 "bright are the frequencies the network has not learnt yet (spectral bias).")),
        ("psnr_mh_most_heads_oct_max", "psnr_*_oct*")),
    "02_generalization": NotebookSpec(
        "Does a multi-head ReLU network still predict pixels it never saw, and at equal parameters how does "
        "it compare with SIREN and Fourier features in PSNR and FLOPs?",
        (("psnr_vs_heads", "Train and test PSNR against the number of heads: where the test line falls away "
                           "from the train line, more heads memorise pixels instead of generalising."),
         ("reconstructions", "Each model rendered at the test resolution after training at the smaller one, "
                             "at equal parameters: look for blocky cell edges or ringing.")),
        ("a*_test_psnr_mh",)),
    "03_ensemble_search": NotebookSpec(
        "Does an ensemble of small per-cell networks (ENRP) beat one large SIREN at a fraction of the "
        "FLOPs, and which member shape does the FLOP-budget search choose?",
        (("fig4_psnr_vs_step", "PSNR during training for each Table I row (cf. the paper's Fig. 4): the ENRP "
                               "lines should reach the SIREN line at far fewer FLOPs per pixel."),
         ("fig3_search", "The member-shape search under the FLOP budget (cf. Fig. 3): each point one "
                         "candidate depth and width, with the PSNR it reached."),
         ("fig6_relu_ff", "ReLU and Fourier-feature members inside the ensemble (cf. Fig. 6): compare "
                          "their PSNR with the SIREN members'.")),
        ("psnr_enrp_s1", "psnr_enrp_*")),
    "04_loe_activations": NotebookSpec(
        "In Levels-of-Experts, does a sine activation fit and generalise better than LeakyReLU, and "
        "better than plain SIREN and ReLU baselines?",
        (("psnr_vs_step_all", "Fit PSNR against iterations for every run (cf. the paper's Fig. 2): the "
                              "sine LoE curves should lie above the LeakyReLU ones."),
         ("heldout_psnr_vs_step", "Held-out PSNR against iterations: a curve that rises and then falls "
                                  "is a model starting to overfit the training pixels."),
         ("reconstructions", "Reconstructions on the full grid (first seed): tile seams or noise show "
                             "where a model fails.")),
        ("peak_psnr_loe_sine*", "peak_psnr_*")),
    "05_factorization_landscape": NotebookSpec(
        "Does random weight factorization (RWF) speed up training and raise PSNR over the plain "
        "parameterisation, and does it recover from a badly scaled initialisation?",
        (("psnr_fit_*", "Fit PSNR per family with and without RWF (band: min to max over seeds): the "
                        "paper's claim is the RWF band above the plain one."),
         ("geometry", "Steps each parameterisation needs on the toy problem of the loss landscape: "
                      "fewer is faster."),
         ("recovery_*", "Training from a badly scaled initialisation: RWF lines that climb back to the "
                        "well-scaled PSNR have recovered.")),
        ("rwf_fit_gain_mean",)),
    "06_equal_parameters": NotebookSpec(
        "At matched parameter budgets, which families fit and generalise best, and do the grids lead "
        "at the large budgets as the INR benchmark finds?",
        (("psnr_vs_params", "Held-out PSNR against parameters per family (log x, mean over seeds): the "
                            "benchmark's finding is the grid and hash grid lines on top at the right."),),
        ("eq_top_heldout_psnr",)),
}

# Whole words and abbreviations of the metric keys, as a reader says them.
VOCABULARY = {
    "psnr": "PSNR", "mh": "multi-head", "ff": "Fourier features", "siren": "SIREN", "relu": "ReLU",
    "pe": "positional encoding", "enrp": "ENRP", "loe": "LoE", "rwf": "RWF", "lrctl": "lr × e^μ",
    "heldout": "held-out", "oct": "octave", "flops": "FLOPs", "params": "parameters", "lr": "learning rate",
    "db": "dB", "max": "highest", "min": "lowest", "mean": "mean", "1head": "1 head", "fig6": "Fig. 6",
    "w0": "ω₀", "leaky": "leaky", "leakyrelu": "LeakyReLU", "sine": "sine", "nb": "notebook",
    "ssim": "SSIM", "hashgrid": "hash grid", "finer": "FINER",
}
COMPOUNDS = {"relu_pe": "ReLU+PE", "leaky_relu": "LeakyReLU"}  # several tokens, one name
_VARIANT = {None: "", "": "", "_rwf": " + RWF", "_lrctl": " (lr × e^μ)"}

# (pattern, label template with the pattern's groups, unit). Group values are put into words
# through VOCABULARY; `{G}` (upper case) keeps the value upper-cased (table rows S0..S4).
LABELS: list[tuple[str, str, str]] = [
    (r"psnr", "fit PSNR", "dB"),
    (r"seconds", "training time", "s"),
    (r"params", "parameters", ""),
    (r"eq_top_heldout_psnr", "best held-out PSNR at the largest budget", "dB"),
    (r"eq_top_family", "family with the best held-out PSNR at the largest budget", ""),
    (r"model", "model", ""),
    (r"psnr_by_octave", "fit PSNR per family and Perlin octave", "dB"),
    (r"mh_psnr_by_octave", "multi-head ReLU PSNR per number of heads and octave", "dB"),
    (r"psnr_mh_1head_oct_max", "multi-head ReLU PSNR with 1 head, highest octave", "dB"),
    (r"psnr_mh_most_heads_oct_max", "multi-head ReLU PSNR with the most heads, highest octave", "dB"),
    (r"psnr_(?P<fam>[a-z_]+?)_oct(?P<oct>\d+)", "{fam} PSNR at octave {oct}", "dB"),
    (r"ssim_by_octave", "fit SSIM per family and Perlin octave", ""),
    (r"mh_ssim_by_octave", "multi-head ReLU SSIM per number of heads and octave", ""),
    (r"ssim_(?P<fam>[a-z_]+?)_oct(?P<oct>\d+)", "{fam} SSIM at octave {oct}", ""),
    (r"fit_band_edge", "highest frequency band fitted", ""),
    (r"a(?P<a>\d+)_(?P<split>test|train)_psnr_(?P<m>\w+)", "{split} PSNR, {m}, alpha {a}", "dB"),
    (r"a(?P<a>\d+)_params_budget", "parameter budget, alpha {a}", "parameters"),
    (r"a(?P<a>\d+)_flop_ratio_(?P<m>\w+)", "FLOPs of {m} per multi-head FLOP, alpha {a}", "×"),
    (r"paper_a(?P<a>\d+)_ratio_(?P<m>\w+)", "paper's configuration: FLOPs of {m} per multi-head FLOP, alpha {a}", "×"),
    (r"search_M(?P<M>\d+)_(?P<what>depth|width)", "searched member {what}, {M}×{M} grid", ""),
    (r"search_M(?P<M>\d+)_psnr_enrp", "ENRP PSNR of the searched member, {M}×{M} grid", "dB"),
    (r"psnr_enrp_(?P<R>siren|s\d+)", "ENRP PSNR, Table I row {R}", "dB"),
    (r"psnr_heldout_(?P<R>siren|s\d+)", "held-out PSNR, Table I row {R}", "dB"),
    (r"psnr_(?P<R>siren|s\d+)", "PSNR, Table I row {R}", "dB"),
    (r"params_(?P<R>siren|s\d+)", "parameters, Table I row {R}", ""),
    (r"flops_enrp_(?P<R>siren|s\d+)", "ENRP FLOPs per pixel, Table I row {R}", "FLOPs"),
    (r"fig6_psnr_(?P<k>\w+)", "Fig. 6 PSNR, {k}", "dB"),
    (r"audio_psnr_(?P<k>\w+)", "audio PSNR, {k}", "dB"),
    (r"peak_psnr_(?P<k>\w+)", "peak fit PSNR, {k}", "dB"),
    (r"heldout_psnr_(?P<k>\w+)", "held-out PSNR, {k}", "dB"),
    (r"mean_psnr", "PSNR of predicting the mean colour (the floor)", "dB"),
    (r"psnr_heldout_(?P<img>[a-z0-9]+)_(?P<fam>[a-z]+?)(?P<v>_rwf|_lrctl)?", "held-out PSNR, {img}, {fam}{v}", "dB"),
    (r"psnr_(?P<img>[a-z0-9]+)_(?P<fam>[a-z]+?)(?P<v>_rwf|_lrctl)?", "fit PSNR, {img}, {fam}{v}", "dB"),
    (r"recovery_psnr_(?P<fam>[a-z]+?)_x(?P<s>[0-9.e+-]+?)(?P<v>_rwf|_lrctl)?",
     "PSNR after a ×{s} initialisation, {fam}{v}", "dB"),
    (r"rwf_fit_gain_mean", "mean fit PSNR gain from RWF", "dB"),
    (r"rwf_heldout_gain_mean", "mean held-out PSNR gain from RWF", "dB"),
    (r"self_adaptive_formula_error_smallest_lr", "self-adaptive rate: formula error at the smallest learning rate", ""),
    (r"rate_multiplier_(?P<which>min|max)", "RWF rate multiplier, {which}", "×"),
    (r"rate_multiplier_max_rel_error", "RWF rate multiplier: largest relative error of the formula", ""),
]
_COMPILED = [(re.compile(p + r"\Z"), t, u) for p, t, u in LABELS]


def words(key: str) -> str:
    """A metric key (or part of one) as words: 'psnr_relu_pe' -> 'PSNR ReLU positional encoding'."""
    out = []
    key = str(key)
    for compound, said in COMPOUNDS.items():
        key = re.sub(rf"(^|_){compound}(?=_|$)", rf"\1{said}", key)
    for tok in re.split(r"[_\s]+", key):
        if not tok:
            continue
        low = tok.lower()
        if low in VOCABULARY:
            out.append(VOCABULARY[low])
        elif re.fullmatch(r"s\d+", low):
            out.append(tok.upper())
        elif m := re.fullmatch(r"([a-z]+)(\d+)", low):  # oct16 -> octave 16, a64 -> alpha 64
            head = {"a": "alpha", "oct": "octave", "m": "grid", "x": "×"}.get(m[1], VOCABULARY.get(m[1], m[1]))
            out.append(f"{head} {m[2]}" if head != "×" else f"×{m[2]}")
        else:
            out.append(tok)
    return " ".join(out)


def _guess_unit(key: str) -> str:
    toks = set(re.split(r"[_\s]+", str(key).lower()))
    if toks & {"psnr", "db"}:
        return "dB"
    if toks & {"seconds", "secs"}:
        return "s"
    if "flops" in toks:
        return "FLOPs"
    if "ratio" in toks or "multiplier" in toks:
        return "×"
    return ""


def label(key: str) -> tuple[str, str]:
    """(human label, unit) of a metric key."""
    for rx, template, unit in _COMPILED:
        m = rx.match(key)
        if m:
            groups = {}
            for g, v in m.groupdict().items():
                if g == "v":
                    groups[g] = _VARIANT.get(v, v)
                elif g.isupper():
                    groups[g] = (v or "").upper()
                else:
                    groups[g] = words(v or "")
            return template.format(**groups), unit
    return words(key), _guess_unit(key)


def headline(stem: str, metrics: dict) -> tuple[str, object, str] | None:
    """(label, value, unit) of the notebook's headline number, or None when it has none yet."""
    spec = NOTEBOOKS.get(stem)
    for pattern in (spec.headline if spec else ()):
        for key in sorted(metrics or {}):
            value = metrics[key]
            if fnmatch.fnmatchcase(key, pattern) and _is_number(value):
                lab, unit = label(key)
                return lab, value, unit
    return None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt(value, unit: str = "") -> str:
    """A value as a reader wants it: dB to 2 decimals, large counts grouped, FLOPs in k/M/G."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        if len(value) <= 12 and all(not isinstance(v, (list, tuple, dict)) for v in value):
            return ", ".join(fmt(v) for v in value)
        return f"{len(value)} values"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (int, float)):
        if unit == "dB":
            return f"{value:.2f}"
        if unit == "s":
            return f"{value:.1f}"
        if unit == "FLOPs" or (isinstance(value, int) and abs(value) >= 10 ** 6):
            for scale, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
                if abs(value) >= scale:
                    return f"{value / scale:.3g}{suffix}"
        if isinstance(value, int):
            return f"{value:,}".replace(",", "\u2009")
        if unit == "×":
            return f"{value:,.0f}".replace(",", "\u2009") if abs(value) >= 1000 else f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def with_unit(value, unit: str) -> str:
    text = fmt(value, unit)
    if not unit or text == "—" or not _is_number(value):
        return text
    return f"{text}×" if unit == "×" else f"{text} {unit}"


def key_figures(stem: str, names: list[str]) -> list[tuple[str, str]]:
    """[(figure name, caption)] of the notebook's key figures present in `names`, in spec order;
    a notebook without a spec shows its first two figures, uncaptioned."""
    spec = NOTEBOOKS.get(stem)
    if spec is None:
        return [(n, "") for n in names[:2]]
    chosen = []
    for pattern, caption in spec.figures:
        hit = next((n for n in names if fnmatch.fnmatchcase(n, pattern) and n not in dict(chosen)), None)
        if hit:
            chosen.append((hit, caption))
    return chosen


def question(stem: str) -> str:
    spec = NOTEBOOKS.get(stem)
    return spec.question if spec else ""
