"""Audio I/O: formats, downmix, resampling, pad / crop, errors, atomic 16-bit writes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from datamodules.audio import (
    AudioFileError,
    BadAudioFilesError,
    ResampleNotice,
    load_audio,
    read_clip,
    save_wav,
)


def _tone(n: int, rate: int, freq: float = 440.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def test_int16_wav_reads_as_float(tmp_path: Path) -> None:
    ints = np.array([0, 16384, -32768, 32767, -1], dtype=np.int16)
    sf.write(tmp_path / "a.wav", ints, 22050, subtype="PCM_16")
    wav = load_audio(tmp_path / "a.wav", num_samples=None)
    assert wav.dtype == np.float32
    np.testing.assert_allclose(wav, ints / 32768.0, atol=0)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_formats_pad_and_crop(tmp_path: Path, ext: str) -> None:
    tone = _tone(1000, 22050)
    path = tmp_path / f"a.{ext}"
    sf.write(path, tone, 22050)
    padded = load_audio(path, num_samples=1500)
    assert padded.shape == (1500,) and np.all(padded[1000:] == 0)
    cropped = load_audio(path, num_samples=400)
    assert cropped.shape == (400,)
    tol = 0.05 if ext == "ogg" else 1e-4  # ogg is lossy
    np.testing.assert_allclose(cropped, tone[:400], atol=tol)
    assert load_audio(path, num_samples=None).shape[0] >= 1000


def test_stereo_downmixes_to_mean(tmp_path: Path) -> None:
    left, right = _tone(800, 22050, 300), _tone(800, 22050, 900) * 0.5
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    wav = load_audio(tmp_path / "s.wav", num_samples=None)
    np.testing.assert_allclose(wav, (left + right) / 2, atol=1e-6)


def test_resample_to_target_rate(tmp_path: Path) -> None:
    sf.write(tmp_path / "r.wav", _tone(44100, 44100, 1000), 44100, subtype="FLOAT")
    notice = ResampleNotice()
    clip = read_clip(tmp_path / "r.wav", num_samples=None, notice=notice)
    assert clip.source_rate == 44100 and clip.length == 22050
    # a 1 kHz tone stays a 1 kHz tone at the new rate
    spectrum = np.abs(np.fft.rfft(clip.wav))
    assert abs(np.argmax(spectrum) * 22050 / len(clip.wav) - 1000) < 2
    assert notice.rates() == {44100: 1}


def test_resample_notice_warns_once_for_many_files(tmp_path: Path) -> None:
    notice = ResampleNotice()
    for i, rate in enumerate([44100, 44100, 16000]):
        sf.write(tmp_path / f"{i}.wav", _tone(rate // 10, rate), rate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):
            load_audio(tmp_path / f"{i}.wav", notice=notice)
        assert caught == []
        assert notice.warn()
    assert len(caught) == 1
    assert "3 file(s)" in str(caught[0].message) and "44100 Hz: 2" in str(caught[0].message)
    assert not ResampleNotice().warn()


def test_resample_without_notice_warns_per_call(tmp_path: Path) -> None:
    sf.write(tmp_path / "r.wav", _tone(4800, 48000), 48000)
    with pytest.warns(UserWarning, match="from 48000 Hz to 22050 Hz"):
        load_audio(tmp_path / "r.wav")


def test_corrupt_empty_and_missing_files_raise(tmp_path: Path) -> None:
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not really a wave file" * 4)
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32), 22050)
    with pytest.raises(AudioFileError, match=r"corrupt\.wav.*skip-bad"):
        load_audio(tmp_path / "corrupt.wav")
    with pytest.raises(AudioFileError, match=r"empty\.wav is empty"):
        load_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioFileError, match=r"zero\.wav holds no samples"):
        load_audio(tmp_path / "zero.wav")
    with pytest.raises(AudioFileError, match="does not exist"):
        load_audio(tmp_path / "missing.wav")
    assert issubclass(AudioFileError, ValueError)


def test_non_finite_samples_raise_counting_frames(tmp_path: Path) -> None:
    wav = _tone(1000, 22050)
    wav[5], wav[7], wav[9] = np.nan, np.inf, -np.inf
    sf.write(tmp_path / "nan.wav", np.stack([wav, np.zeros_like(wav)], axis=1), 22050,
             subtype="FLOAT")
    with pytest.raises(AudioFileError, match=r"nan\.wav contains NaN or infinite samples "
                       r"\(3 of 1000 frames\); re-export it .*skip-bad") as caught:
        load_audio(tmp_path / "nan.wav")
    err = caught.value
    assert err.path == tmp_path / "nan.wav" and err.reason.startswith("contains NaN")
    assert err.fix == "re-export it from its source or replace it"
    sf.write(tmp_path / "ok.wav", np.nan_to_num(wav, posinf=0, neginf=0), 22050, subtype="FLOAT")
    assert np.isfinite(load_audio(tmp_path / "ok.wav")).all()


def test_read_clip_reports_channels_and_length(tmp_path: Path) -> None:
    sf.write(tmp_path / "s.wav", np.zeros((300, 3), dtype=np.float32), 22050)
    clip = read_clip(tmp_path / "s.wav", num_samples=500)
    assert (clip.channels, clip.length, clip.wav.shape) == (3, 300, (500,))
    sf.write(tmp_path / "m.wav", np.zeros(900, dtype=np.float32), 22050)
    clip = read_clip(tmp_path / "m.wav", num_samples=500)
    assert (clip.channels, clip.length, clip.wav.shape) == (1, 900, (500,))


def test_bad_audio_files_error_lists_each_file_with_reason_and_fix(tmp_path: Path) -> None:
    errors = []
    for name in ("a.wav", "b.wav"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(AudioFileError) as caught:
            load_audio(tmp_path / name)
        errors.append(caught.value)
    err = BadAudioFilesError.from_errors(errors, total=7)
    assert isinstance(err, AudioFileError) and isinstance(err, ValueError)
    reason = "is empty (0 bytes); delete or replace it"
    assert err.files == [(tmp_path / "a.wav", reason), (tmp_path / "b.wav", reason)]
    lines = str(err).splitlines()
    assert lines[0] == "2 of 7 audio file(s) cannot be used, so nothing was written:"
    assert lines[1:3] == [f"  {tmp_path / 'a.wav'}: {reason}", f"  {tmp_path / 'b.wav'}: {reason}"]
    assert lines[3].startswith("fix: replace or delete the files listed, or pass --skip-bad")


def test_save_wav_round_trip_and_clipping(tmp_path: Path) -> None:
    wav = np.array([0.0, 0.5, -0.5, 2.0, -3.0], dtype=np.float32)
    path = save_wav(tmp_path / "sub" / "out.wav", torch.from_numpy(wav))
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    back = load_audio(path, num_samples=None)
    np.testing.assert_allclose(back, np.clip(wav, -1, 1), atol=1 / 32768)
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]  # no temp file left


def test_save_wav_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"1-D mono waveform \[N\], got shape \(2, 10\)"):
        save_wav(tmp_path / "x.wav", np.zeros((2, 10)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        save_wav(tmp_path / "y.wav", np.array([0.0, np.nan]))
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "y.wav").exists()
