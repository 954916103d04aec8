"""The log-mel cache: every clip of a dataset root as ONE memory-mapped float32 array.

`<cache_dir>/mels-<params>-<content>.npy` holds [N, n_mels, T]; `index-<params>-<content>.json`
beside it records the relative paths, labels, class names, clip lengths (samples at the target
rate before pad / crop), source sample rates, the mel parameters, the skipped bad files, a
content hash over (relative path, size, mtime_ns) of every file plus the mel parameters, and a
format version. `<params>` hashes the mel parameters alone, so caches of different parameters
coexist, while a changed file list replaces the older cache of the same parameters. Both files
are written in the build's private workspace and renamed into the folder, the index last: an
index always has its array. Leftovers of killed builds are removed by the next build or reuse
(`datamodules.cache_files` states the rule); caches of other parameters only by `prune_caches`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from datamodules.cache_build import build_mel_array
from datamodules.cache_files import BuildWorkspace, build_workspace, remove_orphans
from datamodules.dcase import index_dataset
from datamodules.mel import CLIP_SAMPLES, MelParams

CACHE_FORMAT_VERSION = 1
DEFAULT_CACHE_FOLDER = ".foleygan_cache"


def _digest(obj: object, length: int = 16) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _file_list(data_root: Path, class_names: list[str] | None) -> tuple[list[dict], list[str]]:
    """([{path (relative, posix), label, size, mtime_ns}], class names) of the discovered clips.

    Labels index the class names: the root's own (`datamodules.dcase.find_classes`) or
    `class_names`, validated against its folders.
    """
    rows = []
    index = index_dataset(data_root, class_names)
    for path, label in index.items:
        stat = path.stat()
        rel = path.relative_to(data_root).as_posix()
        rows.append(
            {"path": rel, "label": label, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        )
    return rows, index.class_names


def _index_class_names(index_path: Path) -> list[str] | None:
    """The class names a cache index was built with (None when unreadable)."""
    try:
        return list(json.loads(index_path.read_text())["class_names"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None


def _param_key(mel_params: MelParams, num_samples: int) -> dict:
    return {
        "mel": mel_params.as_dict(), "num_samples": num_samples, "version": CACHE_FORMAT_VERSION
    }


class MelCache:
    """A built cache: `mels` [N, n_mels, T] read-only memmap, `labels` int64 [N], `paths`.

    The memmap opens lazily in each process, so the object pickles into DataLoader workers.
    `built` tells whether this call computed the cache (True) or reused one (False).
    """

    def __init__(self, index_path: str | os.PathLike, data_root: str | os.PathLike) -> None:
        self.index_path = Path(index_path)
        self.data_root = Path(data_root)
        self.index = json.loads(self.index_path.read_text())
        self.mels_path = self.index_path.with_name(self.index["mels_file"])
        self.labels = np.asarray([f["label"] for f in self.index["files"]], dtype=np.int64)
        self.paths = [self.data_root / f["path"] for f in self.index["files"]]
        self.class_names: list[str] = list(self.index["class_names"])
        self.mel_params = MelParams(**self.index["mel_params"])
        self.num_samples: int = int(self.index["num_samples"])
        self.skipped: list[dict] = list(self.index["skipped"])
        self.built = False
        self._mels: np.ndarray | None = None

    @property
    def mels(self) -> np.ndarray:
        """[N, n_mels, T] float32 read-only memmap, opened on first use in this process."""
        if self._mels is None:
            self._mels = np.load(self.mels_path, mmap_mode="r")
        return self._mels

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_mels"] = None
        return state

    def class_counts(self) -> dict[str, int]:
        """{class name: number of cached clips}, every class listed."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(n) for name, n in zip(self.class_names, counts, strict=True)}

    @classmethod
    def build_or_load(
        cls,
        data_root: str | os.PathLike,
        cache_dir: str | os.PathLike | None = None,
        mel_params: MelParams | None = None,
        skip_bad: bool = False,
        batch_size: int = 32,
        num_workers: int = 2,
        num_samples: int = CLIP_SAMPLES,
        force: bool = False,
        progress: bool = True,
        class_names: list[str] | None = None,
    ) -> MelCache:
        """Reuse the cache of `data_root` if its files and parameters are unchanged, else build it.

        `skip_bad=False` reads every clip, then raises one `BadAudioFilesError` listing every
        bad one and writes nothing; `skip_bad=True` leaves bad clips out and reports them
        together in one warning (and in the index).
        `mel_params=None` means the contract, `MelParams()`. `class_names=None` takes the root's
        class folders (`datamodules.dcase.find_classes`); a list is validated against them. A
        cache built for another class list is rebuilt.
        """
        mel_params = MelParams() if mel_params is None else mel_params
        data_root = Path(data_root).expanduser()
        folder = Path(cache_dir).expanduser() if cache_dir else data_root / DEFAULT_CACHE_FOLDER
        files, class_names = _file_list(data_root, class_names)
        param_key = _param_key(mel_params, num_samples)
        stem = f"{_digest(param_key, 8)}-{_digest([param_key, files])}"
        index_path = folder / f"index-{stem}.json"
        reusable = not force and cls._is_complete(index_path, stem)
        if reusable and _index_class_names(index_path) == class_names:
            remove_orphans(folder)
            return cls(index_path, data_root)
        with build_workspace(folder) as work:
            index = _build(
                data_root=data_root, work=work, files=files, stem=stem, mel_params=mel_params,
                num_samples=num_samples, skip_bad=skip_bad, batch_size=batch_size,
                num_workers=num_workers, progress=progress, class_names=class_names,
            )
            work.publish(index["mels_file"])
            work.file(index_path.name).write_text(json.dumps(index, indent=1))
            work.publish(index_path.name)
        _remove_stale(folder, stem)
        cache = cls(index_path, data_root)
        cache.built = True
        return cache

    @staticmethod
    def _is_complete(index_path: Path, stem: str) -> bool:
        if not index_path.is_file():
            return False
        try:
            index = json.loads(index_path.read_text())
        except json.JSONDecodeError:
            return False
        mels_path = index_path.with_name(index.get("mels_file", ""))
        if index.get("format_version") != CACHE_FORMAT_VERSION or not mels_path.is_file():
            return False
        shape = np.load(mels_path, mmap_mode="r").shape
        return index.get("content_hash") == stem and list(shape) == index.get("shape")


def _build(
    *,
    data_root: Path,
    work: BuildWorkspace,
    files: list[dict],
    stem: str,
    mel_params: MelParams,
    num_samples: int,
    skip_bad: bool,
    batch_size: int,
    num_workers: int,
    progress: bool,
    class_names: list[str],
) -> dict:
    mels_name = f"mels-{stem}.npy"
    paths = [data_root / f["path"] for f in files]
    result = build_mel_array(
        paths, work.file(mels_name), mel_params=mel_params, num_samples=num_samples,
        skip_bad=skip_bad, batch_size=batch_size, num_workers=num_workers, progress=progress,
    )
    kept = [dict(files[i], **result.info[i]) for i in result.kept]
    if not kept:
        raise ValueError(
            f"all {len(files)} clips under {data_root} are unreadable ({result.bad[0]}); "
            "replace the files or point data_root at a working copy of the dataset"
        )
    skipped = [{"path": files[i]["path"], "error": msg} for i, msg in result.bad.items()]
    if skipped:
        listing = "\n".join(f"  {s['path']}: {s['error']}" for s in skipped)
        warnings.warn(
            f"skipped {len(skipped)} unreadable clip(s) of {data_root} (skip_bad=True):\n{listing}",
            UserWarning,
            stacklevel=3,
        )
    return {
        "format_version": CACHE_FORMAT_VERSION,
        "content_hash": stem,
        "mels_file": mels_name,
        "data_root": str(data_root),
        "shape": [len(kept), mel_params.n_mels, mel_params.num_frames(num_samples)],
        "mel_params": mel_params.as_dict(),
        "num_samples": num_samples,
        "class_names": list(class_names),
        "files": kept,
        "skipped": skipped,
        "resampled": {str(rate): n for rate, n in result.resampled_rates.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _remove_stale(folder: Path, stem: str) -> None:
    """Delete older caches with the same mel parameters (an earlier file list)."""
    params = stem.split("-")[0]
    for pattern in (f"mels-{params}-*.npy", f"index-{params}-*.json"):
        for path in folder.glob(pattern):
            if stem not in path.name:
                path.unlink(missing_ok=True)
