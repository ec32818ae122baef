"""Speed and memory of the whole pipeline, stage by stage, at 480p and 1080p, per backend and device.

Every measurement runs the product's own calls (``editor.pipeline``: open_project, open_session + one click,
propagate, inpaint, render) on a real clip, in a fresh Python process, so its peak resident memory
(``VmHWM``) is its own. Clips longer than the source are built by ping-ponging its frames (a frame folder
of symlinks in a temp dir), so motion stays continuous. Reported per stage: seconds per frame (the click:
seconds per click), end-to-end frames per second, and the process's peak RSS.

- 480p: ``davis2016-drift-chicane`` (854x480, 52 frames, looped; the car covers 0.6-6 % of the frame);
- 1080p: ``aot-demo-1007_YCTBBdbKSSg`` (1920x1080, 44 frames, looped). Tracking and removal run at the
  working size (short side 480); decoding and the final render are at 1080p;
- memory vs length: the 480p clip at 100 frames and (``--long``) 1000 frames: peak RSS must not grow with
  the clip's length.

    python -m benchmarks.speed            # 480p and 1080p, 100 frames each
    python -m benchmarks.speed --quick    # 30 frames each
    python -m benchmarks.speed --long     # adds 480p at 1000 frames (slow: tens of minutes on 2 cores)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import (
    command_line,
    emit,
    fmt,
    load_clip,
    loop_frames,
    machine,
    markdown_table,
    parser,
    run_isolated,
    temp_dir,
)

CLIPS_480 = "davis2016-drift-chicane"
CLIPS_1080 = "aot-demo-1007_YCTBBdbKSSg"
STAGES = ("decode", "click", "propagate", "inpaint", "render")


def click_point(clip_dir: str, share: float = 0.02) -> tuple[float, float]:
    """A click in native pixels inside the object of the clip's first mask whose area is nearest ``share`` of
    the frame (a typical object to remove, not the whole background of a many-object mask)."""
    import numpy as np

    from benchmarks.tracking_quality import centre_point

    clip = load_clip(Path(clip_dir))
    if clip is None:
        raise ValueError(f"{clip_dir} has no masks to click on")
    labels = clip.gt(clip.annotated[0])
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    point = centre_point(labels == ids[int(np.argmin(np.abs(counts - share * labels.size)))])
    assert point is not None
    return float(point[0]), float(point[1])


def measure(source: str, work_dir: str, point: Sequence[float], backend: str = "classical",
            working_short_side: int = 480, device: str | None = None) -> dict:
    """Run every stage once on ``source``; seconds per stage (run in a fresh process by ``run_isolated``)."""
    from editor import pipeline

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    project = pipeline.open_project(source, Path(work_dir) / "project", working_short_side=working_short_side)
    times["decode"] = time.perf_counter() - t0
    session = pipeline.open_session(project, backend, "auto", device)
    t0 = time.perf_counter()
    pipeline.add_prompts(session, project, [pipeline.ObjectPrompt(points=(tuple(point),))])
    times["click"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    written = sum(1 for _ in session.propagate())
    times["propagate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = pipeline.inpaint(project, backend=backend, device=device)
    times["inpaint"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pipeline.render(project, Path(work_dir) / "out.mp4")
    times["render"] = time.perf_counter() - t0
    prop = session.propagator_factory()
    return {
        "frames": project.num_frames,
        "written": written,
        "native": list(project.native_size),
        "working": list(project.working_size),
        "times": times,
        "backends": f"{session.segmenter.backend} + {prop.backend} + {report.backend}",
        "device": str(prop.device),
    }


def run_config(clip_dir: Path, frames: int, backend: str, threads: int | None) -> dict:
    with temp_dir() as tmp:
        source = loop_frames(clip_dir / "frames", tmp / "frames", frames)
        return run_isolated(
            "benchmarks.speed:measure",
            {"source": str(source), "work_dir": str(tmp), "point": click_point(str(clip_dir)), "backend": backend},
            threads=threads,
        )


def neural_note() -> str | None:
    from inpaint.backends import BackendUnavailable as InpaintUnavailable
    from inpaint.backends import make_inpainter
    from tracking.backends import BackendUnavailable, choose

    try:
        choose("neural")
        make_inpainter("neural")
    except (BackendUnavailable, InpaintUnavailable) as exc:
        return f"neural (SAM + XMem + E2FGVI-HQ): not run: no checkpoint ({exc})"
    return None


def tables(results: Sequence[tuple[str, dict]], notes: Sequence[str]) -> str:
    rows = []
    for label, r in results:
        t, n = r["times"], r["frames"]
        per = [fmt(t[s] / n, 3) if s != "click" else fmt(t[s], 2) for s in STAGES]
        total = sum(t.values())
        rows.append([label, r["backends"], r["device"], f"{r['native'][0]}x{r['native'][1]}",
                     f"{r['working'][0]}x{r['working'][1]}", n, *per, fmt(n / total, 2),
                     fmt(r["peak_rss_mb"], 0)])
    head = ["clip", "backends", "device", "native", "working", "frames", "decode s/f", "click s",
            "propagate s/f", "inpaint s/f", "render s/f", "end-to-end fps", "peak RSS MiB"]
    return markdown_table(head, rows) + "".join(f"\n- {n}" for n in notes)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default 100, quick 30)")
    p.add_argument("--long", action="store_true", help="also 480p at 1000 frames (memory vs length)")
    p.add_argument("--backends", nargs="*", default=["classical", "neural"])
    p.add_argument("--only", choices=("480p", "1080p"), default=None)
    args = p.parse_args(argv)
    from benchmarks.common import clips_root

    root = clips_root(args.clips_dir)
    frames = args.frames or (30 if args.quick else 100)
    configs = []
    if args.only in (None, "480p"):
        configs.append((f"480p {CLIPS_480}", root / CLIPS_480, frames))
    if args.only in (None, "1080p"):
        configs.append((f"1080p {CLIPS_1080}", root / CLIPS_1080, frames))
    if args.long:
        configs.append((f"480p {CLIPS_480}", root / CLIPS_480, 1000))
    notes, results = [], []
    t0 = time.perf_counter()
    for backend in args.backends:
        if backend == "neural":
            why = neural_note()
            if why:
                notes.append(why)
                continue
        for label, clip_dir, n in configs:
            try:
                r = run_config(clip_dir, n, backend, args.threads)
            except RuntimeError as exc:
                last = str(exc).strip().splitlines()[-1]
                notes.append(f"{label}, {n} frames, {backend}: FAILED: {last}")
                print(f"  {label} {n} frames {backend}: FAILED\n{exc}", flush=True)
                continue
            print(f"  {label} {n} frames {backend}: {r['times']} peak {r['peak_rss_mb']:.0f} MiB", flush=True)
            results.append((label, r))
    text = (f"`{command_line('benchmarks.speed')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; "
            f"{time.perf_counter() - t0:.0f} s in all; each row is one fresh process\n\n" + tables(results, notes))
    emit(text, args.out)


if __name__ == "__main__":
    main()
