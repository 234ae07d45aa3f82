"""inrlab: a small lab for implicit neural representations (coordinate networks).

    from inrlab import signals, models, fit
    sig = signals.image("camera", size=64, gray=True)
    net = models.build("siren", signal=sig, width=64, depth=2, seed=0)
    hist = fit(net, sig, steps=300, lr=1e-4)
"""

from . import metrics, models, signals
from .errors import InrlabError, TrainingDiverged
from .flops import count_params, forward_flops
from .signals import Signal
from .train import FitState, History, fit, load_checkpoint, resolve_device, save_checkpoint

__version__ = "0.1.0"

__all__ = ["metrics", "models", "signals", "InrlabError", "TrainingDiverged", "count_params",
           "forward_flops", "Signal", "FitState", "History", "fit", "load_checkpoint",
           "resolve_device", "save_checkpoint"]
