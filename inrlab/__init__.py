"""inrlab: a small lab for implicit neural representations (coordinate networks).

    from inrlab import signals, models, fit
    sig = signals.image("camera", size=64, gray=True)
    net = models.build("siren", signal=sig, width=64, depth=2, seed=0)
    hist = fit(net, sig, steps=300, lr=1e-4)
"""

from . import allocator as _allocator

# huge pages for large CPU tensors and the malloc settings that go with them, applied before
# torch is imported (see inrlab.allocator; THP_MEM_ALLOC_ENABLE=0 keeps the defaults)
_allocator.configure()

from . import metrics, models, signals  # noqa: E402
from .errors import InrlabError, TrainingDiverged  # noqa: E402
from .flops import count_params, forward_flops  # noqa: E402
from .signals import Signal  # noqa: E402
from .train import FitState, History, fit, load_checkpoint, resolve_device, save_checkpoint  # noqa: E402

__version__ = "0.1.0"

__all__ = ["metrics", "models", "signals", "InrlabError", "TrainingDiverged", "count_params",
           "forward_flops", "Signal", "FitState", "History", "fit", "load_checkpoint",
           "resolve_device", "save_checkpoint"]
