"""Bad and odd files in one `prepare` pass: errors listed at once, adaptations as warnings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from wav_fixtures import N, build, write_nan_wav, write_tree

import datamodules.cache_build as cache_build
from datamodules.audio import BadAudioFilesError
from datamodules.cache_notes import audio_notes
from datamodules.mel import LogMelSpectrogram


def _add_bad_files(root: Path) -> dict[str, str]:
    """One file of every unusable kind; {relative path: what its reason must say}."""
    (root / "DogBark" / "corrupt.wav").write_bytes(b"RIFF\x00garbage" * 40)
    (root / "Rain" / "empty.wav").write_bytes(b"")
    sf.write(root / "Rain" / "noframes.wav", np.zeros(0, dtype=np.float32), 22050)
    write_nan_wav(root / "Rain" / "nan.wav")
    return {
        "DogBark/corrupt.wav": "cannot be decoded (Format not recognised): it is corrupt or not "
        "wav/flac/ogg; re-export or replace it",
        "Rain/empty.wav": "is empty (0 bytes); delete or replace it",
        "Rain/nan.wav": f"contains NaN or infinite samples (2 of {N} frames); re-export it",
        "Rain/noframes.wav": "holds no samples (0 frames); delete or replace it",
    }


def test_one_pass_lists_every_bad_file_and_writes_nothing(tmp_path, monkeypatch) -> None:
    write_tree(tmp_path)
    expected = _add_bad_files(tmp_path)
    reads = []
    read_clip = cache_build.read_clip

    def counting(path, *args, **kwargs):
        reads.append(path)
        return read_clip(path, *args, **kwargs)

    monkeypatch.setattr(cache_build, "read_clip", counting)
    with pytest.raises(BadAudioFilesError) as caught:
        build(tmp_path, batch_size=2, num_workers=2)
    err = caught.value
    assert len(reads) == 10  # every file was read, good and bad
    assert [path.relative_to(tmp_path).as_posix() for path, _ in err.files] == sorted(expected)
    for path, reason in err.files:
        assert reason.startswith(expected[path.relative_to(tmp_path).as_posix()])
    message = str(err)
    assert message.startswith("4 of 10 audio file(s) cannot be used, so nothing was written")
    assert all(str(path) in message for path, _ in err.files) and "--skip-bad" in message
    assert not (tmp_path / ".foleygan_cache").exists()


def test_failed_build_keeps_the_previous_cache_untouched(tmp_path: Path) -> None:
    write_tree(tmp_path)
    good = build(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in good.index_path.parent.iterdir()}
    write_nan_wav(tmp_path / "Rain" / "nan.wav")
    with pytest.raises(BadAudioFilesError, match="Rain/nan.wav: contains NaN"):
        build(tmp_path)
    after = {p.name: p.stat().st_mtime_ns for p in good.index_path.parent.iterdir()}
    assert after == before  # no temporaries, no workspace, the old cache as it was


def test_skip_bad_keeps_the_reasons_in_the_index(tmp_path: Path) -> None:
    write_tree(tmp_path)
    expected = _add_bad_files(tmp_path)
    with pytest.warns(UserWarning, match="skipped 4 unreadable"):
        cache = build(tmp_path, skip_bad=True)
    assert len(cache) == 6
    for row in cache.skipped:
        assert row["error"].startswith(expected[row["path"]]) and "--skip-bad" not in row["error"]


def _add_odd_files(root: Path) -> dict[str, np.ndarray]:
    """Files that are adapted, not rejected; {relative path: the wav the cache must hold}."""
    rng = np.random.default_rng(1)
    tone = rng.uniform(-0.5, 0.5, 2 * N).astype(np.float32)
    sf.write(root / "DogBark" / "rate.wav", tone, 44100, subtype="FLOAT")  # 2N at 44.1 kHz = N
    stereo = rng.uniform(-0.5, 0.5, (N, 2)).astype(np.float32)
    sf.write(root / "Rain" / "stereo.wav", stereo, 22050, subtype="FLOAT")
    sf.write(root / "Rain" / "short.wav", tone[: N // 2], 22050, subtype="FLOAT")
    sf.write(root / "Rain" / "long.wav", tone, 22050, subtype="FLOAT")
    return {
        "Rain/stereo.wav": stereo.mean(axis=1),
        "Rain/short.wav": np.pad(tone[: N // 2], (0, N - N // 2)),
        "Rain/long.wav": tone[:N],
    }


def test_odd_files_are_adapted_and_reported_with_file_and_fix(tmp_path: Path) -> None:
    write_tree(tmp_path)
    kept = _add_odd_files(tmp_path)
    with pytest.warns(UserWarning, match="resampled 1 file"):
        cache = build(tmp_path)
    assert len(cache) == 10
    rel = [p.relative_to(tmp_path).as_posix() for p in cache.paths]
    mel = LogMelSpectrogram()
    for name, wav in kept.items():
        expected = mel(torch.from_numpy(wav.astype(np.float32))[None])[0].numpy()
        np.testing.assert_allclose(cache.mels[rel.index(name)], expected, atol=1e-5)
    notes = audio_notes(cache.index)
    assert len(notes) == 4 and all("; fix: " in note for note in notes)
    resampled, downmixed, padded, cut = notes
    assert resampled.startswith("resampled 1 file(s) to 22050 Hz (soxr_hq): DogBark/rate.wav (44")
    assert downmixed.startswith("downmixed 1 multi-channel file(s) to mono (channel mean): "
                                "Rain/stereo.wav (2 channels); fix:")
    assert padded.startswith("padded 1 file(s) shorter than 0.18 s with silence at the end: "
                             "Rain/short.wav (0.09 s); fix:")
    assert cut.startswith("cut 1 file(s) longer than 0.18 s to their first 0.18 s: "
                          "Rain/long.wav (0.36 s); fix:")
    assert audio_notes(build(tmp_path).index) == notes  # a reuse reports the same


def test_note_lists_are_capped() -> None:
    files = [{"path": f"Rain/{i}.wav", "length": 10, "source_rate": 100} for i in range(4)]
    index = {"mel_params": {"sample_rate": 100}, "num_samples": 100, "files": files}
    [note] = audio_notes(index, limit=2)
    assert "Rain/0.wav (0.10 s), Rain/1.wav (0.10 s), and 2 more (see 'files'" in note
    assert audio_notes({**index, "files": [{**f, "length": 100} for f in files]}) == []


def test_prepare_exits_2_listing_every_bad_file(tmp_path: Path, capsys) -> None:
    from foleygan_cli.prepare import main

    write_tree(tmp_path)
    expected = _add_bad_files(tmp_path)
    args = [str(tmp_path), "--num-samples", str(N), "--num-workers", "0"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "foleygan prepare: 4 of 10 audio file(s) cannot be used" in err
    assert all(f"{tmp_path / name}: {reason}" in err for name, reason in expected.items())
    assert not (tmp_path / ".foleygan_cache").exists()
    for name in expected:
        (tmp_path / name).unlink()
    _add_odd_files(tmp_path)
    with pytest.warns(UserWarning, match="resampled"):
        assert main(args) == 0
    out = capsys.readouterr().out
    assert "warnings (not errors" in out
    for name in ("rate.wav", "stereo.wav", "short.wav", "long.wav"):
        assert name in out
