"""Plotly figures drawn from results data (Histories, arrays, tables); notebooks call these."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


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
    fig.update_layout(title=title, xaxis_title="step" if x == "step" else "training seconds",
                      yaxis_title="PSNR (dB)", template="plotly_white", height=380)
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
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=yaxis, template="plotly_white", height=380)
    return fig


def image_row(images: dict, title: str = "", value_range=(0.0, 1.0), height: int = 300) -> go.Figure:
    """Images side by side (each (H, W) or (H, W, C) in value_range), titled by their keys."""
    labels = list(images)
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=labels, horizontal_spacing=0.01)
    lo, hi = value_range
    for i, label in enumerate(labels):
        img = np.asarray(images[label], dtype=float)
        img = np.clip((img - lo) / (hi - lo), 0, 1)
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim == 2:
            fig.add_trace(go.Heatmap(z=img[::-1], colorscale="gray", zmin=0, zmax=1, showscale=False), 1, i + 1)
            fig.update_yaxes(scaleanchor=f"x{i + 1 if i else ''}", row=1, col=i + 1)
        else:
            fig.add_trace(go.Image(z=(img * 255).astype(np.uint8)), 1, i + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title=title, height=height, width=max(300, 260 * len(labels)),
                      margin=dict(l=10, r=10, t=60, b=10), template="plotly_white")
    return fig


def heatmap(z, x, y, title: str, xaxis: str, yaxis: str, zlabel: str = "PSNR (dB)",
            text_format: str = ".1f", colorscale: str = "Viridis") -> go.Figure:
    """A labelled heatmap with the values written in the cells (text_format "" for none)."""
    z = np.asarray(z, dtype=float)
    text = f"%{{z:{text_format}}}" if text_format else None  # "" leaves the cells unlabelled
    fig = go.Figure(go.Heatmap(z=z, x=[str(v) for v in x], y=[str(v) for v in y], colorscale=colorscale,
                               colorbar=dict(title=zlabel), texttemplate=text))
    fig.update_layout(title=title, xaxis_title=xaxis, yaxis_title=yaxis, template="plotly_white", height=380)
    return fig


def lines(x, series: dict, title: str, xaxis: str, yaxis: str, log_x: bool = False,
          log_y: bool = False, markers: bool = True) -> go.Figure:
    """Several named y-series over one x."""
    fig = go.Figure()
    for label, ys in series.items():
        fig.add_trace(go.Scatter(x=list(x), y=list(ys), name=str(label),
                                 mode="lines+markers" if markers else "lines"))
    fig.update_layout(title=title, xaxis_title=xaxis, yaxis_title=yaxis, template="plotly_white", height=380)
    if log_x:
        fig.update_xaxes(type="log")
    if log_y:
        fig.update_yaxes(type="log")
    return fig
