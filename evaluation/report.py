"""A static listening report: per class, generated and real clips side by side (players and
mel images), the FAD table(s) and the training curves. Opens from disk, no server.

Layout read from a run folder (what `make demo` writes; every part is optional):
  <run>/synth/<class>/*.wav        generated clips (DCASE layout)
  <run>/fad*.csv                   `Category,FAD` tables (one column per file)
  <run>/probe.json (+ probe.png)   `foleygan probe --out`: per-class accuracy of the encoder probe
  <run>/**/metrics.csv             CSVLogger metrics -> training curves
Real clips come from `real_dir` (any layout `discover_dataset` accepts).
"""

from __future__ import annotations

import csv
import html
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from datamodules.atomic import atomic_path
from datamodules.audio import load_audio
from datamodules.classes import CLASS_NAMES, SNAKE_TO_CAMEL
from datamodules.dcase import discover_dataset
from datamodules.mel import LogMelSpectrogram
from evaluation.plots import read_metrics_csv, save_mel_image, save_training_curves

ASSETS = "report_assets"

# Marks every <img> and <audio> as loaded or broken, so a broken link is visible to a reader.
_STATUS_SCRIPT = """
<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var audios = Array.from(document.querySelectorAll('audio'));
  function done() {
    var badAudio = audios.filter(function (a) { return a.error || a.readyState < 1; });
    var el = document.getElementById('media-status');
    el.textContent = 'images loaded: ' + (imgs.length - bad.length) + '/' + imgs.length +
      '; audio loaded: ' + (audios.length - badAudio.length) + '/' + audios.length;
    el.dataset.ok = String(bad.length === 0 && badAudio.length === 0);
  }
  var pending = audios.filter(function (a) { return a.readyState < 1 && !a.error; });
  if (!pending.length) { done(); return; }
  var left = pending.length;
  pending.forEach(function (a) {
    var finish = function () { left -= 1; if (left === 0) { done(); } };
    a.addEventListener('loadedmetadata', finish, {once: true});
    a.addEventListener('error', finish, {once: true});
  });
  setTimeout(done, 4000);
});
</script>
"""


def _clips_by_class(root: Path | None, per_class: int) -> dict[str, list[Path]]:
    if root is None or not Path(root).is_dir():
        return {}
    chosen: dict[str, list[Path]] = {}
    for path, label in discover_dataset(root):
        items = chosen.setdefault(CLASS_NAMES[label], [])
        if len(items) < per_class:
            items.append(path)
    return chosen


def read_fad_csv(path: Path) -> dict[str, float]:
    """`Category,FAD` rows -> {ClassName: value} (snake_case categories mapped to CamelCase)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {SNAKE_TO_CAMEL.get(r["Category"], r["Category"]): float(r["FAD"]) for r in rows}


def _class_table(tables: dict[str, dict[str, float]], missing: str) -> str:
    """{column title: {class or "mean": value}} -> an HTML table with one row per class."""
    if not tables:
        return f"<p>{missing}</p>"
    names = list(tables)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for cls in [*CLASS_NAMES, "mean"]:
        cells = [tables[n].get(cls) for n in names]
        if all(c is None for c in cells):
            continue
        tds = "".join("<td>–</td>" if c is None else f"<td>{c:.3f}</td>" for c in cells)
        rows.append(f"<tr><th>{html.escape(cls)}</th>{tds}</tr>")
    return f"<table><tr><th>class</th>{head}</tr>{''.join(rows)}</table>"


def read_probe_json(path: Path) -> dict[str, dict[str, float]]:
    """`foleygan probe --out` JSON -> {"trained": {ClassName: acc, "mean": acc}, ...}."""
    payload = json.loads(path.read_text())
    tables = {}
    for title, accs in payload["accuracy"].items():
        row = {n: a for n, a in zip(payload["class_names"], accs, strict=True) if a is not None}
        row["mean"] = sum(row.values()) / max(len(row), 1)
        tables[title] = row
    return tables


def _probe_section(run_dir: Path) -> str:
    path = run_dir / "probe.json"
    if not path.is_file():
        return ""
    image = path.with_suffix(".png")
    img = ""
    if image.is_file():
        img = f'<img class="curves" src="{image.name}" alt="probe confusion matrix">'
    return (
        "<h2>Does G draw the class it is asked for?</h2><p>Per-class accuracy of the frozen "
        "encoder's probe on generated mels (chance = 1 / classes).</p>"
        f"{_class_table(read_probe_json(path), '')}{img}"
    )


class _AssetWriter:
    """Copies clips into the report folder and renders their mel images next to them."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.mel = LogMelSpectrogram()
        self.count = 0

    def figure(self, wav_path: Path, caption: str) -> str:
        self.count += 1
        stem = f"{self.count:04d}"
        wav_rel = f"{ASSETS}/{stem}.wav"
        png_rel = f"{ASSETS}/{stem}.png"
        shutil.copyfile(wav_path, self.out_dir / wav_rel)
        with torch.no_grad():
            mel = self.mel(torch.from_numpy(load_audio(wav_path))[None])[0].numpy()
        save_mel_image(np.asarray(mel), self.out_dir / png_rel, title=caption)
        return (
            f'<figure><img src="{png_rel}" alt="{html.escape(caption)}">'
            f'<audio controls preload="metadata" src="{wav_rel}"></audio>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )


def _class_sections(writer: _AssetWriter, generated: dict, real: dict) -> str:
    sections = []
    for cls in CLASS_NAMES:
        if cls not in generated and cls not in real:
            continue
        gen = "".join(
            writer.figure(p, f"{cls} generated: {p.name}") for p in generated.get(cls, [])
        )
        ref = "".join(writer.figure(p, f"{cls} real: {p.name}") for p in real.get(cls, []))
        sections.append(
            f'<section><h2>{html.escape(cls)}</h2><div class="row">{gen}</div>'
            f'<div class="row real">{ref}</div></section>'
        )
    return "".join(sections)


def _curves(run_dir: Path, out_dir: Path) -> str:
    blocks = []
    for i, metrics_csv in enumerate(sorted(run_dir.rglob("metrics.csv"))):
        png = save_training_curves(
            read_metrics_csv(metrics_csv), out_dir / ASSETS / f"curves_{i}.png"
        )
        if png is not None:
            label = html.escape(str(metrics_csv.parent.relative_to(run_dir)))
            blocks.append(f'<h3>{label}</h3><img class="curves" src="{ASSETS}/{png.name}">')
    return "".join(blocks) or "<p>No metrics.csv found under the run folder.</p>"


def write_report(
    run_dir: str | Path,
    real_dir: str | Path | None = None,
    synth_dir: str | Path | None = None,
    per_class: int = 3,
    title: str = "foleygan listening report",
) -> Path:
    """Write `<run_dir>/report.html` (+ `report_assets/`) and return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run folder {run_dir} does not exist: pass the folder that holds "
            "the run's synth/ folder, fad*.csv and logs (e.g. runs/demo)"
        )
    (run_dir / ASSETS).mkdir(exist_ok=True)
    generated = _clips_by_class(Path(synth_dir) if synth_dir else run_dir / "synth", per_class)
    real = _clips_by_class(Path(real_dir) if real_dir else None, per_class)
    tables = {p.stem: read_fad_csv(p) for p in sorted(run_dir.glob("fad*.csv"))}
    writer = _AssetWriter(run_dir)
    body = (
        f'<h1>{html.escape(title)}</h1><p id="media-status">checking media…</p>'
        f"<h2>FAD per class</h2>"
        f"{_class_table(tables, 'No FAD table found (run <code>foleygan fad</code>).')}"
        f"{_probe_section(run_dir)}"
        f"{_class_sections(writer, generated, real)}"
        f"<h2>Training curves</h2>{_curves(run_dir, run_dir)}"
    )
    style = (
        "body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:4px}"
        "figure img{display:block;width:400px}audio{width:400px}.real{background:#eef}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 8px}"
        "img.curves{max-width:100%}figcaption{font-size:11px}"
    )
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{style}</style></head><body>{body}{_STATUS_SCRIPT}</body></html>"
    )
    out = run_dir / "report.html"
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
