"""Slow: FADCallback(metrics=[fad, kad, prdc]) under 2-process CPU DDP (gloo).

The test runs this file as a script: one epoch of `trainer.fit` on 2 ranks; each rank generates
its share of the clips (items r::2 of the class-ordered list), records the rows its backbone
returned for them and saves what it logged. Both ranks must log the same KAD / PRDC, equal to
`kernel_audio_distance` / `prdc` on the union of both ranks' rows per class.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1]))

N_PER_CLASS = 5  # 35 clips: rank 0 gets 18, rank 1 17


def _run_ranks(out_dir: Path) -> None:
    import pytorch_lightning as pl
    from test_fad_callback import HoldVocoder, TinyGAN
    from test_fad_callback_metrics import RecordingMeanStd, StartRecording

    from datamodules.classes import CLASS_NAMES
    from evaluation.callbacks import FADCallback

    backbone = RecordingMeanStd()
    callback = FADCallback(backbone=backbone, vocoder=HoldVocoder(), n_per_class=N_PER_CLASS,
                           batch_size=4, n_media_per_class=0, reference=str(out_dir / "ref"),
                           cache_dir=str(out_dir / "cache"),
                           metrics=["fad", "kad", "prdc"])
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, max_epochs=1, limit_train_batches=1,
                         limit_val_batches=1, num_sanity_val_steps=0,
                         callbacks=[callback, StartRecording(backbone)])
    trainer.fit(TinyGAN())
    rank = trainer.global_rank
    items = [c for c in range(len(CLASS_NAMES)) for _ in range(N_PER_CLASS)][rank::2]
    torch.save({"metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
                "rows": torch.cat(backbone.rows), "labels": torch.tensor(items)},
               out_dir / f"rank{rank}.pt")


@pytest.mark.slow
def test_every_rank_logs_kad_prdc_of_the_union(tmp_path: Path) -> None:
    from test_fad_callback import MeanStd
    from test_fad_callback_metrics import ROWS_PER_CLIP, _reference

    from datamodules.audio import load_audio
    from datamodules.classes import CLASS_NAMES
    from evaluation.kad import kernel_audio_distance
    from evaluation.prdc import PRDC_NAMES, prdc

    items = _reference(tmp_path / "ref")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(HERE), str(tmp_path)], check=True, timeout=600,
                   env=env, cwd=ROOT)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    ours = [{k: v for k, v in r["metrics"].items() if k.startswith(("val/fad", "val/kad",
                                                                      "val/prdc"))}
            for r in ranks]
    assert len(ours[0]) == 8 + 8 + 4 * 8 and ours[0] == ours[1]  # TinyGAN's val/loss is local
    gen = torch.cat([r["rows"] for r in ranks]).double()
    labels = torch.cat([r["labels"].repeat_interleave(ROWS_PER_CLIP) for r in ranks])
    assert gen.shape[0] == labels.shape[0] == len(CLASS_NAMES) * N_PER_CLASS * ROWS_PER_CLIP
    with torch.no_grad():
        ref = torch.cat([MeanStd().embed(torch.from_numpy(load_audio(p))[None])
                         for p, _ in items]).double()
    ref_labels = torch.tensor([label for _, label in items]).repeat_interleave(ROWS_PER_CLIP)
    logged = ranks[0]["metrics"]
    kads = []
    for c, name in enumerate(CLASS_NAMES):
        kads.append(kernel_audio_distance(gen[labels == c], ref[ref_labels == c]))
        assert logged[f"val/kad/{name}"] == pytest.approx(kads[-1], rel=1e-6), name
        scores = prdc(ref[ref_labels == c], gen[labels == c], k=5)
        for metric in PRDC_NAMES:
            assert logged[f"val/prdc/{metric}/{name}"] == pytest.approx(scores[metric]), name
    assert logged["val/kad/mean"] == pytest.approx(np.mean(kads), rel=1e-6)
    assert "val/fad/mean" in logged


if __name__ == "__main__":
    _run_ranks(Path(sys.argv[1]))
