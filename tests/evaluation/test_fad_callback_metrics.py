"""FADCallback(metrics=[...]): KAD / PRDC keys logged with the values of the pure functions on
the very embeddings the callback saw; FAD alone unchanged; unknown names rejected."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch
from test_fad_callback import HoldVocoder, MeanStd, TinyGAN

import evaluation.callbacks as callbacks_module
from conftest import make_cpu_trainer
from datamodules.audio import load_audio
from datamodules.classes import CLASS_NAMES
from evaluation.callbacks import FADCallback
from evaluation.kad import kernel_audio_distance
from evaluation.prdc import PRDC_NAMES, prdc

N_PER_CLASS, ROWS_PER_CLIP = 4, 4


class RecordingMeanStd(MeanStd):
    """MeanStd that keeps the rows it returns while `recording` (set once training starts)."""

    def __init__(self) -> None:
        super().__init__()
        self.recording, self.rows = False, []

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        # wav [B, N] -> [B * 4, 3]
        emb = super().embed(wav)
        if self.recording:
            self.rows.append(emb.detach().clone())
        return emb


class StartRecording(pl.Callback):
    def __init__(self, backbone: RecordingMeanStd) -> None:
        self.backbone = backbone

    def on_train_start(self, trainer, pl_module) -> None:
        self.backbone.recording = True  # after the reference was embedded at fit start


def _reference(root) -> list[tuple]:
    """3 clips per class like TinyGAN's of that class: 12 rows per class (> k = 5)."""
    rng = np.random.default_rng(0)
    items = []
    for label, name in enumerate(CLASS_NAMES):
        (root / name).mkdir(parents=True)
        for i in range(3):
            path = root / name / f"{i}.wav"
            # TinyGAN's clips: the level plus noise held for 256 samples (one mel frame)
            held = np.repeat(rng.normal(scale=0.02, size=345), 256)[:88200]
            wav = 0.1 * (label + 1) + held
            sf.write(str(path), wav.astype(np.float32), 22050, subtype="PCM_16")
            items.append((path, label))
    return items


def _fit(tmp_path, metrics, backbone=None) -> tuple[FADCallback, dict[str, float]]:
    backbone = backbone or MeanStd()
    callback = FADCallback(backbone=backbone, vocoder=HoldVocoder(), n_per_class=N_PER_CLASS,
                           batch_size=5, n_media_per_class=0, reference=str(tmp_path / "ref"),
                           cache_dir=str(tmp_path / "cache"), metrics=metrics)
    extra = [StartRecording(backbone)] if isinstance(backbone, RecordingMeanStd) else []
    trainer = make_cpu_trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1,
                               default_root_dir=tmp_path, callbacks=[callback, *extra])
    trainer.fit(TinyGAN())
    return callback, {k: float(v) for k, v in trainer.callback_metrics.items()}


@pytest.fixture
def ref_items(tmp_path):
    return _reference(tmp_path / "ref")


def test_kad_prdc_equal_the_pure_functions_on_the_embeddings(tmp_path, ref_items) -> None:
    backbone = RecordingMeanStd()
    _, logged = _fit(tmp_path, ["prdc", "kad", "fad"], backbone)
    # one rank: the clips are generated class by class, N_PER_CLASS each
    gen = torch.cat(backbone.rows).double()
    labels = torch.arange(len(CLASS_NAMES)).repeat_interleave(N_PER_CLASS * ROWS_PER_CLIP)
    assert gen.shape[0] == labels.shape[0]
    assert torch.allclose(gen[labels == 2, 0], torch.full((16,), 0.3, dtype=torch.float64),
                          atol=0.01)  # the class-2 level: rows and labels line up
    with torch.no_grad():
        ref = torch.cat([MeanStd().embed(torch.from_numpy(load_audio(p))[None])
                         for p, _ in ref_items]).double()
    ref_labels = torch.tensor([label for _, label in ref_items]).repeat_interleave(ROWS_PER_CLIP)
    kads, scores = [], []
    for c, name in enumerate(CLASS_NAMES):
        kad = kernel_audio_distance(gen[labels == c], ref[ref_labels == c])
        assert logged[f"val/kad/{name}"] == pytest.approx(kad, rel=1e-6), name  # logged as float32
        kads.append(kad)
        scores.append(prdc(ref[ref_labels == c], gen[labels == c], k=5))
        for metric in PRDC_NAMES:
            assert logged[f"val/prdc/{metric}/{name}"] == pytest.approx(scores[-1][metric])
    assert logged["val/kad/mean"] == pytest.approx(np.mean(kads), rel=1e-6)
    for metric in PRDC_NAMES:
        mean = np.mean([s[metric] for s in scores])
        assert logged[f"val/prdc/{metric}/mean"] == pytest.approx(mean)
    assert all(f"val/fad/{name}" in logged for name in [*CLASS_NAMES, "mean"])
    assert 0.0 < logged["val/prdc/precision/mean"] < 1.0  # the sets overlap, not trivially


def test_fad_alone_unchanged_and_kad_alone_has_no_fad(tmp_path, ref_items) -> None:
    callback, fad_only = _fit(tmp_path, ["fad"])
    assert callback.embeddings is None
    assert not any(k.startswith(("val/kad", "val/prdc")) for k in fad_only)
    _, all_three = _fit(tmp_path, ["fad", "kad", "prdc"])
    for key, value in fad_only.items():
        if key.startswith("val/fad/"):
            assert all_three[key] == pytest.approx(value, rel=1e-9), key  # same clips, same FAD
    callback, kad_only = _fit(tmp_path, "kad")
    assert callback.metric is None
    assert not any(k.startswith(("val/fad", "val/prdc")) for k in kad_only)
    assert kad_only["val/kad/mean"] == pytest.approx(all_three["val/kad/mean"], rel=1e-9)


def test_wandb_summaries_and_unknown_metric(tmp_path, ref_items, monkeypatch) -> None:
    defined = []

    class Experiment:
        def define_metric(self, name: str, summary: str) -> None:
            defined.append((name, summary))

    class FakeWandb:
        experiment = Experiment()

    monkeypatch.setattr(callbacks_module, "_wandb_logger", lambda trainer: FakeWandb())
    _fit(tmp_path, ["kad", "prdc", "fad"])
    assert defined == [("val/fad/*", "min"), ("val/kad/*", "min"), ("val/prdc/*", "max")]
    with pytest.raises(ValueError, match=r"choose from \['fad', 'kad', 'prdc'\]"):
        FADCallback(metrics=["fad", "fid"])
    with pytest.raises(ValueError, match="k \\(nearest neighbours of PRDC\\)"):
        FADCallback(metrics=["prdc"], k=0)


def test_too_few_reference_rows_fail_at_fit_start(tmp_path, ref_items) -> None:
    callback = FADCallback(backbone=MeanStd(), vocoder=HoldVocoder(), n_per_class=N_PER_CLASS,
                           reference=str(tmp_path / "ref"), cache_dir=str(tmp_path / "cache"),
                           metrics=["prdc"], k=12)  # 12 reference rows per class, PRDC needs 13
    trainer = make_cpu_trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1,
                               default_root_dir=tmp_path, callbacks=[callback])
    with pytest.raises(ValueError, match=r"'DogBark': 12.* need at least 13 .* lower k"):
        trainer.fit(TinyGAN())
    assert trainer.global_step == 0
