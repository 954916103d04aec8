"""foleygan_cli.resume: `--ckpt_path=last` takes the newest last.ckpt or exception-step*.ckpt
of the run name across versions (Lightning looks only in the new, empty version folder) or an
hpc_ckpt_*.ckpt, never a best-k or half-written file; nothing found -> None (step 0). A
checkpoint to resume must exist, be readable and hold the run's classes."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from foleygan_cli.resume import check_resume_checkpoint, find_last_checkpoint


def _touch(path: Path, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ckpt")
    os.utime(path, (mtime, mtime))
    return path


def _trainer(tmp_path: Path, name: str = "kt_s3", callbacks=()) -> SimpleNamespace:
    logger = SimpleNamespace(save_dir=str(tmp_path / "runs"), name=name)
    return SimpleNamespace(loggers=[logger], default_root_dir=str(tmp_path / "root"),
                           checkpoint_callbacks=list(callbacks))


def test_newest_last_ckpt_of_the_run_name_across_versions(tmp_path) -> None:
    runs = tmp_path / "runs"
    assert find_last_checkpoint(_trainer(tmp_path)) is None
    _touch(runs / "kt_s3" / "version_0" / "checkpoints" / "last.ckpt", 1_000)
    newest = _touch(runs / "kt_s3" / "version_1" / "checkpoints" / "last.ckpt", 2_000)
    _touch(runs / "kt_s3" / "version_1" / "checkpoints" / "step10-fad1.000.ckpt", 3_000)  # best-k
    _touch(runs / "kt_s3" / "version_1" / "checkpoints" / ".last.ckpt.partial", 3_000)
    _touch(runs / "kt_s3" / "version_0" / "checkpoints" / "exception-step9.ckpt", 1_500)
    _touch(runs / "other" / "version_0" / "checkpoints" / "last.ckpt", 4_000)
    assert find_last_checkpoint(_trainer(tmp_path)) == newest
    assert find_last_checkpoint(_trainer(tmp_path, name="nothing_yet")) is None
    # a newer exception checkpoint (SIGTERM of a preempting scheduler, a failing callback) wins
    stopped = _touch(runs / "kt_s3" / "version_1" / "checkpoints" / "exception-step12.ckpt", 2_500)
    assert find_last_checkpoint(_trainer(tmp_path)) == stopped


def test_hpc_checkpoint_and_explicit_dirpath_compete_by_age(tmp_path) -> None:
    _touch(tmp_path / "runs" / "kt_s3" / "version_0" / "checkpoints" / "last.ckpt", 1_000)
    hpc = _touch(tmp_path / "root" / "hpc_ckpt_2.ckpt", 2_000)
    _touch(tmp_path / "root" / "hpc_ckpt_1.ckpt", 1_500)
    assert find_last_checkpoint(_trainer(tmp_path)) == hpc
    mine = _touch(tmp_path / "elsewhere" / "last.ckpt", 3_000)
    named = ModelCheckpoint(dirpath=tmp_path / "elsewhere")
    assert find_last_checkpoint(_trainer(tmp_path, callbacks=[named])) == mine


def test_resume_checkpoint_must_exist_and_hold_this_runs_classes(tmp_path) -> None:
    model = SimpleNamespace(hparams={"class_names": ["DogBark", "Rain"]})
    with pytest.raises(FileNotFoundError, match=r"missing.ckpt not found.*--ckpt_path=last"):
        check_resume_checkpoint(tmp_path / "missing.ckpt", model)
    same, other = tmp_path / "same.ckpt", tmp_path / "other.ckpt"
    state = {"generator.w": torch.zeros(2)}
    torch.save({"state_dict": state, "hyper_parameters": {"class_names": ["DogBark", "Rain"]}},
               same)
    torch.save({"state_dict": state, "hyper_parameters": {"class_names": ["Rain", "DogBark"]}},
               other)
    check_resume_checkpoint(same, model)  # no error
    with pytest.raises(ValueError, match=r"trained on the classes \['Rain', 'DogBark'\].*"
                                         r"data_root"):
        check_resume_checkpoint(other, model)
    cut = tmp_path / "cut.ckpt"  # a copy killed half-way
    cut.write_bytes(same.read_bytes()[:200])
    with pytest.raises(ValueError, match="cut.ckpt is not a readable Lightning checkpoint"):
        check_resume_checkpoint(cut, model)
    torch.save({"weights": state}, other)
    with pytest.raises(ValueError, match="holds no state_dict"):
        check_resume_checkpoint(other, model)
