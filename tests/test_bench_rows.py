"""The benchmark rows of issue 17: the hash grid step's floor is its gathers' and scatters' bytes."""

import pytest
import torch

from inrlab import models, signals
from inrlab.bench import CASES


def test_hashgrid_step_floor_is_the_gather_and_scatter_bytes_over_bandwidth():
    ctx = {"device": torch.device("cpu"), "size": 16, "min_time": 0.01,
           "matmul_flops": 1e15, "copy_bytes": 1e9}           # memory-bound by construction
    row = CASES["hashgrid_step"].run(ctx)
    sig = signals.image("camera", size=16)
    moved = models.build("hashgrid", signal=sig, seed=0).gather_bytes(sig.shape)
    assert row["bytes_moved"] == moved["gather"] + moved["scatter"]
    assert row["floor_s"] == pytest.approx(row["bytes_moved"] / 1e9)
    assert row["ratio_to_floor"] == pytest.approx(row["seconds"] / row["floor_s"])
    assert row["kind"] == "train_step" and row["floor_target_ratio"] == 3.0
