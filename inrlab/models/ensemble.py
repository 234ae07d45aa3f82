"""Ensemble INR: one small network per grid cell (Kadarvish et al., "Ensemble Neural
Representation Networks", ENRP, 2022).

The domain is split into a grid of cells (M x M for an image, M segments for audio); member g
fits only the samples of cell g, on cell-local coordinates (`signals.partition`, pixel-centre
convention, so the model evaluates at any resolution and on scattered points). Members are SIREN,
ReLU, ReLU + positional encoding or Fourier-feature networks, or any plain MLP family that
offers its activation and initialisation (`parts()`, `layers.MLPParts`: Gauss, FINER), with
exactly the architecture and the per-member initialisation of the standalone family
(`models.build(member, ...)`). WIRE is not a member: its complex layers are not stacks of
real linear layers.

All members run as one batched computation: weights stacked as (G, out, in) in `BatchedLinear`,
samples sorted by cell once (the order is cached per coordinate tensor), grouped as (G, n, d)
and pushed through `torch.baddbmm`; a cell with more samples than the others is split into
chunks that share their member's weights, so padding never exceeds about the number of samples.
`stack` > 1 stacks independent copies of the whole ensemble (different seeds) in the same
batched tensors: outputs are (N, stack * dim_out), copy s in columns [s*C, (s+1)*C); train
them with `fit(model, stack_signal(signal, stack))`.

Differences from the paper's code (AlirezaMorsali/ENRP): their code only has SIREN members, runs
grids of at most 2 x 2 as a loop of separate networks and larger grids batched, and its batched
path initialises biases with fan-in = out * in (much smaller than nn.Linear's), so the two paths
start differently; here every member of every grid starts as a standalone network of its
family would. Their coordinates are align-corners per cell; ours are pixel centres.
FLOPs: `flops()` is our full count (matmul, bias, activations, encodings); `flops_enrp()` is the
paper's ptflops convention (linear layers' matmuls only), which reproduces their Table I.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..errors import InrlabError
from ..checks import SIZE, Range, check_cells
from ..flops import FlopCount
from ..signals import MAX_SIDE, Signal, parse_grid, partition
from .base import INR, CoordsMemo
from .layers import BatchedLinear, default_bias_init_, glorot_init_, sine, siren_init_, w0_in_weights
from .finer import Finer
from .fourier import FourierFeatures
from .gauss import Gauss
from .registry import build, register
from .relu import ReluMLP
from .siren import Siren

MEMBERS = ("siren", "relu", "relu_pe", "ff", "gauss", "finer")
# Family options an ensemble passes on to its members, and the families that take each.
MEMBER_OPTIONS = {"w0": ("siren", "finer"), "w0_initial": ("siren", "finer"),
                  "pe_freqs": ("relu", "relu_pe"), "sigma": ("ff",), "mapping_size": ("ff",),
                  "two_pi": ("ff",), "scale": ("gauss",), "bias_scale": ("finer",)}


@dataclass
class _Plan:
    """How the samples of one coordinate tensor map onto the batched (groups, n) layout.

    order: samples sorted by cell (None when they already are); inverse: its inverse.
    groups: rows of the batch (= members unless a cell is split into chunks); n: samples per
    row; members: member of each row (None: row g is member g); slots: each sorted sample's
    position in the flat (groups * n) layout (None when the layout is exactly full).
    """

    order: torch.Tensor | None
    inverse: torch.Tensor | None
    groups: int
    n: int
    members: torch.Tensor | None
    slots: torch.Tensor | None
    counts: torch.Tensor


def make_plan(cell: torch.Tensor, cells: int) -> _Plan:
    """Group N samples with cell ids `cell` into rows of at most n = ceil(N / cells) samples."""
    N = cell.numel()
    dev = cell.device
    counts = torch.bincount(cell, minlength=cells)
    n = max(1, -(-N // cells))
    if N > 1 and bool((cell[1:] >= cell[:-1]).all()):
        order = inverse = None
        sorted_cell = cell
    else:
        order = torch.argsort(cell, stable=True)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(N, device=dev)
        sorted_cell = cell[order]
    if int(counts.max()) <= n:
        groups, members = cells, None
        if N == cells * n:  # every cell holds exactly n samples: a plain reshape
            slots = None
        else:
            start = torch.cumsum(counts, 0) - counts
            rank = torch.arange(N, device=dev) - start[sorted_cell]
            slots = sorted_cell * n + rank
    else:  # uneven: cell g takes ceil(count_g / n) rows, so rows * n <= N + cells * n
        chunks = -(-counts // n)
        groups = int(chunks.sum())
        members = torch.repeat_interleave(torch.arange(cells, device=dev), chunks)
        first_row = torch.cumsum(chunks, 0) - chunks
        start = torch.cumsum(counts, 0) - counts
        rank = torch.arange(N, device=dev) - start[sorted_cell]
        slots = (first_row[sorted_cell] + rank // n) * n + rank % n
    return _Plan(order, inverse, groups, n, members, slots, counts)


@register("ensemble")
class Ensemble(INR):
    """A grid of member networks, batched. See the module docstring.

    grid: cells per axis (int, 'AxB' or tuple; for audio the number of segments). member: the
    family of every member (siren, relu, relu_pe, ff, gauss, finer). width/depth: each member's
    width and number of hidden width->width layers after the first (SIREN's hidden_layers,
    ENRP's d). w0, w0_initial (siren, finer), pe_freqs (relu, relu_pe), sigma, mapping_size,
    two_pi (ff), scale (gauss), bias_scale (finer): the member family's own options; None keeps
    that family's default. stack: independent copies
    of the whole ensemble in one model (outputs (N, stack * dim_out)).
    """

    # the member options take their own family's ranges
    ranges = {**INR.ranges, "grid": Range(1, MAX_SIDE), "stack": SIZE,
              **{k: fam.ranges[k] for fam in (Siren, ReluMLP, FourierFeatures, Gauss, Finer)
                 for k in MEMBER_OPTIONS if k in fam.ranges}}
    adam = {"lr": 1e-3}   # inrlab.defaults.SWEEP (SIREN members, the default)

    def __init__(self, dim_in: int = 2, dim_out: int = 1, grid: int | str | tuple[int, ...] = 2,
                 member: str = "siren", width: int = 128, depth: int = 1,
                 w0: float | None = None, w0_initial: float | None = None,
                 pe_freqs: int | None = None, sigma: float | None = None,
                 mapping_size: int | None = None, two_pi: bool | None = None,
                 scale: float | None = None, bias_scale: float | None = None, stack: int = 1):
        super().__init__()
        if member not in MEMBERS:
            raise InrlabError(f"unknown member '{member}' (choose from {', '.join(MEMBERS)})")
        if width < 1 or depth < 0 or dim_in < 1 or dim_out < 1:
            raise ValueError(f"width, dim_in, dim_out must be >= 1 and depth >= 0; got "
                             f"width={width}, depth={depth}, dim_in={dim_in}, dim_out={dim_out}")
        if isinstance(stack, bool) or stack < 1:
            raise ValueError(f"stack must be a positive integer, got {stack!r}")
        given = {"w0": w0, "w0_initial": w0_initial, "pe_freqs": pe_freqs, "sigma": sigma,
                 "mapping_size": mapping_size, "two_pi": two_pi, "scale": scale,
                 "bias_scale": bias_scale}
        for key, value in given.items():
            if value is not None and member not in MEMBER_OPTIONS[key]:
                raise InrlabError(f"option {key}={value!r} does not apply to member '{member}' "
                                  f"(it is for {', '.join(MEMBER_OPTIONS[key])})")
        self.grid = parse_grid(grid, dim_in)
        self.cells = math.prod(self.grid)
        self.member, self.width, self.depth, self.stack = member, width, depth, stack
        self.channels = dim_out                 # outputs per copy
        self.dim_in, self.dim_out = dim_in, dim_out * stack   # what forward returns (fit checks this)
        self.member_kwargs = {k: v for k, v in given.items() if v is not None}
        # The standalone member on the meta device: the options resolved to its family's
        # defaults (and validated there), and its FLOP count.
        proto = self.member_network(device="meta")
        self.groups = stack * self.cells
        # a plain MLP family's activation and initialisation (None: handled below by name)
        self.mlp_parts = proto.parts() if hasattr(proto, "parts") else None
        if self.mlp_parts is not None:
            enc_dim = dim_in
        elif member == "siren":
            self.w0, self.w0_initial = proto.w0, proto.w0_initial
            enc_dim = dim_in
        elif member in ("relu", "relu_pe"):
            self.pe_freqs = proto.pe_freqs
            self.register_buffer("freqs", (2.0 ** torch.arange(self.pe_freqs)) * math.pi)
            enc_dim = dim_in * (1 + 2 * self.pe_freqs)
        else:
            self.sigma, self.mapping_size, self.two_pi = proto.sigma, proto.mapping_size, proto.two_pi
            if proto.sigmoid:
                raise InrlabError("ff members with a sigmoid output are not supported")
            self.register_buffer("B", torch.empty(self.groups, self.mapping_size, dim_in))
            enc_dim = 2 * self.mapping_size
        dims = [enc_dim] + [width] * (depth + 1) + [dim_out]
        self.layers = nn.ModuleList(BatchedLinear(self.groups, a, b) for a, b in zip(dims[:-1], dims[1:]))
        self._plans = CoordsMemo(size=4)
        self.init_()

    def check_signal(self, signal) -> None:
        check_cells(signal, self.grid)  # uneven cells are fine, empty ones are refused

    # ------------------------------------------------------------------ construction

    def member_network(self, device=None):
        """A standalone network of the member family with this ensemble's member settings."""
        kw = dict(dim_in=self.dim_in, dim_out=self.channels, width=self.width, depth=self.depth,
                  **self.member_kwargs)
        if device is None:
            return build(self.member, **kw)
        with torch.device(device):
            return build(self.member, **kw)

    @torch.no_grad()
    def init_(self):
        """Every member drawn as its standalone family draws one, fan-in/fan-out being ONE
        member's layer sizes. SIREN (Sitzmann et al. 2020, sec. 3.2): first layer U(-1/n, 1/n),
        others U(-sqrt(6/n)/w0, sqrt(6/n)/w0), biases nn.Linear's U(-1/sqrt(n), 1/sqrt(n)).
        ReLU, ReLU + PE and Fourier features: Glorot uniform, zero bias (Keras' default, as
        those papers' code). Fourier features: B ~ N(0, sigma^2) drawn per member (Tancik et
        al. 2020, sec. 6). Gauss, FINER: their family's own rule (`parts().init_layers_`).
        ENRP sec. III-A only says the members are alike; the bias fan-in of their batched code
        (out * in) is not followed."""
        if self.mlp_parts is not None:
            self.mlp_parts.init_layers_(self.layers)
            return
        for i, layer in enumerate(self.layers):
            if self.member == "siren":
                siren_init_(layer.weight, layer.in_features, self.w0, first=(i == 0))
                default_bias_init_(layer.bias, layer.in_features)
            else:
                glorot_init_(layer.weight, layer.bias, layer.in_features, layer.out_features)
        if self.member == "ff":
            self.B.normal_().mul_(self.sigma)

    # ------------------------------------------------------------------ grouping

    def plan(self, coords: torch.Tensor, cell: torch.Tensor | None = None) -> _Plan:
        """The grouping of `coords`, computed once per coordinate tensor (fit passes the same
        tensor every step) and recomputed if that tensor is modified in place."""
        return self._plans.get(coords, lambda: make_plan(
            partition(coords, self.grid)[0] if cell is None else cell, self.cells))

    def _rows(self, plan: _Plan) -> torch.Tensor | None:
        """Member of every batch row across the stacked copies (None: rows are members)."""
        if plan.members is None:
            return None
        offsets = torch.arange(self.stack, device=plan.members.device) * self.cells
        return (offsets[:, None] + plan.members[None, :]).reshape(-1)

    # ------------------------------------------------------------------ forward

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        N = coords.shape[0]
        if N == 0:
            return coords.new_zeros(0, self.dim_out)
        cell, local = partition(coords, self.grid)
        p = self.plan(coords, cell)
        x = local if p.order is None else local.index_select(0, p.order)
        if self.member in ("relu", "relu_pe") and self.pe_freqs:
            z = (x[:, :, None] * self.freqs).flatten(1)
            x = torch.cat([x, torch.sin(z), torch.cos(z)], dim=-1)
        if p.slots is not None:
            x = x.new_zeros(p.groups * p.n, x.shape[1]).index_copy(0, p.slots, x)
        d = x.shape[-1]
        x = x.view(p.groups, p.n, d).transpose(1, 2)        # (groups, d, n): channels first
        if self.stack > 1:
            x = x.unsqueeze(0).expand(self.stack, *x.shape).reshape(self.stack * p.groups, d, p.n)
        h = self._members(x, self._rows(p))                  # (stack * groups, C, n)
        C = self.channels
        # rows of the (groups * n) layout, copies side by side in the columns
        out = h.view(self.stack, p.groups, C, p.n).permute(1, 3, 0, 2).reshape(p.groups * p.n, self.stack * C)
        if p.slots is not None:
            out = out.index_select(0, p.slots)
        return out if p.inverse is None else out.index_select(0, p.inverse)

    def _members(self, x: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        """The member networks on grouped, channels-first inputs x (rows, d, n) ->
        (rows, channels, n)."""
        layers = self.layers
        if self.mlp_parts is not None:
            h = x
            for i, layer in enumerate(layers[:-1]):
                h = self.mlp_parts.activate(layer(h, rows, channels_first=True), i)
            return layers[-1](h, rows, channels_first=True)
        if self.member == "siren":
            h = x
            for i, layer in enumerate(layers[:-1]):
                w0 = self.w0_initial if i == 0 else self.w0
                if w0_in_weights(layer.in_features, h.shape[-1]):   # h: (rows, in, n)
                    h = sine(layer(h, rows, channels_first=True, scale=w0))
                else:
                    h = sine(layer(h, rows, channels_first=True), w0)
            return layers[-1](h, rows, channels_first=True)
        if self.member == "ff":
            B = self.B if rows is None else self.B.index_select(0, rows)
            z = torch.bmm(B, x)
            if self.two_pi:
                z = z * (2 * math.pi)
            x = torch.cat([torch.sin(z), torch.cos(z)], dim=1)
        h = x
        for layer in layers[:-1]:
            h = torch.relu_(layer(h, rows, channels_first=True))
        return layers[-1](h, rows, channels_first=True)

    # ------------------------------------------------------------------ costs

    def flops_per_point(self) -> FlopCount:
        """One member's per-sample FLOPs (the standalone family's count) for each stacked copy.
        Every sample goes through exactly one member per copy, so the ensemble's cost of a
        signal is this times the number of samples, however the cells divide."""
        return self.member_network(device="meta").flops_per_point() * self.stack

    def flops_enrp(self, shape) -> float:
        """FLOPs as the ENRP paper counts them (ptflops: linear layers' matmuls, 2 per
        multiply-add, forward, one copy). Their Table I: SIREN 3x256 at 128^2 = 6.48 G,
        M=32, d=1, w=128 = 557.84 M. For ff members their 558.11 M equals the linear layers
        plus the projection x B counted once per member, not per sample; we follow that."""
        from ..flops import n_points

        per_point = self.member_network(device="meta").flops_per_point().matmul
        if self.member == "ff":
            proj = 2.0 * self.dim_in * self.mapping_size
            return (per_point - proj) * n_points(shape) + proj * self.cells
        return per_point * n_points(shape)

    def extra_repr(self) -> str:
        grid = "x".join(map(str, self.grid))
        return f"grid={grid}, members={self.cells}, member={self.member}, stack={self.stack}"


# --------------------------------------------------------------------------- stacked copies

def stack_signal(signal: Signal, stack: int) -> Signal:
    """The signal with its values repeated `stack` times side by side, as a stacked ensemble
    outputs them, so `fit(model, stack_signal(signal, model.stack))` trains every copy.

    fit's MSE is then the mean of the copies' MSEs, so each copy's gradient is 1/stack of what
    it would get alone. Adam is elementwise and divides by the gradient's scale, so every copy
    follows its solo trajectory except that Adam's eps (1e-8) acts as stack * eps; fit PSNR
    is that of the copies' mean MSE. Use `copy_psnr` for each copy's own PSNR."""
    if isinstance(stack, bool) or not isinstance(stack, int) or stack < 1:
        raise InrlabError(f"stack must be a positive integer, got {stack!r}")
    if stack == 1:
        return signal
    held = stack_signal(signal.heldout, stack) if signal.heldout is not None else None
    return replace(signal, values=signal.values.repeat(1, stack), heldout=held,
                   name=f"{signal.name}[x{stack}]")


def split_copies(pred: torch.Tensor, stack: int) -> torch.Tensor:
    """(N, stack * C) outputs of a stacked model -> (stack, N, C)."""
    N, SC = pred.shape
    return pred.reshape(N, stack, SC // stack).permute(1, 0, 2)


@torch.no_grad()
def take_copy(model: Ensemble, s: int) -> Ensemble:
    """Stacked copy `s` of `model` as an ensemble of its own (stack=1), weights copied."""
    if not 0 <= s < model.stack:
        raise InrlabError(f"copy {s} out of range for a stack of {model.stack}")
    kwargs = {**model.config["kwargs"], "stack": 1} if hasattr(model, "config") else dict(
        dim_in=model.dim_in, dim_out=model.channels, grid=model.grid, member=model.member,
        width=model.width, depth=model.depth, stack=1, **model.member_kwargs)
    one = build("ensemble", **kwargs).to(next(model.parameters()).device)
    rows = slice(s * model.cells, (s + 1) * model.cells)
    for mine, theirs in zip(one.layers, model.layers):
        mine.weight.copy_(theirs.weight[rows])
        mine.bias.copy_(theirs.bias[rows])
    if model.member == "ff":
        one.B.copy_(model.B[rows])
    return one


@torch.no_grad()
def copy_psnr(model: Ensemble, signal: Signal, convention: str = "standard",
              clip: bool = True) -> list[float]:
    """PSNR of each stacked copy on `signal` (the original, unstacked signal).
    convention: 'standard' (inrlab.metrics.psnr) or 'enrp' (metrics.psnr_enrp)."""
    from ..metrics import psnr, psnr_enrp

    fn = {"standard": psnr, "enrp": psnr_enrp}.get(convention)
    if fn is None:
        raise InrlabError(f"unknown PSNR convention '{convention}' (choose standard or enrp)")
    pred = split_copies(model.predict(signal.coords), model.stack)
    return [fn(p, signal.values, signal.value_range, clip=clip) for p in pred]


# --------------------------------------------------------------------------- reference

class EnsembleReference(INR):
    """The same ensemble as a Python loop over separate standalone member networks (built with
    `models.build(member, ...)`), for tests and the benchmark. Member k of stacked copy s is
    `nets[s * cells + k]`. With textbook=True each member runs its family's
    `forward_reference` (nn.Linear and torch activations, as a loop is usually written)
    instead of inrlab's fused layers."""

    def __init__(self, model: Ensemble, textbook: bool = False):
        super().__init__()
        self.textbook = textbook
        self.grid, self.cells, self.stack = model.grid, model.cells, model.stack
        self.channels, self.dim_in, self.dim_out = model.channels, model.dim_in, model.dim_out
        self.nets = nn.ModuleList(model.member_network() for _ in range(model.groups))
        self._flops = model.flops_per_point()
        self.load_from(model)

    @torch.no_grad()
    def load_from(self, model: Ensemble) -> None:
        """Copy the batched weights into the member networks."""
        for k, net in enumerate(self.nets):
            for mine, theirs in zip(net.layers, model.layers):
                mine.weight.copy_(theirs.weight[k])
                mine.bias.copy_(theirs.bias[k])
            if model.member == "ff":
                net.B.copy_(model.B[k])

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        cell, local = partition(coords, self.grid)
        order = torch.argsort(cell, stable=True)
        counts = torch.bincount(cell, minlength=self.cells).tolist()
        pieces = local[order].split(counts)
        copies = []
        for s in range(self.stack):
            nets = self.nets[s * self.cells:(s + 1) * self.cells]
            run = [n.forward_reference if self.textbook else n for n in nets]
            outs = [run[g](x) for g, x in enumerate(pieces) if x.shape[0]]
            copies.append(torch.cat(outs))
        sorted_out = torch.cat(copies, dim=1)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        return sorted_out.index_select(0, inverse)

    def flops_per_point(self) -> FlopCount:
        return self._flops


def ensemble_reference(model: Ensemble, textbook: bool = False) -> EnsembleReference:
    """`model` as a loop of standalone networks holding copies of its weights."""
    if not isinstance(model, Ensemble):
        raise InrlabError(f"ensemble_reference needs an Ensemble, got {type(model).__name__}")
    ref = EnsembleReference(model, textbook=textbook)
    return ref.to(next(model.parameters()).device)


# --------------------------------------------------------------------------- costs without weights

def ensemble_costs(shape, **kwargs) -> dict:
    """Parameters and FLOPs of build('ensemble', **kwargs) for a signal of `shape`, computed
    on the meta device (no memory): {'params', 'flops' (ours, total), 'flops_matmul',
    'flops_enrp'}."""
    from ..flops import count_params

    with torch.device("meta"):
        model = build("ensemble", **kwargs)
    f = model.flops(shape)
    return {"params": count_params(model), "flops": f.total, "flops_matmul": f.matmul,
            "flops_enrp": model.flops_enrp(shape)}
