"""Every fast path equals its reference, forward and gradients (issue 8), and the benchmark's
own arithmetic (floors, refloored ratios, its command line) does what its docstring says."""

import json
import subprocess
import sys

import pytest
import torch
from torch.nn import functional as F

from inrlab import models, signals
from inrlab.bench import CASES, set_floor
from inrlab.models.ensemble import ensemble_reference
from inrlab.models.layers import linear, relu_mlp, relu_stack, sine
from inrlab.models.layers import fused


def _leaf(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_()


@pytest.mark.parametrize("w0", [1.0, 30.0, 3000.0])
def test_sine_equals_torch_sin_forward_and_gradient(w0):
    z = _leaf(64, 16) * 0.1
    z.retain_grad()
    fast = sine(z, w0)
    ref = torch.sin(w0 * z)
    assert torch.allclose(fast, ref, atol=1e-12)
    g = torch.randn_like(fast)
    (gf,) = torch.autograd.grad(fast, z, g)
    (gr,) = torch.autograd.grad(ref, z, g)
    assert torch.allclose(gf, gr, atol=1e-10 * w0)


def test_sine_gradcheck_and_second_derivative():
    # gradgradcheck runs the backward under create_graph, the branch SIREN's derivative
    # supervision (gradient, Laplacian) takes
    z = _leaf(8, 5)
    assert torch.autograd.gradcheck(lambda t: sine(t, 3.0), (z,))
    assert torch.autograd.gradgradcheck(lambda t: sine(t, 3.0), (z,))


def test_sine_backward_twice_with_retain_graph():
    z = _leaf(10, 4)
    y = sine(z, 30.0).sum()
    (g1,) = torch.autograd.grad(y, z, retain_graph=True)
    (g2,) = torch.autograd.grad(y, z)
    assert torch.equal(g1, g2)
    assert torch.allclose(g1, 30.0 * torch.cos(30.0 * z.detach()))


@pytest.mark.parametrize("n_in, n_out, bias", [(2, 32, True), (32, 1, True), (16, 16, False),
                                                (3, 7, True)])
def test_linear_equals_f_linear_and_passes_gradcheck(n_in, n_out, bias):
    x = _leaf(20, n_in, seed=1)
    w = _leaf(n_out, n_in, seed=2)
    b = _leaf(n_out, seed=3) if bias else None
    args = (x, w, b) if bias else (x, w)
    fast = linear(*args)
    ref = F.linear(*args)
    assert torch.allclose(fast, ref, atol=1e-12)
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(fast, args, g), torch.autograd.grad(ref, args, g)):
        assert torch.allclose(a, r, atol=1e-10)
    assert torch.autograd.gradcheck(linear, args)
    assert torch.autograd.gradgradcheck(linear, args)


def test_linear_skips_gradients_nobody_asked_for():
    x = torch.randn(50, 2)                        # coordinates: no gradient wanted
    w = _leaf(8, 2, dtype=torch.float32)
    out = linear(x, w)
    out.sum().backward()
    assert x.grad is None and w.grad is not None


def test_relu_stack_equals_textbook_layers():
    torch.manual_seed(0)
    layers = torch.nn.ModuleList([torch.nn.Linear(4, 9), torch.nn.Linear(9, 9)]).double()
    x = _leaf(30, 4)
    ref = x
    for layer in layers:
        ref = torch.relu(layer(ref))
    fast = relu_stack(x, layers)
    assert torch.allclose(fast, ref, atol=1e-12)
    g = torch.randn_like(ref)
    params = [x, *layers.parameters()]
    for a, r in zip(torch.autograd.grad(fast, params, g), torch.autograd.grad(ref, params, g)):
        assert torch.allclose(a, r, atol=1e-10)


def _textbook_relu(x, layers, relu_last):
    for i, layer in enumerate(layers):
        x = layer(x)
        if relu_last or i < len(layers) - 1:
            x = torch.relu(x)
    return x


@pytest.mark.parametrize("dtype, n", [(torch.float32, 300), (torch.float32, 8192), (torch.float64, 300)])
@pytest.mark.parametrize("relu_last, bias, x_grad", [(False, True, True), (False, True, False),
                                                     (True, False, True), (False, False, False)])
def test_relu_mlp_equals_textbook_layers(dtype, n, relu_last, bias, x_grad):
    # float32 on a CPU runs oneDNN's fused linear + ReLU; 8192 rows split the weight gradients'
    # reduction over 2 threads; float64 runs addmm
    torch.manual_seed(0)
    layers = torch.nn.ModuleList([torch.nn.Linear(a, b, bias=bias) for a, b in [(5, 16), (16, 16), (16, 1)]]).to(dtype)
    x = torch.randn(n, 5, dtype=dtype).requires_grad_(x_grad)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fast = relu_mlp(x, layers, relu_last=relu_last)
        ref = _textbook_relu(x, layers, relu_last)
        g = torch.randn_like(ref)
        g_before = g.clone()
        params = [*layers.parameters()] + ([x] if x_grad else [])
        got, want = torch.autograd.grad(fast, params, g), torch.autograd.grad(ref, params, g)
    finally:
        torch.set_num_threads(threads)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(fast, ref, rtol=tol, atol=tol)
    for a, r in zip(got, want):
        assert torch.allclose(a, r, rtol=tol, atol=tol * r.abs().max().item()), (a - r).abs().max()
    assert torch.equal(g, g_before)          # the incoming gradient is never written


def test_relu_mlp_higher_derivatives_are_the_textbook_ones():
    from types import SimpleNamespace
    shapes = [(3, 6), (6, 6), (6, 2)]
    wb = [_leaf(9, 3)] + [t for k, (a, b) in enumerate(shapes) for t in (_leaf(b, a, seed=k + 1), _leaf(b, seed=k + 9))]

    def fn(x, *params):   # relu_mlp reads each layer's .weight and .bias
        return relu_mlp(x, [SimpleNamespace(weight=w, bias=b) for w, b in zip(params[0::2], params[1::2])])

    assert torch.autograd.gradcheck(fn, wb)
    assert torch.autograd.gradgradcheck(fn, wb)


def test_relu_mlp_takes_the_fused_kernels_on_an_x86_cpu():
    import platform
    if not (torch.backends.mkldnn.is_available() and platform.machine() in ("x86_64", "AMD64")):
        pytest.skip("oneDNN's fused linear + ReLU is probed on x86 CPUs")
    x, w = torch.randn(4, 3), torch.randn(5, 3)
    assert fused._onednn_ok(x, w) and not fused._onednn_ok(x.double(), w.double())


def test_weight_grad_splits_the_samples_over_threads_and_equals_the_gemm():
    g, x = torch.randn(8192, 64), torch.randn(8192, 32)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        split = fused._weight_grad(g, x)
    finally:
        torch.set_num_threads(threads)
    assert torch.allclose(split, g.t() @ x, rtol=1e-4, atol=1e-3)
    assert torch.allclose(fused._weight_grad(g[:, :2], x), g[:, :2].t() @ x, rtol=1e-4, atol=1e-3)  # few outputs


def _forward_matches_reference(model, coords, atol):
    model = model.double()
    coords = coords.double()
    fast = model(coords)
    ref = model.forward_reference(coords)
    assert torch.allclose(fast, ref, atol=atol), (fast - ref).abs().max()
    params = list(model.parameters())
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(fast, params, g), torch.autograd.grad(ref, params, g)):
        assert torch.allclose(a, r, rtol=1e-7, atol=atol * max(1.0, r.abs().max().item()))


@pytest.mark.parametrize("n", [300, 5])       # w0 folded into the weights, and kept in the sine
def test_siren_fast_forward_equals_textbook_formula(n):
    model = models.build("siren", dim_in=2, dim_out=3, width=24, depth=2, seed=0)
    coords = torch.rand(n, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    _forward_matches_reference(model, coords, atol=1e-9)


def test_siren_audio_first_layer_w0_fast_path():
    model = models.build("siren", dim_in=1, dim_out=1, width=16, depth=1, w0_initial=3000.0, seed=0)
    _forward_matches_reference(model, torch.linspace(-1, 1, 200)[:, None], atol=1e-8)


@pytest.mark.parametrize("name, kw", [("relu", {}), ("relu_pe", {}), ("ff", {"mapping_size": 8}),
                                      ("ff", {"mapping_size": 8, "sigmoid": True})])
def test_relu_families_fast_forward_equal_textbook(name, kw):
    model = models.build(name, dim_in=2, dim_out=2, width=12, depth=2, seed=0, **kw)
    coords = torch.rand(100, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    _forward_matches_reference(model, coords, atol=1e-10)
    out = model(coords.double())     # the helper made the model float64
    assert bool(((out > 0) & (out < 1)).all()) == kw.get("sigmoid", False)  # FF's optional sigmoid


def test_siren_second_derivative_through_fast_path():
    # the Laplacian of the network (derivative supervision) is the textbook one
    model = models.build("siren", dim_in=2, dim_out=1, width=16, depth=1, seed=0).double()
    x = torch.rand(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def laplacian(fn):
        xi = x.clone().requires_grad_()
        (g,) = torch.autograd.grad(fn(xi).sum(), xi, create_graph=True)
        return sum(torch.autograd.grad(g[:, k].sum(), xi, retain_graph=True)[0][:, k]
                   for k in range(2))

    assert torch.allclose(laplacian(model), laplacian(model.forward_reference), atol=1e-8)


@pytest.mark.parametrize("grid, size", [(4, 16), (8, 8)])   # 16 and 1 samples per member
def test_ensemble_fast_members_equal_textbook_loop(grid, size):
    sig = signals.image("camera", size=size, gray=False)
    model = models.build("ensemble", signal=sig, grid=grid, member="siren", depth=1, width=8,
                         seed=0).double()
    ref = ensemble_reference(model, textbook=True).double()
    coords = sig.coords.double()
    fast_out, ref_out = model(coords), ref(coords)
    assert torch.allclose(fast_out, ref_out, atol=1e-9)
    g = torch.randn_like(ref_out)
    fast_g = torch.autograd.grad(fast_out, [model.layers[1].weight], g)[0]
    ref_g = torch.stack(torch.autograd.grad(ref_out, [n.layers[1].weight for n in ref.nets], g))
    assert torch.allclose(fast_g, ref_g, atol=1e-9)


# --------------------------------------------------------------------------- the benchmark


def test_set_floor_takes_the_slower_of_compute_and_memory():
    row = {"seconds": 2.0, "flops": 100e9, "bytes_moved": 10e9}
    set_floor(row, matmul_flops=100e9, copy_bytes=20e9)       # compute 1.0 s, memory 0.5 s
    assert row["floor_s"] == pytest.approx(1.0)
    assert row["ratio_to_floor"] == pytest.approx(2.0)
    assert row["fraction_of_matmul"] == pytest.approx(0.5)
    set_floor(row, matmul_flops=100e9, copy_bytes=5e9)        # memory-bound now: 2.0 s
    assert row["floor_s"] == pytest.approx(2.0) and row["ratio_to_floor"] == pytest.approx(1.0)


# A fresh process reports, as JSON, inrlab's allocator settings after inrlab.fast_allocator()
# and how many bytes of new memory mappings a 4 MB tensor made (glibc's mallinfo2; None where
# that is missing).
_MAPPED_BY_A_4MB_TENSOR = """
import ctypes, json
import inrlab, torch
inrlab.fast_allocator()
from inrlab.allocator import SETTINGS, _glibc
libc, grew = _glibc(), None
if libc is not None and hasattr(libc, "mallinfo2"):
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks "
                                                   "fsmblks uordblks fordblks keepcost").split()]
    libc.mallinfo2.restype = Info
    before = libc.mallinfo2().hblkhd
    t = torch.empty(1 << 20)
    grew = libc.mallinfo2().hblkhd - before
print(json.dumps({**SETTINGS, "grew": grew}))
"""


@pytest.mark.parametrize("thp", [None, "0"])
def test_fast_allocator_puts_mid_sized_tensors_on_the_heap_unless_opted_out(thp):
    import os
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if thp is not None:
        env["THP_MEM_ALLOC_ENABLE"] = thp
    r = subprocess.run([sys.executable, "-c", _MAPPED_BY_A_4MB_TENSOR], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    if thp == "0":          # opted out: PyTorch's and glibc's defaults
        assert got["THP_MEM_ALLOC_ENABLE"] == "0" and got["malloc_heap_below"] is None
        return
    assert got["THP_MEM_ALLOC_ENABLE"] == "1"
    if got["grew"] is None:
        pytest.skip("not glibc >= 2.33: no malloc settings to check")
    assert got["malloc_heap_below"] == 32 << 20 and got["malloc_trim_above"] == 1 << 30
    assert got["grew"] == 0      # from the heap, not a fresh mapping of 4 MB



# A fresh process reports whether a 4 MB tensor landed on memory PyTorch marked for huge pages
# (the 'hg' flag of its mapping in /proc/self/smaps), the variable and the malloc settings.
_HUGE_PAGES = """
import json, os, sys
import inrlab, torch
from inrlab.allocator import SETTINGS
if sys.argv[1] == "late":
    torch.zeros(1)                 # a tensor before the switch: PyTorch has read its setting
if sys.argv[1] != "import":
    inrlab.fast_allocator()
probe = torch.empty(1 << 20)
flags = None
with open("/proc/self/smaps") as f:
    inside = False
    for line in f:
        head = line.split(maxsplit=1)[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= probe.data_ptr() < hi
        elif inside and head == "VmFlags:":
            flags = line.split()
print(json.dumps({"hg": flags is not None and "hg" in flags, "env": os.environ.get("THP_MEM_ALLOC_ENABLE"),
                  "settings": SETTINGS}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_import_changes_no_allocator_setting_and_the_switch_works_before_any_tensor():
    import os
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    got = {}
    for when in ("import", "first", "late"):
        r = subprocess.run([sys.executable, "-c", _HUGE_PAGES, when], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        got[when] = json.loads(r.stdout)
    assert got["import"] == {"hg": False, "env": None, "settings": {}}   # import alone: nothing
    assert got["first"]["hg"] and got["first"]["env"] == "1"             # the switch, first thing
    assert not got["late"]["hg"]         # after a tensor PyTorch keeps the setting it read

def test_bench_cli_runs_a_case_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "inrlab.bench", "--quick", "--only", "multihead_step",
                        "heads_sparse_vs_dense", "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["reference"]["matmul_gflops"] > 0 and data["reference"]["copy_gbytes_per_s"] > 0
    assert set(data["allocator"]) == {"THP_MEM_ALLOC_ENABLE", "malloc_heap_below", "malloc_trim_above",
                                      "kernel_thp"}
    step = next(r for r in data["rows"] if r["kind"] == "train_step")
    # every floor uses the best rates seen in the run, around every case
    ref = data["reference"]
    assert ref["best_matmul_gflops"] == max(ref["matmul_gflops_seen"]) >= ref["matmul_gflops"]
    assert len(ref["matmul_gflops_seen"]) == 1 + 2 * 2                  # start, around 2 cases
    assert step["ref_matmul_gflops"] == ref["best_matmul_gflops"]
    assert step["ref_copy_gbytes_per_s"] == ref["best_copy_gbytes_per_s"]
    assert step["floor_s"] == pytest.approx(max(step["flops"] / step["ref_matmul_gflops"] / 1e9,
                                                step["bytes_moved"] / step["ref_copy_gbytes_per_s"] / 1e9))
    assert step["ratio_to_floor"] == pytest.approx(step["seconds"] / step["floor_s"])
    assert step["peak_mem_mb"] > 0
    ratio = next(r for r in data["rows"] if r["kind"] == "ratio")
    assert ratio["speedup"] == pytest.approx(ratio["slow_s"] / ratio["fast_s"])
    assert "floor" in r.stdout and "x" in r.stdout


def test_bench_unknown_case_is_a_one_line_error():
    r = subprocess.run([sys.executable, "-m", "inrlab.bench", "--only", "no_such_case"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "no_such_case" in r.stderr and "Traceback" not in r.stderr
    assert "siren_step" in r.stderr                         # names the valid ones


def test_every_bench_case_is_listed():
    r = subprocess.run([sys.executable, "-m", "inrlab.bench", "--list"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0
    for name in CASES:
        assert name in r.stdout


def test_loe_tile_groups_are_reused_only_for_the_same_unmodified_coords(tmp_path):
    sig = signals.image("camera", size=16)
    model = models.build("loe", signal=sig, width=8, depth=2, activation="sine", siren_init=True,
                         seed=0)
    coords = sig.coords.clone()
    first = model.tile_groups(coords)
    assert model.tile_groups(coords) is first                 # same tensor: reused
    assert model.tile_groups(coords.clone()) is not first     # another tensor: rebuilt
    coords.mul_(-1.0)                                         # modified in place: rebuilt
    flipped = model(coords)
    assert torch.allclose(flipped, model.forward_reference(coords), atol=1e-5)
    torch.save(model, tmp_path / "loe.pt")                    # the cache does not block pickling
    again = torch.load(tmp_path / "loe.pt", weights_only=False)
    assert torch.allclose(again(coords), flipped)


@pytest.mark.parametrize("activation, siren_init", [("sine", True), ("leaky_relu", False)])
def test_loe_grouped_equals_masked_reference_with_gradients(activation, siren_init):
    sig = signals.image("camera", size=16)
    model = models.build("loe", signal=sig, width=8, depth=2, activation=activation,
                         siren_init=siren_init, seed=0).double()
    coords = sig.coords.double()
    fast = model(coords)
    ref = model.forward_reference(coords)
    assert torch.allclose(fast, ref, atol=1e-9)
    g = torch.randn_like(ref)
    params = list(model.parameters())
    for a, r in zip(torch.autograd.grad(fast, params, g), torch.autograd.grad(ref, params, g)):
        assert torch.allclose(a, r, atol=1e-8)


# --------------------------------------------------------------------------- autocast, compile


def test_fast_functions_step_aside_under_autocast():
    # autocast chooses each op's precision; the hand-written functions would mix dtypes
    x, w, b = torch.randn(40, 6), torch.randn(5, 6), torch.randn(5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, want = linear(x, w, b), F.linear(x, w, b)
        s_got, s_want = sine(got, 30.0), torch.sin(want * 30.0)
    assert got.dtype == torch.bfloat16 and torch.equal(got, want)
    assert torch.equal(s_got, s_want)


def test_fit_with_bf16_autocast_trains_and_records_it():
    from inrlab import fit
    sig = signals.image("camera", size=16)
    model = models.build("siren", signal=sig, width=32, depth=1, seed=0)
    hist = fit(model, sig, steps=40, lr=1e-3, amp="bf16", progress=False)
    assert hist.config["amp"] == "bf16"
    assert hist.loss[-1] < 0.5 * hist.loss[0]
    assert next(model.parameters()).dtype == torch.float32     # weights stay fp32


def test_fit_rejects_an_unknown_precision_in_one_line():
    from inrlab import InrlabError, fit
    sig = signals.image("camera", size=8)
    model = models.build("siren", signal=sig, width=8, depth=0, seed=0)
    with pytest.raises(InrlabError, match="amp must be None, 'bf16' or 'fp16', got 'fp32'"):
        fit(model, sig, steps=2, amp="fp32", progress=False)


def _needs_a_compiler():
    import shutil
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("torch.compile on CPU needs a C++ compiler; none on PATH")


@pytest.mark.parametrize("mode", [True, "reduce-overhead"])  # CUDA graphs: Inductor skips them on CPU
def test_fit_through_torch_compile_matches_eager(mode):
    _needs_a_compiler()
    from inrlab import fit
    sig = signals.image("camera", size=8)
    eager = fit(models.build("siren", signal=sig, width=16, depth=1, seed=0), sig, steps=4,
                lr=1e-3, progress=False)
    compiled = fit(models.build("siren", signal=sig, width=16, depth=1, seed=0), sig, steps=4,
                   lr=1e-3, progress=False, compile=mode)
    assert compiled.config["compile"] == mode
    assert torch.allclose(torch.tensor(compiled.loss), torch.tensor(eager.loss), rtol=1e-4)


# the families whose forward does more than matmuls: cached plans and index tables, sparse
# heads, grouped tiles, batched members, factorized weights (Inductor compiles them on CPU too)
@pytest.mark.parametrize("name, kw", [
    ("multihead", dict(width=16, depth=1, grid=4, alpha=5)),
    ("loe", dict(width=16, depth=2, activation="sine")),
    ("ensemble", dict(grid=4, member="siren", depth=0, width=8)),
    ("relu_pe", dict(width=16, depth=1, factorize=True)),
])
def test_torch_compile_gives_the_eager_forward_and_gradients(name, kw):
    _needs_a_compiler()
    sig = signals.image("camera", size=16)
    # float64: Inductor fuses and reorders sums, and sine layers amplify float32 round-off
    x, y = sig.coords.double(), sig.values.double()
    eager, compiled = (models.build(name, signal=sig, seed=0, **kw).double() for _ in range(2))
    fwd = torch.compile(compiled)
    for f in (eager, fwd):
        torch.nn.functional.mse_loss(f(x), y).backward()
    torch.testing.assert_close(fwd(x), eager(x), rtol=1e-9, atol=1e-9)
    for (n, a), b in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-7, atol=1e-9, msg=n)


def test_compile_amp_rows_time_each_variant_and_report_one_torch_refuses():
    _needs_a_compiler()
    from inrlab.bench import compile_amp_rows
    sig = signals.image("camera", size=16)
    specs = [("SIREN", "siren", sig, dict(width=16, depth=1))]
    variants = [("eager", None, None), ("bf16", None, torch.bfloat16), ("compile", "default", None),
                ("bad mode", "no-such-mode", None)]
    rows = compile_amp_rows(specs, variants, torch.device("cpu"), min_time=0.02)
    assert [r["row"] for r in rows] == ["SIREN: eager", "SIREN: bf16", "SIREN: compile", "SIREN: bad mode"]
    assert [r["kind"] for r in rows] == ["compile_variant"] * 3 + ["skipped"]
    assert rows[0]["speedup_vs_eager"] == 1.0
    assert rows[1]["speedup_vs_eager"] == pytest.approx(rows[0]["seconds"] / rows[1]["seconds"])
    assert rows[2]["first_step_s"] > 10 * rows[2]["seconds"]     # the first step compiles
    assert "no-such-mode" in rows[3]["error_text"]


def test_time_to_psnr_covers_every_method_and_reports_a_miss():
    from inrlab.bench import TTP_CONFIGS, time_to_psnr_rows
    # one row per method: the baseline, each paper's model, and each other baseline
    names = {name for _, name, _, _ in TTP_CONFIGS}
    assert names == {"siren", "ensemble", "multihead", "loe", "ff", "relu_pe"}
    assert any(kw.get("factorize") for _, _, kw, _ in TTP_CONFIGS)
    sig = signals.image("camera", size=16)
    cfg = [("small SIREN", "siren", dict(width=32, depth=1), 1e-3)]
    hit, = time_to_psnr_rows(cfg, sig, torch.device("cpu"), target=15.0, limit_s=30.0)
    assert hit["final_psnr"] >= 15.0 and 0 < hit["seconds"] < 30 and hit["params"] == 1185
    # 9 parameters cannot fit 256 pixels to 60 dB (the 1,185 above reach 99 dB in 200 steps)
    tiny = [("tiny SIREN", "siren", dict(width=2, depth=0), 1e-3)]
    miss, = time_to_psnr_rows(tiny, sig, torch.device("cpu"), target=60.0, limit_s=0.5)
    assert miss["seconds"] is None and miss["final_psnr"] < 60.0 and miss["steps"] >= 1


def test_cuda_only_bench_case_says_why_it_skips_on_cpu():
    row = CASES["cuda_compile_amp"].run({"device": torch.device("cpu")})
    assert row["kind"] == "skipped" and "needs CUDA" in row["row"] and "cpu" in row["row"]


def test_cpu_pieces_bench_case_says_why_it_skips_off_cpu():
    rows = CASES["cpu_pieces"].run({"device": torch.device("meta"), "size": 64})
    assert rows[0]["kind"] == "skipped" and "CPU only" in rows[0]["row"] and "meta" in rows[0]["row"]


def test_multihead_render_index_is_rebuilt_for_new_coordinates():
    from inrlab.models.multihead import multihead_reference
    model = models.build("multihead", dim_in=2, dim_out=3, width=16, depth=1, grid=4, alpha=5,
                         seed=0)
    with torch.no_grad():
        for shape in [(16, 16), (16, 16), (32, 8), (8, 8)]:
            coords = signals.pixel_centers(shape)
            assert torch.allclose(model(coords), multihead_reference(model, coords), atol=1e-5), shape
