"""inrlab: a small lab for implicit neural representations (coordinate networks).

    from inrlab import signals, models, fit
    sig = signals.image("camera", size=64, gray=True)
    net = models.build("siren", signal=sig, width=64, depth=2, seed=0)
    hist = fit(net, sig, steps=300, lr=1e-4)
"""

import os as _os
import sys as _sys

# Large CPU tensors on transparent huge pages: a fresh activation-sized tensor is then
# faulted in 2 MB at a time instead of 4 KB, which made training steps of the big-batch
# families 25-35 % faster on the project's machine (README, Measured results). PyTorch reads
# the switch once, when torch is first imported, so it only takes effect if inrlab is
# imported first; set THP_MEM_ALLOC_ENABLE=0 to keep PyTorch's default.
if "torch" not in _sys.modules:
    _os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from . import metrics, models, signals  # noqa: E402
from .errors import InrlabError, TrainingDiverged  # noqa: E402
from .flops import count_params, forward_flops  # noqa: E402
from .signals import Signal  # noqa: E402
from .train import FitState, History, fit, load_checkpoint, resolve_device, save_checkpoint  # noqa: E402

__version__ = "0.1.0"

__all__ = ["metrics", "models", "signals", "InrlabError", "TrainingDiverged", "count_params",
           "forward_flops", "Signal", "FitState", "History", "fit", "load_checkpoint",
           "resolve_device", "save_checkpoint"]
