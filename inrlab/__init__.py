"""inrlab: a small lab for implicit neural representations (coordinate networks).

    import inrlab
    inrlab.fast_allocator()   # optional, first: huge pages and malloc settings (inrlab.allocator)
    from inrlab import signals, models, fit
    sig = signals.image("camera", size=64, gray=True)
    net = models.build("siren", signal=sig, width=64, depth=2, seed=0)
    hist = fit(net, sig, steps=300, lr=1e-4)

Importing inrlab changes no process-wide setting; `fast_allocator()` is the one switch that
does, and the CLI and the study's notebooks call it.
"""

from . import metrics, models, signals
from .allocator import enable as fast_allocator
from .checkpoint import load_checkpoint, save_checkpoint
from .errors import InrlabError, TrainingDiverged
from .flops import count_params, forward_flops
from .signals import Signal
from .train import FitState, History, fit, make_step, resolve_device

__version__ = "0.1.0"

__all__ = ["metrics", "models", "signals", "fast_allocator", "InrlabError", "TrainingDiverged",
           "count_params", "forward_flops", "Signal", "FitState", "History", "fit", "make_step",
           "load_checkpoint", "resolve_device", "save_checkpoint"]
