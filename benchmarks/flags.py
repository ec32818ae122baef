"""Needs-review flags against ground truth: do they catch the frames where tracking failed?

For every clip under ``../shared/clips`` with ground truth, both inits (``mask``, ``clicks``: the same start as
``benchmarks.tracking_quality``), the clip is tracked through the product's session (classical backends,
refinement auto), then every scored (frame, object) pair is judged by its IoU against the truth:
*bad* below 0.5, *good* at 0.8 or above. The table gives, per clip and init, the share of bad pairs the flags
catch (recall) and the share of good pairs they flag (the review work wasted), for ``tracking.flags`` and, as
the baseline, the low-confidence frames the refinement step recorded before (``SessionState.low_confidence``).

    python -m benchmarks.flags                                  # every clip, both inits
    python -m benchmarks.flags --clips sttn-dogs_jump --modes mask
    python -m benchmarks.flags --correction click               # and again after one correction

``--correction click|mask`` then plays a user who corrects once, as on the page: the flags are saved (with
the prints of their masks, as the page does), the simulated user fixes the worst scored (frame, object) with
one click at the centre of its largest error region (``click``, the standard simulated user) or with the true
mask (``mask``), the session re-tracks, and the flags are computed again. A second table scores them (the
corrected frame left out: the person just looked at it) beside the rules alone, without the flags carried
over from before the correction (``tracking.flag_carryover``), which is what the page did before.

The last line reads ``recall R good-flagged G`` over all scored pairs (after the correction, with one).
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
from benchmarks.tracking_quality import MODES, correction_click, scorable_frames, start_objects

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
    fresh: bool = False  # flagged by the rules alone, without the flags carried over from an earlier check


@dataclass
class ClipFlags:
    clip: str
    mode: str
    pairs: list[PairScore]
    seconds: float  # computing the flags (tracking excluded)
    corrected: tuple[int, int] | None = None  # (frame, truth id) the simulated user corrected before these flags

    def counts(self, baseline: bool | str = False) -> tuple[int, int, int, int]:
        """(bad pairs, bad flagged, good pairs, good flagged); ``baseline`` True: the low-confidence frames,
        "fresh": the rules alone."""
        bad = [p for p in self.pairs if p.iou < BAD_IOU]
        good = [p for p in self.pairs if p.iou >= GOOD_IOU]
        hit = {True: lambda p: p.baseline, "fresh": lambda p: p.fresh}.get(baseline, lambda p: p.flagged)
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


def _truth(clip, project, t: int, k: int) -> np.ndarray:
    w, h = project.working_size
    return cv2.resize(clip.gt(t), (w, h), interpolation=cv2.INTER_NEAREST) == k


def score_clip(clip, project, session, start: dict[int, int], sid: dict[int, int], mode: str, config=None,
               corrected: tuple[int, int] | None = None) -> ClipFlags:
    """Flags and IoUs of every scored pair of a tracked clip: the page's flags (the rules, and the flags saved
    in the project before whose masks are unchanged) and the rules alone. ``corrected``: the (frame, truth
    id) the simulated user corrected, left out of the score."""
    from editor import review
    from tracking.flag_carryover import carry_over
    from tracking.flags import FlagConfig, review_flags

    t0 = time.perf_counter()
    masks = [project.masks[t] if t in project.masks else None for t in range(project.num_frames)]
    keyframes = {o.id: sorted({p.frame for p in session.state.prompts if p.obj_id == o.id}) for o in session.objects}
    fresh = review_flags(masks, keyframes, session.signal_log.signals, project.frames, config or FlagConfig(),
                         cuts=session.state.cuts)
    flags = carry_over(fresh, review.load(project.state_dir), review.load_prints(project.state_dir), masks,
                       keyframes)
    seconds = time.perf_counter() - t0
    pairs = []
    scorable = scorable_frames(clip, start)
    for k, f0 in start.items():
        for t in clip.annotated:
            if t <= f0 or t not in scorable or masks[t] is None or (t, k) == corrected:
                continue
            o = sid[k]
            reasons = flags.get(t, {}).get(o, ())
            baseline = o in session.state.low_confidence.get(t, {})
            pairs.append(PairScore(t, k, _iou(masks[t] == o, _truth(clip, project, t, k)), bool(reasons), baseline,
                                   reasons, o in fresh.get(t, {})))
    return ClipFlags(clip.name, mode, pairs, seconds, corrected)


def correct_once(clip, project, session, sid: dict[int, int], scored: ClipFlags, how: str) -> tuple[int, int]:
    """The simulated user: save the flags as the page does, fix the worst scored (frame, object) once (one
    click at the centre of its largest error region, or the true mask) and re-track. Returns (frame, truth id)."""
    from editor import review

    worst = min(scored.pairs, key=lambda p: (p.iou, p.frame, p.obj))
    t, k = worst.frame, worst.obj
    flags: dict[int, dict[int, tuple[str, ...]]] = {}
    for p in scored.pairs:
        if p.reasons:
            flags.setdefault(p.frame, {})[sid[p.obj]] = p.reasons
    review.save(project.state_dir, flags, project.masks)
    truth = _truth(clip, project, t, k)
    if how == "mask":
        session.add_mask(t, sid[k], truth)
    else:
        click = correction_click(truth, project.masks[t] == sid[k])
        assert click is not None, "the worst pair is below IoU 1, so it has an error region"
        x, y, positive = click
        session.add_click(t, sid[k], x + 0.5, y + 0.5, positive=positive)
    for _ in session.propagate():
        pass
    return t, k


def _job(args: tuple[str, str, int | None, str]) -> tuple[ClipFlags, ClipFlags | None]:
    folder, mode, threads, correction = args
    set_threads(threads)
    clip = load_clip(Path(folder))
    assert clip is not None
    after = None
    with temp_dir() as tmp:
        project, session, start, sid = track(clip, tmp, mode)
        result = score_clip(clip, project, session, start, sid, mode)
        if correction != "none" and result.pairs:
            corrected = correct_once(clip, project, session, sid, result, correction)
            after = score_clip(clip, project, session, start, sid, mode, corrected=corrected)
    print(f"  {clip.name} {mode}: {len(result.pairs)} pairs", flush=True)
    return result, after


def _rate(hit: int, total: int) -> str:
    return fmt(hit / total) if total else "-"


def table(results: Sequence[ClipFlags]) -> tuple[str, float, float]:
    """The markdown table (after a correction, the baseline is the rules alone: no flag carried over)."""
    after = any(r.corrected is not None for r in results)
    base_kind: bool | str = "fresh" if after else True
    rows = []
    totals = np.zeros(4, int)
    base_totals = np.zeros(4, int)
    for r in results:
        c, b = np.array(r.counts()), np.array(r.counts(baseline=base_kind))
        totals += c
        base_totals += b
        row = [r.clip, r.mode, len(r.pairs), c[0], _rate(c[1], c[0]), _rate(b[1], b[0]),
               c[2], _rate(c[3], c[2]), _rate(b[3], b[2])]
        if after:
            row.insert(2, "-" if r.corrected is None else f"{r.corrected[0]} (object {r.corrected[1]})")
        rows.append(row)
    recall = totals[1] / max(totals[0], 1)
    good = totals[3] / max(totals[2], 1)
    with_bad = [r for r in results if r.counts()[0]]
    worst_recall = min((r.counts()[1] / r.counts()[0] for r in with_bad), default=float("nan"))
    worst_base = min((r.counts(base_kind)[1] / r.counts(base_kind)[0] for r in with_bad), default=float("nan"))
    total_row = ["**all**", "", sum(len(r.pairs) for r in results), totals[0], f"**{fmt(recall)}**",
                 _rate(base_totals[1], base_totals[0]), totals[2], f"**{fmt(good)}**",
                 _rate(base_totals[3], base_totals[2])]
    base = "rules alone" if after else "baseline"
    headers = ["clip", "init", "scored", "bad (IoU < 0.5)", "recall", f"recall ({base})", "good (IoU >= 0.8)",
               "good flagged", f"good flagged ({base})"]
    if after:
        total_row.insert(2, "")
        headers.insert(2, "corrected frame")
    text = markdown_table(headers, rows + [total_row])
    text += f"\n\nWorst recall of a clip with bad frames: {fmt(worst_recall)} ({base}: {fmt(worst_base)})."
    return text, float(recall), float(good)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="*", default=None, help="clip names (default: every clip with masks)")
    p.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    p.add_argument("--jobs", type=int, default=1, help="clips tracked in parallel processes")
    p.add_argument("--correction", default="none", choices=("none", "click", "mask"),
                   help="then correct the worst frame once (a click, or the true mask), re-track, score again")
    args = p.parse_args(argv)
    clips = gt_clips(args.clips_dir, args.clips)
    if not clips:
        raise SystemExit("no clip with ground-truth masks found")
    t0 = time.perf_counter()
    tasks = [(str(c.folder), m, args.threads, args.correction) for m in args.modes for c in clips]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(_job, tasks))
    else:
        runs = [_job(t) for t in tasks]
    text, recall, good = table([before for before, _ in runs])
    if args.correction != "none":
        text, recall, good = table([after for _, after in runs if after is not None])
        text = (f"Before the correction:\n\n{table([before for before, _ in runs])[0]}\n\n"
                f"After one correction ({args.correction}) of the worst frame and a re-track:\n\n{text}")
    emit(f"`{command_line('benchmarks.flags')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; "
         f"{time.perf_counter() - t0:.0f} s in all\n\n{text}\n\nrecall {recall:.3f} good-flagged {good:.3f}", args.out)


if __name__ == "__main__":
    main()
