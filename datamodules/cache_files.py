"""Housekeeping of a mel-cache folder: one private workspace per build, orphans, pruning.

A build writes its temporaries into its own workspace `<cache>/.build-<token>/` and holds an
exclusive `flock` on `<cache>/.build-<token>.lock` while it runs; finished files are renamed
from the workspace into the cache folder (the array first, the index last) and the workspace is
removed. A killed build (SIGKILL, power loss) leaves its workspace behind; the kernel drops its
lock with the process. What counts as stale, checked at the start of every build and reuse:

- a workspace or lock file whose lock no process holds: its build is dead, so it is removed; one
  whose lock is held belongs to a running build (maybe another process) and is kept;
- a temporary that builds of earlier versions wrote straight into the cache folder
  (`.mels-*.npy.*.tmp`, `.index-*.json.*.tmp`, `*.tmp.shrink`): removed when no running build
  holds a lock in the folder;
- where the file system has no `flock` (some network file systems), by age: whatever of the
  above nothing has written to for `STALE_AFTER_S` (24 hours) is removed.

Caches of other mel parameters are never removed automatically; `prune_caches` (`foleygan
prepare --prune`) does it on request.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STALE_AFTER_S = 24 * 3600  # the age rule, used only where flock is not supported
_PREFIX = ".build-"
_LEGACY_TEMPS = (".mels-*.npy.*.tmp", ".index-*.json.*.tmp", ".mels-*.npy.*.tmp.shrink")


@dataclass(frozen=True)
class BuildWorkspace:
    """A build's private folder `path` inside the cache folder `folder`."""

    folder: Path
    path: Path

    def file(self, name: str) -> Path:
        """Where the build writes `name` before publishing it."""
        return self.path / name

    def publish(self, name: str) -> Path:
        """Rename `name` from the workspace into the cache folder (atomic: same file system)."""
        target = self.folder / name
        os.replace(self.path / name, target)
        return target


def _try_lock(fd: int) -> bool | None:
    """Take an exclusive lock without waiting: True, False (someone holds it), None (no flock)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as err:
        return False if err.errno in (errno.EACCES, errno.EAGAIN) else None
    return True


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def _last_write(path: Path) -> float:
    """The newest mtime of `path` and (for a folder) everything in it."""
    times = [path.stat().st_mtime] if path.exists() else [0.0]
    if path.is_dir():
        times += [p.stat().st_mtime for p in path.rglob("*")]
    return max(times)


def _remove(path: Path) -> int:
    """Delete a file or folder; returns the bytes freed (0 if it was gone already)."""
    with contextlib.suppress(OSError):
        size = _size(path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        return size
    return 0


def _remove_dead_build(folder: Path, token: str, now: float) -> tuple[bool, list[tuple[Path, int]]]:
    """(whether a running build owns `token`, [(path, bytes)] removed if none does)."""
    lock_path, work = folder / f"{_PREFIX}{token}.lock", folder / f"{_PREFIX}{token}"
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        fd = None  # an owner takes its lock before it makes the workspace: this one is gone
    except OSError:
        return False, []  # unreadable: leave it alone
    try:
        state = True if fd is None else _try_lock(fd)
        if state is False:
            return True, []
        if state is None and now - max(_last_write(work), _last_write(lock_path)) < STALE_AFTER_S:
            return True, []
        removed = [(work, _remove(work))] if work.exists() else []
        if fd is not None:
            removed.append((lock_path, _remove(lock_path)))
        return False, removed
    finally:
        if fd is not None:
            os.close(fd)


def remove_orphans(folder: str | os.PathLike, warn: bool = True) -> list[tuple[Path, int]]:
    """Remove what killed builds left in the cache folder (rules in the module docstring).

    Returns [(path, bytes freed)]; warns once naming them when `warn`. Never raises for a file
    it cannot remove (a read-only cache folder stays usable).
    """
    folder, now = Path(folder), time.time()
    if not folder.is_dir():
        return []
    tokens = {p.name[len(_PREFIX) :].removesuffix(".lock") for p in folder.glob(f"{_PREFIX}*")}
    removed, running = [], False
    for token in sorted(tokens):
        alive, gone = _remove_dead_build(folder, token, now)
        running, removed = running or alive, removed + gone
    legacy = [path for pattern in _LEGACY_TEMPS for path in folder.glob(pattern)]
    unlocked = bool(legacy) and not running and _flock_works(folder)
    for path in legacy:
        if unlocked or now - _last_write(path) >= STALE_AFTER_S:
            removed.append((path, _remove(path)))
    if warn and removed:
        total = sum(size for _, size in removed)
        names = ", ".join(path.name for path, _ in removed)
        warnings.warn(
            f"removed {len(removed)} leftover(s) of interrupted cache builds in {folder} "
            f"({total / 1e6:.1f} MB freed): {names}",
            UserWarning,
            stacklevel=2,
        )
    return removed


def _flock_works(folder: Path) -> bool:
    """Whether flock is supported on the file system of `folder` (tried on the folder itself)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _own_lock(folder: Path) -> tuple[int, str]:
    """Create and lock a fresh `.build-<token>.lock`; (fd, token)."""
    for _ in range(20):
        token = secrets.token_hex(6)
        path = folder / f"{_PREFIX}{token}.lock"
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        state = _try_lock(fd)
        try:
            linked = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            linked = False  # a cleaner took the new file for a dead build's lock: try again
        if state is not False and linked:
            return fd, token
        os.close(fd)
    raise RuntimeError(f"could not take a build lock in {folder}; is another process looping?")


@contextlib.contextmanager
def build_workspace(folder: str | os.PathLike) -> Iterator[BuildWorkspace]:
    """A locked private workspace for one build; removed (with its lock) when the block ends.

    Removes the orphans of killed builds first. If the block raises and the cache folder did
    not exist before, the (then empty) folder is removed too: a failed first build writes nothing.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    remove_orphans(folder)
    fd, token = _own_lock(folder)
    work = BuildWorkspace(folder, folder / f"{_PREFIX}{token}")
    work.path.mkdir()
    try:
        yield work
    finally:
        shutil.rmtree(work.path, ignore_errors=True)
        (folder / f"{_PREFIX}{token}.lock").unlink(missing_ok=True)
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when nothing was published


def prune_caches(folder: str | os.PathLike, keep: str) -> list[tuple[Path, int]]:
    """Remove every cache in `folder` (`mels-*.npy`, `index-*.json`) whose name does not hold
    the stem `keep` (the current `<params>-<content>`); returns [(path, bytes freed)]."""
    folder = Path(folder)
    removed = []
    for pattern in ("mels-*.npy", "index-*.json"):
        for path in sorted(folder.glob(pattern)):
            if keep not in path.name:
                removed.append((path, _remove(path)))
    return removed
