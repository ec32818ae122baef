"""Faults on a real clip, the way a user meets them: kills and Ctrl-C mid-run, then the same command again, and two
commands on one project at once. Prints a markdown table: case, exit codes, outcome, and whether the result
equals the uninterrupted run's (masks bit for bit; rendered files byte for byte).

    python -m benchmarks.faults            # sttn-dogs_jump (66 frames, 432x240), classical backends
    python -m benchmarks.faults --quick    # fewer kill points

Every command is ``python -m editor.cli ...`` in its own process; the kill points are counted in masks written
(tracking) or in the render's part file appearing, so they land mid-stage on any machine.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, clips_root, command_line, emit, header, markdown_table, parser, temp_dir

CLIP = "sttn-dogs_jump/video.mp4"
CLICK_A = "200,120"
CLICK_B = "330,150"


def tam(args: list, data: Path) -> subprocess.Popen:
    env = {**os.environ, "TAM_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1", "TAM_QUIET": "1"}
    # SIGINT back to its default: a benchmark started in the background inherits it ignored, and Ctrl-C would
    # then be lost on the commands it starts
    return subprocess.Popen([sys.executable, "-m", "editor.cli", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(proc: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def wait_until(predicate, proc: subprocess.Popen, timeout: float = 600) -> bool:
    """Poll ``predicate`` until it holds; False when the process ended first."""
    end = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def masks_of(root: Path) -> list[np.ndarray | None]:
    from editor.store import Project

    project = Project.open(root)
    return [project.masks[i] for i in range(project.num_frames)]


def same_masks(a: Path, b: Path) -> str:
    ma, mb = masks_of(a), masks_of(b)
    equal = sum(x is not None and y is not None and np.array_equal(x, y) for x, y in zip(ma, mb, strict=True))
    return f"{'yes' if equal == len(ma) else 'NO'} ({equal}/{len(ma)} masks)"


def same_file(a: Path, b: Path) -> str:
    if not a.is_file() or not b.is_file():
        return "NO (missing)"
    return "yes (same bytes)" if hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest() \
        else "NO (other bytes)"


def n_masks(root: Path) -> int:
    folder = root / "masks"
    return sum(1 for p in folder.glob("*.png") if not p.name.startswith(".")) if folder.is_dir() else 0


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:220] if lines else ""


def run(clip: Path, work: Path, quick: bool) -> list[list[str]]:
    rows: list[list[str]] = []
    data = work / "data"
    track = ["track", clip, "--backend", "classical", "--point", CLICK_A]
    remove = ["remove", clip, "--backend", "classical"]

    # references: the uninterrupted runs
    code, out = finish(tam([*track, "--masks-out", work / "m-ref", "--project", work / "T-ref"], data))
    rows.append(["track, uninterrupted (reference)", str(code), last_line(out), "-"])
    code, out = finish(tam([*remove, "--point", CLICK_A, "-o", work / "a-ref.mp4", "--project", work / "A-ref"], data))
    rows.append(["remove A, uninterrupted (reference)", str(code), last_line(out), "-"])
    code, out = finish(tam([*remove, "--point", CLICK_B, "-o", work / "b-ref.mp4", "--project", work / "B-ref"], data))
    rows.append(["remove B, uninterrupted (reference)", str(code), last_line(out), "-"])

    # 1. kill -9 during tracking at several points, then the same command
    total = len(masks_of(work / "T-ref"))
    for share in ((0.5,) if quick else (0.15, 0.5, 0.85)):
        root = work / f"T-kill{int(share * 100)}"
        at = max(1, int(total * share))
        proc = tam([*track, "--masks-out", work / f"m-kill{at}", "--project", root], data)
        wait_until(lambda root=root, at=at: n_masks(root) >= at, proc)
        proc.send_signal(signal.SIGKILL)
        first, _ = finish(proc)
        written = n_masks(root)
        code, out = finish(tam([*track, "--masks-out", work / f"m-kill{at}", "--project", root], data))
        rows.append([f"track, SIGKILL with {written} of {total} masks written; same command again",
                     f"{first} then {code}", last_line(out), same_masks(work / "T-ref", root)])

    # 2. Ctrl-C during tracking, then the same command
    root = work / "T-int"
    proc = tam([*track, "--masks-out", work / "m-int", "--project", root], data)
    wait_until(lambda: n_masks(root) >= total // 3, proc)
    proc.send_signal(signal.SIGINT)
    first, out1 = finish(proc)
    code, out = finish(tam([*track, "--masks-out", work / "m-int", "--project", root], data))
    rows.append(["track, Ctrl-C; same command again", f"{first} then {code}", f"{last_line(out1)} / {last_line(out)}",
                 same_masks(work / "T-ref", root)])

    # 3. kill -9 and SIGTERM during a render, then the same command
    outdir = work / "render"
    outdir.mkdir()
    target = outdir / "a.mp4"
    edit = ["edit", work / "A-ref", "--remove", "-o", target]
    for sig in (signal.SIGKILL, signal.SIGTERM):
        proc = tam(edit, data)
        wait_until(lambda: any(outdir.glob(".a.*.part.mp4")), proc)
        time.sleep(0.3)
        proc.send_signal(sig)
        first, _ = finish(proc)
        left = len(list(outdir.glob(".a.*.part.mp4")))
        code, out = finish(tam(edit, data))
        after = len(list(outdir.glob(".a.*.part.mp4")))
        rows.append([f"render, {sig.name}; same command again", f"{first} then {code}",
                     f"part files left by the kill: {left}, after the rerun: {after}",
                     same_file(work / "a-ref.mp4", target)])
        target.unlink(missing_ok=True)

    # 4. two writers on one project: the second is refused, the first's result is the uninterrupted one
    for gap in (20.0, 0.3) if not quick else (2.0,):
        root = work / f"two-{gap}"
        first = tam([*remove, "--point", CLICK_A, "-o", work / f"a-{gap}.mp4", "--project", root], data)
        time.sleep(gap)
        second = tam([*remove, "--point", CLICK_B, "-o", work / f"b-{gap}.mp4", "--project", root], data)
        (c2, o2), (c1, o1) = finish(second), finish(first)
        winner = "A" if c1 == 0 else "B" if c2 == 0 else "none"
        loser_text = last_line(o2 if winner == "A" else o1)
        equal = same_file(work / f"{winner.lower()}-ref.mp4", work / f"{winner.lower()}-{gap}.mp4") \
            if winner != "none" else "NO"
        rows.append([f"two `tam remove` on one --project, {gap:g} s apart (A: {CLICK_A}, B: {CLICK_B})",
                     f"A {c1}, B {c2}", f"{winner} ran; the other: {loser_text}", equal])
    return rows


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    clip = clips_root(args.clips_dir) / CLIP
    if not clip.is_file():
        raise SystemExit(f"{clip} not found: the real clips live in ../shared/clips (or pass --clips-dir)")
    with temp_dir("tam-faults-") as work:
        rows = run(clip, work, args.quick)
    table = markdown_table(["case", "exit codes", "outcome", "equal to the uninterrupted run"], rows)
    emit(header("Faults: kills, Ctrl-C and two writers", [command_line("benchmarks.faults")]) + "\n" + table,
         args.out)


if __name__ == "__main__":
    main()
