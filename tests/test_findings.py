"""A notebook run on an image and sizes no issue or default names concludes from its own metrics.

Notebook 02 runs on scikit-image's `coffee` at toy sizes; its closing "What this run found" cell
must print exactly the ledger rows computed from the metrics.json that run wrote, with the
run's own numbers, and the ledger must carry the run's settings as protocol differences.
"""

import json
from pathlib import Path

import papermill as pm
import pytest

from inrlab import claims

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

PARAMS = dict(image="coffee", train_size=16, test_size=32, width=16, depth=1, grids=[1, 2, 4],
              sweep_alpha=8, steps=20, compare_steps=10, compare_grid=4, compare_alphas=[8],
              ff_features=8, ff_sigma=1.0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("findings")
    nb = pm.execute_notebook(str(NOTEBOOKS / "02_generalization.ipynb"), str(out / "02.ipynb"),
                             parameters=dict(PARAMS, out_dir=str(out / "02")), kernel_name="python3",
                             progress_bar=False, cwd=str(NOTEBOOKS))
    metrics = json.loads((out / "02" / "metrics.json").read_text())["metrics"]
    return nb, metrics


def _last_output(nb) -> str:
    for cell in reversed(nb["cells"]):
        if cell["cell_type"] == "code" and "print_findings" in "".join(cell["source"]):
            return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    raise AssertionError("notebook 02 has no cell calling claims.print_findings")


def test_conclusion_prints_the_rows_of_this_runs_metrics(run):
    nb, metrics = run
    assert metrics["image"] == "coffee" and metrics["train_size"] == 16
    rows = claims.findings(metrics, "02_generalization")
    assert {r.id for r in rows} == {c.id for c in claims.registered("02_generalization")}
    printed = _last_output(nb)
    assert claims.format_rows(rows) in printed
    measured = [r for r in rows if r.measured]
    assert measured, "no claim measured anything on this run"
    for r in measured:
        assert r.measured_text() in printed


def test_the_ledger_names_this_runs_departures_from_the_protocol(run):
    _, metrics = run
    rows = {r.id: r for r in claims.findings(metrics, "02_generalization")}
    diffs = " ".join(rows["mh-fig3-peak"].differences)
    assert "train_size 16 instead of 256" in diffs and "steps 20 instead of 2000" in diffs
    # the equal-parameter comparison measured this run's three models, whatever its verdict
    fig5 = rows["mh-fig5-equal-params"]
    if fig5.verdict != "not run":
        assert set(fig5.measured) >= {"MH", "FF", "SIREN"}
