"""Downloads against a real HTTP server on 127.0.0.1 (Range support, a mode that drops the connection)."""

from __future__ import annotations

import hashlib
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

import weights
from weights import ChecksumMismatch, DownloadError, WeightEntry, download, locate, verify


def _checkpoint_bytes() -> bytes:
    """A real (tiny-network) checkpoint of a bit over 3 MB: several chunks, and verify can load it."""
    buf = io.BytesIO()
    torch.save({"w": torch.from_numpy(np.random.default_rng(0).random(790_000, dtype="float32"))}, buf)
    return buf.getvalue()


PAYLOAD = _checkpoint_bytes()


class _Handler(BaseHTTPRequestHandler):
    server_version = "test/1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        state = self.server.state  # type: ignore[attr-defined]
        state["requests"].append(self.headers.get("Range"))
        if self.path.startswith("/missing"):
            self.send_error(404, "Not Found")
            return
        body = state["body"]
        start = 0
        rng = self.headers.get("Range")
        if rng and state["ranges"]:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        data = body[start:]
        if state["drop_after"] is not None:
            cut = state["drop_after"]
            state["drop_after"] = None  # only the first request is cut
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data)


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = {"body": PAYLOAD, "drop_after": None, "ranges": True, "requests": []}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _entry(server, *, md5: str | None = None, size: int | None = len(PAYLOAD), path: str = "/ckpt.pth") -> WeightEntry:
    host, port = server.server_address
    return WeightEntry(
        name="test_ckpt",
        url=f"http://{host}:{port}{path}",
        filename="ckpt.pth",
        size=size,
        md5=md5 if md5 is not None else hashlib.md5(PAYLOAD).hexdigest(),
        sha256=None,
        licence="test",
        purpose="test",
        homepage="",
    )


def test_full_download_verifies_and_reports_progress(server, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    path = download(_entry(server), tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert path == tmp_path / "ckpt.pth"
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "ckpt.pth.part").exists()
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert locate(_entry(server), tmp_path) == path
    result = verify(_entry(server), tmp_path)
    assert result.ok and result.checksum_ok and result.size_ok


def test_interrupted_download_resumes_with_range(server, tmp_path: Path) -> None:
    server.state["drop_after"] = 1_000_000
    item = _entry(server)
    with pytest.raises(DownloadError, match="resume"):
        download(item, tmp_path)
    part = tmp_path / "ckpt.pth.part"
    assert not (tmp_path / "ckpt.pth").exists()
    kept = part.stat().st_size
    assert 0 < kept < len(PAYLOAD)
    path = download(item, tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert server.state["requests"][-1] == f"bytes={kept}-"


def test_server_without_range_restarts_cleanly(server, tmp_path: Path) -> None:
    server.state["ranges"] = False
    (tmp_path / "ckpt.pth.part").write_bytes(b"garbage that must not be kept")
    path = download(_entry(server), tmp_path)
    assert path.read_bytes() == PAYLOAD


def test_corrupt_download_is_rejected_and_never_under_final_name(server, tmp_path: Path) -> None:
    item = _entry(server, md5="0" * 32)
    with pytest.raises(ChecksumMismatch, match="corrupt"):
        download(item, tmp_path)
    assert not (tmp_path / "ckpt.pth").exists()
    assert not (tmp_path / "ckpt.pth.part").exists()


def test_wrong_size_is_rejected(server, tmp_path: Path) -> None:
    item = _entry(server, size=len(PAYLOAD) - 1)
    with pytest.raises(ChecksumMismatch):
        download(item, tmp_path)
    assert not (tmp_path / "ckpt.pth").exists()


def test_http_error_and_unreachable_host(server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(_entry(server, path="/missing.pth"), tmp_path)
    with pytest.raises(DownloadError, match="cannot reach"):
        download(_entry(server), tmp_path, url="http://127.0.0.1:9/none.pth")
    assert not (tmp_path / "ckpt.pth").exists()


def test_locate_and_verify_on_bad_files(server, tmp_path: Path) -> None:
    item = _entry(server)
    assert locate(item, tmp_path) is None
    assert not verify(item, tmp_path).present
    (tmp_path / "ckpt.pth").write_bytes(PAYLOAD[:-1] + bytes([PAYLOAD[-1] ^ 0xFF]))  # right size, wrong bytes
    assert locate(item, tmp_path) is not None  # locate only checks the size
    result = verify(item, tmp_path)
    assert result.present and result.size_ok and result.checksum_ok is False and not result.ok
    assert "download" in result.message


def test_catalog_names_and_weights_dir(tmp_path: Path, monkeypatch) -> None:
    names = set(weights.catalog())
    sam2 = {f"sam2.1_hiera_{size}" for size in ("tiny", "small", "base_plus", "large")}
    assert names == {"sam_vit_b", "sam_vit_l", "sam_vit_h", "mobile_sam", "xmem", "xmem_s012", "e2fgvi_hq"} | sam2
    for item in weights.catalog().values():
        assert item.url.startswith("https://") and item.filename and item.licence
    assert weights.catalog()["sam_vit_h"].md5 == "4b8939a88964f0f4ff5f5b2642c598a6"
    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path))
    assert weights.weights_dir() == tmp_path
    assert weights.locate("xmem") is None
    with pytest.raises(KeyError, match="sam_vit_b"):
        weights.locate("nope")
