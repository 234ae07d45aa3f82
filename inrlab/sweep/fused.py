"""One full-batch MSE training step of stacked SIREN or ReLU members, its gradients worked out
by hand in point chunks (the stacked seeds' CPU fast path; `stacked.stacked_step` picks it).

Why: on a CPU a stacked step of small members is bound by memory traffic, not arithmetic.
Through autograd, every activation-sized tensor (G members x N points x width) is written in
the forward and read again in the backward, out of the L2 cache; eight SIREN 2x64 members
at 64^2 make 8 MB tensors. Here the points go in chunks sized so that a chunk's tensors stay
in L2 (about 1 MB each), and each chunk runs its forward, the loss's gradient and its
backward at once, accumulating the weight and bias gradients; nothing activation-sized
outlives its chunk. Layout: hidden layers channels last, (G, n, width), the output channels
first; buffers are reused across chunks and steps (no fresh activation-sized tensors).

The maths is autograd's: loss = sum over members of mean((y_hat - y)^2) over points and
channels, dL/dy_hat = 2 (y_hat - y) / (N C); a hidden layer z = g (W h + b) (g: the
activation's gain, SIREN's w0 or w0_initial, folded into the weight as in `fit()`), then
sin(z) or relu(z), with dL/dz = cos(z) dL/dh or [h > 0] dL/dh. Only the summation order of
the chunks differs from one autograd step, so gradients agree to float rounding (tested in
tests/test_sweep.py against autograd, over several chunks, and stacked fits against separate
ones).

It runs when every member's batched parts are the family's plain MLP (SIREN's sine or the
ReLU family's ReLU, an encoding with nothing per member and nothing to train, float32 on a
CPU); anything else takes the autograd path of `stacked._Batched`.
"""

from __future__ import annotations

import torch

from ..models.layers import BatchedLinear, Relu, SineAct

CHUNK_ELEMENTS = 1 << 18   # one chunk tensor (G x n x width) of about 1 MB float32 (L2 sized)


def fusable(stack, coords: torch.Tensor) -> bool:
    """Whether `stack` (a `stacked._Batched`) can take the hand-worked step on `coords`."""
    act = stack.activation
    return (type(act) in (SineAct, Relu) and not stack.encoding.per_member
            and not any(p.requires_grad for p in stack.encoding.parameters())   # encoded once, never trained
            and coords.device.type == "cpu" and coords.dtype == torch.float32
            and all(type(layer) is BatchedLinear and layer.bias is not None for layer in stack.layers)
            and all(p.dtype == torch.float32 for p in stack.layers.parameters()))


class FusedStep:
    """`step()` -> the members' MSEs (G,), with each batched layer's weight.grad and bias.grad
    set to the gradient of their sum. coords (N, d) shared; target (N, C) shared or (G, N, C)."""

    def __init__(self, stack, coords: torch.Tensor, target: torch.Tensor, chunk: int | None = None):
        self.layers = list(stack.layers)
        self.act = stack.activation
        self.sine = type(self.act) is SineAct
        with torch.no_grad():
            h = stack.encoding(coords.t().unsqueeze(0), None)[0].t()   # the shared encoding, (N, d)
        self.G = self.layers[0].groups
        self.N, self.C = h.shape[0], self.layers[-1].out_features
        width = max(layer.out_features for layer in self.layers)
        n = chunk or max(64, CHUNK_ELEMENTS // (self.G * width))
        self.spans = [(a, min(a + n, self.N)) for a in range(0, self.N, n)]
        self.inputs = [h[a:b].contiguous().unsqueeze(0).expand(self.G, b - a, h.shape[1]) for a, b in self.spans]
        y = target if target.dim() == 3 else target.unsqueeze(0).expand(self.G, *target.shape)
        self.targets = [y[:, a:b].transpose(1, 2).contiguous() for a, b in self.spans]   # (G, C, n)
        self.scale = 2.0 / (self.N * self.C)
        self.buffers = {}
        # gradient sums: hidden weights as (G, in, out), the output layer's as (G, C, width)
        self.grads = [(torch.zeros_like(layer.weight.transpose(1, 2).contiguous()), torch.zeros_like(layer.bias))
                      for layer in self.layers[:-1]]
        last = self.layers[-1]
        self.grads.append((torch.zeros_like(last.weight), torch.zeros_like(last.bias)))
        self.loss = torch.zeros(self.G)

    def _buffers(self, n: int) -> dict:
        """Per chunk length: each hidden layer's z (and, for sines, h = sin z) and the
        gradient reaching its output, and the network's output."""
        if n not in self.buffers:
            G, hidden = self.G, self.layers[:-1]
            self.buffers[n] = {
                "z": [torch.empty(G, n, layer.out_features) for layer in hidden],
                "h": [torch.empty(G, n, layer.out_features) for layer in hidden] if self.sine else None,
                "grad": [torch.empty(G, n, layer.out_features) for layer in hidden],
                "out": torch.empty(G, self.C, n)}
        return self.buffers[n]

    @torch.no_grad()
    def __call__(self) -> torch.Tensor:
        gains = [self.act.gain(i) for i in range(len(self.layers) - 1)] + [1.0]
        weights = [layer.weight * g if g != 1.0 else layer.weight for layer, g in zip(self.layers, gains)]
        biases = [layer.bias * g if g != 1.0 else layer.bias for layer, g in zip(self.layers, gains)]
        for dw, db in self.grads:
            dw.zero_()
            db.zero_()
        self.loss.zero_()
        for x, y in zip(self.inputs, self.targets):
            self._chunk(x, y, weights, biases)
        for i, (layer, g, (dw, db)) in enumerate(zip(self.layers, gains, self.grads)):
            dw = dw if i == len(self.layers) - 1 else dw.transpose(1, 2)   # hidden: kept (G, in, out)
            layer.weight.grad = dw.contiguous() if g == 1.0 else dw.mul(g).contiguous()
            layer.bias.grad = db.clone() if g == 1.0 else db.mul(g)
        return self.loss / (self.N * self.C)

    def _chunk(self, x, y, weights, biases):
        """One chunk: x (G, n, d) the encoded points, y (G, C, n) their targets."""
        buf = self._buffers(x.shape[1])
        L = len(self.layers)
        ins = [x]                                   # each layer's input, in the forward
        for i in range(L - 1):
            z = torch.baddbmm(biases[i].unsqueeze(1), ins[-1], weights[i].transpose(1, 2), out=buf["z"][i])
            ins.append(torch.sin(z, out=buf["h"][i]) if self.sine else z.relu_())
        # the output layer channels first, (G, C, n): W h^T is the fast form for a few outputs
        out = torch.baddbmm(biases[-1].unsqueeze(2), weights[-1], ins[-1].transpose(1, 2), out=buf["out"])
        out.sub_(y)
        self.loss.add_(out.square().sum(dim=(1, 2)))
        g = out.mul_(self.scale)                    # dL/d(output)
        dw, db = self.grads[-1]
        dw.baddbmm_(g, ins[-1])
        db.add_(g.sum(2))
        g = g.transpose(1, 2)                       # (G, n, C), for dL/dh = g W
        for i in range(L - 1, 0, -1):
            gh = torch.bmm(g, weights[i], out=buf["grad"][i - 1])   # dL/dh of hidden layer i - 1
            z = buf["z"][i - 1]
            if self.sine:
                g = z.cos_().mul_(gh)               # z is spent: cos(z) dL/dh in its buffer
            else:                                   # z holds relu(z): dL/dh where it is > 0
                g = torch.ops.aten.threshold_backward.grad_input(gh, z, 0.0, grad_input=gh)
            dw, db = self.grads[i - 1]              # (G, in, out): x^T g beats g^T x for a thin input
            dw.baddbmm_(ins[i - 1].transpose(1, 2), g)
            db.add_(g.sum(1))
