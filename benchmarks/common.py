"""What every benchmark shares: the real clips, peak memory, subprocess isolation, markdown tables.

- clips come from ``../shared/clips`` beside the checkout (or ``$TAM_SHARED/clips``); :func:`gt_clips` lists
  the ones with ground-truth masks and reads their masks at the frames' size (a mask one pixel off is
  resized with nearest neighbour);
- :func:`run_isolated` runs one measurement in a fresh Python process and returns its result together with
  the process's peak resident memory (``VmHWM`` from ``/proc/self/status``, else ``ru_maxrss``), so one
  measurement's allocations never inflate the next one's figure;
- :func:`markdown_table` prints the tables that go into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TAM_SHARED", ROOT.parent / "shared"))
CLIPS = SHARED / "clips"
CONFORMANCE = SHARED / "conformance"
_RESULT_MARK = "@@TAM-BENCH-RESULT@@"


# ------------------------------------------------------------------------------------------------- clips


@dataclass
class Clip:
    """A clip with ground truth: ``source`` (frame folder or video) and masks by 0-based frame index."""

    name: str
    folder: Path
    source: Path
    num_frames: int
    size: tuple[int, int]  # (width, height) of the frames
    stems: list[str]
    mask_files: dict[int, Path] = field(default_factory=dict)

    @property
    def annotated(self) -> list[int]:
        return sorted(self.mask_files)

    def gt(self, index: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """The label map of frame ``index`` at ``size`` (w, h; default: the frames' size), nearest-neighbour."""
        from editor.store import read_label_png

        labels = read_label_png(self.mask_files[index])
        w, h = size or self.size
        if labels.shape != (h, w):
            labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        return labels

    def object_ids(self) -> list[int]:
        ids: set[int] = set()
        for i in self.annotated:
            ids.update(int(v) for v in np.unique(self.gt(i)) if v)
        return sorted(ids)


def clips_root(path: str | Path | None = None) -> Path:
    root = Path(path) if path is not None else CLIPS
    if not root.is_dir():
        raise SystemExit(f"clips not found at {root}: they live in ../shared/clips beside the checkout "
                         "(or set TAM_SHARED)")
    return root


def load_clip(folder: Path) -> Clip | None:
    """Read one clip folder (``frames/`` or ``video.mp4``, plus ``masks/``); None when it has no masks."""
    masks_dir = folder / "masks"
    if not masks_dir.is_dir():
        return None
    if (folder / "frames").is_dir():
        from editor.frames import FrameFolder

        frames = FrameFolder(folder / "frames", check_sizes=False)
        source, stems, size, n = folder / "frames", list(frames.stems), frames.size, len(frames)
    else:
        videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".mov", ".mkv", ".avi"))
        if not videos:
            return None
        from editor.video import probe

        info = probe(videos[0])
        source, stems, size, n = videos[0], [f"{i:05d}" for i in range(info.num_frames)], info.size, info.num_frames
    index = {s: i for i, s in enumerate(stems)}
    files = {index[p.stem]: p for p in sorted(masks_dir.glob("*.png")) if p.stem in index}
    if not files:
        return None
    return Clip(folder.name, folder, source, n, (int(size[0]), int(size[1])), stems, files)


def gt_clips(root: str | Path | None = None, names: Sequence[str] | None = None,
             min_masks: int = 2) -> list[Clip]:
    """Clips with ground truth on at least ``min_masks`` frames (a single mask leaves nothing to evaluate)."""
    root = clips_root(root)
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if names and folder.name not in names:
            continue
        clip = load_clip(folder)
        if clip is not None and len(clip.mask_files) >= min_masks:
            out.append(clip)
    return out


def loop_frames(src: Path, dst: Path, n: int) -> Path:
    """A frame folder of ``n`` frames made by ping-ponging ``src``'s frames (symlinks, no jump at the seams)."""
    from editor.frames import FrameFolder

    folder = FrameFolder(src, check_sizes=False)
    k = len(folder)
    cycle = list(range(k)) + list(range(k - 2, 0, -1)) if k > 2 else list(range(k))
    dst.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        f = folder.files[cycle[i % len(cycle)]]
        (dst / f"{i:05d}{f.suffix.lower()}").symlink_to(f.resolve())
    return dst


# ------------------------------------------------------------------------------------------------ memory


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (``VmHWM``; ``ru_maxrss`` where /proc is missing)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / (1 << 20)


def run_isolated(target: str, kwargs: dict, *, timeout: float | None = None, threads: int | None = None) -> dict:
    """Run ``module:function(**kwargs)`` in a fresh interpreter; returns its dict plus ``peak_rss_mb``.

    The function must return a JSON-serialisable dict. A failure raises ``RuntimeError`` with the child's
    stderr tail.
    """
    env = dict(os.environ)
    if threads is not None:
        env["TAM_BENCH_THREADS"] = str(threads)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.common", target],
        input=json.dumps(kwargs),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith(_RESULT_MARK):
            return json.loads(line[len(_RESULT_MARK):])
    raise RuntimeError(f"{target} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _worker(target: str) -> None:
    set_threads(int(os.environ["TAM_BENCH_THREADS"]) if "TAM_BENCH_THREADS" in os.environ else None)
    module, func = target.split(":")
    kwargs = json.loads(sys.stdin.read() or "{}")
    result = getattr(importlib.import_module(module), func)(**kwargs)
    result = dict(result)
    result["peak_rss_mb"] = peak_rss_mb()
    print(_RESULT_MARK + json.dumps(result), flush=True)


def set_threads(n: int | None = None) -> int:
    """Pin torch and OpenCV to ``n`` threads (default: every core); returns the count."""
    n = n or os.cpu_count() or 1
    cv2.setNumThreads(n)
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(n)
    return n


# ---------------------------------------------------------------------------------------------- reporting


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; cells are ``str()``-ed, ``|`` escaped."""
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line: CPU model, cores, GPU (if torch sees one), torch and OpenCV versions."""
    cpu = platform.processor() or "cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = "no GPU"
    torch_v = "torch absent"
    with contextlib.suppress(ImportError):
        import torch

        torch_v = f"torch {torch.__version__}"
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    py = platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, {torch_v}, OpenCV {cv2.__version__}, Python {py}"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a small subset (minutes, not tens of minutes)")
    p.add_argument("--clips-dir", default=None, help="folder of real clips (default ../shared/clips)")
    p.add_argument("--threads", type=int, default=None, help="torch/OpenCV threads (default: all cores)")
    p.add_argument("--out", default=None, help="also write the markdown to this file")
    return p


def emit(text: str, out: str | None) -> None:
    """Print ``text`` and, with ``out``, also write it there (its folder is created; written atomically)."""
    print(text, flush=True)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(path)


def header(title: str, argv: Sequence[str] | None = None) -> str:
    cmd = "python -m " + Path(sys.argv[0]).stem if argv is None else " ".join(argv)
    return f"## {title}\n\n`{cmd}` on {machine()}, {time.strftime('%Y-%m-%d')}\n"


def command_line(module: str) -> str:
    return shlex.join(["python", "-m", module, *sys.argv[1:]])


@contextlib.contextmanager
def temp_dir(prefix: str = "tam-bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def mean(values: Sequence[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


if __name__ == "__main__":
    _worker(sys.argv[1])
