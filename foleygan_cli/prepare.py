"""`foleygan prepare DATA_ROOT`: build (or validate) the log-mel cache of a dataset root."""

from __future__ import annotations

import argparse
import sys

from datamodules.audio import AudioFileError
from datamodules.cache import MelCache
from datamodules.dcase import DatasetLayoutError
from datamodules.mel import CLIP_SAMPLES, MelParams


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foleygan prepare",
        description="Compute the log-mel cache of a DCASE 2023 Task 7 dataset root "
        "(reused when the files and mel parameters are unchanged).",
    )
    parser.add_argument("data_root", help="folder holding the class folders (either layout)")
    parser.add_argument("--cache-dir", default=None, help="default: DATA_ROOT/.foleygan_cache")
    parser.add_argument("--skip-bad", action="store_true", help="leave unreadable clips out")
    parser.add_argument("--num-workers", type=int, default=2, help="audio loading threads")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per mel batch")
    parser.add_argument("--n-mels", type=int, default=80, help="mel bands (the contract: 80)")
    parser.add_argument("--num-samples", type=int, default=CLIP_SAMPLES, help="clip length")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    return parser


def format_table(cache: MelCache) -> str:
    """Per-class clip counts, one row per class, and the total."""
    counts = cache.class_counts()
    width = max(len(name) for name in counts)
    rows = [f"{'class':<{width}}  clips", f"{'-' * width}  -----"]
    rows += [f"{name:<{width}}  {n:>5}" for name, n in counts.items()]
    rows.append(f"{'total':<{width}}  {sum(counts.values()):>5}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cache = MelCache.build_or_load(
            args.data_root,
            cache_dir=args.cache_dir,
            mel_params=MelParams(n_mels=args.n_mels),
            skip_bad=args.skip_bad,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            num_samples=args.num_samples,
            force=args.force,
        )
    except (DatasetLayoutError, AudioFileError, ValueError) as err:
        print(f"foleygan prepare: {err}", file=sys.stderr)
        return 1
    print(format_table(cache))
    state = "built" if cache.built else "up to date, reused"
    print(f"\nmel cache ({state}): {cache.mels_path}  shape {tuple(cache.mels.shape)}")
    print(f"index: {cache.index_path}")
    if cache.skipped:
        print(f"skipped {len(cache.skipped)} unreadable clip(s): see 'skipped' in the index")
    return 0


if __name__ == "__main__":
    sys.exit(main())
