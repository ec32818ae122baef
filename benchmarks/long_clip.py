"""Long clips with many shots: peak memory per stage stays flat as the clip grows; the frame store's cost per minute.

    python -m benchmarks.long_clip --minutes 1 3 10
    python -m benchmarks.long_clip --minutes 1 --frame-store jpeg --jpeg-quality 95 --stages open

The clip is built from the shared DAVIS clips (``../shared/clips/davis2016-*``) played one after another, each one
a shot (a hard cut between two clips), repeated to the length asked for, scaled to 1920x1080 at 25 fps and encoded
with x264 ``ultrafast`` (it is only the input). Every stage runs in its own fresh process
(:func:`benchmarks.common.run_isolated`), as the CLI runs them:

- open: decode to the frame store at the working size (short side 480), shots found in the same pass;
- track: the classical backend, a box around the first clip's object (its ground truth on frame 0), propagated
  over the whole clip;
- render: blur the tracked object, 1080p H.264 with the product's encoder settings (``tam edit --blur``).

Reported per length: seconds and peak RSS (VmHWM) per stage, the frame store's size and size per minute, the
masks' size per minute, and the shots found against the clips joined (a found cut within a frame of a joint
counts). Peak RSS that does not grow with the length is the claim; the frame store grows linearly by design.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import CLIPS, Timer, command_line, emit, header, markdown_table, parser, run_isolated, temp_dir

FPS = 25
SIZE = (1920, 1080)
PARTS = ("davis2016-blackswan", "davis2016-car-roundabout", "davis2016-bmx-trees", "davis2016-camel",
         "davis2016-dance-twirl", "davis2016-cows", "davis2016-drift-chicane", "davis2016-dog",
         "davis2016-breakdance", "davis2016-car-shadow")


def _sources(clips: Path) -> list[list[Path]]:
    found = [sorted((clips / name / "frames").iterdir()) for name in PARTS if (clips / name / "frames").is_dir()]
    if len(found) < 2:
        raise SystemExit(f"the DAVIS clips are missing from {clips}: this benchmark joins them into a long clip")
    return found


def build_clip(path: Path, minutes: float, clips: Path = CLIPS) -> dict:
    """Write the joined clip of ``minutes``; returns its frame count and the frames where one clip follows another."""
    import av

    total = int(round(minutes * 60 * FPS))
    sources = _sources(clips)
    joints: list[int] = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        written, part = 0, 0
        while written < total:
            files = sources[part % len(sources)]
            if written:
                joints.append(written)
            for file in files[: total - written]:
                image = cv2.resize(cv2.imread(str(file)), SIZE, interpolation=cv2.INTER_LINEAR)
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                for packet in stream.encode(frame):
                    out.mux(packet)
                written += 1
            part += 1
        for packet in stream.encode():
            out.mux(packet)
    return {"frames": total, "joints": joints}


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


def stage_open(source: str, project: str, frame_store: str, jpeg_quality: int) -> dict:
    from editor.frame_store import FrameFormat
    from editor.pipeline import open_project

    with Timer() as t:
        proj = open_project(source, project, frame_format=FrameFormat(frame_store, jpeg_quality))
    return {"seconds": t.seconds, "frames": proj.num_frames, "cuts": proj.cuts,
            "frame_bytes": proj.frames.disk_bytes()}


def stage_track(project: str, box: list[float]) -> dict:
    from editor.pipeline import ObjectPrompt, track
    from editor.store import Project

    proj = Project.open(project)
    with Timer() as t:
        track(proj, [ObjectPrompt(frame=0, box=tuple(box))], backend="classical", refine="off")
    return {"seconds": t.seconds, "mask_bytes": _folder_bytes(proj.root / "masks")}


def stage_render(project: str, output: str) -> dict:
    from editor.compose import BlurEdit
    from editor.pipeline import render
    from editor.store import Project

    with Timer() as t:
        render(Project.open(project), output, BlurEdit())
    return {"seconds": t.seconds, "output_bytes": Path(output).stat().st_size}


def first_object_box(clips: Path = CLIPS) -> list[float]:
    """The first clip's object on its frame 0, as a box in the long clip's 1080p pixels (with a small margin)."""
    mask_file = sorted((clips / PARTS[0] / "masks").iterdir())[0]
    mask = cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE) > 0
    ys, xs = np.nonzero(mask)
    sx, sy = SIZE[0] / mask.shape[1], SIZE[1] / mask.shape[0]
    return [max(0.0, (xs.min() - 4) * sx), max(0.0, (ys.min() - 4) * sy),
            min(SIZE[0] - 1.0, (xs.max() + 4) * sx), min(SIZE[1] - 1.0, (ys.max() + 4) * sy)]


def _cut_scores(found: list[int], joints: list[int]) -> tuple[int, int]:
    """(joints found within a frame, found cuts that are no joint)."""
    hits = sum(any(abs(c - j) <= 1 for c in found) for j in joints)
    false = sum(not any(abs(c - j) <= 1 for j in joints) for c in found)
    return hits, false


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _per_minute(size: int | None, minutes: float) -> str:
    return "n/a" if size is None else f"{size / 1e6 / minutes:.0f}"


def run(minutes: float, work: Path, stages: list[str], frame_store: str, jpeg_quality: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"long-{minutes:g}min.mp4"
    project = work / f"project-{minutes:g}min-{frame_store}"
    built = source.with_suffix(".json")  # a clip built by an earlier run in the same --work folder is reused
    with Timer() as t:
        if built.is_file() and source.is_file():
            clip = json.loads(built.read_text())
        else:
            _say(f"[{minutes:g} min] building the clip ({int(minutes * 60 * FPS)} frames at 1080p)…")
            clip = build_clip(source, minutes)
            built.write_text(json.dumps(clip))
    row: dict = {"minutes": minutes, "frames": clip["frames"], "joints": len(clip["joints"]), "build_s": t.seconds,
                 "source_bytes": source.stat().st_size}
    if "open" in stages:
        _say(f"[{minutes:g} min] open…")
        opened = run_isolated("benchmarks.long_clip:stage_open", {
            "source": str(source), "project": str(project), "frame_store": frame_store, "jpeg_quality": jpeg_quality})
        row["open"] = opened
        row["cut_hits"], row["cut_false"] = _cut_scores(opened["cuts"], clip["joints"])
    if "track" in stages:
        _say(f"[{minutes:g} min] track…")
        row["track"] = run_isolated("benchmarks.long_clip:stage_track",
                                    {"project": str(project), "box": first_object_box()})
    if "render" in stages:
        _say(f"[{minutes:g} min] render…")
        row["render"] = run_isolated("benchmarks.long_clip:stage_render",
                                     {"project": str(project), "output": str(work / f"blur-{minutes:g}min.mp4")})
    done = [f"{s} {row[s]['seconds']:.0f} s, {row[s]['peak_rss_mb']:.0f} MiB" for s in stages]
    _say(f"[{minutes:g} min] done: " + "; ".join(done))
    return row


def _cell(row: dict, stage: str, key: str, digits: int = 0) -> str:
    value = row.get(stage, {}).get(key)
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict], frame_store: str) -> str:
    headers = ["minutes", "frames", "cuts found / joints (false)", "open s", "open peak RSS MiB", "track s",
               "track peak RSS MiB", "render s", "render peak RSS MiB", f"frame store ({frame_store}) MB",
               "frame store MB/min", "masks MB/min"]
    out = []
    for r in rows:
        cuts = f"{r['cut_hits']} / {r['joints']} ({r['cut_false']})" if "cut_hits" in r else "n/a"
        store = r.get("open", {}).get("frame_bytes")
        out.append([f"{r['minutes']:g}", r["frames"], cuts, _cell(r, "open", "seconds"),
                    _cell(r, "open", "peak_rss_mb"), _cell(r, "track", "seconds"), _cell(r, "track", "peak_rss_mb"),
                    _cell(r, "render", "seconds"), _cell(r, "render", "peak_rss_mb"),
                    "n/a" if store is None else f"{store / 1e6:.0f}", _per_minute(store, r["minutes"]),
                    _per_minute(r.get("track", {}).get("mask_bytes"), r["minutes"])])
    return markdown_table(headers, out)


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0], help="clip lengths to run")
    p.add_argument("--stages", nargs="+", default=["open", "track", "render"], choices=["open", "track", "render"])
    p.add_argument("--frame-store", default="png", choices=["png", "jpeg"])
    p.add_argument("--jpeg-quality", type=int, default=95)
    p.add_argument("--work", default=None, help="keep the clips and projects here (default: a temp folder)")
    args = p.parse_args(argv)
    if args.work:
        rows = [run(m, Path(args.work), args.stages, args.frame_store, args.jpeg_quality) for m in args.minutes]
    else:
        with temp_dir("tam-long-") as work:
            rows = [run(m, work, args.stages, args.frame_store, args.jpeg_quality) for m in args.minutes]
    text = header("Long clips", command_line("benchmarks.long_clip").split(" "))
    emit(text + "\n" + table(rows, args.frame_store), args.out)


if __name__ == "__main__":
    main()

