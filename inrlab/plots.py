"""Plotly figures drawn from results data (Histories, arrays, tables); notebooks call these.

One template for every notebook. Image grids: no axes, ticks or grid lines over images, square
pixels, one colour scale for the images being compared, subplot titles wrapped to their column
(never running into the next one), an optional row of error maps with its colour bar, and a
height computed from the images' aspect (no empty half figure). Curves: units on the axes, a log
axis where the values span two decades or more (unless the caller says otherwise), the legend
outside the plotting area so it hides no data. Tables: `table` (HTML in Jupyter, aligned text
in a log), the one way a notebook shows rows of numbers. The live training view (`inrlab.live`)
uses the same template and image-axis rules.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

COLUMN_PX = 260  # width of one image in an image grid
_CHAR_PX = 7.2  # average width of a character of a 13 px title, to wrap titles to their column
LEGEND = dict(x=1.02, xanchor="left", y=1.0, yanchor="top")  # beside the plot, never over it
TEMPLATE = "plotly_white"
CURVE_HEIGHT = 380


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


def image_axes(fig: go.Figure, axes) -> go.Figure:
    """The image rule for subplots numbered `axes` (1 = xaxis/yaxis, 2 = xaxis2/yaxis2, ...):
    no axis, ticks or grid lines, square pixels (each y axis anchored to its x axis)."""
    for k in axes:
        suffix = "" if k == 1 else str(k)
        fig.layout[f"yaxis{suffix}"].update(scaleanchor=f"x{suffix}", scaleratio=1, constrain="domain",
                                            visible=False, showgrid=False, zeroline=False)
        fig.layout[f"xaxis{suffix}"].update(constrain="domain", visible=False, showgrid=False, zeroline=False)
    return fig


def _curve_layout(fig: go.Figure, title: str, xaxis: str, yaxis: str, height: int = CURVE_HEIGHT,
                  **layout) -> go.Figure:
    fig.update_layout(title=_title(title, 700), xaxis_title=xaxis, yaxis_title=yaxis, template=TEMPLATE,
                      height=height, legend=LEGEND, **layout)
    return fig


def _log_axes(fig: go.Figure, xs, ys, log_x, log_y) -> None:
    if log_x or (log_x is None and _spans_decades(list(xs), 1.5)):
        xs = sorted(set(float(v) for v in xs))
        ticks = dict(tickvals=xs, ticktext=[f"{v:g}" for v in xs]) if len(xs) <= 12 else {}
        fig.update_xaxes(type="log", **ticks)  # a few measured points: label those, not 2..9
    if log_y or (log_y is None and _spans_decades(list(ys), 3.0)):
        fig.update_yaxes(type="log")


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
                      yaxis_title="PSNR (dB)", template=TEMPLATE, height=380, legend=LEGEND)
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
    fig.update_layout(title=title, xaxis_title="training step", yaxis_title=yaxis, template=TEMPLATE,
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
    image_axes(fig, range(1, rows * cols + 1))
    fig.update_annotations(font_size=13, yanchor="bottom")
    width = max(300, COLUMN_PX * cols + (80 if err_labels else 20))
    fig.update_layout(title=_title(title, width) if title else None, height=height, width=width,
                      margin=dict(l=10, r=70 if err_labels else 10, t=top, b=10), template=TEMPLATE,
                      plot_bgcolor="white")
    return fig


def heatmap(z, x, y, title: str, xaxis: str, yaxis: str, zlabel: str = "PSNR (dB)",
            text_format: str = ".1f", colorscale: str = "Viridis") -> go.Figure:
    """A labelled heatmap with the values written in the cells (text_format "" for none)."""
    z = np.asarray(z, dtype=float)
    text = f"%{{z:{text_format}}}" if text_format else None  # "" leaves the cells unlabelled
    fig = go.Figure(go.Heatmap(z=z, x=[str(v) for v in x], y=[str(v) for v in y], colorscale=colorscale,
                               colorbar=dict(title=zlabel), texttemplate=text))
    fig.update_layout(title=_title(title, 700), xaxis_title=xaxis, yaxis_title=yaxis, template=TEMPLATE,
                      height=380)
    return fig


def lines(x, series: dict, title: str, xaxis: str, yaxis: str, log_x: bool | None = None,
          log_y: bool | None = None, markers: bool = True, dash=(), marks: dict | None = None) -> go.Figure:
    """Several named y-series over one x (x=None: each series is an (x, y) pair of its own).
    log_x / log_y: None (the default) puts an axis on a log scale when its positive values span
    1.5 decades (x) or 3 (y) or more (octaves 1..64); True or False decides. dash: labels drawn
    dashed (references). marks: {x: text} vertical dotted lines with a label."""
    pairs = {k: (v if x is None else (x, v)) for k, v in series.items()}
    fig = go.Figure()
    for label, (xs, ys) in pairs.items():
        fig.add_trace(go.Scatter(x=list(xs), y=list(ys), name=str(label),
                                 mode="lines+markers" if markers else "lines",
                                 line=dict(dash="dash") if label in dash else None))
    for at, text in (marks or {}).items():
        fig.add_vline(x=at, line_dash="dot", line_color="grey", annotation_text=wrap(text, 40),
                      annotation_position="bottom right")
    _curve_layout(fig, title, xaxis, yaxis, **_many(len(pairs)))
    _log_axes(fig, [v for xs, _ in pairs.values() for v in xs], [v for _, ys in pairs.values() for v in ys],
              log_x, log_y)
    return fig


def _many(n: int) -> dict:
    """Layout for a legend of n entries: past the template's 10 colours, 24 distinct ones (no two
    series share a colour), and a figure tall enough that the legend is not cut off in a PNG."""
    if n <= 10:
        return {}
    import plotly.express as px

    return {"colorway": px.colors.qualitative.Dark24, "height": max(CURVE_HEIGHT, 140 + 24 * n)}


def scatter(series: dict, title: str, xaxis: str, yaxis: str, log_x: bool | None = None,
            log_y: bool | None = None, diagonal: bool = False) -> go.Figure:
    """Points per label: series[label] = (x, y) or (x, y, hover texts). diagonal: a dashed y = x
    line (measured against predicted)."""
    fig = go.Figure()
    symbols = ["circle", "x", "diamond", "square", "triangle-up", "cross"]
    for i, (label, pts) in enumerate(series.items()):
        xs, ys = (np.asarray(v, dtype=float).ravel() for v in pts[:2])
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=str(label),
                                 text=list(pts[2]) if len(pts) > 2 else None,
                                 marker=dict(symbol=symbols[i % len(symbols)])))
    all_x = [v for p in series.values() for v in np.ravel(np.asarray(p[0], dtype=float))]
    all_y = [v for p in series.values() for v in np.ravel(np.asarray(p[1], dtype=float))]
    if diagonal and all_x:
        lim = [min(0.0, min(all_x + all_y)), max(all_x + all_y) * 1.05]
        fig.add_trace(go.Scatter(x=lim, y=lim, mode="lines", name="predicted (y = x)",
                                 line=dict(dash="dash", color="gray")))
    _curve_layout(fig, title, xaxis, yaxis)
    _log_axes(fig, all_x, all_y, log_x, log_y)
    return fig


def bars(categories, series: dict, title: str, yaxis: str, xaxis: str = "") -> go.Figure:
    """Grouped bars: one bar per category for each named series (series[label] = values)."""
    fig = go.Figure([go.Bar(x=[str(c) for c in categories], y=list(v), name=str(k)) for k, v in series.items()])
    _curve_layout(fig, title, xaxis, yaxis, barmode="group", showlegend=len(series) > 1)
    return fig


def map_grid(rows: dict, title: str, zmin: float, zmax: float, colorbar: str, colorscale: str = "Viridis",
             column_px: int = 110) -> go.Figure:
    """Rows of 2-D maps on one colour scale (rows[row label] = {title: map}), drawn with the
    image rule (no axes, square pixels) and one colour bar; a row's label heads its first title."""
    cols = max(len(r) for r in rows.values())
    chars = max(8, int(column_px / _CHAR_PX))
    titles = []
    for name, maps in rows.items():
        row = [wrap(t, chars) for t in maps]
        row[0] = f"{wrap(name, chars)}<br>{row[0]}" if row else row
        titles += row + [""] * (cols - len(row))
    n_lines = max(t.count("<br>") + 1 for t in titles if t)
    title_px = 16 * n_lines + 8
    top = 30 + 22 * 2 + title_px
    height = int(top + len(rows) * (column_px + title_px) + 20)
    fig = make_subplots(rows=len(rows), cols=cols, subplot_titles=titles, horizontal_spacing=0.01,
                        vertical_spacing=min(0.3, title_px / max(1.0, height - top - 20) + 0.02))
    for r, maps in enumerate(rows.values()):
        for c, m in enumerate(maps.values()):
            fig.add_trace(go.Heatmap(z=np.asarray(m)[::-1], zmin=zmin, zmax=zmax, colorscale=colorscale,
                                     showscale=r == 0 and c == 0,
                                     colorbar=dict(title=dict(text=colorbar, side="right"), thickness=12)),
                          r + 1, c + 1)
    image_axes(fig, range(1, len(rows) * cols + 1))
    fig.update_annotations(font_size=11, yanchor="bottom")
    width = column_px * cols + 90
    fig.update_layout(title=_title(title, width), height=height, width=width, template=TEMPLATE,
                      margin=dict(l=10, r=80, t=top, b=10))
    return fig


def landscape(panels: dict, curves: dict, title: str, curve_axis: str = "step",
              zlabel: str = "log10 loss", levels=(-3.0, 2.0, 0.25)) -> go.Figure:
    """Contour panels with a path each, and a last panel of curves on a log axis.
    panels[title] = (x grid, y grid, z on the grid, path (n, 2), (x label, y label));
    curves[label] = values against 0, 1, 2, ..."""
    n = len(panels) + 1
    fig = make_subplots(rows=1, cols=n, horizontal_spacing=0.08,
                        subplot_titles=[wrap(t, 40) for t in list(panels) + [f"loss against {curve_axis}"]])
    for col, (gx, gy, z, path, (xl, yl)) in enumerate(panels.values(), start=1):
        fig.add_trace(go.Contour(x=gx, y=gy, z=z, colorscale="Viridis", showscale=col == 1,
                                 colorbar=dict(title=zlabel, x=-0.12),
                                 contours=dict(start=levels[0], end=levels[1], size=levels[2])), 1, col)
        fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers", marker=dict(size=4),
                                 line=dict(color="white"), name="GD path", showlegend=col == 1), 1, col)
        fig.update_xaxes(title_text=xl, row=1, col=col)
        fig.update_yaxes(title_text=yl, row=1, col=col)
    for label, ys in curves.items():
        fig.add_trace(go.Scatter(x=list(range(len(ys))), y=list(ys), name=str(label)), 1, n)
    fig.update_yaxes(type="log", exponentformat="power", range=[-16, 1], title_text="loss", row=1, col=n)
    fig.update_xaxes(title_text=curve_axis, row=1, col=n)
    fig.update_layout(template=TEMPLATE, height=420, width=380 * n + 10, title=_title(title, 380 * n),
                      legend=dict(orientation="h", x=1.0, xanchor="right", y=-0.18), margin=dict(t=90))
    return fig


class Table:
    """Rows of values with column labels: HTML in Jupyter (`_repr_html_`), aligned text in a log."""

    def __init__(self, rows: list[list[str]], columns: list[str], title: str = ""):
        self.rows, self.columns, self.title = rows, columns, title
        # numbers right-aligned, words left (the first column is the rows' names)
        self.right = [i > 0 and all(_numeric(r[i]) for r in rows) for i in range(len(columns))]

    def __str__(self) -> str:
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
                  for i, c in enumerate(self.columns)]
        line = lambda cells: "  ".join(v.rjust(w) if right else v.ljust(w)
                                       for v, w, right in zip(cells, widths, self.right))
        out = ([self.title] if self.title else []) + [line(self.columns), line(["-" * w for w in widths])]
        return "\n".join(out + [line(r) for r in self.rows])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th style='text-align:{'right' if right else 'left'};padding:2px 8px'>{esc(c)}</th>"
                       for c, right in zip(self.columns, self.right))
        side = ["right" if right else "left" for right in self.right]
        body = "".join("<tr>" + "".join(f"<td style='text-align:{a};padding:2px 8px'>{esc(v)}</td>"
                                        for a, v in zip(side, r)) + "</tr>" for r in self.rows)
        cap = f"<caption style='text-align:left'>{esc(self.title)}</caption>" if self.title else ""
        return f"<table style='border-collapse:collapse'>{cap}<tr>{head}</tr>{body}</table>"


def _numeric(text: str) -> bool:
    try:
        float(text.replace(",", "").split(" ")[0])
        return True
    except ValueError:
        return text == "-"


def _cell(v, fmt: str | None) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-" if v is None else str(v)
    if fmt:
        return format(v, fmt)
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return str(v)
    return f"{v:,}" if isinstance(v, (int, np.integer)) else f"{v:.2f}"


def table(rows, columns: dict | None = None, formats: dict | None = None, title: str = "",
          index: str = "") -> Table:
    """A Table from rows: a list of dicts, or {row label: dict} (the label becomes the first
    column, headed `index`). columns: {key: label} in order (default: every key of the first
    row); formats: {key: format spec}; ints get thousands separators and floats 2 decimals by
    default, None shows '-'."""
    if isinstance(rows, dict):
        rows = [{"": k, **v} for k, v in rows.items()]
        columns = {"": index, **(columns or ({k: k for k in rows[0] if k != ""} if rows else {}))}
    rows = list(rows)
    columns = columns or ({k: k for k in rows[0]} if rows else {})
    formats = formats or {}
    unknown = [k for k in columns if rows and not any(k in r for r in rows)]
    if unknown:
        raise ValueError(f"table: no row has the column(s) {', '.join(map(str, unknown))}")
    return Table([[_cell(r.get(k), formats.get(k)) for k in columns] for r in rows], list(columns.values()),
                 title)
