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

``--corrections N`` then plays a user who wants the object gone everywhere: while some scored frame is covered
less than 90 %, one more positive click goes on the worst such frame (at the deepest point of the largest part
of the object the dilated mask misses; ``X,Y@F`` on the CLI, a correction on the page) and the object is tracked
again, up to N clicks. The table then says how many corrections it took and what they reached.

    python -m benchmarks.one_click                      # every clip with masks (about 3 min)
    python -m benchmarks.one_click --quick              # sttn-dogs_jump only
    python -m benchmarks.one_click --start mask         # each object from its true first mask
    python -m benchmarks.one_click --quick --corrections 20   # sttn-dogs_jump, up to 20 corrections per dog
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
from benchmarks.tracking_quality import centre_point, scorable_frames

QUICK_CLIPS = ("sttn-dogs_jump",)


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


def _worst_miss(
    clip: Clip, project, k: int, frames: Sequence[int], disk: np.ndarray, target: float,
    clicked: Sequence[tuple[int, float, float, bool]] = (),
) -> tuple[int, float, float] | None:
    """Where a user would click next: on the scored frame whose object the dilated mask covers least (below
    ``target``), at the deepest point of the largest part missed (video pixels). A frame whose click would
    repeat one in ``clicked`` (that correction did not help there) yields to the next worst. None when done."""
    (ww, wh), (nw, nh) = project.working_size, project.native_size
    short = []
    for f in frames:
        truth, _, missed = _compare(clip, project, k, f, disk)
        if truth.any() and (covered := 1.0 - missed.sum() / truth.sum()) < target:
            short.append((covered, f, missed))
    done = {(f, x, y) for f, x, y, _ in clicked}
    for _, f, missed in sorted(short, key=lambda t: (t[0], t[1])):
        x, y = centre_point(missed)
        click = (f, (x + 0.5) * nw / ww, (y + 0.5) * nh / wh)
        if click not in done:
            return click
    return None


def _track_with_corrections(
    project, clip: Clip, k: int, start: int, point: tuple[int, int], frames: Sequence[int], *,
    backend: str, refine: str, corrections: int, target: float, disk: np.ndarray,
) -> tuple[int, int]:
    """Track object ``k`` from its click, then add correction clicks (each followed by tracking again) until
    every frame is covered ``target`` or ``corrections`` are spent. Returns (corrections used, times tracked)."""
    from editor import pipeline
    from editor.errors import InputError

    added: list[tuple[int, float, float, bool]] = []
    rounds = 0
    while True:
        rounds += 1
        prompt = pipeline.ObjectPrompt(frame=start, points=(point,), later_clicks=tuple(added))
        try:
            pipeline.track(project, [prompt], backend=backend, refine=refine)
        except InputError:  # the last correction selected nothing on its frame: track without it, and stop
            if not added:
                raise
            added.pop()
            pipeline.track(project, [pipeline.ObjectPrompt(frame=start, points=(point,), later_clicks=tuple(added))],
                           backend=backend, refine=refine)
            return len(added), rounds + 1
        if len(added) >= corrections or (miss := _worst_miss(clip, project, k, frames, disk, target, added)) is None:
            return len(added), rounds
        added.append((*miss, True))


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
    correction clicks, each on the frame covered worst, until every frame is covered ``target``."""
    from editor import pipeline

    if start_from not in ("click", "mask"):
        raise ValueError(f"start_from must be 'click' or 'mask', got {start_from!r}")
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target is a share of the object to cover, in (0, 1], got {target}")
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
            used, rounds = 0, 1
            if start_from == "mask":
                _track_from_mask(project, clip.gt(start, project.working_size) == k, start, backend, refine)
            else:
                used, rounds = _track_with_corrections(
                    project, clip, k, start, point, frames, backend=backend, refine=refine,
                    corrections=corrections, target=target, disk=disk,
                )
            score = ObjectScore(clip.name, k, start, 0.0, seconds=time.perf_counter() - t0,
                                 corrections=used, rounds=rounds)
            for f in frames:
                truth, ours, missed = _compare(clip, project, k, f, disk)
                union = (truth | ours).sum()
                iou = float((truth & ours).sum() / union) if union else 1.0
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


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="*", default=None, help="clip names (default: every clip with masks)")
    p.add_argument("--backend", default="classical", choices=("auto", "classical", "neural"))
    p.add_argument("--refine", default="auto", choices=("auto", "off", "always"))
    p.add_argument("--dilate", type=int, default=4, help="px the mask grows for the coverage (paste-back dilation)")
    p.add_argument("--start", default="click", choices=("click", "mask"),
                   help="what the tracker starts from: one click, or the object's true first mask")
    p.add_argument("--corrections", type=int, default=0,
                   help="up to this many correction clicks per object, each on the frame covered worst")
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
        for s in evaluate_clip(clip, args.backend, args.refine, args.dilate, args.start, args.corrections)
    ]
    text = (f"`{command_line('benchmarks.one_click')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; "
            f"{time.perf_counter() - t0:.0f} s in all\n\n" + table(scores, args.dilate))
    emit(text, args.out)


if __name__ == "__main__":
    main()
