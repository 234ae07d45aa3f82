"""One exception type for every input problem inrlab can name.

Everything a user can get wrong (a path, a parameter, a shape) raises `InrlabError` with a
one-line message that names the offending value. The CLI and the study runner print that line
and exit non-zero; they never show a traceback for it.
"""

from __future__ import annotations


class InrlabError(ValueError):
    """A bad input, stated in one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class TrainingDiverged(InrlabError):
    """The loss stopped being finite; `history` holds every step up to the last good one."""

    def __init__(self, message: str, history=None):
        super().__init__(message)
        self.history = history


class Terminated(KeyboardInterrupt):
    """SIGTERM (a `timeout`, a batch scheduler, `kill`), raised in the main thread so that every
    path that keeps results on Ctrl-C (the sweep's table and summary, a study's status) runs."""


def nearest_valid(n: int, divisor: int) -> tuple[int, int]:
    """The multiples of `divisor` just below and above `n` (the smaller one at least `divisor`)."""
    below = max(divisor, (n // divisor) * divisor)
    above = below if below >= n else below + divisor
    if below == n:
        above = n
    return below, above
