"""Needs-review flags against ground truth: do they catch the frames where tracking failed?

For every clip under ``../shared/clips`` with ground truth, both inits (``mask``, ``clicks``: the same start as
``benchmarks.tracking_quality``), the clip is tracked through the product's session (classical backends,
refinement auto), then every scored (frame, object) pair is judged by its IoU against the truth:
*bad* below 0.5, *good* at 0.8 or above. The table gives, per clip and init, the share of bad pairs the flags
catch (recall) and the share of good pairs they flag (the review work wasted), for ``tracking.flags`` and, as
the baseline, the low-confidence frames the refinement step recorded before (``SessionState.low_confidence``).

    python -m benchmarks.flags                                  # every clip, both inits
    python -m benchmarks.flags --clips sttn-dogs_jump --modes mask

The last line reads ``recall R good-flagged G`` over all scored pairs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import (
    command_line,
    emit,
    fmt,
    gt_clips,
    load_clip,
    machine,
    markdown_table,
    parser,
    set_threads,
    temp_dir,
)
from benchmarks.tracking_quality import MODES, scorable_frames, start_objects

BAD_IOU = 0.5
GOOD_IOU = 0.8


@dataclass(frozen=True)
class PairScore:
    """One scored (frame, object): its IoU against the truth and whether each method flagged it."""

    frame: int
    obj: int
    iou: float
    flagged: bool
    baseline: bool
    reasons: tuple[str, ...] = ()


@dataclass
class ClipFlags:
    clip: str
    mode: str
    pairs: list[PairScore]
    seconds: float  # computing the flags (tracking excluded)

    def counts(self, baseline: bool = False) -> tuple[int, int, int, int]:
        """(bad pairs, bad flagged, good pairs, good flagged)."""
        bad = [p for p in self.pairs if p.iou < BAD_IOU]
        good = [p for p in self.pairs if p.iou >= GOOD_IOU]
        hit = (lambda p: p.baseline) if baseline else (lambda p: p.flagged)
        return len(bad), sum(map(hit, bad)), len(good), sum(map(hit, good))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.logical_or(a, b).sum())
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def track(clip, work_dir: Path, mode: str):
    """Track ``clip``'s truth objects in a project under ``work_dir``; returns (project, session, start, ids)."""
    from editor import pipeline

    project = pipeline.open_project(clip.source, work_dir / f"{clip.name}-{mode}", working_short_side=480)
    session = pipeline.open_session(project, "classical", "auto")
    if not session.is_done():
        if not session.objects:
            start, sid, _, _ = start_objects(clip, session, project.working_size, mode)
        for _ in session.propagate():
            pass
    start, sid = {}, {}
    for o in session.objects:  # "gt K" names map session objects back to truth ids
        k = int(o.name.split()[-1])
        sid[k] = o.id
        start[k] = min(p.frame for p in session.state.prompts if p.obj_id == o.id)
    return project, session, start, sid


def score_clip(clip, project, session, start: dict[int, int], sid: dict[int, int], mode: str, config=None) -> ClipFlags:
    """Flags and IoUs of every scored pair of a tracked clip."""
    from tracking.flags import FlagConfig, review_flags

    t0 = time.perf_counter()
    masks = [project.masks[t] if t in project.masks else None for t in range(project.num_frames)]
    keyframes = {o.id: sorted({p.frame for p in session.state.prompts if p.obj_id == o.id}) for o in session.objects}
    flags = review_flags(masks, keyframes, session.signal_log.signals, project.frames, config or FlagConfig())
    seconds = time.perf_counter() - t0
    w, h = project.working_size
    pairs = []
    scorable = scorable_frames(clip, start)
    for k, f0 in start.items():
        for t in clip.annotated:
            if t <= f0 or t not in scorable or masks[t] is None:
                continue
            gt = cv2.resize(clip.gt(t), (w, h), interpolation=cv2.INTER_NEAREST) == k
            o = sid[k]
            reasons = flags.get(t, {}).get(o, ())
            baseline = o in session.state.low_confidence.get(t, {})
            pairs.append(PairScore(t, k, _iou(masks[t] == o, gt), bool(reasons), baseline, reasons))
    return ClipFlags(clip.name, mode, pairs, seconds)


def _job(args: tuple[str, str, int | None]) -> ClipFlags:
    folder, mode, threads = args
    set_threads(threads)
    clip = load_clip(Path(folder))
    assert clip is not None
    with temp_dir() as tmp:
        result = score_clip(clip, *track(clip, tmp, mode), mode)
    print(f"  {clip.name} {mode}: {len(result.pairs)} pairs", flush=True)
    return result


def _rate(hit: int, total: int) -> str:
    return fmt(hit / total) if total else "-"


def table(results: Sequence[ClipFlags]) -> tuple[str, float, float]:
    rows = []
    totals = np.zeros(4, int)
    base_totals = np.zeros(4, int)
    for r in results:
        c, b = np.array(r.counts()), np.array(r.counts(baseline=True))
        totals += c
        base_totals += b
        rows.append([r.clip, r.mode, len(r.pairs), c[0], _rate(c[1], c[0]), _rate(b[1], b[0]),
                     c[2], _rate(c[3], c[2]), _rate(b[3], b[2])])
    recall = totals[1] / max(totals[0], 1)
    good = totals[3] / max(totals[2], 1)
    worst = [r for r in results if r.counts()[0]]
    worst_recall = min((r.counts()[1] / r.counts()[0] for r in worst), default=float("nan"))
    rows.append(["**all**", "", sum(len(r.pairs) for r in results), totals[0], f"**{fmt(recall)}**",
                 _rate(base_totals[1], base_totals[0]), totals[2], f"**{fmt(good)}**",
                 _rate(base_totals[3], base_totals[2])])
    text = markdown_table(
        ["clip", "init", "scored", "bad (IoU < 0.5)", "recall", "recall (baseline)", "good (IoU >= 0.8)",
         "good flagged", "good flagged (baseline)"], rows)
    text += f"\n\nWorst recall of a clip with bad frames: {fmt(worst_recall)}."
    return text, float(recall), float(good)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="*", default=None, help="clip names (default: every clip with masks)")
    p.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    p.add_argument("--jobs", type=int, default=1, help="clips tracked in parallel processes")
    args = p.parse_args(argv)
    clips = gt_clips(args.clips_dir, args.clips)
    if not clips:
        raise SystemExit("no clip with ground-truth masks found")
    t0 = time.perf_counter()
    tasks = [(str(c.folder), m, args.threads) for m in args.modes for c in clips]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(_job, tasks))
    else:
        results = [_job(t) for t in tasks]
    text, recall, good = table(results)
    emit(f"`{command_line('benchmarks.flags')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; "
         f"{time.perf_counter() - t0:.0f} s in all\n\n{text}\n\nrecall {recall:.3f} good-flagged {good:.3f}", args.out)


if __name__ == "__main__":
    main()
