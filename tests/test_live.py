"""The live view and the explorer, without a browser (the browser test drives them for real)."""

import numpy as np
import pytest

from inrlab import fit, models, signals
from inrlab.defaults import adam_settings
from inrlab.live import LiveView


@pytest.mark.parametrize("target", ["image", "audio"])
def test_live_view_follows_training(target):
    sig = signals.image("astronaut", size=16) if target == "image" else signals.sine_mix(128, (2, 9))
    view = LiveView(sig, every=5, widget=False)
    model = models.build("siren", signal=sig, width=16, depth=1, seed=0)
    hist = fit(model, sig, steps=20, lr=1e-3, progress=False, callbacks=[view], callback_every=5,
               eval_every=5)
    assert view.updates == 4
    curve = next(t for t in view.widget.data if t.name == "fit PSNR (dB)")
    assert list(curve.y) == hist.psnr and list(curve.x) == hist.eval_step
    assert view.widget.layout.title.text.startswith("step 20: fit PSNR")
    spectrum = next(t for t in view.widget.data if t.name == "spectrum")
    assert len(spectrum.x) > 0 and np.all(np.asarray(spectrum.y) >= 0)
    if target == "image":
        recon = np.asarray(view.widget.data[1].z)
        assert recon.shape == (16, 16, 3) and recon.max() > 0


def test_explorer_trains_every_family_it_lists():
    pytest.importorskip("ipywidgets")
    from inrlab.explore import Explorer

    ex = Explorer(family="relu", width=8, depth=0, grid=2, alpha=4, size=16, steps=3, target="sines")
    for family in models.available():
        ex.w["family"].value = family
        run = ex.train()
        assert run["model"] == family and np.isfinite(run["psnr"])
        # a family picked in the dropdown trains at its own default lr
        assert run["lr"] == pytest.approx(adam_settings(models.registry._constructor(family))["lr"])
    assert len(ex.runs) == len(models.available())
    assert ex.table_html().count("<tr>") == len(ex.runs) + 1


@pytest.mark.parametrize("target", ["image", "audio"])
def test_live_view_uses_the_plots_template(target):
    from inrlab import plots

    sig = signals.image("astronaut", size=16) if target == "image" else signals.sine_mix(128, (2, 9))
    fig = LiveView(sig, widget=False).fig
    import plotly.graph_objects as go

    assert fig.layout.template == go.Figure(layout=dict(template=plots.TEMPLATE)).layout.template
    lay = fig.layout
    assert lay.xaxis.title.text == "training step" and lay.yaxis.title.text == "PSNR (dB)"
    if target == "image":
        for k in ("2", "3", "4"):  # target, reconstruction, error map: the image rule
            assert lay[f"xaxis{k}"].visible is False and lay[f"yaxis{k}"].visible is False
            assert lay[f"yaxis{k}"].scaleanchor == f"x{k}"
        assert lay.xaxis5.title.text.startswith("frequency") and lay.yaxis5.type == "log"
        err = fig.data[2]
        assert err.showscale is not False and err.colorbar.title.text == "abs. error"
    else:
        assert lay.xaxis2.title.text == "sample" and lay.xaxis4.title.text.startswith("frequency")
    assert all(len(line) <= 30 for a in lay.annotations for line in a.text.split("<br>"))
