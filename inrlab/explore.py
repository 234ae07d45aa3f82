"""The spectral-bias explorer: pick a model and a target with widgets, press Train, watch it fit.

    ex = Explorer(family="relu", steps=200)
    ex.train()        # one run with the current settings (what papermill/nbval execute)
    ex.show()         # the controls, the live view and the table of runs so far

Nothing retrains when a slider moves; only the Train button (or `train()`) starts a fit. Picking a
family moves the lr slider to that family's default (`default_lr`).
Settings a family does not take (grid for a SIREN, say) are left out for that family, and the
table says which were used.
"""

from __future__ import annotations

import html

from . import models, signals
from .flops import count_params, forward_flops
from .live import LiveView
from .train import fit

IMAGES = ("camera", "astronaut", "coffee", "moon", "brick", "text")


def family_kwargs(family: str, **values) -> dict:
    """The settings in `values` that model `family` takes (width, depth, grid, alpha, pe_freqs,
    mapping_size, sigma, ...), the rest left out, with alpha capped at the width (a head cannot
    have more body units than the layer). The explorer and the notebooks build models with it."""
    accepted = models.parameters(family)
    kw = {k: v for k, v in values.items() if k in accepted}
    if "alpha" in kw and "width" in kw:
        kw["alpha"] = min(kw["alpha"], kw["width"])
    return kw


def default_lr(family: str) -> float:
    """The learning rate `fit` gives `family` when none is passed (inrlab.defaults)."""
    from .defaults import adam_settings

    return adam_settings(models.registry._constructor(family))["lr"]


class Explorer:
    def __init__(self, family: str = "relu", width: int = 64, depth: int = 2, grid: int = 4,
                 alpha: int = 32, target: str = "perlin", octaves: int = 8, image: str = "camera",
                 size: int = 64, sine_freq: float = 16.0, steps: int = 200, lr: float = 1e-3,
                 seed: int = 0, every: int = 10):
        import ipywidgets as w

        if family not in models.available():
            models.build(family)  # raises the one-line "unknown model" error
        self.runs: list[dict] = []
        self.view: LiveView | None = None
        self.every = every
        self.seed = seed
        style = {"description_width": "90px"}
        lay = w.Layout(width="320px")
        self.w = {
            "family": w.Dropdown(options=models.available(), value=family, description="model", style=style, layout=lay),
            "width": w.IntSlider(value=width, min=8, max=512, step=8, description="width", style=style, layout=lay),
            "depth": w.IntSlider(value=depth, min=0, max=8, description="depth", style=style, layout=lay),
            "grid": w.IntSlider(value=grid, min=1, max=64, description="grid (cells/side)", style=style, layout=lay),
            "alpha": w.IntSlider(value=alpha, min=1, max=512, description="alpha (heads)", style=style, layout=lay),
            "target": w.ToggleButtons(options=["perlin", "image", "sines"], value=target, description="target", style=style),
            "octaves": w.IntSlider(value=octaves, min=1, max=64, description="Perlin octave", style=style, layout=lay),
            "image": w.Dropdown(options=IMAGES, value=image, description="image", style=style, layout=lay),
            "size": w.IntSlider(value=size, min=16, max=256, step=16, description="size (px)", style=style, layout=lay),
            "sine_freq": w.FloatLogSlider(value=sine_freq, base=2, min=0, max=8, description="sine max freq", style=style, layout=lay),
            "steps": w.IntSlider(value=steps, min=10, max=3000, step=10, description="steps", style=style, layout=lay),
            "lr": w.FloatLogSlider(value=lr, base=10, min=-5, max=-1, description="lr", style=style, layout=lay),
        }
        # a new family starts at its own default lr (inrlab.defaults): one rate for all would leave
        # the grids (3e-2, 1e-2) barely trained and push SIREN-like families (1e-3, 3e-4) to diverge
        self.w["family"].observe(lambda change: self.w["lr"].set_trait("value", default_lr(change["new"])),
                                 names="value")
        self.button = w.Button(description="Train", button_style="primary", icon="play")
        self.button.on_click(lambda _: self.train())
        self.status = w.HTML()
        self.table = w.HTML()
        self.plot = w.Output()

    # ----------------------------------------------------------------- pieces
    def settings(self) -> dict:
        return {k: v.value for k, v in self.w.items()}

    def make_target(self, s: dict):
        if s["target"] == "perlin":
            return signals.perlin(s["size"], octaves=s["octaves"], seed=self.seed)
        if s["target"] == "image":
            return signals.image(s["image"], size=s["size"], gray=True)
        top = s["sine_freq"]
        freqs = sorted({max(1.0, top / 2 ** k) for k in range(4)})
        return signals.sine_mix(n=max(256, 8 * int(top)), freqs=freqs, seed=self.seed)

    def model_kwargs(self, family: str, s: dict) -> dict:
        return family_kwargs(family, **{k: s[k] for k in ("width", "depth", "grid", "alpha")})

    # ----------------------------------------------------------------- actions
    def train(self) -> dict:
        """Fit the model the widgets describe; update the live view and the table."""
        from IPython.display import display

        s = self.settings()
        self.button.disabled = True
        try:
            target = self.make_target(s)
            kw = self.model_kwargs(s["family"], s)
            model = models.build(s["family"], signal=target, seed=self.seed, **kw)
            self.view = LiveView(target, every=self.every,
                                 title=f"{s['family']} {kw} on {target.describe()}")
            self.plot.clear_output(wait=True)
            with self.plot:
                display(self.view.widget)
            self.status.value = f"training {html.escape(s['family'])} for {s['steps']} steps..."
            hist = fit(model, target, steps=s["steps"], lr=s["lr"], seed=self.seed, progress=False,
                       callbacks=[self.view], callback_every=self.every)
            run = {"run": len(self.runs) + 1, "model": s["family"], "settings": kw,
                   "target": target.describe(), "steps": hist.final["steps"], "lr": s["lr"],
                   "params": count_params(model), "gflops_render": forward_flops(model, target.shape).total / 1e9,
                   "psnr": hist.final["psnr"], "ssim": hist.final["ssim"], "seconds": hist.final["seconds"]}
            self.runs.append(run)
            self.status.value = f"done: fit PSNR {run['psnr']:.2f} dB in {run['seconds']:.1f} s"
            self.table.value = self.table_html()
            return run
        except Exception as e:  # show it in the panel; the explorer stays usable
            self.status.value = f"<span style='color:#b00'>error: {html.escape(str(e))}</span>"
            raise
        finally:
            self.button.disabled = False

    def table_html(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("#", "model", "settings", "target", "steps", "lr",
                                                   "params", "GFLOPs/render", "fit PSNR", "seconds"))
        rows = "".join(
            f"<tr><td>{r['run']}</td><td>{html.escape(r['model'])}</td><td>{html.escape(str(r['settings']))}</td>"
            f"<td>{html.escape(r['target'])}</td><td>{r['steps']}</td><td>{r['lr']:.0e}</td>"
            f"<td>{r['params']:,}</td><td>{r['gflops_render']:.3f}</td><td>{r['psnr']:.2f}</td>"
            f"<td>{r['seconds']:.1f}</td></tr>" for r in self.runs)
        return (f"<table style='border-collapse:collapse' border=1 cellpadding=3><tr>{head}</tr>{rows}</table>")

    def show(self):
        """The whole explorer as one widget."""
        import ipywidgets as w

        left = w.VBox([self.w[k] for k in ("family", "width", "depth", "grid", "alpha", "steps", "lr")])
        right = w.VBox([self.w[k] for k in ("target", "octaves", "image", "size", "sine_freq")]
                       + [w.HBox([self.button, self.status])])
        return w.VBox([w.HBox([left, right]), self.plot, self.table])
