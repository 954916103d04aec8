"""Resumable download, checksum, safe extraction and the CLI, against a loopback HTTP server."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from datamodules.download import (
    DownloadError,
    UnsafeArchiveError,
    download_dataset,
    extract_archive,
    fetch,
)
from foleygan_cli.download import main as download_main


def _wav_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    pcm = np.random.default_rng(seed).integers(-1000, 1000, size=2205).astype(np.int16)
    sf.write(buffer, pcm, 22050, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _dataset_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i, name in enumerate(("DogBark", "Rain")):
            for j in range(2):
                zf.writestr(f"DevSet/{name}/{name.lower()}_{j}.wav", _wav_bytes(10 * i + j))
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    """Serves `server.payload` at /data.zip, honouring `Range: bytes=N-` when asked to."""

    def do_GET(self) -> None:  # the name http.server calls
        payload: bytes = self.server.payload
        byte_range = self.headers.get("Range")
        self.server.ranges.append(byte_range)
        if self.path != "/data.zip":
            self.send_error(404)
            return
        start = 0
        if byte_range and self.server.honour_range:
            start = int(byte_range.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(payload) - start))
        self.end_headers()
        self.wfile.write(payload[start:])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.payload = _dataset_zip()
    httpd.ranges = []
    httpd.honour_range = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _url(httpd: ThreadingHTTPServer, path: str = "/data.zip") -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_verify_extract_and_skip(server, tmp_path: Path) -> None:
    folder = download_dataset(tmp_path, _url(server), _sha(server.payload), "DevSet.zip",
                              progress=False)
    assert folder == tmp_path / "DevSet"
    assert sorted(p.name for p in folder.iterdir()) == ["DogBark", "Rain"]
    wav, rate = sf.read(str(folder / "Rain" / "rain_1.wav"), dtype="int16")
    assert rate == 22050 and wav.shape == (2205,)
    assert (tmp_path / "DevSet.zip").read_bytes() == server.payload
    assert not (tmp_path / "DevSet.zip.part").exists()
    requests = len(server.ranges)
    assert download_dataset(tmp_path, _url(server), None, "DevSet.zip") == folder  # idempotent
    assert len(server.ranges) == requests


@pytest.mark.parametrize("honour_range", [True, False])
def test_resume_from_part(server, tmp_path: Path, honour_range: bool) -> None:
    server.honour_range = honour_range
    half = len(server.payload) // 2
    dest = tmp_path / "data.zip"
    (tmp_path / "data.zip.part").write_bytes(server.payload[:half])
    fetch(_url(server), dest, sha256=_sha(server.payload), chunk_size=97, progress=False)
    assert server.ranges == [f"bytes={half}-"]
    assert dest.read_bytes() == server.payload  # appended on 206, rewritten on 200


def test_wrong_checksum_leaves_nothing(server, tmp_path: Path) -> None:
    dest = tmp_path / "data.zip"
    with pytest.raises(DownloadError, match=r"checksum mismatch for http://127\.0\.0\.1.*"
                       r"expected sha256 0{64}, got " + _sha(server.payload)):
        fetch(_url(server), dest, sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_host_says_what_to_do(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/DevSet.zip"
    with pytest.raises(DownloadError) as info:
        download_dataset(tmp_path, url, None, "DevSet.zip", progress=False)
    message = str(info.value)
    assert url in message
    assert str(tmp_path / "DevSet.zip") in message
    assert str(tmp_path / "DevSet") in message and "foleygan prepare" in message


def test_http_error_is_a_download_error(server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        fetch(_url(server, "/missing.zip"), tmp_path / "x.zip", progress=False)


def test_path_traversal_refused(tmp_path: Path) -> None:
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("ok/a.txt", "fine")
        zf.writestr("../escape.txt", "bad")
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./escape\.txt'.*path traversal"):
        extract_archive(evil_zip, tmp_path / "out")
    evil_tar = tmp_path / "evil.tar.gz"
    with tarfile.open(evil_tar, "w:gz") as tf:
        member = tarfile.TarInfo("/etc/evil.txt")
        member.size = 3
        tf.addfile(member, io.BytesIO(b"bad"))
    with pytest.raises(UnsafeArchiveError, match="absolute path"):
        extract_archive(evil_tar, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path.parent / "escape.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.gz", "evil.zip"]


def test_extract_tar_without_single_top_folder(tmp_path: Path) -> None:
    archive = tmp_path / "flat.tar"
    with tarfile.open(archive, "w") as tf:
        for name in ("dev/rain/001.wav", "DevMeta.csv"):
            member = tarfile.TarInfo(name)
            member.size = 2
            tf.addfile(member, io.BytesIO(b"ok"))
    out = extract_archive(archive, tmp_path / "Flat")
    assert (out / "dev" / "rain" / "001.wav").read_bytes() == b"ok"
    assert (out / "DevMeta.csv").exists()


def test_cli_downloads_with_url_override(server, tmp_path: Path, capsys) -> None:
    code = download_main(["--root", str(tmp_path), "--url", _url(server),
                          "--sha256", _sha(server.payload), "--archive-name", "DevSet.zip",
                          "--no-progress"])
    assert code == 0
    assert f"foleygan prepare {tmp_path / 'DevSet'}" in capsys.readouterr().out


def test_cli_reports_unreachable_url(tmp_path: Path, capsys) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/DevSet.zip"
    assert download_main(["--root", str(tmp_path), "--url", url, "--no-progress"]) == 1
    assert url in capsys.readouterr().err


def test_default_config_skips_when_already_extracted(tmp_path: Path, capsys) -> None:
    extracted = tmp_path / "DCASE_2023_Challenge_Task_7_Dataset" / "dev" / "rain"
    extracted.mkdir(parents=True)
    (extracted / "001.wav").write_bytes(_wav_bytes(0))
    assert download_main(["--root", str(tmp_path), "--no-progress"]) == 0  # no network needed
    assert "DCASE_2023_Challenge_Task_7_Dataset" in capsys.readouterr().out
