"""The listening report: content from a fake run folder, and a real render in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from datamodules.audio import save_wav
from datamodules.classes import CLASS_NAMES, SNAKE_NAMES
from evaluation.report import read_fad_csv, write_report


def _tone(freq: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(22050 * seconds)) / 22050
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture()
def run_dir(tmp_path):
    run = tmp_path / "run"
    for i, snake in enumerate(SNAKE_NAMES):
        save_wav(run / "synth" / snake / "000.wav", _tone(200 + 100 * i))
    real = tmp_path / "real"
    save_wav(real / "DogBark" / "a.wav", _tone(300))
    (run / "fad.csv").write_text(
        "Category,FAD\n" + "".join(f"{s},{i + 0.5}\n" for i, s in enumerate(SNAKE_NAMES))
    )
    (run / "probe.json").write_text(json.dumps({
        "class_names": CLASS_NAMES, "accuracy": {"trained": [1.0, 0.5, 0.0, 1.0, 1.0, 1.0, 0.0],
                                                 "untrained": [0.0] * 5 + [1.0, 0.0]}}))
    logs = run / "gan" / "version_0"
    logs.mkdir(parents=True)
    (logs / "metrics.csv").write_text(
        "epoch,step,train/d/loss,train/g/loss,val/fad/mean\n0,9,1.5,0.8,\n0,19,1.2,0.9,\n0,19,,,7.0\n"
    )
    return run, real


def test_report_content(run_dir):
    run, real = run_dir
    out = write_report(run, real_dir=real, per_class=2)
    page = out.read_text()
    for cls in CLASS_NAMES:
        assert f"<h2>{cls}</h2>" in page
    # 7 generated + 1 real clip, each with an image and a player, all copied beside the report
    assert page.count("<audio") == 8
    assert len(list((run / "report_assets").glob("*.wav"))) == 8
    assert (run / "report_assets" / "curves_0.png").stat().st_size > 1000
    assert "<td>3.500</td>" in page  # keyboard row of fad.csv
    assert "<tr><th>Footstep</th><td>0.500</td><td>0.000</td></tr>" in page  # probe.json
    assert "<tr><th>mean</th><td>0.643</td><td>0.143</td></tr>" in page  # 4.5 / 7 and 1 / 7


def test_read_fad_csv_maps_snake_case(tmp_path):
    path = tmp_path / "fad.csv"
    path.write_text("Category,FAD\ndog_bark,1.25\nmean,2.0\n")
    assert read_fad_csv(path) == {"DogBark": 1.25, "mean": 2.0}


def test_report_refuses_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run folder"):
        write_report(tmp_path / "nope")


def _chromium() -> str | None:
    """The browser on PATH, if any (.ci/run installs Debian's chromium; tests install nothing)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "no chromium on PATH: .ci/run installs it (apt-get install chromium); "
            "the rendering check needs a browser"
        )
    run, real = run_dir
    out = write_report(run, real_dir=real, per_class=1)
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--allow-file-access-from-files",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=8000",
        "--dump-dom",
        out.resolve().as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    assert 'id="media-status"' in dom
    assert 'data-ok="true"' in dom, dom[
        dom.find("media-status") - 20 : dom.find("media-status") + 200
    ]
    assert "images loaded: " in dom


def test_report_of_own_classes_with_the_ceiling_row(tmp_path):
    run, real = tmp_path / "run", tmp_path / "real"
    own = ["DoorKnock", "Wind", "dog_bark"]  # a mixed set: names as given, sorted
    for i, name in enumerate(own):
        save_wav(run / "synth" / name / "000.wav", _tone(200 + 100 * i))
        save_wav(run / "resynth" / name / "000.wav", _tone(210 + 100 * i))
        save_wav(real / name / "a.wav", _tone(220 + 100 * i))
    (run / "fad_trained.csv").write_text("Category,FAD\nDoorKnock,4.0\nWind,6.0\ndog_bark,8.0\n")
    page = write_report(run, real_dir=real, per_class=1).read_text()
    # resynth/ without a FAD: an empty ceiling row and the command that fills it
    assert "<tr><th>real -&gt; mel -&gt; vocoder</th><td>–</td><td>–</td><td>–</td>" in page
    assert "foleygan fad " + str(run / "resynth") in page
    (run / "resynth" / "fad.csv").write_text("Category,FAD\nDoorKnock,1.0\nWind,2.0\n"
                                             "dog_bark,3.0\n")
    page = write_report(run, real_dir=real, per_class=1).read_text()
    assert "<tr><th>system</th><th>DoorKnock</th><th>Wind</th><th>DogBark</th><th>mean</th>" in page
    assert ("<tr><th>trained</th><td>4.000</td><td>6.000</td><td>8.000</td><td>6.000</td></tr>"
            in page)
    assert ("<tr><th>real -&gt; mel -&gt; vocoder</th><td>1.000</td><td>2.000</td><td>3.000</td>"
            "<td>2.000</td></tr>" in page)
    assert "Read every row against" in page
    for cls in ("DoorKnock", "Wind", "DogBark"):
        assert f"<h2>{cls}</h2>" in page
    assert page.count("<audio") == 9  # generated, resynthesised and real, one each per class
    assert "DoorKnock real -&gt; mel -&gt; vocoder: 000.wav" in page


def test_report_reads_the_systems_csv_of_fad_ceiling(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "fad.csv").write_text("system,Category,FAD\ngenerator,rain,5.0\n"
                                 "real -> mel -> vocoder,rain,2.0\n")
    page = write_report(run, ceiling_dir=tmp_path / "elsewhere").read_text()
    assert "<tr><th>generator</th><td>5.000</td><td>5.000</td></tr>" in page
    assert "<tr><th>real -&gt; mel -&gt; vocoder</th><td>2.000</td><td>2.000</td></tr>" in page
