"""The report's KAD / PRDC / FAD-inf tables: from `foleygan fad --metrics` CSVs (as the writers
write them, the ceiling row included) and from the validation keys of a CSVLogger log."""

from __future__ import annotations

import html
import re

import pytest

from evaluation.fad_folders import write_metrics_csv
from evaluation.fad_systems import CEILING, GENERATOR, write_systems_metrics_csv
from evaluation.report import write_report
from evaluation.report_metrics import (
    is_metrics_table,
    metric_systems,
    metrics_section,
    read_validation,
)

CLASSES = ["DogBark", "Rain", "Squeak"]  # two DCASE classes and one of a user's own


def _rows(offset: float) -> dict[str, dict[str, float]]:
    rows = {
        name: {"fad": 2.0 + i + offset, "fad_lo": 1.5 + i + offset, "fad_hi": 3.0 + i + offset,
               "kad": 0.5 * i + offset, "precision": 0.25 * i, "recall": 0.5, "density": 0.9,
               "coverage": 0.1 * (i + 1)}
        for i, name in enumerate(CLASSES)
    }
    rows["mean"] = {k: sum(r[k] for r in rows.values()) / 3 for k in rows["DogBark"]}
    return rows


def _log(path) -> None:
    """A CSVLogger file: two validations, the second one's KAD / PRDC are the last values."""
    path.parent.mkdir(parents=True)
    keys = ["val/fad/Rain", "val/kad/Rain", "val/kad/mean", "val/prdc/coverage/Rain"]
    path.write_text(
        "epoch,step,train/d/loss," + ",".join(keys) + "\n"
        "0,9,1.5,,,,\n"
        "0,19,,7.0,0.9,0.9,0.2\n"
        "1,29,1.1,,,,\n"
        "1,39,,6.0,0.4,0.4,0.7\n"
    )


@pytest.fixture()
def run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_systems_metrics_csv({GENERATOR: _rows(0.0), CEILING: _rows(-1.0)}, run / "metrics.csv")
    write_metrics_csv(_rows(5.0), run / "metrics_big.csv")
    _log(run / "gan" / "version_0" / "metrics.csv")
    return run


def test_tables_and_validation_are_read(run) -> None:
    assert is_metrics_table(run / "metrics.csv")
    assert not is_metrics_table(run / "gan" / "version_0" / "metrics.csv")
    step, rows = read_validation(run / "gan" / "version_0" / "metrics.csv")
    assert step == 39
    assert rows == {"Rain": {"fad": 6.0, "kad": 0.4, "coverage": 0.7}, "mean": {"kad": 0.4}}
    systems = metric_systems(run)
    # the ceiling last, after the generator, the other table and the validation record
    assert list(systems) == [GENERATOR, "big", "validation (gan/version_0, step 39)", CEILING]
    assert systems[GENERATOR]["Rain"] == _rows(0.0)["Rain"]
    assert systems[CEILING]["mean"]["kad"] == pytest.approx(_rows(-1.0)["mean"]["kad"])


def test_section_has_a_table_per_metric_with_intervals(run) -> None:
    section = metrics_section(metric_systems(run))
    for title in ("FAD (lower", "KAD (lower", "precision:", "recall:", "density:", "coverage:"):
        assert title in section
    assert "FAD-inf (lower" not in section  # no fad_inf column anywhere
    kad = section.split("KAD (lower")[1].split("</table>")[0]
    header = re.findall(r"<th>([^<]+)</th>", kad.split("</tr>")[0])
    assert header == ["system", *CLASSES, "mean"]
    generator = kad.split(f"<th>{GENERATOR}</th>")[1].split("</tr>")[0]
    assert generator.startswith("<td>0.000</td><td>0.500</td><td>1.000</td>")
    validation = kad.split("step 39)</th>")[1].split("</tr>")[0]
    assert validation == "<td>–</td><td>0.400</td><td>–</td><td>0.400</td>"
    fad = section.split("FAD (lower")[1].split("</table>")[0]
    assert "<td>3.000 <small>[2.500, 4.000]</small></td>" in fad  # Rain, generator
    assert kad.index(GENERATOR) < kad.index(html.escape(CEILING))
    assert f"against <b>{html.escape(CEILING)}</b>" in section
    assert metrics_section({}) == ""


def test_report_shows_the_section_and_still_draws_curves(run) -> None:
    page = write_report(run).read_text()
    assert "<h2>KAD, PRDC and FAD-inf per class</h2>" in page
    assert "No FAD table found" in page  # no fad*.csv: metrics tables are not read as FAD CSVs
    assert (run / "report_assets" / "curves_0.png").is_file()  # the CSVLogger log only
    assert not (run / "report_assets" / "curves_1.png").exists()


def test_ceiling_from_the_resynth_folder(tmp_path) -> None:
    run = tmp_path / "run"
    write_metrics_csv(_rows(0.0), run / "metrics.csv")
    write_metrics_csv(_rows(-1.0), run / "resynth" / "metrics.csv")
    systems = metric_systems(run, run / "resynth")
    assert list(systems) == ["generated", CEILING]
    assert systems[CEILING]["DogBark"]["kad"] == -1.0
