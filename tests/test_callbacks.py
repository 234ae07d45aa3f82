"""fit()'s callback mechanism (inrlab.callbacks) and the one checkpoint reader (inrlab.checkpoint)."""

import pytest
import torch

from inrlab import checkpoint, fit, load_checkpoint, models, signals
from inrlab.errors import InrlabError


@pytest.fixture(scope="module")
def camera16():
    return signals.image("camera", size=16, gray=True)


def _siren(sig):
    return models.build("siren", signal=sig, width=16, depth=1, seed=0)


def test_a_callback_sees_every_step_and_the_end(camera16):
    seen = []

    def record(state):
        seen.append((state.step, state.finished, len(state.history.step)))

    h = fit(_siren(camera16), camera16, steps=12, lr=1e-3, progress=False, callbacks=[record],
            callback_every=1)
    assert [s for s, done, _ in seen] == list(range(1, 13))       # every step, none twice
    assert all(n == s for s, _, n in seen)                         # with every loss up to it
    assert not any(done for _, done, _ in seen)                    # plain callbacks skip the end call
    assert h.step == list(range(1, 13))


def test_a_callback_returning_true_stops_training_after_the_others_of_its_step(camera16, tmp_path):
    calls = []
    stop_at_7 = lambda s: s.step == 7          # noqa: E731
    h = fit(_siren(camera16), camera16, steps=50, lr=1e-3, progress=False, eval_every=5,
            callbacks=[stop_at_7, lambda s: calls.append(s.step)], callback_every=1,
            checkpoint=tmp_path / "c.pt")
    assert calls == list(range(1, 8))                               # the second still ran at 7
    assert h.step == list(range(1, 8)) and h.eval_step == [5, 7]    # one final evaluation at 7
    assert h.ssim is not None
    _, ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["step"] == 7                                        # the end call checkpointed


def test_the_loop_calls_each_callback_once_more_when_training_ends(camera16):
    from inrlab.train import FitState, History, Sampler, make_optimizer, make_step, run_callbacks

    class Stopper:
        def __init__(self):
            self.steps, self.ends = [], []

        def __call__(self, state):
            if state.finished:
                self.ends.append((state.step, state.error))
                return None
            self.steps.append(state.step)
            return state.step == 3

    model = _siren(camera16)
    opt = make_optimizer(model, lr=1e-3)
    state = FitState(0, model, camera16, History(config={"lr": 1e-3}), opt, steps=10,
                     data=camera16, sampler=Sampler(camera16, None, 0))
    state.step_fn = make_step(model, opt, on_loss=state.record_loss)
    cb = Stopper()
    run_callbacks([cb], state)
    assert cb.steps == [1, 2, 3] and cb.ends == [(3, None)]
    assert state.history.eval_step == [3]                           # the final evaluation


def test_load_checkpoint_and_resume_read_through_one_reader(camera16, tmp_path, monkeypatch):
    path = tmp_path / "r.pt"
    fit(_siren(camera16), camera16, steps=6, lr=1e-3, progress=False, checkpoint=path)
    reads = []
    original = checkpoint.read_checkpoint
    monkeypatch.setattr(checkpoint, "read_checkpoint",
                        lambda *a, **k: reads.append(a[1] if len(a) > 1 else k.get("what")) or original(*a, **k))
    load_checkpoint(path)
    h = fit(_siren(camera16), camera16, steps=8, lr=1e-3, progress=False, resume=path)
    assert reads == ["checkpoint", "checkpoint to resume"]
    assert h.step == list(range(1, 9)) and h.config["resumed_at"] == 6


@pytest.mark.parametrize("what", ["load", "resume"])
def test_the_one_reader_refuses_a_file_that_is_not_a_checkpoint(camera16, tmp_path, what):
    bad = tmp_path / "x.pt"
    torch.save({"format": "something else"}, bad)
    with pytest.raises(InrlabError, match="is not an inrlab checkpoint"):
        if what == "load":
            load_checkpoint(bad)
        else:
            fit(_siren(camera16), camera16, steps=2, progress=False, resume=bad)


def test_resume_names_a_checkpoint_of_another_model(camera16, tmp_path):
    path = tmp_path / "other.pt"
    fit(_siren(camera16), camera16, steps=2, lr=1e-3, progress=False, checkpoint=path)
    wider = models.build("siren", signal=camera16, width=24, depth=1, seed=0)
    with pytest.raises(InrlabError, match="does not match this model's parameters"):
        fit(wider, camera16, steps=4, progress=False, resume=path)
