"""Per-class Gaussian statistics of a set of audio files, embedded once and cached on disk.

The cache key hashes the sorted file list (path, size, mtime, label), the clip format and the
backbone's identity (its name, class and a hash of its weights), so a changed file, an added
clip or other weights recompute the statistics while an unchanged set is read back at once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from datamodules.atomic import atomic_torch_save
from datamodules.classes import NUM_CLASSES
from datamodules.mel import CLIP_SAMPLES, SAMPLE_RATE
from evaluation.fad import stats_from_sums

CACHE_VERSION = 1
Items = Sequence[tuple[Path, int]]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "foleygan" / "fad"


def list_class_files(
    root: str | os.PathLike, class_names: Sequence[str] | None = None
) -> list[tuple[Path, int]]:
    """[(audio path, label)] of `root/<class folder>/*`: labels index the root's own class list
    (`datamodules.dcase.index_dataset`: DCASE order for DCASE folders in either spelling, else
    the folder names sorted) or, given `class_names`, that list (a listed class without a folder
    of clips raises `ClassListError` naming it; other folders are ignored with a warning)."""
    from datamodules.dcase import index_dataset

    return list(index_dataset(root, None if class_names is None else list(class_names)).items)


def backbone_identity(backbone: nn.Module) -> str:
    """name, class and a SHA-1 of every tensor of the state dict (cached on the module)."""
    cached = getattr(backbone, "_fad_identity", None)
    if cached is not None:
        return cached
    digest = hashlib.sha1()
    for key, tensor in sorted(backbone.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{key}:{tuple(tensor.shape)}:{data.dtype}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    name = getattr(backbone, "name", type(backbone).__name__)
    identity = f"{name}|{type(backbone).__qualname__}|{digest.hexdigest()}"
    backbone._fad_identity = identity
    return identity


def cache_key(items: Items, backbone: nn.Module) -> str:
    files = []
    for path, label in sorted(items, key=lambda item: (int(item[1]), str(item[0]))):
        stat = Path(path).stat()
        files.append([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, int(label)])
    payload = {
        "version": CACHE_VERSION,
        "files": files,
        "backbone": backbone_identity(backbone),
        "sample_rate": SAMPLE_RATE,
        "clip_samples": CLIP_SAMPLES,
    }
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def iter_batches(items: Items, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (wav [B, 88200] float32, labels [B]) read with `datamodules.audio.load_audio`."""
    from datamodules.audio import load_audio

    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        wav = torch.stack([torch.from_numpy(load_audio(path)) for path, _ in chunk])
        yield wav, torch.tensor([int(label) for _, label in chunk], dtype=torch.long)


@torch.no_grad()
def embed_class_stats(
    items: Items,
    backbone: nn.Module,
    num_classes: int = NUM_CLASSES,
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """{"mu": [C, D], "sigma": [C, D, D], "count": [C]} float64 (count = embeddings per class).

    Classes with fewer than 2 embeddings keep zeros and their count (the FAD Metric skips them).
    """
    d = int(backbone.num_features)
    total = torch.zeros(num_classes, d, dtype=torch.float64)
    outer = torch.zeros(num_classes, d, d, dtype=torch.float64)
    count = torch.zeros(num_classes, dtype=torch.long)
    batches = iter_batches(list(items), batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=-(-len(items) // batch_size), desc="reference embeddings")
    backbone.eval()
    for wav, labels in batches:
        emb = backbone.embed(wav).detach().to("cpu", torch.float64)
        emb_labels = labels.repeat_interleave(emb.shape[0] // len(labels))
        total.index_add_(0, emb_labels, emb)
        count += torch.bincount(emb_labels, minlength=num_classes)
        for c in emb_labels.unique().tolist():
            rows = emb[emb_labels == c]
            outer[c] += rows.T @ rows
    stats = {"mu": torch.zeros_like(total), "sigma": torch.zeros_like(outer), "count": count}
    for c in range(num_classes):
        if int(count[c]) >= 2:
            stats["mu"][c], stats["sigma"][c] = stats_from_sums(total[c], outer[c], count[c])
    return stats


def reference_stats(
    source: str | os.PathLike | Items,
    backbone: nn.Module,
    cache_dir: str | os.PathLike | None = None,
    num_classes: int | None = None,
    batch_size: int = 32,
    progress: bool = False,
    class_names: Sequence[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Statistics of a folder (class sub-folders, `list_class_files(source, class_names)`) or of
    [(path, label)], cached on disk.

    `num_classes` (rows of the statistics) defaults to the folder's class count, or for items to
    the largest label + 1 (pass it when the last classes may have no item). Returns the
    `embed_class_stats` dict plus "key" (the cache key) and "cached" (bool tensor, True when read
    from the cache).
    """
    if isinstance(source, (str, os.PathLike)):
        from datamodules.dcase import index_dataset

        index = index_dataset(source, None if class_names is None else list(class_names))
        items = list(index.items)
        num_classes = len(index.class_names) if num_classes is None else num_classes
    else:
        items = list(source)
    if not items:
        raise ValueError(
            "the reference set holds no files; point it at a folder of class folders of wavs"
        )
    if num_classes is None:
        num_classes = max(int(label) for _, label in items) + 1
    key = cache_key(items, backbone)
    path = Path(cache_dir or default_cache_dir()) / f"reference_{key[:24]}_{num_classes}.pt"
    if path.is_file():
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("key") == key and stored["mu"].shape[0] == num_classes:
            return {**stored, "cached": torch.tensor(True)}
    stats = embed_class_stats(items, backbone, num_classes, batch_size, progress)
    atomic_torch_save({**stats, "key": key}, path)
    return {**stats, "key": key, "cached": torch.tensor(False)}
