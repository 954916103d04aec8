"""`foleygan fetch-vggish`: download torchvggish's VGGish weights and check that they load.

The published file name carries the first 8 hex digits of its sha256 (torch.hub's convention,
`vggish-10086976.pth`); the download is refused when the prefix does not match. An existing file
is verified instead of downloaded again (`--force` downloads anyway).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from encoders.vggish import DEFAULT_VGGISH_PATH, VGGISH_URL, VGGish

HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


def expected_sha256_prefix(url: str) -> str | None:
    """The hex digits after the last '-' of the URL's file name, or None when there are none."""
    match = HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def _manual(url: str, dest: Path) -> str:
    return (
        f"Download {url} by hand (a browser on a machine with internet access) and put it at "
        f"{dest}; then run `foleygan fetch-vggish --dest {dest}` again to verify it."
    )


def _verify(url: str, dest: Path) -> str | None:
    """An error message, or None when the file's hash prefix matches and it loads as VGGish."""
    from datamodules.download import sha256_of

    prefix = expected_sha256_prefix(url)
    if prefix is not None:
        actual = sha256_of(dest)
        if not actual.startswith(prefix):
            return (
                f"{dest} has sha256 {actual[:16]}..., but the file name promises {prefix}...; "
                "the file is corrupt or not the published VGGish weights"
            )
    try:
        VGGish.from_state_dict_file(dest)
    except (ValueError, OSError) as err:
        return f"{dest} does not load as VGGish: {err}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="foleygan fetch-vggish", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--dest", type=Path, default=DEFAULT_VGGISH_PATH, help="where to write it")
    parser.add_argument("--url", default=VGGISH_URL, help="the torchvggish release file")
    parser.add_argument("--force", action="store_true", help="download even if the file exists")
    args = parser.parse_args(argv)
    from datamodules import download

    dest: Path = args.dest
    if args.force or not dest.is_file():
        try:
            download.fetch(args.url, dest, sha256=None)
        except download.DownloadError as err:
            print(f"fetch-vggish: {err}\n{_manual(args.url, dest)}", file=sys.stderr)
            return 1
    error = _verify(args.url, dest)
    if error is not None:
        dest.replace(dest.with_name(dest.name + ".rejected"))
        print(
            f"fetch-vggish: {error}. Moved it to {dest.name}.rejected.\n{_manual(args.url, dest)}",
            file=sys.stderr,
        )
        return 1
    print(f"VGGish weights ready at {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
