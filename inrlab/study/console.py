"""The study's console: whole start and end lines, the progress of every running notebook
(redrawn in place on a terminal, a plain line every `inrlab.study.PROGRESS_EVERY` seconds
otherwise) and the end-of-run summary table.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from ..errors import InrlabError


class Console:
    """The study's console: whole lines under one lock (worker threads start notebooks while the
    main thread reports the finished ones), and the progress of every running notebook."""

    def __init__(self, every: float | None = None, stream=None, tty: bool | None = None):
        if every is None:  # read from the package, where callers (and tests) set it
            from .. import study

            every = study.PROGRESS_EVERY
        self.every = every
        self._stream, self._tty = stream, tty
        self.lock = threading.RLock()
        self.running: dict[str, list] = {}  # stem -> [cells done, cells total, start time]
        self._last = time.time()
        self._bar = False

    @property
    def out(self):
        return self._stream or sys.stdout  # looked up late: tests and callers swap sys.stdout

    @property
    def tty(self) -> bool:
        if self._tty is not None:
            return self._tty
        try:
            return self.out.isatty()
        except (AttributeError, ValueError):
            return False

    def line(self, text: str, err: bool = False) -> None:
        with self.lock:
            self._erase()
            stream = sys.stderr if err else self.out
            stream.write(text.rstrip("\n") + "\n")
            stream.flush()
            self._last = time.time()
            if self.tty and self.running:
                self._draw()

    def start(self, stem: str, text: str) -> None:
        with self.lock:
            self.running[stem] = [0, None, time.time()]
            self.line(text)

    def cell(self, stem: str, done: int, total: int) -> None:
        with self.lock:
            if stem in self.running:
                self.running[stem][:2] = [done, total]

    def end(self, stem: str, text: str) -> None:
        with self.lock:
            self.running.pop(stem, None)
            self.line(text)

    def progress_text(self, bars: bool = False) -> str:
        now, parts = time.time(), []
        for stem, (done, total, t0) in sorted(self.running.items()):
            el = int(now - t0)
            clock = f"{el // 60}:{el % 60:02d}"
            if total:
                bar = ""
                if bars:
                    k = round(10 * done / total)
                    bar = "[" + "#" * k + "." * (10 - k) + "] "
                parts.append(f"{stem} {bar}{done}/{total} cells {clock}")
            else:
                parts.append(f"{stem} starting {clock}")
        return " | ".join(parts)

    def tick(self) -> None:
        """Called often by the waiting main thread: redraw the bar (terminal, every second) or
        print a plain progress line (every `every` seconds)."""
        with self.lock:
            now = time.time()
            if not self.running:
                return
            if self.tty:
                if now - self._last >= 1.0:
                    self._draw()
                    self._last = now
            elif now - self._last >= self.every:
                self.line("[study] progress: " + self.progress_text())

    def close(self) -> None:
        with self.lock:
            self._erase()

    def _draw(self):
        import shutil

        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.out.write("\r[study] " + self.progress_text(bars=True)[: max(10, width - 8)] + "\x1b[K")
        self.out.flush()
        self._bar = True

    def _erase(self):
        if self._bar:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._bar = False


def _claim_counts(out_root: Path, statuses: dict) -> dict | None:
    """{notebook: {verdict: count}} and '' for the whole run, from the claims ledger (None
    without one, or when no notebook that has claims ran)."""
    from .. import claims

    try:
        rows = claims.run_ledger(out_root)
    except InrlabError:
        return None
    if not any(r.notebook in statuses for r in rows):
        return None
    counts: dict = {"": {}}
    for r in rows:
        for key in ("", r.notebook):
            counts.setdefault(key, {})
            counts[key][r.verdict] = counts[key].get(r.verdict, 0) + 1
    return counts


def _counts_text(c: dict) -> str:
    from ..claims import VERDICTS

    return ", ".join(f"{c[v]} {v}" for v in VERDICTS if c.get(v))


def summary_lines(statuses: dict, out_root: Path) -> list[str]:
    """The end-of-run table: notebook, status, seconds, headline number (and claim verdicts)."""
    from .. import reportspec

    counts = _claim_counts(out_root, statuses) or {}
    rows = [("notebook", "status", "seconds", "headline", "claims" if counts else "")]
    for name in sorted(statuses):
        st = statuses[name]
        head = reportspec.headline(name, st.get("metrics") or {})
        rows.append((name, "ok" if st.get("ok") else "FAILED", f"{st.get('seconds', 0.0):.1f}",
                     f"{head[0]}: {reportspec.with_unit(head[1], head[2])}" if head else "—",
                     _counts_text(counts.get(name, {})) if counts else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = ["[study] summary"]
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3].ljust(widths[3]), r[4]]
        out.append("  " + "  ".join(cells).rstrip())
    if counts:
        out.append(f"[study] claims: {_counts_text(counts['']) or 'none registered'} -> {out_root / 'claims.json'}")
    return out
