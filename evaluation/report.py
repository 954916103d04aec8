"""A static listening report: per class, generated and real clips side by side (players and
mel images), the FAD table(s) and the training curves. Opens from disk, no server.

Layout read from a run folder (what `make demo` writes; every part is optional):
  <run>/synth/<class>/*.wav        generated clips (submission layout, any class set)
  <run>/resynth/<class>/*.wav      real clips through mel + vocoder (`foleygan resynth`): the
                                   ceiling, shown beside the generated clips
  <run>/fad*.csv                   FAD tables: `Category,FAD` (one system, named by the file:
                                   fad_trained.csv -> "trained"; fad_ceiling.csv -> the ceiling,
                                   fad_real.csv -> the real clips) or `system,Category,FAD`
                                   (`foleygan fad --ceiling`); <resynth>/fad.csv is the ceiling's
  <run>/probe.json (+ probe.png)   `foleygan probe --out`: per-class accuracy of the encoder probe
  <run>/*.csv with Category and    `foleygan fad --metrics ...` tables (KAD, PRDC, FAD-inf,
  metric columns                   intervals): one table per metric (`evaluation.report_metrics`)
  <run>/**/metrics.csv             CSVLogger metrics -> training curves (and the last validation
                                   KAD / PRDC in the per-metric tables)
Real clips come from `real_dir` (any root `datamodules.dcase.index_dataset` reads). The classes
are those of the run's folders and tables (the checkpoint's), in their order.
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
from datamodules.classes import SNAKE_TO_CAMEL
from datamodules.dcase import index_dataset
from datamodules.mel import LogMelSpectrogram
from evaluation.fad_systems import CEILING, FLOOR, Systems, class_columns, read_fad_tables
from evaluation.plots import read_metrics_csv, save_mel_image, save_training_curves
from evaluation.report_metrics import is_metrics_table, metric_systems, metrics_section

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
    """{class: its first `per_class` clips} of a root of class folders (its own class list)."""
    if root is None or not Path(root).is_dir():
        return {}
    index = index_dataset(root)
    chosen: dict[str, list[Path]] = {name: [] for name in index.class_names}
    for path, label in index.items:
        items = chosen[index.class_names[label]]
        if len(items) < per_class:
            items.append(path)
    return {SNAKE_TO_CAMEL.get(name, name): paths for name, paths in chosen.items()}


def _ordered(*groups) -> list[str]:
    """Class names of several {class: ...} mappings, in first-seen order."""
    names: list[str] = []
    for group in groups:
        names += [n for n in group if n != "mean" and n not in names]
    return names


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
    for cls in [*_ordered(*tables.values()), "mean"]:
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


def _class_sections(writer: _AssetWriter, rows: dict[str, dict[str, list[Path]]]) -> str:
    """One section per class: a row of figures per source ({title: {class: clips}})."""
    sections = []
    for cls in _ordered(*rows.values()):
        blocks = []
        for title, clips in rows.items():
            figures = "".join(
                writer.figure(p, f"{cls} {title}: {p.name}") for p in clips.get(cls, [])
            )
            if figures:
                css = "row real" if title == "real" else "row"
                blocks.append(f'<div class="{css}">{figures}</div>')
        sections.append(f"<section><h2>{html.escape(cls)}</h2>{''.join(blocks)}</section>")
    return "".join(sections)


def system_name(stem: str) -> str:
    """The system of an official `Category,FAD` CSV, from its file name."""
    special = {"fad": "generated", "fad_ceiling": CEILING, "fad_real": FLOOR}
    return special.get(stem, stem.removeprefix("fad_"))


def fad_systems(run_dir: Path, ceiling_dir: Path | None) -> Systems:
    """Every FAD table of the run, one system per row; the ceiling last but one, the real clips
    last. The ceiling also comes from `<ceiling_dir>/fad.csv`; a ceiling folder without any FAD
    gives an empty ceiling row (shown with dashes and how to fill it)."""
    systems: Systems = {}
    for path in sorted(run_dir.glob("fad*.csv")):
        if not is_metrics_table(path):  # `foleygan fad --metrics` tables: their own section
            systems.update(read_fad_tables(path, system_name(path.stem)))
    if ceiling_dir is not None and CEILING not in systems:
        own = ceiling_dir / "fad.csv"
        systems[CEILING] = read_fad_tables(own, CEILING)[CEILING] if own.is_file() else {}
    order = [s for s in systems if s not in (CEILING, FLOOR)] + [
        s for s in (CEILING, FLOOR) if s in systems
    ]
    return {s: systems[s] for s in order}


def _fad_table(systems: Systems, ceiling_dir: Path | None) -> str:
    """Systems as rows, classes (and the mean) as columns, and how to read them."""
    if not systems:
        return "<p>No FAD table found (run <code>foleygan fad</code>).</p>"
    names = [*class_columns(systems), "mean"]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for system, row in systems.items():
        tds = "".join(
            f"<td>{row[n]:.3f}</td>" if n in row else "<td>–</td>" for n in names
        )
        rows.append(f"<tr><th>{html.escape(system)}</th>{tds}</tr>")
    table = f"<table><tr><th>system</th>{head}</tr>{''.join(rows)}</table>"
    note = ""
    if CEILING in systems:
        note = (
            f"<p>Read every row against <b>{html.escape(CEILING)}</b>: real clips through the "
            "same mel and vocoder, what a perfect generator would score here. A generator at "
            "that row is limited by the vocoder, not by G."
        )
        if FLOOR in systems:
            note += f" <b>{html.escape(FLOOR)}</b>: other real clips, no vocoder."
        note += "</p>"
    if CEILING in systems and not systems[CEILING] and ceiling_dir is not None:
        note += (
            f"<p>The ceiling's FAD is missing: <code>foleygan fad {html.escape(str(ceiling_dir))}"
            f" --ref REF --no-strict-count --out {html.escape(str(ceiling_dir / 'fad.csv'))}"
            "</code></p>"
        )
    return table + note


def _curves(run_dir: Path, out_dir: Path) -> str:
    blocks = []
    logs = [p for p in sorted(run_dir.rglob("metrics.csv")) if not is_metrics_table(p)]
    for i, metrics_csv in enumerate(logs):
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
    ceiling_dir: str | Path | None = None,
) -> Path:
    """Write `<run_dir>/report.html` (+ `report_assets/`) and return its path.

    `ceiling_dir`: resynthesised real clips (`foleygan resynth`), default `<run_dir>/resynth`
    when it exists: their clips beside the generated ones and their FAD as the ceiling row.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run folder {run_dir} does not exist: pass the folder that holds "
            "the run's synth/ folder, fad*.csv and logs (e.g. runs/demo)"
        )
    if ceiling_dir is None and (run_dir / "resynth").is_dir():
        ceiling_dir = run_dir / "resynth"
    ceiling_dir = None if ceiling_dir is None else Path(ceiling_dir)
    (run_dir / ASSETS).mkdir(exist_ok=True)
    clips = {
        "generated": _clips_by_class(Path(synth_dir) if synth_dir else run_dir / "synth",
                                     per_class),
        CEILING: _clips_by_class(ceiling_dir, per_class),
        "real": _clips_by_class(Path(real_dir) if real_dir else None, per_class),
    }
    writer = _AssetWriter(run_dir)
    body = (
        f'<h1>{html.escape(title)}</h1><p id="media-status">checking media…</p>'
        f"<h2>FAD per class</h2>{_fad_table(fad_systems(run_dir, ceiling_dir), ceiling_dir)}"
        f"{metrics_section(metric_systems(run_dir, ceiling_dir))}"
        f"{_probe_section(run_dir)}"
        f"{_class_sections(writer, clips)}"
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
