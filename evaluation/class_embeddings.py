"""Embeddings of a set of labelled clips, one row per embedding, with the clip each came from.

KAD, PRDC, FAD-inf and the bootstrap need the embeddings themselves, not Gaussian statistics.
`embed_items` keeps every row (float32, as the backbone returns it), its class and its clip id
(the clip's index in the item list). `reference_embeddings` caches a reference set's embeddings
on disk beside the statistics cache (same key: files, sizes, mtimes, backbone weights), so a
second evaluation against the same reference embeds only the generated clips.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from datamodules.atomic import atomic_torch_save
from evaluation.reference_stats import (
    Items,
    cache_key,
    default_cache_dir,
    iter_batches,
    list_class_files,
)


@torch.no_grad()
def embed_items(
    items: Items,
    backbone: nn.Module,
    batch_size: int = 32,
    progress: bool = False,
    desc: str = "embeddings",
) -> dict[str, torch.Tensor]:
    """{"emb": [R, D] float32, "label": [R] long, "clip": [R] long}, clip-major rows."""
    items = list(items)
    device = next(iter(backbone.parameters()), torch.zeros(0)).device
    batches = iter_batches(items, batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=-(-len(items) // batch_size), desc=desc)
    backbone.eval()
    parts, labels, clips, first = [], [], [], 0
    for wav, label in batches:
        emb = backbone.embed(wav.to(device)).detach().to("cpu", torch.float32)
        if emb.dim() != 2 or emb.shape[0] % len(label):
            raise ValueError(
                f"backbone.embed returned shape {tuple(emb.shape)} for {len(label)} clips; it "
                "must return [M, D] with the same number of rows per clip"
            )
        per_clip = emb.shape[0] // len(label)
        parts.append(emb)
        labels.append(label.repeat_interleave(per_clip))
        clips.append(torch.arange(first, first + len(label)).repeat_interleave(per_clip))
        first += len(label)
    if not parts:
        raise ValueError("no clips to embed; the folder holds no class folders of wavs")
    return {"emb": torch.cat(parts), "label": torch.cat(labels), "clip": torch.cat(clips)}


def reference_embeddings(
    source: str | os.PathLike | Items,
    backbone: nn.Module,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """`embed_items` of a folder (class sub-folders) or [(path, label)], cached on disk.

    Adds "cached" (bool tensor, True when read from the cache).
    """
    items = list_class_files(source) if isinstance(source, (str, os.PathLike)) else list(source)
    if not items:
        raise ValueError(
            "the reference set holds no files; point it at a folder of class folders of wavs"
        )
    key = cache_key(items, backbone)
    path = Path(cache_dir or default_cache_dir()) / f"embeddings_{key[:24]}.pt"
    if path.is_file():
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("key") == key:
            return {name: stored[name] for name in ("emb", "label", "clip")} | {
                "cached": torch.tensor(True)
            }
    result = embed_items(items, backbone, batch_size, progress, desc="reference embeddings")
    atomic_torch_save({**result, "key": key}, path)
    return {**result, "cached": torch.tensor(False)}
