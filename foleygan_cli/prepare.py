"""`foleygan prepare DATA_ROOT`: build (or validate) the log-mel cache of a dataset root."""

from __future__ import annotations

import argparse
import sys

from datamodules.audio import AudioFileError, BadAudioFilesError
from datamodules.cache import MelCache
from datamodules.cache_files import prune_caches
from datamodules.cache_notes import audio_notes
from datamodules.dcase import DatasetLayoutError
from datamodules.mel import CLIP_SAMPLES, MelParams

EPILOG = """\
bad files: without --skip-bad every file is read, then the command fails once (exit code 2)
listing every unusable file (unreadable / corrupt, empty, NaN or infinite samples) with its
fix, and writes nothing. Files at another sample rate, with several channels, shorter or longer
than --num-samples are resampled, downmixed, padded or cut, and listed as warnings.

cache folder: a changed file list replaces the older cache of the same mel parameters; caches
of other mel parameters are kept (switching back reuses them) until --prune. Leftovers of
interrupted builds (a killed build's .build-<token>/ workspace, .mels-*.npy.*.tmp of earlier
versions) are removed automatically by the next build or reuse, unless a running build still
holds their lock (or, where the file system has no flock, until they are 24 hours old).
"""

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foleygan prepare",
        description="Compute the log-mel cache of a DCASE 2023 Task 7 dataset root "
        "(reused when the files and mel parameters are unchanged).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data_root", help="folder holding the class folders (either layout)")
    parser.add_argument("--cache-dir", default=None, help="default: DATA_ROOT/.foleygan_cache")
    parser.add_argument("--skip-bad", action="store_true", help="leave unreadable clips out")
    parser.add_argument("--num-workers", type=int, default=2, help="audio loading threads")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per mel batch")
    parser.add_argument("--n-mels", type=int, default=80, help="mel bands (the contract: 80)")
    parser.add_argument("--num-samples", type=int, default=CLIP_SAMPLES, help="clip length")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="after building / reusing, remove the caches of other mel parameters and older file "
        "lists from the cache folder (keeps the current one); prints what was freed",
    )
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
        return 2 if isinstance(err, BadAudioFilesError) else 1  # 2: the data needs fixing
    print(format_table(cache))
    state = "built" if cache.built else "up to date, reused"
    print(f"\nmel cache ({state}): {cache.mels_path}  shape {tuple(cache.mels.shape)}")
    print(f"index: {cache.index_path}")
    if cache.skipped:
        print(f"skipped {len(cache.skipped)} unreadable clip(s): see 'skipped' in the index")
    notes = audio_notes(cache.index)
    if notes:
        print("\nwarnings (not errors: these files were adapted to the mel contract):")
        print("\n".join(f"  - {note}" for note in notes))
    if args.prune:
        print(_prune(cache))
    return 0


def _prune(cache: MelCache) -> str:
    """Remove every other cache beside `cache`; the lines to print."""
    keep = cache.index_path.name.removeprefix("index-").removesuffix(".json")
    removed = prune_caches(cache.index_path.parent, keep=keep)
    freed = sum(size for _, size in removed)
    lines = [f"  removed {path} ({size:,} bytes)" for path, size in removed]
    lines.append(
        f"--prune: removed {len(removed)} file(s) of other caches, {freed:,} bytes "
        f"({freed / 1e6:.1f} MB) freed; kept {cache.mels_path.name}"
    )
    return "\n" + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
