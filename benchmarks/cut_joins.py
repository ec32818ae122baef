"""Cut detection over every join of two shared clips, and no false cut inside any single clip.

For every ordered pair of shared clips (a, b) with at least 24 frames, 12 frames of ``a`` (from its start, middle
or end) are followed by 12 frames of ``b`` (start, middle or end): 9 joins per pair, each with one true cut at
frame 12. A join is *missed* when no cut is found there and *false* when a cut is found anywhere else. Every
clip alone (one shot each) must give no cut at all. The detector runs at its own working width
(``ShotConfig.width``), on frames reduced to 192 px first to keep the sweep quick.

    python -m benchmarks.cut_joins
"""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np

from benchmarks.common import clips_root, emit, header, markdown_table, parser
from editor.frames import read_image
from editor.shots import ShotConfig, boundaries, content_changes

WINDOW = 12  # frames on each side of a join


def _frames(folder) -> list[np.ndarray]:
    files = sorted(p for p in (folder / "frames").iterdir() if not p.name.startswith("."))
    out = []
    for path in files:
        image = read_image(path)
        h, w = image.shape[:2]
        out.append(cv2.resize(image, (192, max(1, round(h * 192 / w))), interpolation=cv2.INTER_AREA))
    return out


def _windows(frames: list[np.ndarray]) -> list[list[np.ndarray]]:
    n, half = len(frames), WINDOW // 2
    return [frames[:WINDOW], frames[n // 2 - half : n // 2 + half], frames[n - WINDOW :]]


def _sized(frames: list[np.ndarray], like: np.ndarray) -> list[np.ndarray]:
    h, w = like.shape[:2]
    return [f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]


def sweep(clips: dict[str, list[np.ndarray]], config: ShotConfig) -> dict[str, object]:
    long = {k: v for k, v in clips.items() if len(v) >= 2 * WINDOW}
    windows = {k: _windows(v) for k, v in long.items()}
    joins = missed = false = 0
    misses: list[str] = []
    for a, b in itertools.permutations(long, 2):
        for i, first in enumerate(windows[a]):
            for j, second in enumerate(windows[b]):
                changes, spread = content_changes(first + _sized(second, first[0]), config)
                found = boundaries(changes, spread, config)
                joins += 1
                if WINDOW not in found:
                    missed += 1
                    misses.append(f"{a}[{'sme'[i]}] -> {b}[{'sme'[j]}]")
                if set(found) - {WINDOW}:
                    false += 1
    single_false = []
    for name, frames in clips.items():
        changes, spread = content_changes(frames, config)
        if boundaries(changes, spread, config):
            single_false.append(name)
    return {"clips": len(clips), "joins": joins, "missed": missed, "false": false, "single_false": single_false,
            "misses": misses}


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    root = clips_root(args.clips_dir)
    t0 = time.perf_counter()
    clips = {d.name: _frames(d) for d in sorted(root.iterdir()) if (d / "frames").is_dir()}
    result = sweep(clips, ShotConfig())
    rows = [[result["clips"], result["joins"], result["missed"],
             f"{1 - result['missed'] / max(1, result['joins']):.4f}", result["false"],
             ", ".join(result["single_false"]) or "none"]]
    text = header("Cut detection over joins of the shared clips") + "\n" + markdown_table(
        ["clips", "joins", "missed", "recall", "joins with a false cut", "single clips with a cut"],
        rows)
    if result["misses"]:
        text += "\n\nmissed (s/m/e: start, middle, end of the clip): " + "; ".join(result["misses"][:30])
    text += f"\n\n{time.perf_counter() - t0:.0f} s"
    emit(text, args.out)


if __name__ == "__main__":
    main()
