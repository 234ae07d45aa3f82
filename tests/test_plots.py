"""The figure template, checked where it matters: in a browser. Every figure kind inrlab.plots
draws is rendered by headless Chromium (Playwright) from its HTML, and the test measures what
was drawn: no two title boxes overlap, image subplots draw no axes, ticks or grid lines, pixels
are square, and curves keep their units and legend outside the data. Skipped, with the reason,
where Chromium or Playwright is absent."""

import os
import shutil

import numpy as np
import pytest

from inrlab import plots

CHROMIUM = os.environ.get("BROWSER_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")

# Titles as the notebooks write them (issue 19: these ran into each other)
LONG = {"MH 16² heads, alpha 64: 21.3 dB": 0, "SIREN 4 x 97: 26.4 dB": 1,
        "Fourier features 256 features, sigma 10, 3 layers: 24.0 dB": 2, "target": 3, "ReLU+PE 8 frequencies: 18.2 dB": 4}


def _images(rgb=False):
    rng = np.random.default_rng(0)
    shape = (32, 48, 3) if rgb else (32, 48)
    return {k: rng.random(shape) for k in LONG}


def _figures():
    rng = np.random.default_rng(0)
    hist = {"gray": plots.image_row(_images(), title="Rendered at 256² after training at 128² (equal parameters) "
                                                     "with a long title that has to wrap somewhere"),
            "rgb": plots.image_row(_images(rgb=True), title="Reconstructions"),
            "errors": plots.image_row(dict(list(_images().items())[:3]), title="Fits and errors",
                                      errors={f"error {i}": rng.random((32, 48)) * (i + 1) for i in range(3)}),
            "lines": plots.lines([1, 8, 64], {"ReLU": [30, 20, 12], "SIREN": [40, 35, 30]},
                                 "PSNR vs octave", "Perlin octave", "PSNR (dB)"),
            "heatmap": plots.heatmap(rng.random((3, 4)) * 30, [1, 2, 4, 8], ["1", "16", "256"], "Heads by octave",
                                     "Perlin octave", "heads")}
    return hist


@pytest.fixture(scope="module")
def page():
    if not CHROMIUM:
        pytest.skip("figure rendering test cannot start: no chromium executable (install Debian's 'chromium')")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("figure rendering test cannot start: the playwright package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser.new_page()
        browser.close()


MEASURE = """() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {
    titles: [...document.querySelectorAll('g.annotation, g.infolayer .gtitle')].map(box).filter(b => b[2] > b[0]),
    ticks: document.querySelectorAll('.xtick, .ytick').length,
    grid: document.querySelectorAll('.gridlayer path, .zerolinelayer path').length,
    images: [...document.querySelectorAll('.heatmaplayer image, .imagelayer image, g.hm image, g.im image')].map(box),
    legend: [...document.querySelectorAll('g.legend')].map(box),
    plot: [...document.querySelectorAll('.bglayer rect.bg, .cartesianlayer .subplot .gridlayer')].map(box).filter(b => b[2] > b[0]),
    width: document.querySelector('.main-svg').getBoundingClientRect().width,
    svg: box(document.querySelector('.main-svg')),
    legend_scroll: [...document.querySelectorAll('g.legend rect.scrollbar')].map(e => e.getBoundingClientRect().height)
      .reduce((a, b) => a + b, 0),
  };
}"""


def _render(page, fig, tmp_path, name):
    path = tmp_path / f"{name}.html"
    path.write_text(fig.to_html(include_plotlyjs=True, full_html=True))
    page.goto(path.as_uri())
    page.wait_for_selector(".main-svg")
    page.wait_for_timeout(300)
    return page.evaluate(MEASURE)


def _overlap(a, b, slack=1.0):
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


@pytest.mark.parametrize("name", ["gray", "rgb", "errors"])
def test_image_grids_render_without_axes_overlaps_or_stretching(page, tmp_path, name):
    fig = _figures()[name]
    m = _render(page, fig, tmp_path, name)
    assert m["ticks"] == 0 and m["grid"] == 0, m  # nothing drawn over the images
    assert len(m["titles"]) >= 4
    for i, a in enumerate(m["titles"]):
        for b in m["titles"][i + 1:]:
            assert not _overlap(a, b), (a, b)
        assert a[0] >= -1 and a[2] <= m["width"] + 1, a  # inside the figure
    assert m["images"], m
    for b in m["images"]:  # square pixels: 48 x 32 images drawn 3:2
        assert abs((b[2] - b[0]) / (b[3] - b[1]) - 1.5) < 0.05, b
    for t in m["titles"]:  # titles above the images they name, not over them
        assert not any(_overlap(t, im, slack=2.0) for im in m["images"]), t
    # no empty half figure: the images fill most of the figure's height
    covered = max(b[3] for b in m["images"]) - min(b[1] for b in m["images"])
    assert covered > 0.5 * fig.layout.height
    if name == "errors":  # a colour bar for the error maps, on one scale from 0
        bars = [t for t in fig.data if getattr(t, "showscale", False)]
        assert len(bars) == 1 and bars[0].colorbar.title.text == "absolute error"
        err = [t for t in fig.data if t.type == "heatmap" and t.colorscale and "Inferno" in str(t.colorscale)] or \
              fig.data[3:]
        assert len({(t.zmin, t.zmax) for t in err}) == 1 and err[0].zmin == 0


def test_curves_keep_units_log_axes_and_legend_outside(page, tmp_path):
    fig = _figures()["lines"]
    assert fig.layout.xaxis.type == "log"  # octaves 1..64 span decades
    assert "(dB)" in fig.layout.yaxis.title.text
    m = _render(page, fig, tmp_path, "lines")
    plot = max(m["plot"], key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    assert m["legend"] and all(not _overlap(l, plot) for l in m["legend"]), (m["legend"], plot)
    assert plots.lines([1, 2, 3], {"a": [1, 2, 3]}, "t", "x", "y").layout.xaxis.type is None  # linear stays
    assert plots.lines([1, 8, 64], {"a": [1, 2, 3]}, "t", "x", "y", log_x=False).layout.xaxis.type is None


def test_a_long_legend_fits_the_figure_and_no_two_series_share_a_colour(page, tmp_path):
    series = {f"family{i}": [i, i + 1, i + 2] for i in range(18)}  # notebook 06 draws 13 to 26
    fig = plots.lines([1e4, 3e4, 1e5], series, "a long title as the notebooks give", "params", "PSNR (dB)")
    fig.update_layout(width=800)  # the study's PNG export draws a figure without a width at 800
    m = _render(page, fig, tmp_path, "long_legend")
    legend, svg = m["legend"][0], m["svg"]
    assert legend[3] <= svg[3], (legend, svg)  # the legend ends inside the figure
    assert m["legend_scroll"] == 0, m["legend_scroll"]  # and shows every entry: no scrollbar, nothing clipped
    colours = list(fig.layout.colorway)
    assert len(colours) >= len(series) and len(set(colours[:len(series)])) == len(series)
    assert plots.lines([1, 2], {"a": [1, 2]}, "t", "x", "y").layout.colorway is None  # few series: the template's


def test_heatmap_titles_and_colour_bar(page, tmp_path):
    fig = _figures()["heatmap"]
    m = _render(page, fig, tmp_path, "heatmap")
    assert fig.data[0].colorbar.title.text == "PSNR (dB)"
    for i, a in enumerate(m["titles"]):
        for b in m["titles"][i + 1:]:
            assert not _overlap(a, b)


def test_wrap_shortens_and_keeps_words():
    assert plots.wrap("MH 16² heads, alpha 64: 21.3 dB", 20) == "MH 16² heads, alpha<br>64: 21.3 dB"
    long = plots.wrap("word " * 40, 20, lines=2)
    assert long.count("<br>") == 1 and long.endswith("…")
    assert all(len(line) <= 20 for line in plots.wrap("a" * 50, 20).split("<br>"))


def test_live_view_renders_in_the_same_template(page, tmp_path):
    from inrlab import signals
    from inrlab.live import LiveView

    fig = LiveView(signals.image("astronaut", size=16), widget=False, title="relu {'width': 64} on astronaut").fig
    m = _render(page, fig, tmp_path, "live")
    for i, a in enumerate(m["titles"]):
        for b in m["titles"][i + 1:]:
            assert not _overlap(a, b), (a, b)
    assert len(m["images"]) == 3, m["images"]  # target, reconstruction, error map
    for b in m["images"]:  # 16 x 16 images drawn square, no title over them
        assert abs((b[2] - b[0]) / (b[3] - b[1]) - 1.0) < 0.05, b
        assert not any(_overlap(t, b, slack=2.0) for t in m["titles"]), b
