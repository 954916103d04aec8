"""Cache-folder housekeeping: leftovers of killed builds, concurrent builds, pruning, SIGKILL."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from wav_fixtures import N, build, write_tree

from datamodules import cache_files
from datamodules.cache_files import STALE_AFTER_S, prune_caches, remove_orphans
from datamodules.mel import MelParams

REPO = Path(__file__).resolve().parents[2]


def _fake_build(folder: Path, token: str, size: int = 5000) -> Path:
    """A workspace as a killed build leaves it: a half-written array and an unlocked lock."""
    work = folder / f".build-{token}"
    work.mkdir(parents=True)
    (work / "mels-abc-def.npy").write_bytes(b"\0" * size)
    (folder / f".build-{token}.lock").touch()
    return work


def _hold_lock(folder: Path, token: str) -> int:
    """Take the lock of `token` the way a running build holds it; returns the fd."""
    fd = os.open(folder / f".build-{token}.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_next_build_removes_a_dead_build_and_keeps_a_running_one(tmp_path: Path) -> None:
    write_tree(tmp_path)
    folder = tmp_path / ".foleygan_cache"
    dead = _fake_build(folder, "dead01")
    alive = _fake_build(folder, "live01")
    fd = _hold_lock(folder, "live01")
    try:
        with pytest.warns(UserWarning, match=r"removed 2 leftover.*MB freed\).*build-dead01"):
            cache = build(tmp_path)
        assert cache.built and cache.mels.shape[0] == 6
        assert not dead.exists() and not (folder / ".build-dead01.lock").exists()
        assert (alive / "mels-abc-def.npy").stat().st_size == 5000  # its owner still runs
        assert (folder / ".build-live01.lock").exists()
    finally:
        os.close(fd)  # the "concurrent build" dies
    with pytest.warns(UserWarning, match=r"removed 2 leftover.*build-live01"):
        reused = build(tmp_path)  # a reuse cleans up too
    assert not reused.built and not alive.exists()
    assert _names(folder) == {cache.mels_path.name, cache.index_path.name}


def test_old_version_temporaries_go_when_no_build_runs(tmp_path: Path) -> None:
    write_tree(tmp_path)
    folder = tmp_path / ".foleygan_cache"
    build(tmp_path)
    legacy = [folder / ".mels-1234abcd-0011.npy.k2j3h4.tmp", folder / ".index-1-2.json.x9.tmp",
              folder / ".mels-1-2.npy.ab.tmp.shrink"]
    other = folder / ".reference_1.pt.zz.tmp"  # not the mel cache's: never touched
    for path in [*legacy, other]:
        path.write_bytes(b"\0" * 100)
    _fake_build(folder, "live02")
    fd = _hold_lock(folder, "live02")
    try:
        assert remove_orphans(folder) == [] and all(p.exists() for p in legacy)
    finally:
        os.close(fd)
    with pytest.warns(UserWarning, match="removed 5 leftover"):
        assert not build(tmp_path).built
    assert not any(p.exists() for p in legacy) and other.exists()


def test_age_rule_where_flock_is_not_supported(tmp_path, monkeypatch) -> None:
    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(cache_files.fcntl, "flock", no_flock)
    folder = tmp_path / "cache"
    old, young = _fake_build(folder, "old001"), _fake_build(folder, "young1")
    legacy_old, legacy_young = folder / ".mels-a-b.npy.q.tmp", folder / ".mels-a-c.npy.r.tmp"
    legacy_old.touch(), legacy_young.touch()
    past = time.time() - STALE_AFTER_S - 60
    for path in [old, *old.iterdir(), folder / ".build-old001.lock", legacy_old]:
        os.utime(path, (past, past))
    removed = {path.name for path, _ in remove_orphans(folder, warn=False)}
    assert removed == {".build-old001", ".build-old001.lock", legacy_old.name}
    assert young.exists() and legacy_young.exists()
    write_tree(tmp_path / "data")  # a build still works without locks
    assert build(tmp_path / "data", cache_dir=folder).built
    assert young.exists()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_workspace_is_removed_and_first_failed_build_leaves_no_folder(tmp_path, error) -> None:
    folder = tmp_path / "new" / "cache"
    with pytest.raises(error, match="boom"), cache_files.build_workspace(folder) as work:
        work.file("mels-x.npy").write_bytes(b"123")
        raise error("boom")
    assert not folder.exists() and (tmp_path / "new").is_dir()
    with cache_files.build_workspace(folder) as work:
        work.file("mels-x.npy").write_bytes(b"123")
        assert work.publish("mels-x.npy") == folder / "mels-x.npy"
    assert _names(folder) == {"mels-x.npy"}


def test_prune_removes_other_parameters_and_keeps_the_current(tmp_path: Path) -> None:
    write_tree(tmp_path)
    other = build(tmp_path, mel_params=MelParams(n_mels=40))
    current = build(tmp_path)
    sizes = {other.mels_path: other.mels_path.stat().st_size,
             other.index_path: other.index_path.stat().st_size}
    stem = current.index_path.name.removeprefix("index-").removesuffix(".json")
    removed = prune_caches(current.index_path.parent, keep=stem)
    assert dict(removed) == sizes
    assert not other.mels_path.exists() and not build(tmp_path).built
    assert prune_caches(current.index_path.parent, keep=stem) == []


def test_prepare_prune_prints_what_it_freed(tmp_path: Path, capsys) -> None:
    from foleygan_cli.prepare import main

    write_tree(tmp_path)
    args = [str(tmp_path), "--num-samples", str(N), "--num-workers", "0"]
    assert main([*args, "--n-mels", "40"]) == 0
    old = {p: p.stat().st_size for p in (tmp_path / ".foleygan_cache").glob("*-*")}
    assert len(old) == 2
    capsys.readouterr()
    assert main([*args, "--prune"]) == 0
    out = capsys.readouterr().out
    assert all(f"removed {p} ({size:,} bytes)" in out for p, size in old.items())
    assert not any(p.exists() for p in old)
    assert f"removed 2 file(s) of other caches, {sum(old.values()):,} bytes" in out
    assert main([*args, "--prune"]) == 0
    assert "removed 0 file(s) of other caches, 0 bytes" in capsys.readouterr().out


_PAUSED_BUILD = """
import sys, time
from pathlib import Path
import datamodules.cache_build as cache_build
from datamodules.cache import MelCache

root, marker = Path(sys.argv[1]), Path(sys.argv[2])
sort_batch = cache_build._sort_batch

def pause_in_second_batch(clips, start, result):
    if start > 0:  # the array is on disk and holds the first batch
        marker.write_text("mid-build")
        time.sleep(120)
    return sort_batch(clips, start, result)

cache_build._sort_batch = pause_in_second_batch
MelCache.build_or_load(root, num_samples=int(sys.argv[3]), batch_size=2, num_workers=0,
                       progress=False)
"""


def test_sigkill_mid_build_then_next_build_cleans_up(tmp_path: Path) -> None:
    write_tree(tmp_path / "data")
    marker, folder = tmp_path / "marker", tmp_path / "data" / ".foleygan_cache"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_BUILD, str(tmp_path / "data"), str(marker), str(N)],
        cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.stderr.read() if proc.poll() is not None else "no marker"
        [work] = [p for p in folder.iterdir() if p.is_dir()]
        assert next(work.glob("mels-*.npy")).stat().st_size > 0
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL and work.exists()  # the kill left its workspace
    with pytest.warns(UserWarning, match=f"removed 2 leftover.*{work.name}"):
        cache = build(tmp_path / "data")
    assert cache.built and _names(folder) == {cache.mels_path.name, cache.index_path.name}
    fresh = build(tmp_path / "data", cache_dir=tmp_path / "fresh")
    np.testing.assert_array_equal(cache.mels, fresh.mels)
    assert cache.mels.shape == (6, 80, MelParams().num_frames(N))
