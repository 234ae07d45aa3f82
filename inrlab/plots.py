"""Plotly figures drawn from results data (Histories, arrays, tables); notebooks call these.

One template for every notebook. Image grids: no axes, ticks or grid lines over images, square
pixels, one colour scale for the images being compared, subplot titles wrapped to their column
(never running into the next one), an optional row of error maps with its colour bar, and a
height computed from the images' aspect (no empty half figure). Curves: units on the axes, a log
axis where the values span two decades or more (unless the caller says otherwise), the legend
outside the plotting area so it hides no data.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

COLUMN_PX = 260  # width of one image in an image grid
_CHAR_PX = 7.2  # average width of a character of a 13 px title, to wrap titles to their column
LEGEND = dict(x=1.02, xanchor="left", y=1.0, yanchor="top")  # beside the plot, never over it


def wrap(text: str, width: int, lines: int = 3) -> str:
    """Break `text` at spaces into lines of at most `width` characters (plotly's <br>); more
    than `lines` lines are cut with an ellipsis."""
    out, cur = [], ""
    for word in str(text).split():
        while len(word) > width:  # a word longer than the column is split
            if cur:
                out.append(cur)
                cur = ""
            out.append(word[: width - 1] + "-")
            word = word[width - 1:]
        if cur and len(cur) + 1 + len(word) > width:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        out.append(cur)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: max(1, width - 1)].rstrip() + "…"
    return "<br>".join(out)


def _title(title: str, width_px: int) -> dict:
    return dict(text=wrap(title, max(20, int(width_px / 9.5)), lines=2), x=0.01, xanchor="left")


def _spans_decades(values, decades: float = 2.0) -> bool:
    v = np.asarray([x for x in np.ravel(np.asarray(values, dtype=object)) if x is not None], dtype=float)
    v = v[np.isfinite(v)]
    return v.size >= 2 and bool((v > 0).all()) and v.max() / v.min() >= 10 ** decades


def psnr_curves(histories: dict, title: str = "PSNR during training", heldout: bool = False,
                x: str = "step") -> go.Figure:
    """One line per run: fit PSNR (solid) and, with heldout=True, held-out PSNR (dashed)
    against step or training seconds (x='seconds')."""
    fig = go.Figure()
    for label, h in histories.items():
        xs = h.eval_step if x == "step" else h.seconds
        fig.add_trace(go.Scatter(x=xs, y=h.psnr, mode="lines", name=f"{label}"))
        if heldout and any(v is not None for v in h.psnr_heldout):
            fig.add_trace(go.Scatter(x=xs, y=h.psnr_heldout, mode="lines", name=f"{label} (held-out)",
                                     line=dict(dash="dash")))
    fig.update_layout(title=title, xaxis_title="training step" if x == "step" else "training time (s)",
                      yaxis_title="PSNR (dB)", template="plotly_white", height=380, legend=LEGEND)
    return fig


def band_curves(xs, runs: dict, title: str, yaxis: str = "PSNR (dB)") -> go.Figure:
    """Mean line and min-max band per label; runs[label] is an array (seeds, len(xs))."""
    fig = go.Figure()
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]
    for i, (label, arr) in enumerate(runs.items()):
        arr = np.asarray(arr, dtype=float)
        color = palette[i % len(palette)]
        lo, hi, mean = arr.min(0), arr.max(0), arr.mean(0)
        fig.add_trace(go.Scatter(x=list(xs) + list(xs)[::-1], y=list(hi) + list(lo)[::-1], fill="toself",
                                 fillcolor=color, opacity=0.2, line=dict(width=0), showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=list(xs), y=mean, name=label, line=dict(color=color)))
    fig.update_layout(title=title, xaxis_title="training step", yaxis_title=yaxis, template="plotly_white",
                      height=380, legend=LEGEND)
    return fig


def image_row(images: dict, title: str = "", value_range=(0.0, 1.0), height: int | None = None,
              errors: dict | None = None, error_label: str = "absolute error") -> go.Figure:
    """Images side by side (each (H, W) or (H, W, C) in value_range), titled by their keys, on
    one colour scale. errors: optional {title: (H, W) map} drawn as a second row on one shared
    scale from 0, with a colour bar titled `error_label`. height: None fits the images' aspect."""
    labels = list(images)
    err_labels = list(errors or {})
    cols = max(len(labels), len(err_labels), 1)
    chars = int(COLUMN_PX / _CHAR_PX)
    titles = [wrap(l, chars) for l in labels] + [""] * (cols - len(labels))
    if err_labels:
        titles += [wrap(l, chars) for l in err_labels] + [""] * (cols - len(err_labels))
    n_lines = max([t.count("<br>") + 1 for t in titles if t] or [0])
    rows = 2 if err_labels else 1
    first = np.asarray(images[labels[0]] if labels else next(iter(errors.values())))
    aspect = first.shape[0] / max(1, first.shape[1])
    img_px = COLUMN_PX * aspect
    title_px = 16 * n_lines + 8
    top = (30 + 22 * (title.count("<br>") + 1) if title else 10) + title_px
    if height is None:
        height = int(top + rows * img_px + (rows - 1) * title_px + 20)
    gap = title_px / max(1.0, height - top - 20)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.02,
                        vertical_spacing=min(0.3, gap + 0.02) if rows > 1 else 0.0)
    lo, hi = value_range
    for i, label in enumerate(labels):
        img = np.asarray(images[label], dtype=float)
        img = np.clip((img - lo) / (hi - lo), 0, 1)
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim == 2:
            fig.add_trace(go.Heatmap(z=img[::-1], colorscale="gray", zmin=0, zmax=1, showscale=False,
                                     hovertemplate="x %{x}, y %{y}: %{z:.3f}<extra></extra>"), 1, i + 1)
        else:
            fig.add_trace(go.Image(z=(img * 255).astype(np.uint8)), 1, i + 1)
    if err_labels:
        maps = {k: np.abs(np.asarray(v, dtype=float)) for k, v in errors.items()}
        maps = {k: (m.mean(-1) if m.ndim == 3 else m) for k, m in maps.items()}
        zmax = max(float(np.nanmax(m)) for m in maps.values()) or 1.0
        for i, (label, m) in enumerate(maps.items()):
            fig.add_trace(go.Heatmap(z=m[::-1], colorscale="Inferno", zmin=0, zmax=zmax, showscale=i == 0,
                                     colorbar=dict(title=dict(text=error_label, side="right"), len=0.5,
                                                   y=0.0, yanchor="bottom", thickness=12),
                                     hovertemplate="error %{z:.3g}<extra></extra>"), 2, i + 1)
    for k in range(1, rows * cols + 1):  # square pixels: each y axis anchored to its x axis
        suffix = "" if k == 1 else str(k)
        fig.layout[f"yaxis{suffix}"].update(scaleanchor=f"x{suffix}", scaleratio=1, constrain="domain")
        fig.layout[f"xaxis{suffix}"].update(constrain="domain")
    fig.update_xaxes(visible=False, showgrid=False, zeroline=False)
    fig.update_yaxes(visible=False, showgrid=False, zeroline=False)
    fig.update_annotations(font_size=13, yanchor="bottom")
    width = max(300, COLUMN_PX * cols + (80 if err_labels else 20))
    fig.update_layout(title=_title(title, width) if title else None, height=height, width=width,
                      margin=dict(l=10, r=70 if err_labels else 10, t=top, b=10), template="plotly_white",
                      plot_bgcolor="white")
    return fig


def heatmap(z, x, y, title: str, xaxis: str, yaxis: str, zlabel: str = "PSNR (dB)",
            text_format: str = ".1f", colorscale: str = "Viridis") -> go.Figure:
    """A labelled heatmap with the values written in the cells (text_format "" for none)."""
    z = np.asarray(z, dtype=float)
    text = f"%{{z:{text_format}}}" if text_format else None  # "" leaves the cells unlabelled
    fig = go.Figure(go.Heatmap(z=z, x=[str(v) for v in x], y=[str(v) for v in y], colorscale=colorscale,
                               colorbar=dict(title=zlabel), texttemplate=text))
    fig.update_layout(title=_title(title, 700), xaxis_title=xaxis, yaxis_title=yaxis, template="plotly_white",
                      height=380)
    return fig


def lines(x, series: dict, title: str, xaxis: str, yaxis: str, log_x: bool | None = None,
          log_y: bool | None = None, markers: bool = True) -> go.Figure:
    """Several named y-series over one x. log_x / log_y: None (the default) puts an axis on a
    log scale when its positive values span 1.5 decades (x) or 3 (y) or more (octaves 1..64);
    True or False decides."""
    fig = go.Figure()
    for label, ys in series.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(ys), name=str(label),
                                 mode="lines+markers" if markers else "lines"))
    fig.update_layout(title=_title(title, 700), xaxis_title=xaxis, yaxis_title=yaxis, template="plotly_white",
                      height=380, legend=LEGEND)
    if log_x or (log_x is None and _spans_decades(list(x), 1.5)):
        xs = list(x)
        ticks = dict(tickvals=xs, ticktext=[f"{v:g}" for v in xs]) if len(xs) <= 12 else {}
        fig.update_xaxes(type="log", **ticks)  # a few measured points: label those, not 2..9
    if log_y or (log_y is None and _spans_decades([v for ys in series.values() for v in ys], 3.0)):
        fig.update_yaxes(type="log")
    return fig
