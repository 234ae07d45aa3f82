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


def test_time_to_30db_has_a_row_for_every_new_family_beside_the_old_ones():
    from inrlab.bench import TTP_CONFIGS, TTP_FAMILY_CONFIGS
    assert {name for _, name, _, _ in TTP_FAMILY_CONFIGS} == {"hashgrid", "grid", "wire", "gauss", "finer"}
    for _, name, kw, lr in TTP_FAMILY_CONFIGS:          # each builds on the bench image and has an lr
        models.build(name, signal=signals.image("camera", size=16), seed=0, **kw)
        assert lr > 0
    assert not {n for _, n, _, _ in TTP_CONFIGS} & {n for _, n, _, _ in TTP_FAMILY_CONFIGS}


@pytest.mark.parametrize("argv, words", [
    (["--json", "{tmp}"], "--json '{tmp}' is a directory; give a file path inside it"),
    (["--json", "{tmp}/f.json/x.json"], "which is a file, not a folder"),
    (["--only"], "--only needs at least one case name (see --list)"),
    (["--quick", "--only", "sweep_pool"], "bench case 'sweep_pool' runs only without --quick"),
    (["--only", "nosuch"], "unknown bench case 'nosuch'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bench_refuses_bad_arguments_in_one_line_before_any_case_runs(tmp_path, capsys, monkeypatch, argv, words):
    from inrlab.bench import runner

    (tmp_path / "f.json").write_text("{}")
    monkeypatch.setattr(runner, "references", lambda *a, **k: pytest.fail("a case ran before the check"))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert runner.main(argv) == 2
    err = capsys.readouterr().err
    assert words.replace("{tmp}", str(tmp_path)) in err and err.count("\n") == 1, err
