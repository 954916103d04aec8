"""`foleygan fetch-panns`: download PANNs CNN14 (`Cnn14_mAP=0.431.pth`) and check that it loads.

The file comes from the PANNs Zenodo record (3987831) and goes to
`checkpoints/panns/Cnn14_mAP=0.431.pth` (`--dest` to change; `--backbone panns` reads that place,
`--backbone panns:<path>` any other). No checksum is published with the file, so the check is
that it loads strictly as the 32 kHz CNN14 (every module name and shape); `--sha256` pins a known
hash, and the hash of an accepted file is printed so it can be pinned. The download goes to a
temporary name (resumable) and is renamed to `--dest` only after it loads, so `--dest` never holds
a partial or unverified download. An existing file is verified instead of downloaded again
(`--force` downloads anyway).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from encoders.panns import DEFAULT_PANNS_PATH, PANNS_URL, Cnn14


def _manual(url: str, dest: Path) -> str:
    return (
        f"Download {url} by hand (a browser on a machine with internet access; about 330 MB) and "
        f"put it at {dest}; then run `foleygan fetch-panns --dest {dest}` again to verify it."
    )


def _verify(path: Path, sha256: str | None) -> str | None:
    """An error message, or None when the file has the pinned hash (if any) and loads."""
    from datamodules.download import sha256_of

    if sha256 is not None:
        actual = sha256_of(path)
        if actual.lower() != sha256.lower():
            return f"{path} has sha256 {actual}, expected {sha256.lower()}"
    try:
        Cnn14.from_checkpoint(path)
    except (ValueError, OSError) as err:
        return f"{path} does not load as PANNs CNN14: {err}"
    return None


def _download(url: str, dest: Path) -> Path | str:
    """The verified-to-be-complete download beside dest, or an error message."""
    from datamodules import download

    staging = dest.with_name(dest.name + ".download")
    try:
        download.fetch(url, staging, sha256=None)
    except download.DownloadError as err:
        return f"{err}\n{_manual(url, dest)}"
    return staging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="foleygan fetch-panns", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--dest", type=Path, default=DEFAULT_PANNS_PATH, help="where to write it")
    parser.add_argument("--url", default=PANNS_URL, help="the PANNs release file (Zenodo)")
    parser.add_argument("--sha256", default=None, help="refuse a file with another sha256")
    parser.add_argument("--force", action="store_true", help="download even if the file exists")
    args = parser.parse_args(argv)
    dest: Path = args.dest
    candidate = dest
    if args.force or not dest.is_file():
        got = _download(args.url, dest)
        if isinstance(got, str):
            print(f"fetch-panns: {got}", file=sys.stderr)
            return 1
        candidate = got
    error = _verify(candidate, args.sha256)
    if error is not None:
        rejected = dest.with_name(dest.name + ".rejected")
        candidate.replace(rejected)
        print(
            f"fetch-panns: {error}. Moved it to {rejected.name}.\n{_manual(args.url, dest)}",
            file=sys.stderr,
        )
        return 1
    if candidate != dest:
        os.replace(candidate, dest)
    from datamodules.download import sha256_of

    print(f"PANNs CNN14 weights ready at {dest} (sha256 {sha256_of(dest)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
