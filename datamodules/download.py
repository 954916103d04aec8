"""Resumable, verified download and safe extraction of the DCASE 2023 Task 7 data.

`fetch` streams a URL to `<dest>.part` (resuming with an HTTP Range request when a partial file
exists), checks the sha256 and renames the file into place. `extract_archive` unpacks zip / tar
archives into a temporary folder beside the destination, refusing members that would escape
it, and renames the folder into place. `download_dataset` combines both and is idempotent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


class DownloadError(RuntimeError):
    """A download failed, was unreachable, or its checksum did not match."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the extraction folder."""


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": "foleygan-download"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _stream(url: str, part: Path, chunk_size: int, progress: bool, timeout: float) -> None:
    """Append the rest of `url` to `part` (or rewrite it when the server ignores Range)."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416 or offset == 0:
            raise
        part.unlink()  # range not satisfiable: the partial file is unusable; start over
        offset, response = 0, _open(url, 0, timeout)
    with response:
        if response.status != 206:
            offset = 0  # a full answer (200): restart from the first byte
        elif not response.headers.get("Content-Range", f"bytes {offset}-").startswith(
            f"bytes {offset}-"
        ):
            part.unlink()
            raise ValueError(
                f"the server resumed at {response.headers['Content-Range']!r} instead of byte "
                f"{offset}; the partial file was deleted, run the download again"
            )
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        mode = "ab" if offset else "wb"
        with open(part, mode) as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=part.name[:-5],
            disable=not progress,
        ) as bar:
            for block in iter(lambda: response.read(chunk_size), b""):
                out.write(block)
                bar.update(len(block))


def fetch(
    url: str,
    dest: Path,
    sha256: str | None = None,
    chunk_size: int = 1 << 20,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download `url` to `dest` (resumable through `<dest>.part`), verify, rename; return dest.

    Raises DownloadError when the host is unreachable or answers with an error (the .part is
    kept so a later call resumes) and when the sha256 does not match (the .part is deleted).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        _stream(url, part, chunk_size, progress, timeout)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DownloadError(f"could not download {url} to {dest}: {error}") from error
    if sha256 is not None:
        actual = sha256_of(part)
        if actual.lower() != sha256.lower():
            part.unlink()
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {actual}; "
                "the partial file was deleted, run the download again (or check the hash in "
                "configs/download/dcase2023.yaml)"
            )
    os.replace(part, dest)
    return dest


def _check_member_name(name: str, archive: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchiveError(
            f"refusing to extract {archive}: member {name!r} has an absolute path or '..' and "
            "would be written outside the destination folder (path traversal); the archive is "
            "corrupt or malicious, download it again from the official source"
        )


def _extract_into(archive: Path, folder: Path) -> None:
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                _check_member_name(member, archive)
            zf.extractall(folder)
        return
    with tarfile.open(archive, "r:*") as tf:
        for member in tf.getmembers():
            _check_member_name(member.name, archive)
            if member.issym() or member.islnk():
                _check_member_name(member.linkname, archive)
        if hasattr(tarfile, "data_filter"):
            tf.extractall(folder, filter="data")
        else:
            tf.extractall(folder)


def extract_archive(archive: Path, dest_dir: Path) -> Path:
    """Extract a zip / tar(.gz) archive to `dest_dir` atomically; return dest_dir.

    The archive is unpacked into a temporary folder beside `dest_dir`; when it holds a single
    top-level folder (the usual `DatasetName/...` archive), that folder becomes `dest_dir`,
    otherwise the temporary folder itself does. Members with absolute paths or '..' raise
    UnsafeArchiveError before anything is written.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if not archive.name.lower().endswith(ARCHIVE_SUFFIXES):
        raise ValueError(
            f"unknown archive type {archive.name!r}: expected one of {list(ARCHIVE_SUFFIXES)}"
        )
    if dest_dir.exists():
        raise FileExistsError(f"{dest_dir} already exists; remove it to extract {archive} again")
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{dest_dir.name}.", suffix=".extract", dir=dest_dir.parent)
    )
    try:
        _extract_into(archive, tmp)
        entries = list(tmp.iterdir())
        if len(entries) == 1 and entries[0].is_dir():
            os.replace(entries[0], dest_dir)
        else:
            os.replace(tmp, dest_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest_dir


def archive_stem(archive_name: str) -> str:
    """`Name.tar.gz` -> `Name`: the folder an archive is extracted to."""
    lower = archive_name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            return archive_name[: -len(suffix)]
    raise ValueError(
        f"archive_name {archive_name!r} must end with one of {list(ARCHIVE_SUFFIXES)}"
    )


def manual_instructions(root: Path, url: str, archive_name: str) -> str:
    extracted = root / archive_stem(archive_name)
    return (
        f"Download it by hand from {url} and put the archive at {root / archive_name} "
        f"(then run `foleygan download --root {root}` again to verify and extract it), or "
        f"extract it yourself so that {extracted} holds the dataset's class folders. "
        f"After that `foleygan prepare` works on {extracted}."
    )


def download_dataset(
    root: Path, url: str, sha256: str | None, archive_name: str, progress: bool = True
) -> Path:
    """Fetch and extract the dataset under `root`; return the extracted folder.

    Skips everything when `<root>/<archive stem>` exists, and the download when
    `<root>/<archive_name>` exists (its sha256 is still checked when given).
    """
    root = Path(root)
    extracted = root / archive_stem(archive_name)
    if extracted.is_dir():
        if any(extracted.iterdir()):
            return extracted
        extracted.rmdir()  # an empty leftover folder: extract again
    archive = root / archive_name
    if archive.exists():
        if sha256 is not None and sha256_of(archive).lower() != sha256.lower():
            raise DownloadError(
                f"{archive} does not match the expected sha256 {sha256.lower()} for {url}; "
                "delete it and run the download again"
            )
    else:
        try:
            fetch(url, archive, sha256=sha256, progress=progress)
        except DownloadError as error:
            help_text = manual_instructions(root, url, archive_name)
            raise DownloadError(f"{error}\n{help_text}") from error
    return extract_archive(archive, extracted)
