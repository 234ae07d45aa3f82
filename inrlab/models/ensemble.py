"""Ensemble INR: one small network per grid cell (Kadarvish et al., "Ensemble Neural
Representation Networks", ENRP, 2022).

The domain is split into a grid of cells (M x M for an image, M segments for audio); member g
fits only the samples of cell g, on cell-local coordinates (`signals.partition`, pixel-centre
convention, so the model evaluates at any resolution and on scattered points). A member is any
pointwise family that offers its parts (`batched()`, `layers.Pointwise`: its encoding and
activation as objects and a factory for its batched layers): SIREN, ReLU, ReLU + positional
encoding, Fourier features, WIRE, Gauss, FINER, with exactly the architecture and the
per-member initialisation (the family's own `init_`) of the standalone family
(`models.build(member, ...)`); nothing here depends on which family it is.

All members run as one batched computation: weights stacked as (G, out, in) in `BatchedLinear`,
samples sorted by cell once (`layers.Groups`, cached per coordinate tensor), grouped as (G, n, d)
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
from dataclasses import replace

import torch
from torch import nn

from ..errors import InrlabError
from ..checks import SIZE, check_cells
from ..flops import FlopCount
from ..signals import Signal, parse_grid, partition
from .base import INR, CoordsMemo, axis_range
from .layers import Groups, run_batched
from .registry import _constructor, available, build, parameters, register

# options an ensemble passes on to its members: the member family's own constructor keywords
OPTIONS = ("w0", "w0_initial", "pe_freqs", "sigma", "mapping_size", "two_pi", "scale", "bias_scale")


def members() -> list[str]:
    """The registered families an ensemble can batch: pointwise ones that offer `batched()`."""
    return [n for n in available() if getattr(_constructor(n), "pointwise", False)
            and hasattr(_constructor(n), "batched")]


def make_plan(cell: torch.Tensor, cells: int) -> Groups:
    """N samples with cell ids `cell` in rows of at most ceil(N / cells) samples."""
    return Groups(cell, cells, m=max(1, -(-cell.numel() // cells)))


@register("ensemble")
class Ensemble(INR):
    """A grid of member networks, batched. See the module docstring.

    grid: cells per axis (int, 'AxB' or tuple; for audio the number of segments). member: the
    family of every member (any pointwise family with `batched()`: siren, relu, relu_pe, ff,
    wire, gauss, finer). width/depth: each member's width and number of hidden width->width
    layers after the first (SIREN's hidden_layers, ENRP's d). w0, w0_initial, pe_freqs, sigma,
    mapping_size, two_pi, scale, bias_scale: the member family's own options (refused for a
    family that does not take them); None keeps that family's default. stack: independent
    copies of the whole ensemble in one model (outputs (N, stack * dim_out)).
    """

    ranges = {**INR.ranges, "grid": axis_range(1), "stack": SIZE}   # + add_member_ranges
    adam = {"lr": 1e-3}   # inrlab.defaults.SWEEP (SIREN members, the default)

    def __init__(self, dim_in: int = 2, dim_out: int = 1, grid: int | str | tuple[int, ...] = 2,
                 member: str = "siren", width: int = 128, depth: int = 1,
                 w0: float | None = None, w0_initial: float | None = None,
                 pe_freqs: int | None = None, sigma: float | None = None,
                 mapping_size: int | None = None, two_pi: bool | None = None,
                 scale: float | None = None, bias_scale: float | None = None, stack: int = 1):
        super().__init__()
        if member not in members():
            raise InrlabError(f"unknown member '{member}' (choose from {', '.join(members())})")
        if width < 1 or depth < 0 or dim_in < 1 or dim_out < 1:
            raise ValueError(f"width, dim_in, dim_out must be >= 1 and depth >= 0; got "
                             f"width={width}, depth={depth}, dim_in={dim_in}, dim_out={dim_out}")
        if isinstance(stack, bool) or stack < 1:
            raise ValueError(f"stack must be a positive integer, got {stack!r}")
        given = dict(zip(OPTIONS, (w0, w0_initial, pe_freqs, sigma, mapping_size, two_pi, scale,
                                   bias_scale)))
        for key, value in given.items():
            if value is not None and key not in parameters(member):
                takes = [m for m in members() if key in parameters(m)]
                raise InrlabError(f"option {key}={value!r} does not apply to member '{member}' "
                                  f"(it is for {', '.join(takes)})")
        self.grid = parse_grid(grid, dim_in)
        self.cells = math.prod(self.grid)
        self.member, self.width, self.depth, self.stack = member, width, depth, stack
        self.channels = dim_out                 # outputs per copy
        self.dim_in, self.dim_out = dim_in, dim_out * stack   # what forward returns (fit checks this)
        self.member_kwargs = {k: v for k, v in given.items() if v is not None}
        # the standalone member on the meta device: options resolved to its family's defaults
        # (and validated there), its parts and its FLOP count
        proto = self.member_network(device="meta")
        for key in OPTIONS:
            if key in parameters(member):
                setattr(self, key, getattr(proto, key))
        self.groups = stack * self.cells
        parts = proto.batched()
        self.activation = parts.activation
        self.encoding = parts.encoding.batched(self.groups)
        self.layers = parts.layers(self.groups)
        self._plans = CoordsMemo(size=4)
        self.init_()

    @classmethod
    def ranges_for(cls, kwargs: dict) -> dict:
        """The ensemble's ranges, and each member option's range in the member's family."""
        member = kwargs.get("member", "siren")
        fam = getattr(_constructor(member), "ranges", {}) if member in members() else {}
        return {**cls.ranges, **{k: r for k, r in fam.items() if k in OPTIONS}}

    @classmethod
    def add_member_ranges(cls) -> None:
        """Declare each member option with a member family's range (once every family is
        registered), so the option's range is listed where the ensemble's are."""
        for m in members():
            cls.ranges.update({k: r for k, r in _constructor(m).ranges.items()
                               if k in OPTIONS and k not in cls.ranges})

    def __getattr__(self, name):
        # the members' encoding tensors (ff's B) read as the ensemble's own, as before
        try:
            return super().__getattr__(name)
        except AttributeError:
            encoding = self.__dict__.get("_modules", {}).get("encoding")
            if encoding is None or name == "encoding" or not hasattr(encoding, name):
                raise
            return getattr(encoding, name)

    def check_signal(self, signal) -> None:
        check_cells(signal, self.grid)  # uneven cells are fine, empty ones are refused

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.encoding.state_dict():   # checkpoints from before the encoding module
            if prefix + name in state_dict:
                state_dict[prefix + "encoding." + name] = state_dict.pop(prefix + name)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

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
        """Every member drawn as its standalone family draws one (the family's `init_` on the
        batched layers), fan-in/fan-out being ONE member's layer sizes, then the members'
        encodings (Fourier features: B ~ N(0, sigma^2) per member). ENRP sec. III-A only says
        the members are alike; the bias fan-in of their batched code (out * in) is not
        followed."""
        self.member_network(device="meta").init_(self.layers)
        self.encoding.init_()

    def member_tensors(self) -> list[torch.Tensor]:
        """The batched tensors, member k's own at [k], in the order of a standalone member's
        parameters and then its per-member buffers (`member_pairs`)."""
        return [*self.layers.parameters(), *(self.encoding.get_buffer(n) for n in self.encoding.per_member)]

    # ------------------------------------------------------------------ grouping

    def plan(self, coords: torch.Tensor, cell: torch.Tensor | None = None) -> Groups:
        """The grouping of `coords`, computed once per coordinate tensor (fit passes the same
        tensor every step) and recomputed if that tensor is modified in place."""
        return self._plans.get(coords, lambda: make_plan(
            partition(coords, self.grid)[0] if cell is None else cell, self.cells))

    def _rows(self, plan: Groups) -> torch.Tensor | None:
        """Member of every batch row across the stacked copies (None: rows are members)."""
        if plan.members is None:
            return None
        offsets = torch.arange(self.stack, device=plan.members.device) * self.cells
        return (offsets[:, None] + plan.members[None, :]).reshape(-1)

    # ------------------------------------------------------------------ forward

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        if coords.shape[0] == 0:
            return coords.new_zeros(0, self.dim_out)
        cell, local = partition(coords, self.grid)
        p = self.plan(coords, cell)
        d = local.shape[1]
        x = p.gather(local).transpose(1, 2)                  # (rows, d, m): channels first
        if self.stack > 1:
            x = x.unsqueeze(0).expand(self.stack, *x.shape).reshape(self.stack * p.rows, d, p.m)
        rows = self._rows(p)
        h = run_batched(self.encoding(x, rows), self.layers, self.activation, rows)
        C = self.channels
        # rows of the (rows * m) layout, copies side by side in the columns
        out = h.view(self.stack, p.rows, C, p.m).permute(1, 3, 0, 2).reshape(p.rows * p.m, self.stack * C)
        return p.scatter(out)

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
        plus the projection x B counted once per member, not per sample; we follow that (an
        encoding's matmul is that projection)."""
        from ..flops import n_points

        per_point = self.member_network(device="meta").flops_per_point().matmul
        proj = self.encoding.flops().matmul
        return (per_point - proj) * n_points(shape) + proj * self.cells

    def extra_repr(self) -> str:
        grid = "x".join(map(str, self.grid))
        return f"grid={grid}, members={self.cells}, member={self.member}, stack={self.stack}"


def member_pairs(net: nn.Module, model: Ensemble) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(standalone tensor, batched tensor) pairs: member k of `model` holds net's tensors as
    the batched ones at [k] (parameters in order, then the encoding's per-member buffers)."""
    names = model.encoding.per_member
    mine = [*net.parameters(), *(net.encoding.get_buffer(n) for n in names)]
    theirs = model.member_tensors()
    if len(mine) != len(theirs) or any(m.shape != t.shape[1:] for m, t in zip(mine, theirs)):
        raise InrlabError(f"member '{model.member}' tensors do not line up with the ensemble's")
    return list(zip(mine, theirs))


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
    for mine, theirs in zip(one.member_tensors(), model.member_tensors()):
        mine.copy_(theirs[rows])
    return one


@torch.no_grad()
def copy_psnrs(model: Ensemble, signal: Signal, conventions=("standard", "enrp"),
               clip: bool = True) -> dict[str, list[float]]:
    """{convention: PSNR of each stacked copy} on `signal` (the original, unstacked signal), from
    one prediction. conventions: 'standard' (inrlab.metrics.psnr), 'enrp' (metrics.psnr_enrp)."""
    from ..metrics import psnr, psnr_enrp

    fns = {"standard": psnr, "enrp": psnr_enrp}
    for c in conventions:
        if c not in fns:
            raise InrlabError(f"unknown PSNR convention '{c}' (choose standard or enrp)")
    pred = split_copies(model.predict(signal.coords), model.stack)
    return {c: [fns[c](p, signal.values, signal.value_range, clip=clip) for p in pred] for c in conventions}


def copy_psnr(model: Ensemble, signal: Signal, convention: str = "standard",
              clip: bool = True) -> list[float]:
    """PSNR of each stacked copy on `signal` in one convention (see copy_psnrs)."""
    return copy_psnrs(model, signal, (convention,), clip=clip)[convention]


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
            for mine, theirs in member_pairs(net, model):
                mine.copy_(theirs[k])

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
