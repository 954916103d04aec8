"""`FoleyDataModule`: the mel cache of a dataset root (DCASE or your own classes) as dataloaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import nn
from torch.utils.data import DataLoader, Dataset

from datamodules.cache import MelCache
from datamodules.dcase import ClassFolders, find_classes
from datamodules.mel import CLIP_SAMPLES, MelParams
from datamodules.mel_stats import band_stats
from datamodules.recordings import RecordingIds, compile_pattern, recording_ids
from datamodules.sampling import ClassBalancedSampler, ShardSampler
from datamodules.split import describe_split, stratified_split

SPLIT_CHOICES = ("auto", "recording", "clip")


class MelDataset(Dataset):
    """Items `{"mel": [n_mels, T] float32, "label": int64}` of the cache rows `indices`."""

    def __init__(self, cache: MelCache, indices: np.ndarray) -> None:
        self.cache = cache
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        row = int(self.indices[item])
        mel = torch.from_numpy(np.array(self.cache.mels[row], dtype=np.float32))
        return {"mel": mel, "label": torch.tensor(self.cache.labels[row], dtype=torch.int64)}


class FoleyDataModule(pl.LightningDataModule):
    """Log-mel batches `{"mel": [B, n_mels, T] float32, "label": [B] int64}` of a dataset root.

    The classes come from the data (`datamodules.dcase.find_classes`): a root of DCASE class
    folders gives the classes present in DCASE order (all 7 for the development set), any other
    root its folder names sorted; `class_names=[...]` picks and orders them (a listed class
    without clips is an error, an unlisted folder is ignored with a warning). Labels index
    `class_names`. `num_classes` / `class_names` read only folder names, so LightningCLI can link
    them into the model when it instantiates the data module, before any audio is read.

    `prepare_data` builds (or reuses) the mel cache, `setup` loads it and splits it per class
    (`val_fraction` of each class to validation, seeded, every class keeps a training clip).
    `split_by="recording"` keeps the clips of one source recording on one side
    (`datamodules.recordings`: ids from a metadata CSV beside the data, else from file names via
    `recording_pattern`, default `DEFAULT_RECORDING_PATTERN`); `"clip"` splits clips; `"auto"`
    (default) splits by recording whenever any recording id is found, else by clip. `setup`
    logs `split_summary()`: clips and recordings on each side.
    `two_view=True` turns TRAIN batches into `"mel": [B, 2, n_mels, T]`: two views augmented
    independently by `datamodules.augment.default_augment`, batched on the batch's device in
    `on_after_batch_transfer` (identical copies with `augment=False`). Single-view batches and
    validation batches are never augmented: the GAN sees the real data unchanged.

    DDP: `prepare_data` runs on local rank 0 only (Lightning), the other ranks load the cache in
    `setup`. Training uses a shuffled RandomSampler, which Lightning replaces with its
    DistributedSampler (`use_distributed_sampler=True`, the default). Lightning would also wrap
    any other sampler in a padding DistributedSamplerWrapper, so the samplers set here subclass
    DistributedSampler and are left alone: `balanced_sampling=True` uses a ClassBalancedSampler
    (weights 1 / class count; each rank a disjoint share of one draw seeded by seed and epoch),
    and validation uses a ShardSampler (rank r gets indices[r::world]): every validation clip is
    seen exactly once, with no padding duplicates, so ranks may hold one batch item more or less.
    """

    def __init__(
        self,
        data_root: str,
        cache_dir: str | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
        balanced_sampling: bool = False,
        two_view: bool = False,
        augment: bool = True,
        skip_bad: bool = False,
        n_mels: int = 80,
        num_samples: int = CLIP_SAMPLES,
        cache_workers: int = 2,
        drop_last: bool = True,
        pin_memory: bool = False,
        class_names: list[str] | None = None,
        split_by: str = "auto",
        recording_pattern: str | None = None,
    ) -> None:
        super().__init__()
        if split_by not in SPLIT_CHOICES:
            raise ValueError(f"split_by must be one of {list(SPLIT_CHOICES)}, got {split_by!r}")
        compile_pattern(recording_pattern)  # a bad pattern fails here, not after the cache
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(
                f"val_fraction must be in [0, 1), got {val_fraction}; use e.g. 0.1, or 0 for none"
            )
        # class_names is not an hparam here: the model holds the resolved list (linked by the
        # CLI), and Lightning refuses a data module and a module whose hparams disagree on a key
        self.save_hyperparameters(ignore=["class_names"])
        self.data_root = data_root
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_fraction = val_fraction
        self.seed = seed
        self.balanced_sampling = balanced_sampling
        self.two_view = two_view
        self.augment = augment
        self.skip_bad = skip_bad
        self.num_samples = num_samples
        self.cache_workers = cache_workers
        self.drop_last = drop_last
        self.pin_memory = pin_memory
        self.split_by = split_by
        self.recording_pattern = recording_pattern
        self._requested_classes = None if class_names is None else list(class_names)
        self._classes: ClassFolders | None = None
        self.recordings: RecordingIds | None = None
        self.split_by_recording = False
        self._mel_params = MelParams(n_mels=n_mels)
        self.cache: MelCache | None = None
        self.train_indices = np.zeros(0, dtype=np.int64)
        self.val_indices = np.zeros(0, dtype=np.int64)
        self._augmenter: nn.Module | None = None

    def _class_folders(self) -> ClassFolders:
        if self._classes is None:
            self._classes = find_classes(self.data_root, self._requested_classes)
        return self._classes

    @property
    def num_classes(self) -> int:
        return len(self._class_folders().class_names)

    @property
    def class_names(self) -> list[str]:
        """The dataset's classes (folder names only; raises `DatasetLayoutError` without data)."""
        return list(self._class_folders().class_names)

    @property
    def mel_params(self) -> MelParams:
        return self._mel_params

    @property
    def mel_shape(self) -> tuple[int, int]:
        """(n_mels, frames): (80, 344) for 4 s clips; known before any data is read."""
        return self._mel_params.n_mels, self._mel_params.num_frames(self.num_samples)

    def _load_cache(self, progress: bool) -> MelCache:
        return MelCache.build_or_load(
            self.data_root,
            cache_dir=self.cache_dir,
            mel_params=self._mel_params,
            skip_bad=self.skip_bad,
            num_workers=self.cache_workers,
            num_samples=self.num_samples,
            progress=progress,
            class_names=self.class_names,
        )

    def prepare_data(self) -> None:
        self._load_cache(progress=True)

    def setup(self, stage: str | None = None) -> None:
        if self.cache is not None:
            return
        self.cache = self._load_cache(progress=False)
        groups = None
        if self.split_by != "clip":
            self.recordings = recording_ids(self.cache.paths, self.recording_pattern)
            if self.split_by == "recording" or self.recordings.found:
                groups = self.recordings.ids
        self.split_by_recording = groups is not None
        self.train_indices, self.val_indices = stratified_split(
            self.cache.labels, val_fraction=self.val_fraction, seed=self.seed, groups=groups
        )
        rank_zero_info(self.split_summary())

    def split_summary(self) -> str:
        """Clips (and recordings, when split by recording) of each side, per class."""
        cache = self._require_setup()
        use = self.recordings if self.split_by_recording else None
        return describe_split(
            cache.labels, self.train_indices, self.val_indices, cache.class_names,
            groups=None if use is None else use.ids,
            source=None if use is None else use.describe(),
        )

    def _require_setup(self) -> MelCache:
        if self.cache is None:
            raise RuntimeError(
                "FoleyDataModule has no data yet: call dm.setup() (Trainer does) before asking "
                "for dataloaders, mel_stats() or val_items()"
            )
        return self.cache

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _loader(self, dataset: Dataset, **kwargs) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        cache = self._require_setup()
        dataset = MelDataset(cache, self.train_indices)
        if self.drop_last and len(dataset) < self.batch_size:
            raise ValueError(
                f"the training split has {len(dataset)} clips, fewer than batch_size "
                f"{self.batch_size}, so drop_last=True leaves no batch; lower batch_size or "
                "set drop_last=False"
            )
        if self.balanced_sampling:
            world, rank = self._world()
            sampler = ClassBalancedSampler(
                cache.labels[self.train_indices], num_replicas=world, rank=rank, seed=self.seed
            )
            return self._loader(dataset, sampler=sampler, drop_last=self.drop_last)
        generator = torch.Generator().manual_seed(self.seed)
        return self._loader(dataset, shuffle=True, generator=generator, drop_last=self.drop_last)

    def val_dataloader(self) -> DataLoader | list:
        cache = self._require_setup()
        if len(self.val_indices) == 0:
            return []
        world, rank = self._world()
        sampler = ShardSampler(len(self.val_indices), num_replicas=world, rank=rank)
        return self._loader(MelDataset(cache, self.val_indices), sampler=sampler)

    def _get_augmenter(self, device: torch.device) -> nn.Module:
        if self._augmenter is None:
            from datamodules.augment import default_augment

            # the two modules inside take seed and seed + 1: step 2 per rank keeps ranks apart
            self._augmenter = default_augment(seed=self.seed + 2 * self._world()[1])
        return self._augmenter.to(device)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        # train, two_view: mel [B, n_mels, T] -> [B, 2, n_mels, T]; otherwise unchanged
        trainer = self.trainer
        if not self.two_view or trainer is None or not trainer.training:
            return batch
        mel = batch["mel"]
        if self.augment:
            augmenter = self._get_augmenter(mel.device)
            views = [augmenter(mel), augmenter(mel)]
        else:
            views = [mel, mel.clone()]
        return {**batch, "mel": torch.stack(views, dim=1)}

    def mel_stats(self) -> dict[str, torch.Tensor]:
        """Per-band `min`, `max`, `mean`, `std` ([n_mels] float32) over the training split."""
        cache = self._require_setup()
        return band_stats(cache.mels, self.train_indices)

    def val_items(self) -> list[tuple[Path, int]]:
        """[(audio path, label)] of the validation split, in cache order."""
        cache = self._require_setup()
        return [(cache.paths[i], int(cache.labels[i])) for i in self.val_indices]
