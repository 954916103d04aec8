"""Audio I/O: read any clip as mono float32 at 22,050 Hz, padded or cropped; write 16-bit wavs.

Reading goes through soundfile (wav / flac / ogg); a clip at another rate is resampled with
librosa (soxr_hq). Resampling is worth one warning per dataset, not one per file: pass a
`ResampleNotice` to collect the files and call `notice.warn()` once at the end.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from datamodules.atomic import atomic_path
from datamodules.mel import CLIP_SAMPLES, SAMPLE_RATE

_SKIP_HINT = "(or pass --skip-bad / skip_bad=True to leave it out)"


class AudioFileError(ValueError):
    """An audio file that cannot be read, is corrupt, holds no samples or non-finite ones.

    `path`, `reason` (what is wrong, without the path) and `fix` (what to do) are also kept
    apart, so that a dataset-wide report can list many files in one message.
    """

    def __init__(
        self, message: str, *, path: Path | None = None, reason: str = "", fix: str = ""
    ) -> None:
        super().__init__(message)
        self.path, self.reason, self.fix = path, reason, fix

    @classmethod
    def of(cls, path: Path, reason: str, fix: str) -> AudioFileError:
        """`audio file <path> <reason>; <fix> (or pass --skip-bad ...)`."""
        message = f"audio file {path} {reason}; {fix} {_SKIP_HINT}"
        return cls(message, path=path, reason=reason, fix=fix)


class BadAudioFilesError(AudioFileError):
    """Every unusable file of a dataset at once; raised after all files were read.

    `files` is [(path, reason and fix)] in dataset order. Whoever raises it wrote nothing.
    """

    def __init__(self, files: list[tuple[Path, str]], total: int) -> None:
        self.files = [(Path(path), reason) for path, reason in files]
        listing = "\n".join(f"  {path}: {reason}" for path, reason in self.files)
        super().__init__(
            f"{len(self.files)} of {total} audio file(s) cannot be used, so nothing was written:\n"
            f"{listing}\nfix: replace or delete the files listed, or pass --skip-bad "
            "(skip_bad=True) to build the cache without them"
        )

    @classmethod
    def from_errors(cls, errors: list[AudioFileError], total: int) -> BadAudioFilesError:
        return cls([(err.path, f"{err.reason}; {err.fix}") for err in errors], total)


@dataclass
class LoadedClip:
    """A clip as read: `wav` [num_samples] float32, mono, at the target rate, padded / cropped."""

    wav: np.ndarray
    source_rate: int  # the file's own sample rate
    length: int  # samples at the target rate before padding / cropping
    channels: int = 1  # the file's own channel count (averaged into `wav`)


@dataclass
class ResampleNotice:
    """Collects the files that needed resampling so that one warning covers a whole dataset."""

    target_rate: int = SAMPLE_RATE
    files: list[tuple[Path, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, path: Path, source_rate: int) -> None:
        with self._lock:
            self.files.append((Path(path), int(source_rate)))

    def rates(self) -> dict[int, int]:
        """{source rate: number of files}."""
        return dict(sorted(Counter(rate for _, rate in self.files).items()))

    def message(self) -> str:
        rates = ", ".join(f"{rate} Hz: {n}" for rate, n in self.rates().items())
        return (
            f"resampled {len(self.files)} file(s) to {self.target_rate} Hz with librosa soxr_hq "
            f"(source rates {rates}); resample the dataset once beforehand to skip this step"
        )

    def warn(self) -> bool:
        """Emit one warning if any file was resampled; returns whether it warned."""
        if not self.files:
            return False
        warnings.warn(self.message(), UserWarning, stacklevel=2)
        return True


def _read_mono(path: Path) -> tuple[np.ndarray, int, int]:
    """(wav [N] float32 channel mean, sample rate, number of channels) of `path`."""
    if not path.is_file():
        raise AudioFileError.of(
            path, "does not exist", "check the path or re-run dataset discovery"
        )
    if path.stat().st_size == 0:
        raise AudioFileError.of(path, "is empty (0 bytes)", "delete or replace it")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        detail = str(getattr(err, "error_string", "") or err).rstrip(".")
        raise AudioFileError.of(
            path,
            f"cannot be decoded ({detail}): it is corrupt or not wav/flac/ogg",
            "re-export or replace it",
        ) from err
    if data.shape[0] == 0:
        raise AudioFileError.of(path, "holds no samples (0 frames)", "delete or replace it")
    bad = int(np.count_nonzero(~np.isfinite(data).all(axis=1)))
    if bad:
        raise AudioFileError.of(
            path,
            f"contains NaN or infinite samples ({bad} of {data.shape[0]} frames)",
            "re-export it from its source or replace it",
        )
    return data.mean(axis=1, dtype=np.float32), int(rate), int(data.shape[1])


def _fit_length(wav: np.ndarray, num_samples: int | None) -> np.ndarray:
    if num_samples is None or wav.shape[0] == num_samples:
        return wav
    if wav.shape[0] > num_samples:
        return wav[:num_samples]
    return np.pad(wav, (0, num_samples - wav.shape[0]))


def read_clip(
    path: str | os.PathLike,
    sample_rate: int = SAMPLE_RATE,
    num_samples: int | None = CLIP_SAMPLES,
    notice: ResampleNotice | None = None,
) -> LoadedClip:
    """Read `path` as mono float32 at `sample_rate`, zero-padded at the end / cropped.

    A resampled file is added to `notice` when given, otherwise it warns on its own.
    """
    path = Path(path)
    wav, rate, channels = _read_mono(path)
    if rate != sample_rate:
        import librosa

        wav = librosa.resample(wav, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
        wav = np.asarray(wav, dtype=np.float32)
        if notice is not None:
            notice.add(path, rate)
        else:
            warnings.warn(
                f"resampled {path} from {rate} Hz to {sample_rate} Hz", UserWarning, stacklevel=2
            )
    length = int(wav.shape[0])
    wav = np.ascontiguousarray(_fit_length(wav, num_samples))
    return LoadedClip(wav, rate, length, channels)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int = SAMPLE_RATE,
    num_samples: int | None = CLIP_SAMPLES,
    notice: ResampleNotice | None = None,
) -> np.ndarray:
    """wav [num_samples] float32 in [-1, 1]: mono (channel mean), at `sample_rate`.

    `num_samples=None` keeps the clip's own length. Raises `AudioFileError` naming the file.
    """
    return read_clip(path, sample_rate=sample_rate, num_samples=num_samples, notice=notice).wav


def save_wav(
    path: str | os.PathLike, wav: np.ndarray | torch.Tensor, sample_rate: int = SAMPLE_RATE
) -> Path:
    """Write wav [N] (float, clipped to [-1, 1]) as a 16-bit PCM mono wav, atomically."""
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().to("cpu", torch.float32).numpy()
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(
            f"save_wav expects a 1-D mono waveform [N], got shape {tuple(wav.shape)} for {path}; "
            "squeeze the batch / channel dimensions or write one clip per file"
        )
    if not np.all(np.isfinite(wav)):
        raise ValueError(
            f"save_wav got NaN or infinite samples for {path}; check the generator / vocoder output"
        )
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(wav, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)
