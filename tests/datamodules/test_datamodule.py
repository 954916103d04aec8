"""FoleyDataModule: classes, split, samplers (simulated DDP ranks), batches, two views, stats."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch
from torch.utils.data import DistributedSampler

from conftest import make_cpu_trainer
from datamodules.cache import MelCache
from datamodules.datamodule import FoleyDataModule
from datamodules.dcase import ClassListError, DatasetLayoutError
from datamodules.recordings import RecordingMetadataError
from datamodules.sampling import ClassBalancedSampler, ShardSampler

N = 4096  # 16 frames per clip
COUNTS = {"DogBark": 6, "GunShot": 4, "Rain": 2}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("foley")
    rng = np.random.default_rng(0)
    for name, count in COUNTS.items():
        (root / name).mkdir()
        for i in range(count):
            wav = rng.uniform(-0.5, 0.5, N) * rng.uniform(0.05, 1.0)
            sf.write(root / name / f"{i}.wav", wav.astype(np.float32), 22050, subtype="PCM_16")
    return root


def _dm(root: Path, **kwargs) -> FoleyDataModule:
    kwargs.setdefault("batch_size", 4)
    kwargs.setdefault("num_samples", N)
    kwargs.setdefault("val_fraction", 0.25)
    kwargs.setdefault("cache_workers", 0)
    dm = FoleyDataModule(str(root), **kwargs)
    dm.setup("fit")
    return dm


def test_properties_without_data(data_root: Path) -> None:
    dm = FoleyDataModule("/does/not/exist")
    assert dm.mel_shape == (80, 344) and dm.mel_params.n_mels == 80
    assert FoleyDataModule("x", n_mels=64, num_samples=22050).mel_shape == (64, 86)
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        dm.class_names  # noqa: B018 (the class list needs the folders)
    with pytest.raises(RuntimeError, match=r"call dm.setup\(\)"):
        dm.val_items()
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        FoleyDataModule("x", val_fraction=1.0)
    with pytest.raises(ValueError, match=r"split_by must be one of \['auto', 'recording'"):
        FoleyDataModule("x", split_by="file")
    with pytest.raises(RecordingMetadataError, match="no capture group"):
        FoleyDataModule("x", recording_pattern=r"\d+")
    # the class list reads folder names only: no cache exists yet
    dm = FoleyDataModule(str(data_root), cache_dir=str(data_root / "never"))
    assert dm.class_names == ["DogBark", "GunShot", "Rain"] and dm.num_classes == 3
    assert not (data_root / "never").exists()


def test_batches_and_val_items(data_root: Path) -> None:
    dm = _dm(data_root)
    batch = next(iter(dm.train_dataloader()))
    assert batch["mel"].shape == (4, 80, 16) and batch["mel"].dtype == torch.float32
    assert batch["label"].dtype == torch.int64
    items = dm.val_items()
    assert [label for _, label in items] == [0, 0, 1, 2]  # round(0.25 * [6, 4, 2])
    assert all(path.is_file() for path, _ in items)
    assert dm.cache.class_names == dm.class_names == ["DogBark", "GunShot", "Rain"]
    val = next(iter(dm.val_dataloader()))
    np.testing.assert_array_equal(val["label"].numpy(), [0, 0, 1, 2])
    np.testing.assert_array_equal(val["mel"][0].numpy(), dm.cache.mels[dm.val_indices[0]])
    assert _dm(data_root, val_fraction=0.0).val_dataloader() == []


def test_workers_open_the_memmap(data_root: Path) -> None:
    dm = _dm(data_root, num_workers=1, batch_size=12, val_fraction=0.0)
    labels = torch.cat([b["label"] for b in dm.train_dataloader()])
    assert sorted(labels.tolist()) == [0] * 6 + [1] * 4 + [2] * 2


def test_validation_shards_are_disjoint_without_padding() -> None:
    shards = [list(ShardSampler(11, num_replicas=2, rank=r)) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(11))
    assert (len(shards[0]), len(shards[1])) == (6, 5)
    assert isinstance(ShardSampler(3), DistributedSampler)  # so Lightning keeps it under DDP
    with pytest.raises(ValueError, match="invalid rank 2 of world size 2"):
        ShardSampler(5, num_replicas=2, rank=2)


def test_val_dataloader_uses_the_trainer_rank(data_root: Path) -> None:
    dm = _dm(data_root, val_fraction=0.5)
    seen = []
    for rank in range(2):
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank, training=False)
        seen += [int(i) for i in dm.val_dataloader().sampler]
    assert sorted(seen) == list(range(len(dm.val_indices)))


def test_class_balanced_sampler() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    sampler = ClassBalancedSampler(labels, seed=3, num_samples=20000)
    drawn = labels[list(sampler)]
    assert abs(drawn.mean() - 0.5) < 0.02
    ranks = [ClassBalancedSampler(labels, num_replicas=2, rank=r, seed=3) for r in range(2)]
    per_rank = [list(s) for s in ranks]
    assert len(per_rank[0]) == len(per_rank[1]) == 50
    whole = list(ClassBalancedSampler(labels, num_replicas=1, rank=0, seed=3))
    # disjoint shares of one draw
    assert whole == [i for pair in zip(*per_rank, strict=True) for i in pair]
    ranks[0].set_epoch(1)
    assert list(ranks[0]) != per_rank[0]
    assert list(ClassBalancedSampler(labels, num_replicas=2, rank=0, seed=3)) == per_rank[0]
    assert isinstance(sampler, DistributedSampler)


def test_balanced_train_loader(data_root: Path) -> None:
    dm = _dm(data_root, balanced_sampling=True, val_fraction=0.0)
    loader = dm.train_dataloader()
    assert isinstance(loader.sampler, ClassBalancedSampler) and len(loader.sampler) == 12


@pytest.mark.parametrize("augment", [True, False])
def test_two_view_train_batches(data_root: Path, augment: bool) -> None:
    dm = _dm(data_root, two_view=True, augment=augment)
    batch = next(iter(dm.train_dataloader()))
    dm.trainer = SimpleNamespace(training=True, world_size=1, global_rank=0)
    out = dm.on_after_batch_transfer(batch, 0)
    assert out["mel"].shape == (4, 2, 80, 16) and out["label"].shape == (4,)
    differ = not torch.equal(out["mel"][:, 0], out["mel"][:, 1])
    assert differ == augment
    dm.trainer = SimpleNamespace(training=False, world_size=1, global_rank=0)
    assert dm.on_after_batch_transfer(batch, 0)["mel"].shape == (4, 80, 16)


def test_single_view_is_never_augmented(data_root: Path) -> None:
    dm = _dm(data_root, augment=True)
    batch = next(iter(dm.train_dataloader()))
    dm.trainer = SimpleNamespace(training=True, world_size=1, global_rank=0)
    assert dm.on_after_batch_transfer(batch, 0)["mel"] is batch["mel"]


def test_mel_stats_against_numpy(data_root: Path) -> None:
    dm = _dm(data_root)
    stats = dm.mel_stats()
    train = np.asarray(dm.cache.mels, dtype=np.float64)[dm.train_indices]
    per_band = train.transpose(1, 0, 2).reshape(80, -1)
    for name, fn in [("min", np.min), ("max", np.max), ("mean", np.mean), ("std", np.std)]:
        assert stats[name].dtype == torch.float32 and stats[name].shape == (80,)
        np.testing.assert_allclose(stats[name].numpy(), fn(per_band, axis=1), rtol=1e-5, atol=1e-5)


def test_fit_runs_with_a_trainer(data_root: Path) -> None:
    class Probe(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(80, 1)
            self.shapes: list[tuple] = []

        def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
            self.shapes.append(tuple(batch["mel"].shape))
            return self.layer(batch["mel"].mean(dim=(1, -1))).mean()

        def validation_step(self, batch: dict, batch_idx: int) -> None:
            self.shapes.append(tuple(batch["mel"].shape))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = FoleyDataModule(str(data_root), batch_size=4, num_samples=N, two_view=True)
    model = Probe()
    trainer = make_cpu_trainer(max_epochs=1)
    trainer.fit(model, datamodule=dm)
    # 10 train clips -> 2 full two-view batches; val_fraction 0.1 -> 1 clip (from DogBark)
    assert model.shapes == [(4, 2, 80, 16), (4, 2, 80, 16), (1, 80, 16)]


# --- the class set and the split come from the data --------------------------------------------


def _write_tree(root: Path, files: dict[str, list[str]]) -> Path:
    rng = np.random.default_rng(1)
    for folder, names in files.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            wav = rng.uniform(-0.3, 0.3, N).astype(np.float32)
            sf.write(root / folder / name, wav, 22050, subtype="PCM_16")
    return root


def test_own_classes_end_to_end(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"Wind": ["a.wav", "b.wav"], "DoorKnock": ["a.wav", "b.wav"],
                                  "GlassBreak": ["a.wav", "b.wav", "c.wav"]})
    dm = _dm(root, val_fraction=0.5)
    assert dm.class_names == ["DoorKnock", "GlassBreak", "Wind"] and dm.num_classes == 3
    assert dm.cache.class_names == dm.class_names
    assert dm.cache.labels.tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert [(p.parent.name, y) for p, y in dm.val_items()] == [  # round(0.5 * [2, 3, 2])
        ("DoorKnock", 0), ("GlassBreak", 1), ("GlassBreak", 1), ("Wind", 2)]


def test_explicit_class_list(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"Wind": ["a.wav"] * 1, "rain": ["a.wav", "b.wav"],
                                  "DoorKnock": ["a.wav"]})
    with pytest.warns(UserWarning, match=r"DoorKnock \(not in class_names\)"):
        dm = _dm(root, class_names=["Wind", "rain"], val_fraction=0.0)
    assert dm.class_names == ["Wind", "rain"] and dm.num_classes == 2
    assert dm.cache.class_names == ["Wind", "rain"]
    pairs = zip(dm.cache.labels.tolist(), [p.parent.name for p in dm.cache.paths], strict=True)
    assert sorted(pairs) == [(0, "Wind"), (1, "rain"), (1, "rain")]
    with pytest.raises(ClassListError, match=r"class 'Thunder' .*\['DoorKnock', 'Wind', 'rain'\]"):
        FoleyDataModule(str(root), class_names=["Wind", "Thunder"]).num_classes  # noqa: B018


def test_cache_rebuilt_when_the_class_list_changes(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"DogBark": ["a.wav"], "Wind": ["a.wav"]})  # own names kept
    build = lambda names: MelCache.build_or_load(  # noqa: E731
        root, class_names=names, num_samples=N, num_workers=0, progress=False)
    first = build(None)
    assert first.built and first.class_names == ["DogBark", "Wind"]
    assert not build(["DogBark", "Wind"]).built  # the same list: reused
    renamed = build(["dog_bark", "Wind"])  # same files and labels, other names
    assert renamed.built and renamed.class_names == ["dog_bark", "Wind"]
    reordered = build(["Wind", "DogBark"])
    assert reordered.built
    assert [(p.parent.name, int(y)) for p, y in zip(reordered.paths, reordered.labels,
                                                    strict=True)] == [("Wind", 0), ("DogBark", 1)]
    assert json.loads(reordered.index_path.read_text())["class_names"] == ["Wind", "DogBark"]
    assert build(None).built  # back to the folders' list: rebuilt once more


def _sliced_root(root: Path) -> Path:
    """Two classes of UrbanSound8K-style slices: 3 recordings each, 1-3 slices per recording."""
    return _write_tree(root, {
        "Wind": ["10-0-0-0.wav", "10-0-0-1.wav", "10-0-0-2.wav", "11-0-0-0.wav", "11-0-0-1.wav",
                 "12-0-0-0.wav"],
        "Rain": ["20-1-0-0.wav", "20-1-0-1.wav", "21-1-0-0.wav", "21-1-0-1.wav", "22-1-0-0.wav",
                 "22-1-0-1.wav", "22-1-0-2.wav"],
    })


def _sides(dm: FoleyDataModule) -> tuple[set, set]:
    ids = dm.recordings.ids
    return {ids[i] for i in dm.train_indices}, {ids[i] for i in dm.val_indices}


def test_split_by_recording_from_file_names(tmp_path: Path) -> None:
    root = _sliced_root(tmp_path)
    for seed in range(4):
        dm = _dm(root, val_fraction=0.3, seed=seed)
        assert dm.split_by_recording
        train, val = _sides(dm)
        assert train.isdisjoint(val) and len(train | val) == 6
        labels = dm.cache.labels
        assert set(labels[dm.val_indices]) == {0, 1}  # each class has a validation recording
        summary = dm.split_summary()
        assert summary.startswith("split by recording (6 recordings; ids of 0 clips")
        assert f"validation {len(dm.val_indices)} clips / {len(val)} recordings" in summary
    by_clip = _dm(root, val_fraction=0.3, split_by="clip")
    assert not by_clip.split_by_recording and by_clip.recordings is None
    assert by_clip.split_summary().startswith("split by clip")


def test_split_by_recording_from_a_csv(tmp_path: Path) -> None:
    root = _write_tree(tmp_path, {"Wind": [f"w{i}.wav" for i in range(6)],
                                  "Rain": [f"r{i}.wav" for i in range(6)]})
    rows = [f"{c}/{p}{i}.wav,{c}{i // 2}" for c, p in (("Wind", "w"), ("Rain", "r"))
            for i in range(6)]
    (root / "meta.csv").write_text("filename,recording_id\n" + "\n".join(rows) + "\n")
    dm = _dm(root, val_fraction=0.3, seed=1)
    train, val = _sides(dm)
    assert dm.split_by_recording and train.isdisjoint(val) and len(train | val) == 6
    assert all(len([i for i in dm.val_indices if dm.recordings.ids[i] == r]) == 2 for r in val)
    assert "ids of 12 clips from" in dm.split_summary()
    # the encoder's held-out set and the GAN's FAD reference are this validation split
    assert sorted(p.name for p, _ in dm.val_items()) == sorted(
        dm.cache.paths[i].name for i in dm.val_indices)
