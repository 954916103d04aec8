#!/usr/bin/env python3
"""Build the small REAL-RECORDINGS development set ``data/realdev/``.

Every clip is a real recording (no synthesis).  Output layout::

    data/realdev/<ClassName>/<source_id>-<class_index>-<occurrence>-<slice>.wav
    data/realdev/meta.csv   (filename,class,recording_id,source,license)

Each clip is mono, 16-bit PCM, 22,050 Hz, exactly 4 s (88,200 samples):
shorter audio is zero-padded at the end, longer audio is cut.  Clips whose
peak is below 0.01 are skipped.  Clips cut from one source recording share
``<source_id>`` in their file name and ``recording_id`` in meta.csv, so a
split by recording (not by clip) is always possible.

Class indices follow DCASE 2023 Task 7: DogBark 0, Footstep 1, GunShot 2,
Keyboard 3, MovingMotorVehicle 4, Rain 5, Sneeze_Cough 6.

Sources (all fetched beforehand; the script never downloads anything)
--------------------------------------------------------------------
1. ESC-10 (github karolpiczak/ESC-10, git history; the current HEAD no longer
   holds audio, the last commit that does is 553c8f1, found automatically).
   K. J. Piczak, "ESC: Dataset for Environmental Sound Classification", 2015.
   Collection licence CC BY 3.0 (README); each clip is derived from a
   Freesound recording under CC0 or CC BY 3.0, the per-clip licence is parsed
   from that commit's README.md and written to meta.csv.
   Files used: ``001 - Dog bark/*.ogg`` -> DogBark,
   ``002 - Rain/*.ogg`` -> Rain, ``006 - Person sneeze/*.ogg`` -> Sneeze_Cough.
   File name ``<fold>-<freesoundID>-<take>.ogg``: recording id = the Freesound
   id, occurrence = take letter (A=0, B=1, ...), slice = 0.  Clips are 5 s;
   the 4 s window with the most energy (10 ms grid) is kept.
   EXCLUDED: every clip whose Freesound id also appears in UrbanSound8K folds
   1, 2, 3 or 10 (held out for the project's independent evaluation).  The
   ids are read from any ``UrbanSound8K.csv`` found in the fetched sources
   (e.g. github Jack-Sloan/Urban_Sound_Classification_NN, metadata only) and
   are also listed in ``US8K_HELDOUT_FSIDS`` below, so the exclusion holds
   even without the CSV.  This removes 12 of the 40 dog-bark clips.
2. Keystroke-Datasets (github JBFH-Dev/Keystroke-Datasets), MIT licence
   (c) 2023 Josh; recordings of "A Practical Deep Learning-Based Acoustic
   Side Channel Attack on Keyboards" (Harrison, Toreini, Mehrnezhad, 2023).
   Files used: ``Zoom/<key>.wav`` (36 files: keys 0-9, a-z; each ~24 s at
   32 kHz, 25 presses of one key on a MacBook Pro recorded through Zoom)
   -> Keyboard.  (``MBPWavs/`` is not in the snapshot: files >= 4 MiB.)
   Recording id = 9900000 + index of the key in "1234567890qwertyuiopasdfghjklzxcvbnm"
   (fixed, so it never collides with a Freesound id); occurrence = 0; the
   recording is cut into consecutive 4 s slices after skipping the first
   second, at most ``--max-slices`` (default 3) per recording.

Never used (reserved for independent evaluation): UrbanSound8K folds 1, 2,
3 and 10; the Virufy cough recordings; the hardRain recordings.

Usage::

    python scripts/build_realdev.py [--out data/realdev] [--mirror /work/.mirror]
                                    [--sources DIR] [--max-slices 3]

Sources are found automatically under ``--mirror`` (bare git dirs named
``<owner>+<name>/repo``) and ``--sources`` (either the same layout, or plain
checked-out folders named ``ESC-10`` / ``Keystroke-Datasets`` /
``<owner>+<name>``).  The build is idempotent: the set is written to a
temporary folder and swapped in place of the old one.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SR = 22050
N_SAMPLES = 4 * SR  # 88,200
PEAK_MIN = 0.01

CLASS_INDEX = {
    "DogBark": 0,
    "Footstep": 1,
    "GunShot": 2,
    "Keyboard": 3,
    "MovingMotorVehicle": 4,
    "Rain": 5,
    "Sneeze_Cough": 6,
}

ESC10_FOLDERS = {
    "001 - Dog bark": "DogBark",
    "002 - Rain": "Rain",
    "006 - Person sneeze": "Sneeze_Cough",
}

# Freesound ids of ESC-10 clips whose source recording is also in
# UrbanSound8K folds 1, 2, 3 or 10 (checked against UrbanSound8K.csv).
US8K_HELDOUT_FSIDS = frozenset(
    {
        "30344",
        "32318",
        "59513",
        "114587",
        "116400",
        "163459",
        "170015",
        "180256",
        "199261",
        "207124",
        "203128",
        "44831",
        "65750",
    }
)
US8K_HELDOUT_FOLDS = {"1", "2", "3", "10"}

LICENCE_NAMES = {"CC0": "CC0 1.0", "CC-BY": "CC BY 3.0", "CC-BY-NC": "CC BY-NC 3.0"}

KEY_ORDER = "1234567890qwertyuiopasdfghjklzxcvbnm"
KEYSTROKE_ID_BASE = 9900000


# --------------------------------------------------------------------------
# Source access: a bare git dir (optionally at a given commit) or a folder.
# --------------------------------------------------------------------------
@dataclass
class Tree:
    root: Path
    git: bool
    commit: str = "HEAD"

    def _git(self, *args: str, text: bool = True):
        out = subprocess.run(
            ["git", "--git-dir", str(self.root), *args],
            capture_output=True,
            check=True,
        ).stdout
        return out.decode("utf-8", "replace") if text else out

    def list(self, prefix: str = "") -> list[str]:
        if self.git:
            args = ["ls-tree", "-r", "--name-only", "-z", self.commit]
            if prefix:
                args += ["--", prefix]
            return sorted(p for p in self._git(*args).split("\0") if p)
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def read(self, path: str) -> bytes:
        if self.git:
            return self._git("show", f"{self.commit}:{path}", text=False)
        return (self.root / path).read_bytes()


def candidate_roots(mirror: Path | None, sources: Path | None, name: str) -> list[Tree]:
    """Trees for repository ``owner+name`` (or plain folder ``name``)."""
    found: list[Tree] = []
    for base in (sources, mirror):
        if base is None or not base.is_dir():
            continue
        for d in sorted(base.iterdir()):
            if not d.is_dir():
                continue
            short = d.name.split("+", 1)[-1]
            if short != name and d.name != name:
                continue
            if (d / "repo" / "HEAD").exists():
                found.append(Tree(d / "repo", git=True))
            elif (d / "HEAD").exists() and (d / "objects").is_dir():
                found.append(Tree(d, git=True))
            else:
                found.append(Tree(d, git=False))
    return found


def all_trees(mirror: Path | None, sources: Path | None) -> list[Tree]:
    out: list[Tree] = []
    for base in (sources, mirror):
        if base is None or not base.is_dir():
            continue
        for d in sorted(base.iterdir()):
            if (d / "repo" / "HEAD").exists():
                out.append(Tree(d / "repo", git=True))
            elif d.is_dir():
                out.append(Tree(d, git=False))
    return out


# --------------------------------------------------------------------------
# Audio helpers
# --------------------------------------------------------------------------
def load_mono(data: bytes) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(sr)


def to_sr(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x.astype(np.float32)
    frac = Fraction(SR, sr).limit_denominator(1000)
    return resample_poly(x, frac.numerator, frac.denominator).astype(np.float32)


def fit_4s(x: np.ndarray) -> np.ndarray:
    if len(x) >= N_SAMPLES:
        return x[:N_SAMPLES]
    return np.pad(x, (0, N_SAMPLES - len(x)))


def loudest_window(x: np.ndarray, hop: int = SR // 100) -> np.ndarray:
    """The 4 s window of ``x`` with the most energy (whole ``x`` if shorter)."""
    if len(x) <= N_SAMPLES:
        return fit_4s(x)
    c = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    starts = np.arange(0, len(x) - N_SAMPLES + 1, hop)
    energy = c[starts + N_SAMPLES] - c[starts]
    s = int(starts[int(np.argmax(energy))])
    return x[s : s + N_SAMPLES]


@dataclass
class Clip:
    cls: str
    source_id: str
    occurrence: int
    slice: int
    audio: np.ndarray
    source: str
    license: str

    @property
    def filename(self) -> str:
        stem = f"{self.source_id}-{CLASS_INDEX[self.cls]}-{self.occurrence}-{self.slice}"
        return f"{self.cls}/{stem}.wav"


# --------------------------------------------------------------------------
# Held-out UrbanSound8K ids
# --------------------------------------------------------------------------
def us8k_heldout_fsids(trees: list[Tree]) -> set[str]:
    ids = set(US8K_HELDOUT_FSIDS)
    for t in trees:
        try:
            paths = [p for p in t.list() if p.endswith("UrbanSound8K.csv")]
        except (subprocess.CalledProcessError, OSError):
            continue
        for p in paths:
            text = t.read(p).decode("utf-8", "replace")
            n = 0
            for row in csv.reader(io.StringIO(text)):
                if len(row) >= 6 and row[1].isdigit():
                    n += 1
                    if row[5] in US8K_HELDOUT_FOLDS:
                        ids.add(row[1])
            if n > 8000:  # the full metadata: no need to read more copies
                return ids
    return ids


# --------------------------------------------------------------------------
# Source 1: ESC-10
# --------------------------------------------------------------------------
def esc10_tree(trees: list[Tree]) -> Tree | None:
    for t in trees:
        if not t.git:
            if (t.root / "001 - Dog bark").is_dir():
                return t
            continue
        revs = t._git("rev-list", "--all").split()
        for rev in revs:  # newest first
            if t._git("ls-tree", "--name-only", rev, "--", "001 - Dog bark").strip():
                return Tree(t.root, git=True, commit=rev)
    return None


def esc10_licences(readme: str) -> dict[str, str]:
    """Map ``<clip>.ogg`` -> licence from the ESC-10 README."""
    lic: dict[str, str] = {}
    pattern = r"\[([0-9]-[0-9]+-[A-Z])\.ogg\][^\n]*?\(\[(CC[-A-Z0-9]*)\]"
    for m in re.finditer(pattern, readme):
        lic[m.group(1) + ".ogg"] = LICENCE_NAMES.get(m.group(2), m.group(2))
    return lic


def esc10_clips(tree: Tree, heldout: set[str], skipped: list[str]) -> list[Clip]:
    readme = tree.read("README.md").decode("utf-8", "replace")
    lic = esc10_licences(readme)
    clips: list[Clip] = []
    for folder, cls in ESC10_FOLDERS.items():
        for path in tree.list(folder):
            name = path.rsplit("/", 1)[-1]
            m = re.fullmatch(r"([0-9])-([0-9]+)-([A-Z])\.ogg", name)
            if not m:
                continue
            fsid, take = m.group(2), m.group(3)
            if fsid in heldout:
                skipped.append(f"{path}: Freesound {fsid} is in UrbanSound8K folds 1/2/3/10")
                continue
            x, sr = load_mono(tree.read(path))
            clips.append(
                Clip(
                    cls=cls,
                    source_id=fsid,
                    occurrence=ord(take) - ord("A"),
                    slice=0,
                    audio=loudest_window(to_sr(x, sr)),
                    source=(
                        f"ESC-10 (karolpiczak/ESC-10@{tree.commit[:7]}) {path}; Freesound {fsid}"
                    ),
                    license=lic.get(name, "CC BY 3.0 (ESC-10 collection)"),
                )
            )
    return clips


# --------------------------------------------------------------------------
# Source 2: Keystroke-Datasets (Zoom)
# --------------------------------------------------------------------------
def keystroke_clips(tree: Tree, max_slices: int) -> list[Clip]:
    clips: list[Clip] = []
    for path in tree.list("Zoom"):
        key = path.rsplit("/", 1)[-1][:-4].lower()
        if not path.endswith(".wav") or len(key) != 1 or key not in KEY_ORDER:
            continue
        rid = str(KEYSTROKE_ID_BASE + KEY_ORDER.index(key))
        x, sr = load_mono(tree.read(path))
        x = to_sr(x[sr:], sr)  # the first second precedes the presses
        n = min(max_slices, max(1, len(x) // N_SAMPLES))
        for i in range(n):
            clips.append(
                Clip(
                    cls="Keyboard",
                    source_id=rid,
                    occurrence=0,
                    slice=i,
                    audio=fit_4s(x[i * N_SAMPLES : (i + 1) * N_SAMPLES]),
                    source=f"Keystroke-Datasets (JBFH-Dev/Keystroke-Datasets) {path}",
                    license="MIT",
                )
            )
    return clips


# --------------------------------------------------------------------------
def write_set(clips: list[Clip], out: Path) -> list[Clip]:
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    kept: list[Clip] = []
    seen: set[str] = set()
    for c in sorted(clips, key=lambda c: c.filename):
        if c.filename in seen:
            raise RuntimeError(f"duplicate clip name {c.filename}")
        seen.add(c.filename)
        if float(np.max(np.abs(c.audio))) < PEAK_MIN:
            continue
        dst = tmp / c.filename
        dst.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dst, np.clip(c.audio, -1.0, 1.0), SR, subtype="PCM_16")
        kept.append(c)
    with open(tmp / "meta.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "class", "recording_id", "source", "license"])
        for c in kept:
            w.writerow([c.filename, c.cls, c.source_id, c.source, c.license])
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return kept


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--out", type=Path, default=root / "data" / "realdev")
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument(
        "--sources", type=Path, default=None, help="extra folder holding fetched sources"
    )
    ap.add_argument(
        "--max-slices", type=int, default=3, help="max 4 s slices cut from one long recording"
    )
    args = ap.parse_args(argv)

    trees = all_trees(args.mirror, args.sources)
    heldout = us8k_heldout_fsids(trees)
    clips: list[Clip] = []
    skipped: list[str] = []

    esc = esc10_tree(candidate_roots(args.mirror, args.sources, "ESC-10"))
    if esc is None:
        print("warning: ESC-10 not found (fetch github:karolpiczak/ESC-10)", file=sys.stderr)
    else:
        clips += esc10_clips(esc, heldout, skipped)

    ks = candidate_roots(args.mirror, args.sources, "Keystroke-Datasets")
    if not ks:
        print(
            "warning: Keystroke-Datasets not found (fetch github:JBFH-Dev/Keystroke-Datasets)",
            file=sys.stderr,
        )
    else:
        clips += keystroke_clips(ks[0], args.max_slices)

    if not clips:
        print("error: no source found", file=sys.stderr)
        return 1
    kept = write_set(clips, args.out)

    for s in skipped:
        print(f"excluded {s}")
    n_silent = len(clips) - len(kept)
    print(f"\n{args.out}: {len(kept)} clips ({n_silent} near-silent skipped)")
    print(f"{'class':<20}{'clips':>7}{'recordings':>12}")
    for cls in CLASS_INDEX:
        cc = [c for c in kept if c.cls == cls]
        if cc:
            print(f"{cls:<20}{len(cc):>7}{len({c.source_id for c in cc}):>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
