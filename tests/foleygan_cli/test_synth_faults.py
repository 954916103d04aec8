"""`foleygan synth` under faults: a missing path, a run folder without last.ckpt, a SupCon
checkpoint, a checkpoint of other classes, and a SIGKILL mid-run followed by a rerun."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny_fit import tiny_env

from datamodules.classes import CLASS_NAMES, SNAKE_NAMES
from evaluation.checker import check_submission_folder, check_wav
from evaluation.synthesis import remove_stale_temporaries
from foleygan_cli.synth import main as synth_main
from lightning_modules.gan import FoleyGANModule
from lightning_modules.supcon import SupConEncoderModule


def tiny_gan_checkpoint(path: Path, names: list[str], frames: int = 16) -> Path:
    """A FoleyGANModule checkpoint as synthesis reads it: hyper-parameters + state_dict."""
    torch.manual_seed(0)
    model = FoleyGANModule(num_classes=len(names), mel_shape=(80, frames), z_dim=8, g_width=4,
                           d_width=4, n_stages=2, embed_dim=16, loss="hinge", class_names=names)
    model.mel_norm.fit({"min": torch.full((80,), -11.5), "max": torch.zeros(80)})
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, path)
    return path


def _synth(ckpt: Path, out: Path, *extra: str) -> int:
    return synth_main([str(ckpt), "--out", str(out), "--no-progress", *extra])


def test_missing_and_foreign_checkpoints_exit_1_naming_the_fix(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert _synth(tmp_path / "missing.ckpt", out) == 1
    assert "missing.ckpt not found: pass a FoleyGANModule checkpoint" in capsys.readouterr().err
    (tmp_path / "run" / "version_0" / "checkpoints").mkdir(parents=True)
    assert _synth(tmp_path / "run", out) == 1
    assert "no last.ckpt below the run folder" in capsys.readouterr().err
    encoder = SupConEncoderModule(base_width=4, proj_hidden=16, proj_dim=16)
    supcon = tmp_path / "encoder.ckpt"
    torch.save({"state_dict": encoder.state_dict(), "hyper_parameters": dict(encoder.hparams)},
               supcon)
    assert _synth(supcon, out) == 1
    assert "holds no generator weights (not a FoleyGANModule)" in capsys.readouterr().err
    assert not out.exists()  # nothing written


def test_checkpoint_of_other_classes_writes_its_own_class_folders(tmp_path, capsys) -> None:
    ckpt = tiny_gan_checkpoint(tmp_path / "abc.ckpt", ["Anvil", "Bell", "Creak"])
    out = tmp_path / "out"
    assert _synth(ckpt, out, "--n-per-class", "1") == 0
    assert "Anvil, Bell, Creak" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["Anvil", "Bell", "Creak"]
    assert check_submission_folder(out, n_per_class=1, class_names=None) == []
    official = check_submission_folder(out, n_per_class=1)  # DCASE's 7 folders expected
    assert official == [f"{out / name}: class folder missing; every class needs a folder named "
                        f"{name!r} (snake_case, as `foleygan synth` writes)"
                        for name in SNAKE_NAMES]


def test_rerun_removes_a_killed_runs_temporaries(tmp_path) -> None:
    ckpt = tiny_gan_checkpoint(tmp_path / "gan.ckpt", ["Anvil", "Bell"])
    folder = tmp_path / "out" / "Bell"
    folder.mkdir(parents=True)
    leftover = folder / ".000.wav.k1ll3d.tmp"  # save_wav's temporary of a killed run
    leftover.write_bytes(b"RIFF half a wav")
    other = folder / ".notes"
    other.write_text("not ours")
    assert remove_stale_temporaries(tmp_path / "out" / "Nothing") == []
    assert _synth(ckpt, tmp_path / "out", "--n-per-class", "1") == 0
    assert not leftover.exists() and other.exists()
    assert check_submission_folder(tmp_path / "out", n_per_class=1, class_names=None) == []
    (folder / "007.wav").write_bytes(b"an earlier run's eighth clip")
    with pytest.warns(UserWarning, match="removed 1 clips numbered 001 and up"):
        assert _synth(ckpt, tmp_path / "out", "--n-per-class", "1") == 0
    assert sorted(p.name for p in folder.iterdir()) == [".notes", "000.wav"]  # surplus removed


def _wavs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.wav"))}


def test_untrained_generator_is_drawn_from_the_seed(tmp_path) -> None:
    from evaluation.synthesis import synthesize
    from lightning_modules.generator_loading import load_generator
    from vocoders import load_vocoder

    ckpt = tiny_gan_checkpoint(tmp_path / "gan.ckpt", ["Anvil", "Bell"])
    assert _synth(ckpt, tmp_path / "cli", "--n-per-class", "1", "--untrained", "--seed", "2") == 0
    for init_seed in (2, 0):  # the same noise seed 2; the init drawn from seed 2, then from 0
        generator = load_generator(ckpt, untrained=True, init_seed=init_seed).eval()
        synthesize(generator, load_vocoder("griffin-lim"), tmp_path / f"init{init_seed}",
                   n_per_class=1, seed=2, progress=False)
    assert _wavs(tmp_path / "cli") == _wavs(tmp_path / "init2")
    assert _wavs(tmp_path / "cli") != _wavs(tmp_path / "init0")


@pytest.mark.slow  # two `foleygan synth` subprocesses: ~30 s on 2 loaded cores
def test_sigkill_during_synth_keeps_complete_clips_and_a_rerun_completes(tmp_path) -> None:
    ckpt = tiny_gan_checkpoint(tmp_path / "gan.ckpt", list(CLASS_NAMES))
    out, n = tmp_path / "out", 40
    command = [sys.executable, "-m", "foleygan_cli.main", "synth", str(ckpt), "--out", str(out),
               "--n-per-class", str(n), "--batch-size", "5", "--no-progress"]
    proc = subprocess.Popen(command, env=tiny_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    start = time.monotonic()
    while len(list(out.rglob("*.wav"))) < 12:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() - start < 300, "no clips after 300 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    before = _wavs(out)
    assert 12 <= len(before) < 7 * n  # killed mid-run
    for name in before:  # every clip under its final name is complete
        assert check_wav(out / name) == [], name
    done = subprocess.run(command, env=tiny_env(tmp_path), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert check_submission_folder(out, n_per_class=n) == []
    assert not list(out.rglob("*.tmp"))
    after = _wavs(out)
    assert {name: after[name] for name in before} == before  # same seed, same clips
