"""Random weight factorization (RWF): Wang, Wang, Seidman, Perdikaris, "Random Weight
Factorization Improves the Training of Continuous Neural Representations" (2022).

Every weight row (one output neuron) is written W_k = exp(s_k) * V_k, and s and V are trained
instead of W (the paper's sec. 2, eq. 2.4, W = diag(s) V, with the scale kept positive through
exp as in the authors' code). Initialisation (the authors' code, per ../shared/REFERENCE.md):
start from the layer's usual weights W0, draw s_k ~ N(mu, sigma) per output neuron and set
V = W0 / exp(s), so the network computes the same function at initialisation. mu = 1.0,
sigma = 0.1 by default (the authors also use mu = 0.5).

How it is applied. `factorize_(model)` converts a built model in place, generically, with
torch.nn.utils.parametrize: every trainable nn.Parameter named `weight` becomes the product of
two parameters, `parametrizations.weight.original0` (s) and `...original1` (V). The last axis
of a weight is its fan-in and every other index names one output neuron, so s has the weight's
shape with the last axis set to 1: nn.Linear (out, in) -> s (out, 1); a batched ensemble
(G, out, in) -> (G, out, 1); LoE tiles (T, out, in) -> (T, out, 1); sparse heads (heads, alpha)
-> (heads, 1). Biases, fixed buffers (Fourier matrix B) and wiring indices are left alone.
While the converted model runs forward it holds parametrize.cached(), so each weight is
computed once per forward pass even if a family reads `self.weight` more than once.

Differences from the authors' code: they initialise W0 with Glorot normal and zero biases for
every network; we factorize whatever the family's own `init_` drew (Glorot uniform for
ReLU/FF, SIREN's rule for SIREN, ...), so a factorized model starts exactly where its
unfactorized twin with the same seed starts, and RWF is the only difference between them.

Switch and names (`inrlab.models.build`): `factorize=True` converts the model after it is
built, with `rwf_mu` and `rwf_sigma` (defaults 1.0 and 0.1). One rule for the short names:
`mu` and `sigma` mean rwf_mu / rwf_sigma for any family that has no parameter of that name;
a family's own parameter always keeps its name (Fourier features' `sigma` is its frequency
scale). Where both readings are possible (`ff` with factorize=true and `sigma` but no
`rwf_sigma`) build stops with a one-line error asking for rwf_sigma; RWF keys without
factorize=true are an error too (they would otherwise be silently ignored). The config saved in
checkpoints holds factorize, rwf_mu and rwf_sigma, so `rebuild` restores a factorized model.

Cost. Parameters: `out` extra per layer (one s per output neuron), which count_params sees.
FLOPs: forming W = exp(s) * V costs one exp per neuron and one multiply per weight, once per
forward pass, not per sample (`factorization_flops`). For one render of a 256^2 image it is
about 1/(2 * 65536) of the matmul FLOPs, so `model.flops()` leaves it out.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..errors import InrlabError

DEFAULT_MU = 1.0
DEFAULT_SIGMA = 0.1


class ExpScale(nn.Module):
    """The parametrization W = exp(s) * V (s broadcast along the last, fan-in, axis)."""

    def __init__(self, mu: float = DEFAULT_MU, sigma: float = DEFAULT_SIGMA):
        super().__init__()
        self.mu, self.sigma = float(mu), float(sigma)
        self._noise: torch.Tensor | None = None   # standard normal draws for the next right_inverse

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.exp(s) * v

    @torch.no_grad()
    def right_inverse(self, w: torch.Tensor):
        # RWF initialisation (paper sec. 2 / authors' code): s ~ N(mu, sigma) per output neuron,
        # V = W / exp(s), so exp(s) * V reproduces W. The noise is drawn by factorize_ (seeded);
        # a later `module.weight = W` assignment draws fresh noise from the global RNG.
        shape = w.shape[:-1] + (1,) if w.ndim else (1,)
        noise = self._noise if self._noise is not None else torch.randn(shape, dtype=w.dtype, device=w.device)
        self._noise = None
        s = (self.mu + self.sigma * noise).to(dtype=w.dtype, device=w.device)
        return s, w / torch.exp(s)

    def extra_repr(self) -> str:
        return f"mu={self.mu:g}, sigma={self.sigma:g}"


# One parametrize.cached() context per running forward pass of a converted model (a stack, so
# nested calls work). Module-level functions keep the hooks picklable and copyable.
_OPEN_CACHES: list = []


def _enter_cache(module, args):
    cm = parametrize.cached()
    cm.__enter__()
    _OPEN_CACHES.append(cm)


def _exit_cache(module, args, output):
    if _OPEN_CACHES:
        _OPEN_CACHES.pop().__exit__(None, None, None)


def _weights(model: nn.Module):
    """(qualified name, module) for every trainable `weight` parameter, in module order."""
    out, seen = [], set()
    for mod_name, mod in model.named_modules():
        w = mod._parameters.get("weight")
        if isinstance(w, nn.Parameter) and w.requires_grad:
            if id(w) in seen:
                raise InrlabError(f"weight '{mod_name}.weight' is shared with another module; "
                                  f"random weight factorization needs one owner per weight")
            seen.add(id(w))
            out.append((f"{mod_name}.weight" if mod_name else "weight", mod))
    return out


def _check_spread(mu, sigma):
    for key, v in (("mu", mu), ("sigma", sigma)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InrlabError(f"RWF {key} must be a finite number, got {v!r}")
    if sigma < 0:
        raise InrlabError(f"RWF sigma must be >= 0, got {sigma}")


def factorize_(model: nn.Module, mu: float = DEFAULT_MU, sigma: float = DEFAULT_SIGMA,
               generator: torch.Generator | None = None) -> list[str]:
    """Convert every trainable `weight` of `model` to W = exp(s) * V in place; return the names.

    s ~ N(mu, sigma) per output neuron, drawn from `generator` (or the global RNG) in module
    order; V = W / exp(s), so the model's outputs do not change (up to float rounding).
    """
    _check_spread(mu, sigma)
    if is_factorized(model):
        raise InrlabError("model is already factorized")
    targets = _weights(model)
    if not targets:
        raise InrlabError(f"{type(model).__name__} has no trainable parameter named 'weight' to factorize")
    for _, mod in targets:
        w = mod.weight
        shape = w.shape[:-1] + (1,) if w.ndim else (1,)
        p = ExpScale(mu, sigma)
        p._noise = torch.randn(shape, generator=generator, dtype=torch.float32,
                               device=generator.device if generator is not None else "cpu")
        parametrize.register_parametrization(mod, "weight", p)
    model.register_forward_pre_hook(_enter_cache)
    model.register_forward_hook(_exit_cache, always_call=True)
    return [name for name, _ in targets]


def is_factorized(model: nn.Module) -> bool:
    return any(isinstance(p, ExpScale) for m in model.modules()
               if parametrize.is_parametrized(m, "weight") for p in m.parametrizations.weight)


def factors(model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{qualified weight name: (s, V)} of a factorized model (the trained parameters)."""
    out = {}
    for name, mod in model.named_modules():
        if parametrize.is_parametrized(mod, "weight") and isinstance(mod.parametrizations.weight[0], ExpScale):
            pl = mod.parametrizations.weight
            out[f"{name}.weight" if name else "weight"] = (pl.original0, pl.original1)
    return out


def merge_(model: nn.Module) -> nn.Module:
    """Replace every factorized weight by the plain parameter exp(s) * V, in place (the same
    function, the unfactorized parameter count and forward cost). Safe on a deepcopy: the
    original keeps its factorization. Returns the model."""
    for mod in model.modules():
        if parametrize.is_parametrized(mod, "weight") and isinstance(mod.parametrizations.weight[0], ExpScale):
            if list(mod.parametrizations) != ["weight"] or len(mod.parametrizations.weight) != 1:
                raise InrlabError(f"{type(mod).__name__} has parametrizations besides RWF; "
                                  f"remove them first")
            # By hand rather than parametrize.remove_parametrizations: that deletes the weight
            # property from the injected class, which a deepcopy of the model shares.
            with torch.no_grad():
                w = mod.weight.detach().clone()
            requires_grad = mod.parametrizations.weight.original1.requires_grad
            del mod._modules["parametrizations"]
            mod.__class__ = mod.__class__.__bases__[0]
            mod.register_parameter("weight", nn.Parameter(w, requires_grad=requires_grad))
    for hooks, fn in ((model._forward_pre_hooks, _enter_cache), (model._forward_hooks, _exit_cache)):
        for key in [k for k, h in hooks.items() if h is fn]:
            del hooks[key]
            model._forward_hooks_always_called.pop(key, None)
    config = getattr(model, "config", None)
    if isinstance(config, dict) and "kwargs" in config:
        config["kwargs"] = {k: v for k, v in config["kwargs"].items()
                            if k not in ("factorize", "rwf_mu", "rwf_sigma")}
    return model


def factorization_flops(model: nn.Module) -> float:
    """FLOPs to form every W = exp(s) * V once (one forward pass, independent of the number of
    points): one exp per output neuron and one multiply per weight entry."""
    return float(sum(s.numel() + v.numel() for s, v in factors(model).values()))


def self_adaptive_update(s: torch.Tensor, v: torch.Tensor, grad_w: torch.Tensor, lr: float) -> torch.Tensor:
    """First-order change of W = exp(s) * V after one SGD step of size lr on (s, V).

    With g = exp(s) and G = dL/dW: dL/dV = g G and dL/ds_k = g_k <V_k, G_k>, so to first order
    in lr, dW_k = -lr g_k^2 (G_k + <V_k, G_k> V_k) = -lr (g_k^2 I + W_k W_k^T) G_k: a plain
    gradient step on W whose learning rate is rescaled per neuron by g_k^2, plus a step along
    the neuron's own weight vector: each neuron learns with its own, self-adaptive rate.
    """
    g2 = torch.exp(2 * s)
    return -lr * g2 * (grad_w + (v * grad_w).sum(-1, keepdim=True) * v)
