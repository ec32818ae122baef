"""The web page served for a measurement or a browser test: ``streamlit run streamlit_app.py`` on a free port.

Shared by ``benchmarks.review_speed`` and ``tests/app`` (the Chromium flags are the ones this project's
browser tests use).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(tmp: Path, app: str = "streamlit_app.py", **env_extra: str) -> Iterator[tuple[str, Path]]:
    """``streamlit run streamlit_app.py`` on a free port, projects in ``tmp/projects``; yields (url, data dir)."""
    data = tmp / "projects"
    port = _free_port()
    env = {
        **os.environ,
        "TAM_DATA_DIR": str(data),
        "TAM_BACKEND": "classical",
        "TAM_WEIGHTS_DIR": str(tmp / "no-weights"),
        "OMP_NUM_THREADS": "2",
        **env_extra,
    }
    log = (tmp / "streamlit.log").open("wb")
    cmd = [
        str(Path(sys.executable).with_name("streamlit")),
        "run",
        app,
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start: {(tmp / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url, data
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()




def settle(page, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit has finished the current script run (its status widget stops saying Running)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout_ms,
    )
