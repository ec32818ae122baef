"""One click on one object, the whole clip: what ``tam remove INPUT --point X,Y`` keeps hold of.

For every object with ground truth in the chosen clips: one positive click at the point of its first mask
farthest from the boundary (as ``benchmarks.tracking_quality`` clicks), then the product's own
``editor.pipeline.track`` tracks that object alone through the whole clip (a project per clip, working short
side 480, refinement as given). Scored on every annotated frame from the click's frame on, at the working size:
- IoU with the true mask, its mean and the share of frames above 0.5;
- coverage: the share of the object's true pixels inside its mask dilated by ``--dilate`` px (the removal's
  paste-back dilation), i.e. how much of the object a removal would take away: mean, and share of frames
  covered at least 90 %.
On a sparsely annotated clip only the masks that are truth for the object count (``scorable_frames``: cutie-judo's
later masks only introduce new objects, so its objects are not scored).

``--start mask`` gives the tracker the object's true first mask instead of the click (a perfect start, through
the same session and refinement): the part of a one-click result that is the tracker's own, not the click's.

``--corrections N`` then plays the standard simulated user of interactive segmentation on the tracked clip:
while some scored frame has IoU below ``--target`` (0.9), one click goes on the worst such frame, at the centre
of its largest error region (positive on a miss, negative on a spill; ``benchmarks.tracking_quality.
correction_click``), into the live session: it edits the tracked mask there, and the object is propagated again
between that frame's neighbouring keyframes, up to N clicks. The table then says how many corrections it took
and what they reached.

    python -m benchmarks.one_click                      # every clip with masks (about 3 min)
    python -m benchmarks.one_click --quick              # sttn-dogs_jump only
    python -m benchmarks.one_click --start mask         # each object from its true first mask
    python -m benchmarks.one_click --corrections 5      # up to 5 corrections per object
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from benchmarks.common import (
    Clip,
    command_line,
    emit,
    fmt,
    gt_clips,
    machine,
    markdown_table,
    mean,
    parser,
    set_threads,
    temp_dir,
)
from benchmarks.tracking_quality import centre_point, correction_click, scorable_frames

QUICK_CLIPS = ("sttn-dogs_jump",)


@dataclass(frozen=True)
class Correction:
    """One simulated correction: where it went, its frame's IoU and the object's mean IoU over the scored
    frames before and after the click (after: once the session propagated again)."""

    frame: int
    positive: bool
    frame_before: float
    frame_after: float
    mean_before: float
    mean_after: float


@dataclass
class ObjectScore:
    clip: str
    object_id: int
    start: int
    click_iou: float
    ious: list[float] = field(default_factory=list)
    coverage: list[float] = field(default_factory=list)
    seconds: float = 0.0
    corrections: int = 0  # correction clicks added after the first one (``--corrections``)
    rounds: int = 1  # times the object was tracked (once per correction, plus one)
    steps: list[Correction] = field(default_factory=list)  # each correction, in order

    @property
    def tracked(self) -> float:
        return float(np.mean(np.array(self.ious) > 0.5)) if self.ious else float("nan")

    @property
    def covered(self) -> float:
        return float(np.mean(np.array(self.coverage) >= 0.9)) if self.coverage else float("nan")


def _track_from_mask(project, truth: np.ndarray, start: int, backend: str, refine: str) -> None:
    """Track one object alone from its true mask on frame ``start`` (a fresh session on ``project``)."""
    from editor import pipeline

    session = pipeline.open_session(project, backend, refine)
    session.reset_state()
    project.masks.clear()
    session.add_mask(start, session.add_object(), truth)
    for _ in session.propagate():
        pass


def _compare(clip: Clip, project, k: int, f: int, disk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Object ``k`` on frame ``f`` at the working size: (true mask, our mask, true pixels our dilated mask misses)."""
    truth = clip.gt(f, project.working_size) == k
    labels = project.masks[f]
    ours = np.zeros(truth.shape, bool) if labels is None else labels > 0
    return truth, ours, truth & ~(cv2.dilate(ours.astype(np.uint8), disk) > 0)


def _iou(truth: np.ndarray, ours: np.ndarray) -> float:
    union = (truth | ours).sum()
    return float((truth & ours).sum() / union) if union else 1.0


def _track_with_corrections(
    project, clip: Clip, k: int, start: int, point: tuple[int, int], frames: Sequence[int], *,
    backend: str, refine: str, corrections: int, target: float, disk: np.ndarray,
) -> list[Correction]:
    """Track object ``k`` from its click, then play the standard simulated user on the tracked clip: on the
    scored frame whose IoU is worst (below ``target``), one click at the centre of the largest error region
    (positive on a miss, negative on a spill), added to the live session (it edits the tracked mask there) and
    propagated again (only between that frame's neighbouring keyframes), until every frame reaches ``target``
    or ``corrections`` are spent. Returns the corrections made."""
    from editor import pipeline

    pipeline.track(project, [pipeline.ObjectPrompt(frame=start, points=(point,))], backend=backend, refine=refine)
    if not corrections:
        return []
    session = pipeline.open_session(project, backend, refine)
    obj = session.objects[0].id
    steps: list[Correction] = []
    scored = {f: _iou(*_compare(clip, project, k, f, disk)[:2]) for f in frames}
    while len(steps) < corrections:
        f = min(frames, key=lambda g: (scored[g], g))
        if scored[f] >= target:
            break
        truth, ours, _ = _compare(clip, project, k, f, disk)
        click = correction_click(truth, ours)
        if click is None:
            break
        x, y, positive = click
        session.add_click(f, obj, x + 0.5, y + 0.5, positive=positive)
        for _ in session.propagate():
            pass
        after = {g: _iou(*_compare(clip, project, k, g, disk)[:2]) for g in frames}
        steps.append(Correction(f, positive, scored[f], after[f], mean(list(scored.values())),
                                mean(list(after.values()))))
        scored = after
    return steps


def evaluate_clip(
    clip: Clip,
    backend: str = "classical",
    refine: str = "auto",
    dilate: int = 4,
    start_from: str = "click",
    corrections: int = 0,
    target: float = 0.9,
) -> list[ObjectScore]:
    """Click each of ``clip``'s objects once (``start_from="mask"``: give its true first mask), track it alone
    and score every annotated frame from the click on; with ``corrections``, first add up to that many
    correction clicks, each on the frame whose IoU is worst, until every frame has IoU ``target``."""
    from editor import pipeline

    if start_from not in ("click", "mask"):
        raise ValueError(f"start_from must be 'click' or 'mask', got {start_from!r}")
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target is the IoU every frame should reach, in (0, 1], got {target}")
    if corrections and start_from != "click":
        raise ValueError("corrections are clicks added to the first click: use them with start_from='click'")

    scores = []
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
    with temp_dir("tam-one-click-") as tmp:
        project = pipeline.open_project(clip.source, tmp / clip.name, working_short_side=480)
        for k in clip.object_ids():
            start = next((f for f in clip.annotated if (clip.gt(f) == k).any()), None)
            point = centre_point(clip.gt(start) == k) if start is not None else None
            later = {f for f in scorable_frames(clip, {k: start}) if f > start}
            if point is None or not later:
                continue  # nothing to score after the click (a sparse clip whose later masks hold other objects)
            frames = sorted(later | {start})
            t0 = time.perf_counter()
            steps: list[Correction] = []
            if start_from == "mask":
                _track_from_mask(project, clip.gt(start, project.working_size) == k, start, backend, refine)
            else:
                steps = _track_with_corrections(
                    project, clip, k, start, point, frames, backend=backend, refine=refine,
                    corrections=corrections, target=target, disk=disk,
                )
            score = ObjectScore(clip.name, k, start, 0.0, seconds=time.perf_counter() - t0,
                                 corrections=len(steps), rounds=len(steps) + 1, steps=steps)
            for f in frames:
                truth, ours, missed = _compare(clip, project, k, f, disk)
                iou = _iou(truth, ours)
                if f == start:
                    score.click_iou = iou
                score.ious.append(iou)
                if truth.any():
                    score.coverage.append(1.0 - float(missed.sum() / truth.sum()))
            scores.append(score)
    return scores


def table(scores: Sequence[ObjectScore], dilate: int) -> str:
    body = [
        [s.clip, s.object_id, s.start, len(s.ious), fmt(s.click_iou), fmt(mean(s.ious)), fmt(s.tracked, 2),
         fmt(mean(s.coverage)), fmt(s.covered, 2), fmt(s.seconds / max(len(s.ious), 1) / s.rounds, 2)]
        for s in scores
    ]
    body.append([
        "**mean**", len(scores), "", sum(len(s.ious) for s in scores), fmt(mean([s.click_iou for s in scores])),
        f"**{fmt(mean([mean(s.ious) for s in scores]))}**", f"**{fmt(mean([s.tracked for s in scores]), 2)}**",
        f"**{fmt(mean([mean(s.coverage) for s in scores]))}**", f"**{fmt(mean([s.covered for s in scores]), 2)}**",
        "",
    ])
    headers = ["clip", "object", "start frame", "frames", "start IoU", "mean IoU", "frames IoU > 0.5",
               f"coverage ({dilate} px)", "frames covered >= 90 %", "s/frame"]
    if any(s.corrections for s in scores):  # the clicks it took
        headers.insert(3, "corrections")
        for row, s in zip(body, scores, strict=False):
            row.insert(3, s.corrections)
        body[-1].insert(3, f"{fmt(mean([s.corrections for s in scores]), 1)}/obj")
    return markdown_table(headers, body)


def corrections_table(scores: Sequence[ObjectScore]) -> str:
    """Each correction in order: its frame and sign, that frame's IoU and the object's mean IoU before and after;
    a correction that lowers the mean shows here."""
    body = [
        [s.clip, s.object_id, i, c.frame, "+" if c.positive else "-", fmt(c.frame_before), fmt(c.frame_after),
         fmt(c.mean_before), fmt(c.mean_after), fmt(c.mean_after - c.mean_before)]
        for s in scores for i, c in enumerate(s.steps, 1)
    ]
    headers = ["clip", "object", "correction", "frame", "click", "frame IoU before", "after", "mean IoU before",
               "after", "change"]
    return markdown_table(headers, body)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="*", default=None, help="clip names (default: every clip with masks)")
    p.add_argument("--backend", default="classical", choices=("auto", "classical", "neural"))
    p.add_argument("--refine", default="auto", choices=("auto", "off", "always"))
    p.add_argument("--dilate", type=int, default=4, help="px the mask grows for the coverage (paste-back dilation)")
    p.add_argument("--start", default="click", choices=("click", "mask"),
                   help="what the tracker starts from: one click, or the object's true first mask")
    p.add_argument("--corrections", type=int, default=0,
                   help="up to this many correction clicks per object, each on the frame whose IoU is worst")
    p.add_argument("--target", type=float, default=0.9, help="corrections stop once every frame has this IoU")
    args = p.parse_args(argv)
    set_threads(args.threads)
    names = args.clips or (list(QUICK_CLIPS) if args.quick else None)
    clips = gt_clips(args.clips_dir, names)
    if not clips:
        raise SystemExit("no clip with ground-truth masks found")
    if args.corrections < 0:
        raise SystemExit("--corrections must be 0 or more")
    t0 = time.perf_counter()
    scores = [
        s for clip in clips
        for s in evaluate_clip(clip, args.backend, args.refine, args.dilate, args.start, args.corrections, args.target)
    ]
    text = (f"`{command_line('benchmarks.one_click')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; "
            f"{time.perf_counter() - t0:.0f} s in all\n\n" + table(scores, args.dilate))
    if any(s.steps for s in scores):
        text += "\n\nEach correction:\n\n" + corrections_table(scores)
    emit(text, args.out)


if __name__ == "__main__":
    main()
