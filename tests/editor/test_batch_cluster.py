"""``tam batch --address`` against a Ray cluster started apart from it, as a user's is: ``ray start --head``.

The head runs in the foreground (``--block``) on 127.0.0.1 with its own temp folder and a token of its own, and is
stopped by its process id when the module ends (never ``ray stop``, which stops every Ray on the machine).
``ray start`` turns Ray's token authentication on; a driver joining by address sends its token only with
``RAY_AUTH_MODE=token``, and without it tam's error says so.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from editor.batch import BatchSettings, run_in_process
from editor.manifest import read_manifest
from editor.sample import write_sample_video

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_under(folder: str) -> list[int]:
    """Ids of the processes whose command line names ``folder`` (the head's own temp folder: only ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if folder.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def head():
    pytest.importorskip("ray", reason="ray is not installed (pip install 'tam[ray]')")
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.exists():
        pytest.skip(f"no ray command beside {sys.executable}")
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="tamrh-")  # short: Ray's socket paths must stay under 107 bytes
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0"}
    log = open(Path(folder) / "head.log", "wb")  # noqa: SIM115 - open while the head runs
    proc = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         f"--temp-dir={folder}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         "--object-store-memory=150000000"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.time() + 90
        while b"block forever" not in (Path(folder) / "head.log").read_bytes():
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail("ray start --head did not come up:\n" + (Path(folder) / "head.log").read_text()[-3000:])
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", env
    finally:
        proc.terminate()  # ray start --block stops the processes it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this fixture created, by its id
        for pid in _processes_under(folder):
            os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _tam_batch(manifest: Path, out: Path, address: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "editor.cli", "batch", str(manifest), "--out", str(out),
                           "--address", address], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cluster")
    sample = write_sample_video(root / "clip.mp4", n_frames=8, size=(128, 72))
    line = {"input": "clip.mp4", "points": [list(sample.click)], "op": "remove", "output": "clean.mp4",
            "backend": "classical"}
    (root / "clips.jsonl").write_text(json.dumps(line) + "\n")
    return root / "clips.jsonl"


def test_tam_batch_joins_a_ray_start_head_by_address(head, manifest: Path) -> None:
    from editor.video import probe

    address, env = head
    out = manifest.parent / "ray"
    done = _tam_batch(manifest, out, address, env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "report.json").read_text())
    assert [r["status"] for r in report["results"]] == ["done"]
    assert probe(out / "clean.mp4").num_frames == 8
    # the cluster's workers wrote what one process writes
    here = manifest.parent / "here"
    run_in_process(read_manifest(manifest, here), BatchSettings(here))
    for kind in ("masks", "inpainted"):
        theirs = sorted((out / "projects").glob(f"*/{kind}/*.png"))
        ours = sorted((here / "projects").glob(f"*/{kind}/*.png"))
        assert len(theirs) == len(ours) == 8
        for a, b in zip(theirs, ours, strict=True):
            from editor.frames import read_image

            assert np.array_equal(read_image(a), read_image(b)), f"{kind} {a.name}"


def test_joining_without_the_token_says_how_to_send_it(head, manifest: Path) -> None:
    address, env = head
    plain = {k: v for k, v in env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    failed = _tam_batch(manifest, manifest.parent / "no-token", address, plain)
    text = failed.stdout + failed.stderr
    if failed.returncode != 0:  # a later Ray may send the token on its own; then there is nothing to explain
        assert failed.returncode == 1 and "Traceback" not in text, text
        assert "cannot reach the Ray cluster" in text and "RAY_AUTH_MODE=token" in text, text
