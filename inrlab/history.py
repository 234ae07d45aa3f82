"""What a fit records (`History`), kept apart from the loop so checkpoints and reports can
read it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class History:
    """What a fit recorded. Per step: the training loss (MSE before that step's update).
    Per evaluation (every `eval_every` steps and after the last step): fit PSNR, held-out PSNR
    (None without a held-out set) and the training wall seconds so far (evaluation excluded).
    After the last step only (SSIM is costly): `ssim` on the training image and `ssim_heldout`
    on the held-out image grid (`final_ssim`), with `ssim_note` saying why one is None.
    `diverged`: a stacked member's reason for stopping early (then it has no evaluation)."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    psnr_heldout: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    ssim: float | None = None
    ssim_heldout: float | None = None
    ssim_note: str | None = None
    # why training stopped before its last step: a stacked member whose loss stopped being
    # finite (`fit_stacked`; a fit() raises TrainingDiverged instead); None when it ran through
    diverged: str | None = None

    @property
    def final(self) -> dict:
        """Metrics after the last step."""
        ssim = {"ssim": self.ssim, "ssim_heldout": self.ssim_heldout, "ssim_note": self.ssim_note}
        if not self.eval_step:
            return {"psnr": None, "psnr_heldout": None, "seconds": 0.0, "steps": 0, **ssim}
        return {"psnr": self.psnr[-1], "psnr_heldout": self.psnr_heldout[-1],
                "seconds": self.seconds[-1], "steps": self.eval_step[-1], **ssim}

    def seconds_to(self, target_psnr: float) -> float | None:
        """Training seconds until fit PSNR first reached `target_psnr` (None if never)."""
        for p, s in zip(self.psnr, self.seconds):
            if p is not None and p >= target_psnr:
                return s
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)
