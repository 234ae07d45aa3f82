"""fit(): the loss goes down, runs repeat bit for bit, checkpoints resume exactly."""

import math

import pytest
import torch

from inrlab import fit, load_checkpoint, models, signals
from inrlab.errors import InrlabError, TrainingDiverged
from inrlab.train import make_schedule, resolve_device


@pytest.fixture(scope="module")
def camera16():
    return signals.image("camera", size=16)


def test_short_fit_lowers_the_loss(camera16):
    m = models.build("siren", signal=camera16, width=32, depth=1, seed=0)
    h = fit(m, camera16, steps=60, lr=1e-3, progress=False, eval_every=20)
    assert h.loss[-1] < 0.25 * h.loss[0]
    assert h.eval_step == [20, 40, 60] and h.psnr[-1] > h.psnr[0]
    assert h.final["steps"] == 60 and h.final["psnr_heldout"] is None
    assert all(b >= a for a, b in zip(h.seconds, h.seconds[1:]))


def test_heldout_psnr_recorded():
    sig = signals.split_every_other(signals.image("camera", size=16))
    m = models.build("relu_pe", signal=sig, width=16, depth=1, seed=0)
    h = fit(m, sig, steps=10, lr=1e-3, progress=False, eval_every=5)
    assert len(h.psnr_heldout) == 2 and all(isinstance(v, float) for v in h.psnr_heldout)


@pytest.mark.parametrize("batch_size", [None, 50])
def test_same_seed_same_history_bit_for_bit(camera16, batch_size):
    runs = []
    for _ in range(2):
        m = models.build("relu", signal=camera16, width=16, depth=1, seed=3)
        runs.append(fit(m, camera16, steps=15, lr=1e-3, batch_size=batch_size, seed=3, progress=False))
    assert runs[0].loss == runs[1].loss and runs[0].psnr == runs[1].psnr


@pytest.mark.parametrize("batch_size", [None, 60])
def test_resume_gives_the_same_losses(tmp_path, camera16, batch_size):
    kw = dict(lr=1e-3, batch_size=batch_size, seed=1, progress=False, schedule="cosine")
    full = fit(models.build("siren", signal=camera16, width=16, depth=1, seed=0), camera16, steps=20, **kw)
    # the same run, interrupted at step 8 (a callback stops it), leaves a checkpoint there
    part = fit(models.build("siren", signal=camera16, width=16, depth=1, seed=0), camera16, steps=20,
               checkpoint=tmp_path / "k.pt", callbacks=[lambda s: s.step == 8], callback_every=1, **kw)
    assert part.final["steps"] == 8
    # resumed in a fresh model with other initial weights, it continues exactly
    resumed = fit(models.build("siren", signal=camera16, width=16, depth=1, seed=99), camera16,
                  steps=20, resume=tmp_path / "k.pt", **kw)
    assert resumed.loss[:8] == part.loss
    assert resumed.loss == full.loss  # the next-step losses after the resume are identical


def test_fp16_resume_keeps_the_gradient_scale(tmp_path, camera16):
    kw = dict(lr=1e-3, seed=1, progress=False, amp="fp16")
    full = fit(models.build("siren", signal=camera16, width=16, depth=1, seed=0), camera16, steps=12,
               checkpoint=tmp_path / "full.pt", **kw)
    fit(models.build("siren", signal=camera16, width=16, depth=1, seed=0), camera16, steps=12,
        checkpoint=tmp_path / "k.pt", callbacks=[lambda s: s.step == 5], callback_every=1, **kw)
    assert torch.load(tmp_path / "k.pt", weights_only=False)["extra"]["scaler"]["_growth_tracker"] == 5
    resumed = fit(models.build("siren", signal=camera16, width=16, depth=1, seed=99), camera16,
                  steps=12, resume=tmp_path / "k.pt", checkpoint=tmp_path / "k.pt", **kw)
    assert resumed.loss == full.loss
    # the scaler counts on from step 5 instead of starting again at 0
    ends = [torch.load(tmp_path / f, weights_only=False)["extra"]["scaler"] for f in ("full.pt", "k.pt")]
    assert ends[0] == ends[1] and ends[0]["_growth_tracker"] == 12


def test_load_checkpoint_rebuilds_the_model(tmp_path, camera16):
    m = models.build("ff", signal=camera16, width=16, depth=1, mapping_size=8, seed=0)
    fit(m, camera16, steps=5, lr=1e-3, progress=False, checkpoint=tmp_path / "m.pt")
    loaded, ckpt = load_checkpoint(tmp_path / "m.pt")
    assert ckpt["step"] == 5 and ckpt["history"]["step"][-1] == 5
    assert torch.equal(loaded(camera16.coords), m(camera16.coords))


def test_resume_refuses_another_signal(tmp_path, camera16):
    m = models.build("relu", signal=camera16, width=8, depth=0, seed=0)
    fit(m, camera16, steps=3, progress=False, checkpoint=tmp_path / "a.pt")
    other = signals.image("moon", size=16)
    with pytest.raises(InrlabError, match="trained on another signal"):
        fit(models.build("relu", signal=other, width=8, depth=0), other, steps=5,
            resume=tmp_path / "a.pt", progress=False)


def test_divergence_names_step_and_lr(tmp_path, camera16):
    m = models.build("relu", signal=camera16, width=16, depth=1, seed=0)
    with pytest.raises(TrainingDiverged, match=r"at step \d+ with lr=1e\+30") as err:
        fit(m, camera16, steps=50, lr=1e30, progress=False, checkpoint=tmp_path / "d.pt",
            checkpoint_every=1)
    assert len(err.value.history.loss) >= 1


def test_target_psnr_stops_early(camera16):
    m = models.build("siren", signal=camera16, width=32, depth=1, seed=0)
    h = fit(m, camera16, steps=500, lr=1e-3, target_psnr=25.0, progress=False)
    assert h.final["steps"] < 500 and h.final["psnr"] >= 25.0
    assert h.seconds_to(25.0) is not None


def test_callbacks_run_and_can_stop(camera16):
    seen = []

    def cb(state):
        seen.append(state.step)
        return state.step >= 6

    m = models.build("relu", signal=camera16, width=8, depth=0, seed=0)
    h = fit(m, camera16, steps=100, callbacks=[cb], callback_every=3, progress=False)
    assert seen == [3, 6] and h.final["steps"] == 6


@pytest.mark.parametrize("kw, fragment", [
    (dict(steps=0), "steps must be a positive integer"),
    (dict(steps=5, lr=-1.0), "learning rate must be a positive number"),
    (dict(steps=5, lr=float("nan")), "learning rate"),
    (dict(steps=5, batch_size=0), "batch_size must be a positive integer"),
    (dict(steps=5, device="tpu9"), "device"),
    (dict(steps=5, schedule="warp"), "unknown schedule"),
])
def test_fit_argument_errors(camera16, kw, fragment):
    m = models.build("relu", signal=camera16, width=8, depth=0)
    with pytest.raises(InrlabError, match=fragment):
        fit(m, camera16, progress=False, **kw)


def test_fit_refuses_mismatched_dimensions(camera16):
    m = models.build("relu", dim_in=2, dim_out=3, width=8, depth=0)
    with pytest.raises(InrlabError, match="outputs 3 channels but signal"):
        fit(m, camera16, steps=2, progress=False)


def test_schedules():
    assert make_schedule("step:50:0.5", 1000)(120) == 0.25
    assert make_schedule("cosine", 100)(100) == pytest.approx(0)
    assert make_schedule(None, 10) is None


def test_auto_device_is_available():
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")


def test_chunked_full_batch_matches_the_whole_batch(camera16):
    runs = []
    for max_memory in (None, 20_000):  # 20 kB forces many chunks for 256 samples
        m = models.build("siren", signal=camera16, width=16, depth=1, seed=0)
        runs.append(fit(m, camera16, steps=5, lr=1e-3, progress=False, max_memory=max_memory))
    assert runs[0].loss == pytest.approx(runs[1].loss, rel=1e-5)


def test_cpu_pieces_only_for_pointwise_models_on_cpu(monkeypatch):
    import inrlab.memory as memory
    sig = signals.image("camera", size=512, gray=True)
    siren = models.build("siren", signal=sig, width=256, depth=3, seed=0)
    # 3 x 256 SIREN saves about 8 kB per sample: 262,144 samples are 2 GB, 32 pieces of 64 MB
    assert memory.plan_chunks(siren, sig.coords, torch.device("cpu"), max_memory=1e12) == 32
    small = signals.image("camera", size=256, gray=True)  # 512 MB: below the gate, one piece
    assert memory.plan_chunks(siren, small.coords, torch.device("cpu"), max_memory=1e12) == 1
    assert memory.cpu_pieces(siren, small.coords) == 8
    assert memory.plan_chunks(siren, sig.coords, torch.device("cuda"), max_memory=1e12) == 1
    monkeypatch.setattr(memory, "CPU_SPLIT_ABOVE", 0)  # every batch above the gate now
    assert memory.plan_chunks(siren, small.coords, torch.device("cpu"), max_memory=1e12) == 8
    loe = models.build("loe", signal=small, width=64, depth=8, seed=0)
    assert not loe.pointwise and memory.cpu_pieces(loe, small.coords) > 1
    assert memory.plan_chunks(loe, small.coords, torch.device("cpu"), max_memory=1e12) == 1
    monkeypatch.setattr(memory, "CPU_CHUNK_BYTES", 0)
    assert memory.plan_chunks(siren, small.coords, torch.device("cpu"), max_memory=1e12) == 1


def test_cpu_pieces_give_the_whole_batch_losses_and_stop_at_the_target(camera16, monkeypatch):
    import inrlab.memory as memory
    runs = []
    for piece_bytes in (0, 4096):  # off; then 4 kB pieces of a 16 x 2 SIREN: many pieces
        monkeypatch.setattr(memory, "CPU_CHUNK_BYTES", piece_bytes)
        monkeypatch.setattr(memory, "CPU_SPLIT_ABOVE", 0)
        m = models.build("siren", signal=camera16, width=16, depth=1, seed=0)
        assert (memory.plan_chunks(m, camera16.coords, torch.device("cpu"), 1e12) > 1) == (piece_bytes > 0)
        runs.append(fit(m, camera16, steps=300, lr=1e-2, progress=False, target_psnr=25.0,
                        device="cpu"))
    assert runs[0].loss == pytest.approx(runs[1].loss, rel=1e-3)  # float rounding grows over steps
    assert runs[0].final["steps"] == runs[1].final["steps"] < 300  # the per-step PSNR check works


def test_memory_refusal_names_the_need(camera16):
    m = models.build("siren", signal=camera16, width=16, depth=1, seed=0)
    with pytest.raises(InrlabError, match=r"needs about .* MB per sample"):
        fit(m, camera16, steps=2, progress=False, max_memory=10)



def _buffered(monkeypatch, buffered):
    """Force fit()'s CUDA policy on the CPU (losses kept on the device until a flush), or not;
    returns the list of device waits of the training clock."""
    import inrlab.train as train
    monkeypatch.setattr(train, "flush_every_step", lambda device: not buffered)
    syncs = []
    monkeypatch.setattr(train, "_synchronize", syncs.append)
    return syncs


def test_buffered_losses_give_the_same_history(tmp_path, camera16, monkeypatch):
    runs = []
    for buffered in (False, True):
        syncs, seen = _buffered(monkeypatch, buffered), []
        m = models.build("siren", signal=camera16, width=16, depth=1, seed=0)
        h = fit(m, camera16, steps=20, lr=1e-3, progress=False, eval_every=5,
                callbacks=[lambda s: seen.append((s.step, list(s.history.step)))], callback_every=7,
                checkpoint=tmp_path / f"{buffered}.pt", checkpoint_every=6)
        saved = torch.load(tmp_path / f"{buffered}.pt", weights_only=False)["history"]
        runs.append((h, len(syncs), seen, saved))
    (plain, plain_syncs, plain_seen, _), (buf, buf_syncs, buf_seen, buf_saved) = runs
    assert buf.step == plain.step == list(range(1, 21)) and buf.loss == plain.loss
    assert buf.eval_step == plain.eval_step == [5, 10, 15, 20] and buf.psnr == plain.psnr
    # callbacks and checkpoints see every loss up to their step
    assert buf_seen == plain_seen == [(k, list(range(1, k + 1))) for k in (7, 14, 20)]
    assert buf_saved["loss"] == plain.loss
    assert plain_syncs == 20  # without buffering the clock waits for the device every step
    assert buf_syncs == 9  # with it only at the flushes: evaluations 5, 10, 15, 20,
    # callbacks 7, 14 and checkpoints 6, 12, 18


@pytest.mark.parametrize("buffered", [False, True])
def test_buffered_divergence_names_the_first_bad_step(tmp_path, camera16, monkeypatch, buffered):
    _buffered(monkeypatch, buffered)
    m = models.build("relu", signal=camera16, width=16, depth=1, seed=0)
    # lr x 1e30 from step 9 on: the loss is inf at step 11 and NaN after; buffered, steps 9 to
    # 12 reach the host together at the checkpoint of step 12
    with pytest.raises(TrainingDiverged) as err:
        fit(m, camera16, steps=30, lr=1e-3, progress=False, eval_every=10,
            schedule=lambda s: 1.0 if s < 9 else 1e30, checkpoint=tmp_path / "d.pt",
            checkpoint_every=4)
    assert str(err.value).startswith("loss became inf at step 11 with lr=0.001")
    assert "the last good checkpoint (step 8)" in str(err.value)
    h = err.value.history
    assert h.step == list(range(1, 11)) and all(math.isfinite(v) for v in h.loss)
    # the checkpoint was written before the divergence and holds only finite steps
    _, ckpt = load_checkpoint(tmp_path / "d.pt")
    assert ckpt["step"] == 8 and ckpt["history"]["step"] == list(range(1, 9))
    assert ckpt["history"]["loss"] == h.loss[:8]


def test_sigkill_between_checkpoints_resumes_with_the_same_losses(tmp_path, camera16):
    """A fit killed with SIGKILL (no clean-up runs) after its step-10 checkpoint and before the
    step-20 one resumes from step 10 and gives the losses of a run never interrupted."""
    import os
    import signal as os_signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    ckpt, marker = tmp_path / "k.pt", tmp_path / "at_step_13"
    kw = dict(steps=30, lr=1e-3, batch_size=64, seed=1, progress=False, checkpoint_every=10)
    child = tmp_path / "child.py"
    child.write_text(f"""
import time
from pathlib import Path
import torch
from inrlab import fit, models, signals
torch.set_num_threads({torch.get_num_threads()})
sig = signals.image("camera", size=16)

def wait_to_be_killed(state):
    if state.step == 13:
        Path({str(marker)!r}).write_text("13")
        time.sleep(600)

fit(models.build("siren", signal=sig, width=16, depth=1, seed=0), sig, checkpoint={str(ckpt)!r},
    callbacks=[wait_to_be_killed], callback_every=1, **{kw!r})
""")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, str(child)], env={**os.environ, "PYTHONPATH": str(root)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not marker.exists() and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), proc.stderr.read() if proc.poll() is not None else "child too slow"
    finally:
        proc.send_signal(os_signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -os_signal.SIGKILL
    assert torch.load(ckpt, weights_only=False)["step"] == 10  # the last checkpoint before the kill

    resumed = fit(models.build("siren", signal=camera16, width=16, depth=1, seed=99), camera16,
                  resume=ckpt, checkpoint=ckpt, **kw)
    full = fit(models.build("siren", signal=camera16, width=16, depth=1, seed=0), camera16,
               checkpoint=tmp_path / "full.pt", **kw)
    assert resumed.step == full.step == list(range(1, 31))
    assert resumed.loss == full.loss


def test_a_last_update_that_breaks_the_weights_is_diverged_not_a_psnr():
    # every loss finite (the only one is before the update), outputs inf after it: clipping
    # them would have reported the dead model's PSNR as a result
    sig = signals.image("camera", size=16)
    net = models.build("relu", signal=sig, width=16, depth=1, seed=0)
    with pytest.raises(TrainingDiverged, match="outputs are not finite after step 1 with lr=1e\\+30"):
        fit(net, sig, steps=1, lr=1e30, progress=False)


def test_a_checkpoint_folder_that_refuses_files_is_refused_before_training(tmp_path, monkeypatch):
    import tempfile

    from inrlab import checks

    def refuse(*a, **k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)   # what /proc does, whatever os.access says
    sig = signals.image("camera", size=16)
    net = models.build("relu", signal=sig, width=8, depth=0, seed=0)
    with pytest.raises(InrlabError, match=r"cannot be written: '.*' refuses new files \(Read-only file system\)"):
        checks.check_output_file(tmp_path / "ck.pt", "--checkpoint")
    with pytest.raises(InrlabError, match="ck.pt"):
        fit(net, sig, steps=2, checkpoint=tmp_path / "ck.pt", progress=False)
