"""What a notebook uses to check its parameters and write its results.

A study notebook ends its parameters cell with typed values (`steps: int = 300`) and calls
`check_parameters(globals())` next, so a wrong type injected by papermill (a string for a
number) stops the notebook with one line naming the parameter. Results go through `Report`:
metrics.json (written atomically) and figures as HTML plus a JSON spec (the study runner turns
the specs into PNG) in `out_dir`; with out_dir "" nothing is written, which is how nbval runs them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .checks import make_output_dir
from .errors import InrlabError
from .atomic import atomic_write_json, atomic_write_text


def _name(ann) -> str:
    return getattr(ann, "__name__", None) or str(ann).replace("typing.", "")


def check_parameters(namespace: dict, choices: dict | None = None) -> None:
    """Check every annotated parameter in a notebook's namespace against its annotation.

    choices: optional {name: allowed values} (for a list, each item; for a dict, each key).
    Raises InrlabError naming the first bad value.
    Ints are accepted where a float is declared; nothing else is converted.
    """
    from .models.registry import matches, resolve_annotation

    annotations = namespace.get("__annotations__", {})
    for name, ann in annotations.items():
        if name not in namespace:
            continue
        if isinstance(ann, str):
            try:
                ann = resolve_annotation(ann)
            except ValueError:
                continue
        value = namespace[name]
        if not matches(value, ann):
            raise InrlabError(f"parameter '{name}' must be {_name(ann)}, got {value!r} "
                              f"({type(value).__name__})")
        if isinstance(value, float) and not math.isfinite(value):
            raise InrlabError(f"parameter '{name}' must be finite, got {value!r}")
    for name, allowed in (choices or {}).items():
        value = namespace.get(name)
        values = value if isinstance(value, (list, tuple, dict)) else [value]
        for v in values:
            if v not in allowed:
                what = "key" if isinstance(value, dict) else "value"
                raise InrlabError(f"parameter '{name}' has {what} {v!r}; "
                                  f"choose from {', '.join(map(str, allowed))}")


class Report:
    """Collects a notebook's headline metrics and figures and writes them to `out_dir`."""

    def __init__(self, out_dir: str | os.PathLike | None, notebook: str = ""):
        self.out = Path(out_dir) if out_dir else None
        self.notebook = notebook
        self.metrics: dict = {}
        self.figures: list[str] = []
        if self.out is not None:
            make_output_dir(self.out, "out_dir")

    def add(self, **metrics) -> None:
        """Record metrics (JSON-able values); saved immediately so nothing finished is lost."""
        self.metrics.update(metrics)
        self.save()

    def figure(self, fig, name: str) -> None:
        """Save a plotly figure as name.html (plotly.js beside it, so it works offline) and its
        spec as name.plotly.json, from which the study runner exports name.png in one batch."""
        if self.out is None:
            return
        js = self.out / "plotly.min.js"
        if not js.exists():
            from plotly.offline import get_plotlyjs
            atomic_write_text(js, get_plotlyjs())
        atomic_write_text(self.out / f"{name}.html",
                          fig.to_html(include_plotlyjs="directory", full_html=True))
        atomic_write_text(self.out / f"{name}.plotly.json", fig.to_json())
        self.figures.append(f"{name}.html")
        self.save()

    def save(self) -> None:
        if self.out is None:
            return
        atomic_write_json(self.out / "metrics.json",
                          {"notebook": self.notebook, "metrics": self.metrics, "figures": self.figures})
