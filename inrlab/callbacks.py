"""fit()'s callbacks. A callback is any callable taking the run's `FitState`: fit() calls each
one after every step (a callback returning True stops training, after the others of that step
have run) and once more when training ends, with `state.finished` set (and `state.error`
holding the exception if training raised). Progress, evaluation, the target-PSNR stop and
checkpoints are callbacks like the user's own; `Every` runs a plain callback (a LiveView, say)
every few steps with the losses up to its step recorded.
"""

from __future__ import annotations


def _due(state, every: int) -> bool:
    return not state.finished and (state.step % every == 0 or state.step == state.steps)


class Every:
    """`fn(state)` every `every` steps and after the last step, on a flushed history."""

    def __init__(self, fn, every: int):
        self.fn, self.every = fn, every

    def __call__(self, state):
        if _due(state, self.every):
            state.flush()
            return self.fn(state)
        return None


class Evaluate:
    """Fit and held-out PSNR every `every` steps and after the last step."""

    def __init__(self, every: int):
        self.every = every

    def __call__(self, state):
        if _due(state, self.every):
            state.measure()


class TargetPSNR:
    """Stop once fit PSNR reaches `target`. A full batch's outputs of this step (before its
    update) give a cheap estimate every step; only an estimate above the target pays for an
    evaluation, whose PSNR decides."""

    def __init__(self, target: float):
        self.target = target

    def __call__(self, state):
        if state.finished:
            return None
        if not state.measured():
            estimate = state.batch_psnr()
            if estimate is not None and estimate >= self.target:
                state.measure()
        return state.measured() and state.history.psnr[-1] >= self.target


class ProgressBar:
    """A tqdm bar over the steps, showing the loss and PSNR of the last evaluation."""

    def __init__(self, total: int, initial: int):
        from tqdm.auto import tqdm
        self.bar = tqdm(total=total, initial=initial, desc="fit", leave=False, mininterval=0.5)

    def __call__(self, state):
        if state.finished:
            self.bar.close()
            return
        if state.measured():
            self.bar.set_postfix(loss=f"{state.history.loss[-1]:.2e}",
                                 psnr=f"{state.history.psnr[-1]:.2f}")
        self.bar.update(1)


class Checkpoint:
    """The run's checkpoint at `path` every `every` steps (None: only at the end) and after a
    run that ends without an error."""

    def __init__(self, path, every: int | None = None):
        self.path, self.every = path, every

    def __call__(self, state):
        if state.finished:
            if state.error is None:
                state.save(self.path)
        elif self.every and state.step % self.every == 0:
            state.save(self.path)
