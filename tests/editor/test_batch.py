"""``tam batch`` on a real local Ray cluster (127.0.0.1, two worker CPUs) against the same clips run in-process.

Short real clips at a small working size keep the module to a couple of minutes on two cores. A worker is
SIGKILLed while it tracks a clip and another while it fills a span: Ray runs the tasks again and the masks and
filled frames equal, bit for bit, the ones a single process writes. A bad manifest line is reported, a clip
that fails is reported with its error, and the other clips still run; a rerun skips finished clips and retries
the failed one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from editor.batch import BatchSettings, run_in_process
from editor.manifest import read_manifest

SPAN = 4  # frames per fill task: several spans per clip, so a clip's fill runs on both workers


def _copy(clips: Path, clip: str, dst: Path, frames: int, masks: int | None) -> None:
    (dst / "frames").mkdir(parents=True)
    for p in sorted((clips / clip / "frames").iterdir())[:frames]:
        shutil.copy(p, dst / "frames" / p.name)
    if masks:
        (dst / "masks").mkdir()
        for p in sorted((clips / clip / "masks").iterdir())[:masks]:
            shutil.copy(p, dst / "masks" / p.name)


@pytest.fixture(scope="module")
def manifest_dir(clips_dir: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    _copy(clips_dir, "e2fgvi-tennis", root / "tennis", 16, 16)  # removal from a full mask sequence
    _copy(clips_dir, "davis2016-dog", root / "dog", 12, None)  # a click tracked, then removed
    _copy(clips_dir, "davis2016-blackswan", root / "swan", 12, 1)  # first-frame mask propagated, masks exported
    _copy(clips_dir, "davis2016-camel", root / "camel", 8, None)
    shutil.copytree(root / "tennis" / "masks", root / "camel" / "masks")  # 16 masks for 8 frames: fails
    lines = [
        {"name": "tennis", "input": "tennis/frames", "masks": "tennis/masks", "op": "remove", "output": "tennis.mp4"},
        # the dog's deepest interior point (its true mask's distance maximum); 420,250 lay between its legs, off the
        # dog, and only a lucky candidate made it the dog
        {"name": "dog", "input": "dog/frames", "points": [[308, 147]], "op": "remove", "output": "dog.mp4"},
        '{"name": "broken", "input": "dog/frames", "op": "remove"',
        {"name": "swan", "input": "swan/frames", "masks": "swan/masks", "op": "track", "output": "swan_masks"},
        {"name": "camel", "input": "camel/frames", "masks": "camel/masks", "op": "remove", "output": "camel.mp4"},
    ]
    text = "\n".join(line if isinstance(line, str) else json.dumps({**line, "working_size": 120}) for line in lines)
    (root / "clips.jsonl").write_text(text + "\n")
    return root


@pytest.fixture(scope="module")
def reference(manifest_dir: Path) -> dict[str, object]:
    """The same manifest, every clip one after another in this process."""
    out = manifest_dir / "in-process"
    results = run_in_process(read_manifest(manifest_dir / "clips.jsonl", out), BatchSettings(out, span=SPAN))
    return {"out": out, "results": {r.name: r for r in results}}


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'tam[ray]')")
    import tempfile

    folder = tempfile.mkdtemp(prefix="tam-ray-test-")  # short: Ray's socket paths must stay under 107 bytes
    ray.init(address="local", num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False,
             object_store_memory=128 * 1024**2, _temp_dir=folder, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def _ancestors(pid: int) -> set[int]:
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return seen


def _our_workers(task: bytes) -> list[int]:
    """Ray workers of this test's cluster (descendants of this process) running a ``task`` task right now."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::" + task) and os.getpid() in _ancestors(int(entry.name)):
            found.append(int(entry.name))
    return found


class Killer(threading.Thread):
    """SIGKILLs one worker while it tracks the dog (some of its masks written, not all), and one worker while it
    fills a span (some filled frames written): both mid-clip."""

    def __init__(self, projects: Path) -> None:
        super().__init__(daemon=True)
        self.projects, self.stop = projects, threading.Event()
        self.killed: dict[str, tuple[int, int]] = {}  # task -> (pid, frames written when it was killed)

    def _written(self, pattern: str) -> int:
        return len(list(self.projects.glob(pattern))) if self.projects.is_dir() else 0

    def run(self) -> None:
        while not self.stop.is_set() and len(self.killed) < 2:
            tracked = self._written("dog/masks/*.png")
            if "tam-track" not in self.killed and 2 <= tracked < 12:
                self._kill("tam-track", tracked)
            filled = self._written("*/inpainted/*.png")
            if "tam-fill" not in self.killed and filled:
                self._kill("tam-fill", filled)
            time.sleep(0.02)

    def _kill(self, task: str, written: int) -> None:
        workers = _our_workers(task.encode())
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            self.killed[task] = (workers[0], written)


@pytest.fixture(scope="module")
def ray_run(manifest_dir: Path, reference, ray_cluster) -> dict[str, object]:
    from editor.batch_ray import RayOptions, run_on_ray

    out = manifest_dir / "ray"
    killer = Killer(out / "projects")
    killer.start()
    try:
        results = run_on_ray(read_manifest(manifest_dir / "clips.jsonl", out), BatchSettings(out, span=SPAN),
                             RayOptions(max_retries=3))
    finally:
        killer.stop.set()
        killer.join()
    return {"out": out, "results": {r.name: r for r in results}, "killer": killer}


pytestmark = pytest.mark.slow


def test_a_worker_killed_mid_clip_is_retried_and_the_outputs_equal_the_in_process_run(ray_run, reference) -> None:
    killer = ray_run["killer"]
    assert set(killer.killed) == {"tam-track", "tam-fill"}, f"killed only {killer.killed}"
    results, ref = ray_run["results"], reference["results"]
    for name in ("tennis", "dog", "swan"):
        assert results[name].status == ref[name].status == "done", (results[name], ref[name])
        ray_project = ray_run["out"] / "projects" / name
        ref_project = reference["out"] / "projects" / name
        for kind in ("masks", "inpainted"):
            mine = sorted((ray_project / kind).glob("*.png"))
            theirs = sorted((ref_project / kind).glob("*.png"))
            assert [p.name for p in mine] == [p.name for p in theirs], (name, kind)
            for a, b in zip(mine, theirs, strict=True):
                assert a.read_bytes() == b.read_bytes(), (name, kind, a.name)
        assert len(list((ray_project / "masks").glob("*.png"))) == 12 + 4 * (name == "tennis")
    assert len(list((ray_run["out"] / "projects" / "tennis" / "inpainted").glob("*.png"))) == 16
    assert (ray_run["out"] / "tennis.mp4").stat().st_size > 0 and (ray_run["out"] / "dog.mp4").stat().st_size > 0
    assert sorted(p.name for p in (ray_run["out"] / "swan_masks").iterdir()) == [f"{i:05d}.png" for i in range(12)]
    # the click selected the dog and tracking kept it: no frame without a mask
    from PIL import Image

    dog_masks = sorted((ray_run["out"] / "projects" / "dog" / "masks").iterdir())
    areas = [np.count_nonzero(np.array(Image.open(p))) for p in dog_masks]
    assert min(areas) > 0


def test_a_bad_line_and_a_failing_clip_are_reported_and_the_others_run(ray_run) -> None:
    results = ray_run["results"]
    assert [r.status for r in sorted(results.values(), key=lambda r: r.line)] == [
        "done", "done", "invalid", "done", "failed"]
    assert results["line 3"].error.startswith("not valid JSON")
    assert results["camel"].error.startswith("cannot match 16 masks") and "Traceback" not in results["camel"].error
    assert all(r.seconds > 0 and r.fps > 0 for r in results.values() if r.status == "done")


def test_a_rerun_skips_finished_clips_and_retries_the_failed_one(ray_run, manifest_dir: Path, clips_dir: Path) -> None:
    from editor.batch_ray import RayOptions, run_on_ray

    camel = manifest_dir / "camel"
    shutil.rmtree(camel / "masks")
    _copy(clips_dir, "davis2016-camel", manifest_dir / "camel-fixed", 8, 8)
    shutil.copytree(manifest_dir / "camel-fixed" / "masks", camel / "masks")
    out = ray_run["out"]
    before = {p: p.stat().st_mtime_ns for p in (out / "projects" / "tennis" / "inpainted").iterdir()}
    results = run_on_ray(read_manifest(manifest_dir / "clips.jsonl", out), BatchSettings(out, span=SPAN),
                         RayOptions())
    assert {r.name: r.status for r in results} == {
        "tennis": "skipped", "dog": "skipped", "line 3": "invalid", "swan": "skipped", "camel": "done"}
    assert before == {p: p.stat().st_mtime_ns for p in (out / "projects" / "tennis" / "inpainted").iterdir()}
    assert (out / "camel.mp4").stat().st_size > 0



def test_resources_no_node_has_are_refused_up_front(ray_cluster, manifest_dir: Path) -> None:
    from editor.batch_ray import RayOptions, run_on_ray
    from editor.errors import InputError

    out = manifest_dir / "no-gpu"
    with pytest.raises(InputError, match="--gpus-per-clip 1: no node"):
        run_on_ray(read_manifest(manifest_dir / "clips.jsonl", out), BatchSettings(out), RayOptions(gpus_per_clip=1))
    assert not (out / "projects").exists()
