"""The mel cache's inner loop: load clips in a thread pool, compute log-mels in batches, and
write them into one .npy memmap. `datamodules.cache.MelCache` owns the file names and the index.

Every file is read even after a bad one, so that one pass reports all of them: without
`skip_bad` the mels stop being computed at the first bad file, the reading goes on, and the
build ends with one `BadAudioFilesError` listing every bad file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from datamodules.audio import (
    AudioFileError,
    BadAudioFilesError,
    LoadedClip,
    ResampleNotice,
    read_clip,
)
from datamodules.mel import LogMelSpectrogram, MelParams


@dataclass
class BuildResult:
    """Which inputs made it into the array (in order), which failed, and what was resampled.

    `info[i]` holds `length` (samples at the target rate before pad / crop), `source_rate` and
    `channels` of every good input `i`; `bad[i]` the message of every bad one.
    """

    kept: list[int] = field(default_factory=list)
    bad: dict[int, str] = field(default_factory=dict)
    errors: dict[int, AudioFileError] = field(default_factory=dict)
    info: dict[int, dict] = field(default_factory=dict)
    resampled_rates: dict[int, int] = field(default_factory=dict)


def _load(path: Path, params: MelParams, num_samples: int, notice: ResampleNotice):
    try:
        return read_clip(path, params.sample_rate, num_samples, notice=notice)
    except AudioFileError as err:
        return err


def _batches(
    paths: Sequence[Path], batch_size: int, num_workers: int, load
) -> Iterator[list[LoadedClip | AudioFileError]]:
    """Yield loaded batches in order; the next batch loads while the caller works on this one."""
    chunks = [range(i, min(i + batch_size, len(paths))) for i in range(0, len(paths), batch_size)]
    if num_workers <= 0:
        for chunk in chunks:
            yield [load(paths[i]) for i in chunk]
        return
    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        pending: list[Future] | None = None
        for chunk in chunks:
            submitted = [pool.submit(load, paths[i]) for i in chunk]
            if pending is not None:
                yield [f.result() for f in pending]
            pending = submitted
        if pending is not None:
            yield [f.result() for f in pending]


def _sort_batch(
    clips: list[LoadedClip | AudioFileError], start: int, result: BuildResult
) -> list[LoadedClip]:
    """The good clips of a batch; bad ones are recorded in `result`."""
    good = []
    for offset, clip in enumerate(clips):
        if isinstance(clip, AudioFileError):
            result.bad[start + offset] = f"{clip.reason}; {clip.fix}" if clip.reason else str(clip)
            result.errors[start + offset] = clip
            continue
        good.append(clip)
        result.kept.append(start + offset)
        result.info[start + offset] = {
            "length": clip.length, "source_rate": clip.source_rate, "channels": clip.channels
        }
    return good


def _shrink(path: Path, keep: int) -> None:
    """Rewrite the .npy at `path` with its first `keep` rows (after bad clips were skipped)."""
    source = np.load(path, mmap_mode="r")
    tmp = path.with_name(path.name + ".shrink")
    shape = (keep, *source.shape[1:])
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
    for start in range(0, keep, 256):
        out[start : start + 256] = source[start : min(start + 256, keep)]
    out.flush()
    del out, source
    os.replace(tmp, path)


def build_mel_array(
    paths: Sequence[Path],
    out_path: Path,
    mel_params: MelParams,
    num_samples: int,
    skip_bad: bool = False,
    batch_size: int = 32,
    num_workers: int = 2,
    progress: bool = True,
) -> BuildResult:
    """Write the log-mels of `paths` as a float32 .npy [kept, n_mels, T] at `out_path`.

    Reads every file. Without `skip_bad`, any bad file raises one `BadAudioFilesError` listing
    all of them at the end (the caller removes `out_path`); with it they are left out and listed
    in the result. One resampling warning at the end.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}; use e.g. 32")
    mel = LogMelSpectrogram(**mel_params.as_dict())
    shape = (len(paths), mel_params.n_mels, mel_params.num_frames(num_samples))
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float32, shape=shape)
    notice = ResampleNotice(target_rate=mel_params.sample_rate)
    result = BuildResult()
    bar = tqdm(total=len(paths), unit="clip", desc="mel cache", disable=not progress)
    load = lambda path: _load(path, mel_params, num_samples, notice)  # noqa: E731
    position = 0
    batches = _batches(paths, batch_size, num_workers, load)
    try:
        for start, clips in zip(range(0, len(paths), batch_size), batches, strict=True):
            good = _sort_batch(clips, start, result)
            if good and (skip_bad or not result.bad):  # a failing build only reads on
                with torch.no_grad():
                    mels = mel(torch.from_numpy(np.stack([c.wav for c in good])))
                out[position : position + len(good)] = mels.numpy()
                position += len(good)
            bar.update(len(clips))
    finally:
        bar.close()
    out.flush()
    del out
    if result.bad and not skip_bad:
        raise BadAudioFilesError.from_errors(list(result.errors.values()), total=len(paths))
    if position < len(paths):
        _shrink(out_path, position)
    result.resampled_rates = notice.rates()
    notice.warn()
    return result
