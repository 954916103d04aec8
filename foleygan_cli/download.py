"""`foleygan download`: fetch and extract the DCASE 2023 Task 7 data.

URL, archive name and sha256 come from configs/download/dcase2023.yaml (not a LightningCLI file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlparse

from omegaconf import OmegaConf

from datamodules.download import DownloadError, UnsafeArchiveError, download_dataset

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "download" / "dcase2023.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foleygan download",
        description="Download (resumable, sha256-checked) and extract the DCASE 2023 Task 7 "
        "dataset archive under --root.",
    )
    parser.add_argument("--root", type=Path, default=Path("data"), help="folder for the data")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML with url, "
                        "archive_name and sha256 (default: configs/download/dcase2023.yaml)")
    parser.add_argument("--url", default=None, help="override the archive URL")
    parser.add_argument("--sha256", default=None, help="expected sha256 of the archive")
    parser.add_argument("--archive-name", default=None,
                        help="file name under --root (default: from the config or the URL)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _resolve(args: argparse.Namespace) -> tuple[str, str | None, str]:
    """(url, sha256, archive_name) from the config, overridden by the command line."""
    if not args.config.is_file():
        raise FileNotFoundError(
            f"config {args.config} not found; pass --config configs/download/dcase2023.yaml "
            "or give --url (and --archive-name) directly"
        )
    config = OmegaConf.to_container(OmegaConf.load(args.config), resolve=True)
    if args.url is None:
        url, sha256, name = config["url"], config.get("sha256"), config["archive_name"]
    else:
        url, sha256 = args.url, None
        name = Path(urlparse(args.url).path).name
    sha256 = args.sha256 if args.sha256 is not None else sha256
    return url, sha256, args.archive_name or name


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        url, sha256, archive_name = _resolve(args)
        folder = download_dataset(
            args.root, url, sha256, archive_name, progress=not args.no_progress
        )
    except (DownloadError, UnsafeArchiveError, FileNotFoundError, ValueError) as error:
        print(f"foleygan download: {error}", file=sys.stderr)
        return 1
    print(f"dataset ready at {folder}")
    print(f"next: foleygan prepare {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
