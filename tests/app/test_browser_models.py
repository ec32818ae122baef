"""Better models from the page, in a real browser: a real HTTP server on 127.0.0.1 serves two small files
registered as the MobileSAM and XMem checkpoints (``$TAM_WEIGHTS_MIRROR``, with their sha256). Neural is chosen
before they exist: the page explains, keeps the classical models and the whole workflow, and offers the download;
one button downloads both (resuming a half file with an HTTP Range request, verifying the checksums) with a
progress bar, and the backend that runs becomes neural.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tests.app.test_browser import _settle, _shot, browser, serve_app  # noqa: F401 - fixtures

SIZE = 3 << 20  # 3 MiB each: big enough for the progress bar to show, small enough for a test


class _SlowRangeHandler(SimpleHTTPRequestHandler):
    """Serves files in 64 KiB pieces (a slow network) and honours ``Range: bytes=N-`` (a resumed download)."""

    ranges: list[tuple[str, int]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        match = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            self.ranges.append((path.name, start))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        import time

        for i in range(start, len(data), 64 << 10):
            self.wfile.write(data[i : i + (64 << 10)])
            time.sleep(0.02)


@pytest.fixture
def mirror(tmp_path: Path):
    """The local server with the two files, and the mirror list that registers them."""
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(0)
    entries = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _SlowRangeHandler(*a, directory=str(served)))
    port = server.server_address[1]
    for name, filename in (("mobile_sam", "mobile_sam.pt"), ("xmem", "XMem.pth")):
        data = rng.integers(0, 256, SIZE, dtype=np.uint8).tobytes()
        (served / filename).write_bytes(data)
        entries[name] = {"url": f"http://127.0.0.1:{port}/{filename}", "sha256": hashlib.sha256(data).hexdigest(),
                         "size": SIZE}
    listing = tmp_path / "mirror.json"
    listing.write_text(json.dumps(entries))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _SlowRangeHandler.ranges = []
    yield listing, served
    server.shutdown()


@pytest.mark.browser
@pytest.mark.slow
def test_download_from_the_page_switches_to_neural(browser, mirror, tmp_path: Path) -> None:  # noqa: F811
    listing, served = mirror
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    # half of MobileSAM is already here from an interrupted download: it must resume, not start over
    (weights_dir / "mobile_sam.pt.part").write_bytes((served / "mobile_sam.pt").read_bytes()[: SIZE // 2])
    with serve_app(tmp_path, TAM_BACKEND="neural", TAM_WEIGHTS_DIR=str(weights_dir),
                   TAM_WEIGHTS_MIRROR=str(listing)) as (url, _data):
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        page.goto(url)
        # neural without checkpoints: explained, classical kept, the workflow stays
        page.get_by_text("The neural models are not downloaded yet").wait_for(timeout=60_000)
        _settle(page)
        _shot(page, "models-01-neural-missing")
        assert page.get_by_role("button", name="Deploy").count() == 0  # Streamlit's own menu is hidden
        page.get_by_text("Upload a video").first.wait_for(state="visible", timeout=10_000)
        page.get_by_role("button", name="Use the bundled sample clip").wait_for(state="visible", timeout=10_000)
        sidebar = page.locator("[data-testid='stSidebar']").first.text_content()
        assert "classical-grabcut" in sidebar and "classical-flow" in sidebar
        table = page.locator("[data-testid='stExpander']").filter(has_text="what it improves").first.inner_text()
        assert "mobile_sam" in table and "Apache-2.0" in table and "3 MB" in table

        page.get_by_role("button", name=re.compile(r"Download mobile_sam \+ xmem")).click()
        page.get_by_text(re.compile(r"Downloading \w+ \(\d/2\)")).first.wait_for(timeout=30_000)
        _shot(page, "models-02-downloading")
        page.get_by_text("Models downloaded and verified: the backend is now neural.").wait_for(timeout=120_000)
        _settle(page)
        _shot(page, "models-03-switched")
        for filename in ("mobile_sam.pt", "XMem.pth"):
            assert (weights_dir / filename).read_bytes() == (served / filename).read_bytes()
        assert not list(weights_dir.glob("*.part"))
        assert ("mobile_sam.pt", SIZE // 2) in _SlowRangeHandler.ranges  # resumed where it stopped
        sidebar = page.locator("[data-testid='stSidebar']").first.text_content()
        assert "mobile_sam" in sidebar and "xmem" in sidebar and "classical-flow" not in sidebar
        assert not page.get_by_text("The neural models are not downloaded yet").is_visible()
        context.close()
