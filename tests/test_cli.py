"""The command line: JSON output and one-line errors with a non-zero exit."""

import json

import pytest

from conftest import run_cli
from inrlab.cli import main


def test_fit_json():
    r = run_cli("fit", "--model", "siren", "--signal", "camera", "--size", "16", "--steps", "150",
                "--lr", "1e-3", "--set", "width=16", "--set", "depth=1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"model", "params", "flops_forward", "psnr", "psnr_heldout", "seconds", "steps"}
    assert out["model"] == "siren" and out["steps"] == 150 and out["psnr_heldout"] is None
    assert out["params"] == (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1)
    assert out["psnr"] > 25


def test_fit_heldout_every_other():
    r = run_cli("fit", "--model", "relu_pe", "--signal", "perlin:2", "--size", "16", "--steps", "5",
                "--heldout", "every_other", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["psnr_heldout"] is not None


@pytest.mark.parametrize("args, fragment", [
    (["--model", "nope", "--signal", "camera"], "unknown model 'nope'"),
    (["--model", "siren", "--signal", "missing/file.png"], "image file not found: 'missing/file.png'"),
    (["--model", "siren", "--signal", "camera", "--set", "widht=3"], "unknown parameter 'widht'"),
    (["--model", "siren", "--signal", "camera", "--set", "width=big"], "must be int, got 'big'"),
    (["--model", "siren", "--signal", "camera", "--set", "width"], "--set expects key=value"),
    (["--model", "siren", "--signal", "camera", "--steps", "0"], "--steps must be a positive integer"),
    (["--model", "siren", "--signal", "camera", "--size", "-4"], "--size must be at least 2"),
    (["--model", "siren", "--signal", "camera", "--steps", "ten"], "invalid int value: 'ten'"),
    (["--model", "siren", "--signal", "perlin:x"], "perlin spec"),
    (["--model", "siren", "--signal", "camera", "--lr", "-1"], "learning rate"),
])
def test_fit_errors_are_one_line(args, fragment, capsys):
    # in-process for speed; test_not_an_image_file checks the same through a real subprocess
    code = main(["fit", *args, *([] if "--steps" in args else ["--steps", "2"])])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert fragment in lines[0] and "Traceback" not in err


def test_not_an_image_file(tmp_path):
    p = tmp_path / "x.jpg"
    p.write_bytes(b"\x00\x01garbage")
    r = run_cli("fit", "--model", "relu", "--signal", str(p), "--steps", "2")
    assert r.returncode == 2 and "not a readable image" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_models_lists_every_family(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "siren:" in out and "width=256" in out


def test_study_compare_flag_refuses_a_folder_without_a_run(tmp_path, capsys):
    assert main(["study", "--only", "00", "--out", str(tmp_path / "new"), "--compare", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--compare folder" in err and "no study run" in err


def test_fit_json_is_strict_json_when_a_psnr_is_infinite(tmp_path):
    from skimage import io
    import numpy as np

    io.imsave(tmp_path / "flat.png", np.zeros((8, 8), np.uint8), check_contrast=False)
    proc = run_cli("fit", "--model", "grid", "--signal", tmp_path / "flat.png", "--steps", 5, "--json")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout

    def refuse(name):
        raise AssertionError(f"{name} is not JSON")

    result = json.loads(out.strip().splitlines()[-1], parse_constant=refuse)
    assert result["psnr"] is None and result["non_finite"] == {"psnr": "inf"}


def test_render_flops_are_of_the_whole_image_with_a_held_out_split():
    from inrlab import models, signals
    from inrlab.flops import forward_flops

    proc = run_cli("fit", "--model", "siren", "--signal", "camera", "--size", 16, "--steps", 1,
                   "--heldout", "every_other", "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])["flops_forward"]
    net = models.build("siren", signal=signals.image("camera", size=16), seed=0)
    assert got == forward_flops(net, (16, 16)).total != forward_flops(net, (8, 8)).total
