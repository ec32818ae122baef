"""Tracking quality against ground truth: J (region IoU), F (DAVIS boundary F) and J&F per clip and backend.

For every clip under ``../shared/clips`` with ground-truth masks on at least two frames, per backend:
- ``mask`` init: each object starts from its ground-truth mask on the first annotated frame where it appears
  (``TrackSession.add_mask``), as in semi-supervised video object segmentation;
- ``clicks`` init: the same objects start from simulated clicks instead: a positive click at the interior
  point farthest from the boundary (``cv2.distanceTransform``) of the object's largest component, then up to
  ``--corrections`` clicks, each at the centre of the largest error region on that frame (positive where
  the object was missed, negative where the mask spilled), stopping early at ``--target-iou``.
Then the whole clip is propagated through the product's own session (``editor.pipeline.open_session``, a
temporary project per clip at working short side 480) and J / F are computed on every annotated frame
after the object's start frame (the DAVIS convention leaves the given frame out). Clip scores average the
objects; the last row averages the clips.

    python -m benchmarks.tracking_quality            # every clip, both inits, every backend that can run
    python -m benchmarks.tracking_quality --quick    # four short clips
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import (
    Clip,
    command_line,
    emit,
    fmt,
    gt_clips,
    load_clip,
    machine,
    markdown_table,
    mean,
    parser,
    set_threads,
    temp_dir,
)

QUICK_CLIPS = ("davis2016-car-shadow", "davis2016-blackswan", "cutie-judo", "sttn-dogs_jump")
MODES = ("mask", "clicks")


# ------------------------------------------------------------------------------------------ click robot


def _largest_component(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best


def centre_point(mask: np.ndarray) -> tuple[int, int] | None:
    """``(x, y)`` of the point of ``mask``'s largest component farthest from its boundary (the frame edge
    counts as boundary); None for an empty mask."""
    comp = _largest_component(np.asarray(mask) > 0)
    if not comp.any():
        return None
    padded = np.pad(comp.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def correction_click(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, bool] | None:
    """The next corrective click: at the centre of the largest error region; positive when it is a miss.

    None when prediction and ground truth agree.
    """
    gt, pred = np.asarray(gt) > 0, np.asarray(pred) > 0
    missed, spilled = _largest_component(gt & ~pred), _largest_component(pred & ~gt)
    if not missed.any() and not spilled.any():
        return None
    positive = int(missed.sum()) >= int(spilled.sum())
    point = centre_point(missed if positive else spilled)
    assert point is not None
    return point[0], point[1], positive


# ------------------------------------------------------------------------------------------- evaluation


@dataclass
class ClipScore:
    clip: str
    backend: str
    mode: str
    J: float
    F: float
    frames: int  # frames propagated
    evaluated: int  # (object, frame) pairs scored
    objects: int
    clicks: int = 0
    init_iou: float = float("nan")  # mean IoU on the start frames after the clicks (1.0 for mask init)
    seconds: float = 0.0  # propagation only
    per_object: dict[int, tuple[float, float]] = field(default_factory=dict)
    note: str = ""

    @property
    def JF(self) -> float:
        return (self.J + self.F) / 2


def _resize_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    if labels.shape == (h, w):
        return labels
    return cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)


def evaluate_clip(
    clip: Clip,
    work_dir: Path,
    backend: str = "classical",
    mode: str = "mask",
    corrections: int = 5,
    target_iou: float = 0.9,
    refine: str = "auto",
    working_short_side: int = 480,
) -> ClipScore:
    """Track ``clip``'s ground-truth objects from masks or simulated clicks and score J / F."""
    from editor import metrics, pipeline

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    project = pipeline.open_project(clip.source, work_dir / clip.name, working_short_side=working_short_side)
    session = pipeline.open_session(project, backend, refine)
    start, sid, clicks, init_ious = start_objects(clip, session, project.working_size, mode, corrections, target_iou)
    t0 = time.perf_counter()
    frames = sum(1 for _ in session.propagate())
    seconds = time.perf_counter() - t0
    prop = session.propagator_factory()
    label = f"{session.segmenter.backend} + {prop.backend}" if mode == "clicks" else prop.backend

    per_object: dict[int, tuple[float, float]] = {}
    evaluated = 0
    scorable = scorable_frames(clip, start)
    for k, f0 in start.items():
        js, fs = [], []
        for t in clip.annotated:
            if t <= f0 or t not in scorable:
                continue
            gt_k = clip.gt(t) == k
            pred = project.masks[t]
            pred_k = (np.zeros(gt_k.shape, bool) if pred is None
                      else _resize_nearest(pred, clip.size) == sid[k])
            js.append(metrics.j_measure(pred_k, gt_k))
            fs.append(metrics.f_measure(pred_k, gt_k))
        if js:
            per_object[k] = (float(np.mean(js)), float(np.mean(fs)))
            evaluated += len(js)
    note = "" if per_object else "nothing to score: each later mask only introduces new objects (prompts, not truth)"
    return ClipScore(
        note=note,
        clip=clip.name,
        backend=label,
        mode=mode,
        J=mean([v[0] for v in per_object.values()]),
        F=mean([v[1] for v in per_object.values()]),
        frames=frames,
        evaluated=evaluated,
        objects=len(per_object),
        clicks=clicks,
        init_iou=mean(init_ious),
        seconds=seconds,
        per_object=per_object,
    )


def start_objects(
    clip: Clip, session, work: tuple[int, int], mode: str, corrections: int = 5, target_iou: float = 0.9
) -> tuple[dict[int, int], dict[int, int], int, list[float]]:
    """Add every ground-truth object to ``session`` on its first annotated frame, from its mask or clicks.

    Returns (truth id -> start frame, truth id -> session object id, clicks used, start-frame IoUs).
    """
    from editor import metrics

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ids = clip.object_ids()
    start: dict[int, int] = {}  # gt id -> first annotated frame where it has pixels (at the working size)
    for f in clip.annotated:
        labels = _resize_nearest(clip.gt(f), work)
        for k in ids:
            if k not in start and (labels == k).any():
                start[k] = f
    sid: dict[int, int] = {}
    clicks = 0
    init_ious = []
    for k in ids:
        if k not in start:
            continue
        f = start[k]
        gt = _resize_nearest(clip.gt(f), work) == k
        sid[k] = session.add_object(f"gt {k}")
        if mode == "mask":
            session.add_mask(f, sid[k], gt)
            init_ious.append(1.0)
            continue
        x, y = centre_point(gt)  # type: ignore[misc]
        labels = session.add_click(f, sid[k], x, y, positive=True)
        clicks += 1
        for _ in range(corrections):
            pred = labels == sid[k]
            if metrics.iou(pred, gt) >= target_iou:
                break
            nxt = correction_click(gt, pred)
            if nxt is None:
                break
            labels = session.add_click(f, sid[k], nxt[0], nxt[1], positive=nxt[2])
            clicks += 1
        init_ious.append(metrics.iou(labels == sid[k], gt))
    return start, sid, clicks, init_ious


def scorable_frames(clip: Clip, start: dict[int, int]) -> set[int]:
    """Annotated frames whose masks are ground truth for the objects started before them.

    On a clip annotated on every frame, all of them (an object missing from a mask is absent there). On a
    sparse clip a mask may only introduce new objects (cutie-judo: frame 5 holds the object that enters
    there, not the ones already tracked); such a frame says nothing about the earlier objects, so only
    frames whose mask holds at least one earlier-started object count.
    """
    if len(clip.annotated) == clip.num_frames:
        return set(clip.annotated)
    out = set()
    for t in clip.annotated:
        present = {int(v) for v in np.unique(clip.gt(t)) if v}
        if any(start.get(k, t) < t for k in present):
            out.add(t)
    return out


def neural_unavailable(mode: str) -> str | None:
    """Why the neural backend cannot run here (None when its checkpoints are present)."""
    from tracking.backends import BackendUnavailable, choose_propagator, choose_segmenter

    try:
        choose_propagator("neural")
        if mode == "clicks":
            choose_segmenter("neural")
    except BackendUnavailable as exc:
        return f"not run: no checkpoint ({exc})"
    return None


def _job(args: tuple[str, str, str, int, float, str, int | None]) -> dict:
    source_dir, backend, mode, corrections, target_iou, refine, threads = args
    set_threads(threads)
    clip = load_clip(Path(source_dir))
    assert clip is not None
    with temp_dir() as tmp:
        score = evaluate_clip(clip, tmp, backend, mode, corrections, target_iou, refine)
    print(f"  {clip.name} {backend} {mode}: J&F {score.JF:.3f} ({score.frames} frames)", flush=True)
    return asdict(score)


def run(
    clips: Sequence[Clip],
    backends: Sequence[str],
    modes: Sequence[str],
    corrections: int = 5,
    target_iou: float = 0.9,
    refine: str = "auto",
    jobs: int = 1,
    threads: int | None = None,
) -> tuple[list[ClipScore], list[str]]:
    """Scores for every (backend, mode, clip) that can run, plus one note per combination that cannot."""
    notes, tasks = [], []
    for backend in backends:
        for mode in modes:
            if backend == "neural":
                why = neural_unavailable(mode)
                if why:
                    notes.append(f"neural, {mode} init: {why}")
                    continue
            for clip in clips:
                tasks.append((str(clip.folder), backend, mode, corrections, target_iou, refine, threads))
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_job, tasks))
    else:
        results = [_job(t) for t in tasks]
    scores = []
    for r in results:
        r["per_object"] = {int(k): tuple(v) for k, v in r["per_object"].items()}
        scores.append(ClipScore(**r))
    return scores, notes


def tables(scores: Sequence[ClipScore], notes: Sequence[str]) -> str:
    out = []
    groups: dict[tuple[str, str], list[ClipScore]] = {}
    for s in scores:
        groups.setdefault((s.backend, s.mode), []).append(s)
    for (backend, mode), rows in groups.items():
        out.append(f"### {backend}, {mode} init\n")
        body = [
            [s.clip, s.objects, s.evaluated, fmt(s.J), fmt(s.F), fmt(s.JF),
             s.clicks if mode == "clicks" else "-", fmt(s.init_iou), fmt(s.seconds / max(s.frames, 1), 2)]
            for s in rows if not s.note
        ]
        skipped = [s for s in rows if s.note]
        rows = [s for s in rows if not s.note]
        body.append([
            "**mean**", sum(s.objects for s in rows), sum(s.evaluated for s in rows),
            f"**{fmt(mean([s.J for s in rows]))}**", f"**{fmt(mean([s.F for s in rows]))}**",
            f"**{fmt(mean([s.JF for s in rows]))}**",
            fmt(mean([s.clicks / max(s.objects, 1) for s in rows]), 1) + "/obj" if mode == "clicks" else "-",
            fmt(mean([s.init_iou for s in rows])),
            fmt(sum(s.seconds for s in rows) / max(sum(s.frames for s in rows), 1), 2),
        ])
        out.append(markdown_table(
            ["clip", "objects", "scored", "J", "F", "J&F", "clicks", "start IoU", "s/frame"], body))
        for s in skipped:
            out.append(f"\n{s.clip}: tracked ({s.frames} frames, {s.objects} objects scored) but {s.note}.")
        out.append("")
    for note in notes:
        out.append(f"- {note}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="*", default=None, help="clip names (default: every clip with masks)")
    p.add_argument("--backends", nargs="*", default=["classical", "neural"])
    p.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    p.add_argument("--corrections", type=int, default=5, help="correction clicks after the first (clicks init)")
    p.add_argument("--target-iou", type=float, default=0.9, help="stop correcting at this start-frame IoU")
    p.add_argument("--refine", default="auto", choices=("auto", "off", "always"))
    p.add_argument("--jobs", type=int, default=1, help="clips evaluated in parallel processes")
    args = p.parse_args(argv)
    names = args.clips or (list(QUICK_CLIPS) if args.quick else None)
    clips = gt_clips(args.clips_dir, names)
    if not clips:
        raise SystemExit("no clip with ground-truth masks found")
    t0 = time.perf_counter()
    scores, notes = run(clips, args.backends, args.modes, args.corrections, args.target_iou, args.refine,
                        args.jobs, args.threads)
    text = (f"`{command_line('benchmarks.tracking_quality')}`  \n{machine()}; "
            f"{time.strftime('%Y-%m-%d')}; {time.perf_counter() - t0:.0f} s in all\n\n" + tables(scores, notes))
    emit(text, args.out)


if __name__ == "__main__":
    main()
