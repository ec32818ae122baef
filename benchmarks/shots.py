"""Multi-shot clips: cut detection, propagation that stops at cuts, objects found again or marked absent.

Each pattern joins ranges of the shared clips with ground truth into one clip (frames scaled down to its smallest
clip's size, masks with them), so the cuts and every object's truth on every frame are known, e.g.
``davis2016-blackswan[0:25] | davis2016-car-roundabout[0:25] | davis2016-blackswan[25:50]``: the swan is there,
absent, back. The product path runs on it: ``editor.pipeline.open_project`` (which detects the shots) and
``editor.pipeline.track`` with one click per object (``benchmarks.tracking_quality.centre_point`` of its true
mask) on the first frame of its first shot; the session gets the detected cuts.

Reported:
- cut detection: precision and recall of the detected cuts against the known ones (exact frame);
- per object and shot: whether the object is in the shot, what tracking decided (prompted there, found again on
  a frame, absent), and J (IoU with the truth per frame, averaged over the shot, with an empty mask on a frame
  where the object is absent counting J = 1 and any mask there J = 0);
- *carried*: frames with a mask carried across a cut: from a cut on, the run of frames where the object is not
  in the truth but has a mask (must be 0);
- for a shot where the object comes back: J of the same object tracked inside a single shot (the uncut source
  range from the same click, scored on the same frames): the target is re-found J within 0.1 of it;
- the baseline, side by side: the same clip and clicks tracked as one shot (no cuts, what tam did before).

    python -m benchmarks.shots              # every pattern (about 12 min on 2 cores)
    python -m benchmarks.shots --quick      # the swan pattern only
    python -m benchmarks.shots --patterns two car   # the patterns whose name holds a word
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
from benchmarks.tracking_quality import centre_point


@dataclass(frozen=True)
class Piece:
    """Frames ``start .. end - 1`` of a shared clip; ``objects`` maps its ground-truth ids to the pattern's ids."""

    clip: str
    start: int
    end: int
    objects: tuple[tuple[int, int], ...] = ()

    def label(self) -> str:
        return f"{self.clip.removeprefix('davis2016-')}[{self.start}:{self.end}]"


@dataclass(frozen=True)
class Pattern:
    name: str
    pieces: tuple[Piece, ...]

    def cuts(self) -> list[int]:
        out, at = [], 0
        for piece in self.pieces[:-1]:
            at += piece.end - piece.start
            out.append(at)
        return out

    def describe(self) -> str:
        return " | ".join(p.label() for p in self.pieces)


SWAN = Pattern("swan away and back", (
    Piece("davis2016-blackswan", 0, 25, ((1, 1),)),
    Piece("davis2016-car-roundabout", 0, 25),
    Piece("davis2016-blackswan", 25, 50, ((1, 1),)),
))
PATTERNS: tuple[Pattern, ...] = (
    SWAN,
    Pattern("swan gone for good", (
        Piece("davis2016-blackswan", 0, 25, ((1, 1),)),
        Piece("davis2016-cows", 0, 25),
        Piece("davis2016-dog", 0, 25),
    )),
    Pattern("car away and back", (
        Piece("davis2016-car-roundabout", 0, 25, ((1, 1),)),
        Piece("davis2016-blackswan", 0, 25),
        Piece("davis2016-car-roundabout", 25, 50, ((1, 1),)),
    )),
    Pattern("dog away and back", (
        Piece("davis2016-dog", 0, 20, ((1, 1),)),
        Piece("davis2016-bmx-trees", 0, 20),
        Piece("davis2016-dog", 20, 40, ((1, 1),)),
    )),
    Pattern("two objects, alternating", (
        Piece("davis2016-blackswan", 0, 20, ((1, 1),)),
        Piece("davis2016-car-roundabout", 0, 20, ((1, 2),)),
        Piece("davis2016-blackswan", 20, 40, ((1, 1),)),
        Piece("davis2016-car-roundabout", 20, 40, ((1, 2),)),
    )),
    Pattern("two objects, one per scene", (
        Piece("sttn-dogs_jump", 0, 30, ((1, 1), (2, 2))),
        Piece("davis2016-blackswan", 0, 25, ((1, 3),)),
        Piece("sttn-dogs_jump", 30, 60, ((1, 1), (2, 2))),
    )),
)


@dataclass
class ShotScore:
    pattern: str
    obj: int
    shot: int
    frames: range
    present: bool
    decision: str
    j: float
    carried: int
    single_j: float | None = None  # the same object tracked inside a single shot, on the same frames
    baseline_j: float = float("nan")  # tracked as one shot (no cuts)
    baseline_carried: int = 0


@dataclass
class PatternResult:
    pattern: Pattern
    detected: list[int]
    shots: list[ShotScore] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def precision(self) -> float:
        return len(set(self.detected) & set(self.pattern.cuts())) / len(self.detected) if self.detected else 1.0

    @property
    def recall(self) -> float:
        known = self.pattern.cuts()
        return len(set(self.detected) & set(known)) / len(known) if known else 1.0


# ------------------------------------------------------------------------------------------------ building


def _frame_reader(clip: Clip, size: tuple[int, int]):
    """Frames of a shared clip by index, RGB at ``size`` (w, h)."""
    def resize(image: np.ndarray) -> np.ndarray:
        return image if image.shape[1::-1] == size else cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    if clip.source.is_dir():
        from editor.frames import FrameFolder

        folder = FrameFolder(clip.source, check_sizes=False)
        return lambda i: resize(folder[i])
    from editor.video import iter_frames

    frames = [resize(f) for f in iter_frames(clip.source)]  # a short mp4 (sttn-dogs_jump): held decoded
    return frames.__getitem__


def build(pattern: Pattern, clips: dict[str, Clip], folder: Path) -> list[np.ndarray]:
    """Write the pattern's frames to ``folder`` (PNG, lossless) at the size of its smallest clip (frames are
    only ever scaled down); return its truth label maps (pattern ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = min((clips[p.clip].size for p in pattern.pieces), key=lambda s: s[0] * s[1])
    truth: list[np.ndarray] = []
    for piece in pattern.pieces:
        clip = clips[piece.clip]
        read = _frame_reader(clip, size)
        for i in range(piece.start, piece.end):
            cv2.imwrite(str(folder / f"{len(truth):05d}.png"), cv2.cvtColor(read(i), cv2.COLOR_RGB2BGR))
            labels = np.zeros(size[::-1], np.uint8)
            if i in clip.mask_files:
                gt = clip.gt(i, size)
                for src, dst in piece.objects:
                    labels[gt == src] = dst
            truth.append(labels)
    return truth


def first_clicks(pattern: Pattern, truth: Sequence[np.ndarray]) -> dict[int, tuple[int, tuple[int, int]]]:
    """Object -> (frame, (x, y)): one click at the centre of its true mask on the first frame of its first shot."""
    out: dict[int, tuple[int, tuple[int, int]]] = {}
    at = 0
    for piece in pattern.pieces:
        for _, obj in piece.objects:
            if obj not in out:
                frame = next(t for t in range(at, at + piece.end - piece.start) if (truth[t] == obj).any())
                out[obj] = (frame, centre_point(truth[frame] == obj))  # type: ignore[assignment]
        at += piece.end - piece.start
    return out


# ------------------------------------------------------------------------------------------------- scoring


def frame_j(truth: np.ndarray, ours: np.ndarray) -> float:
    """IoU of one object on one frame; an empty mask where the object is absent is right (1), any mask wrong (0)."""
    union = np.logical_or(truth, ours).sum()
    return float(np.logical_and(truth, ours).sum() / union) if union else 1.0


def carried_frames(truth: Sequence[np.ndarray], ours: Sequence[np.ndarray], cuts: Sequence[int]) -> int:
    """Frames with a mask carried across a cut: from each cut on, the run of frames where the object is not in
    the truth but has a mask (bool masks of one object per frame)."""
    count = 0
    for c in cuts:
        t = c
        while t < len(truth) and not truth[t].any() and ours[t].any():
            count += 1
            t += 1
    return count


def score_shots(
    pattern: Pattern, truth: Sequence[np.ndarray], masks: Sequence[np.ndarray], obj: int, cuts: Sequence[int],
    decisions: dict[int, str],
) -> list[ShotScore]:
    """Per shot (known cuts) of one object (``masks``: label maps, the object's id ``obj`` in both)."""
    bounds = [0, *pattern.cuts(), len(truth)]
    t_obj = [m == obj for m in truth]
    o_obj = [m == obj for m in masks]
    out = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        present = any(t_obj[t].any() for t in range(a, b))
        out.append(ShotScore(
            pattern.name, obj, i + 1, range(a, b), present, decisions.get(a, "?"),
            mean([frame_j(t_obj[t], o_obj[t]) for t in range(a, b)]),
            carried_frames(t_obj, o_obj, [a]) if a in cuts else 0,
        ))
    return out


def decisions_of(session, obj: int, pattern: Pattern, n: int) -> dict[int, str]:
    """Known shot start -> what tracking did there for the object: prompted, found again on a frame, absent."""
    out = {}
    for a in [0, *pattern.cuts()]:
        prompted = any(p.obj_id == obj and session.state.shot_of(p.frame)[0] == session.state.shot_of(a)[0]
                       for p in session.state.prompts)
        r = session.state.refound.get((session.state.shot_of(a)[0], obj))
        out[a] = "prompted" if prompted else "?" if r is None else "absent" if r.frame is None else f"found ({r.frame})"
    return out


# ------------------------------------------------------------------------------------------------- running


def _track(project, clicks: dict[int, tuple[int, tuple[int, int]]], backend: str, refine: str) -> list[int]:
    from editor import pipeline

    order = sorted(clicks)
    prompts = [pipeline.ObjectPrompt(frame=clicks[o][0], points=(clicks[o][1],)) for o in order]
    report = pipeline.track(project, prompts, backend=backend, refine=refine)
    return report.object_ids


def _masks(project) -> list[np.ndarray]:
    h, w = project.working_size[::-1]
    return [project.masks[t] if t in project.masks else np.zeros((h, w), np.uint8) for t in range(project.num_frames)]


def _relabel(masks: Sequence[np.ndarray], ids: Sequence[int], objs: Sequence[int]) -> list[np.ndarray]:
    lut = np.zeros(256, np.uint8)
    for session_id, obj in zip(ids, objs, strict=True):
        lut[session_id] = obj
    return [lut[m] for m in masks]


def single_shot_j(pattern: Pattern, clips: dict[str, Clip], tmp: Path, backend: str,
                  refine: str) -> dict[tuple[int, int], float]:
    """(object, shot index) -> J of the object tracked through its source clip uncut, with the same objects from
    the same clicks on the same source frame, scored on the frames the shot took from it: the shots where the
    objects come back."""
    from editor import pipeline

    out: dict[tuple[int, int], float] = {}
    for name in dict.fromkeys(p.clip for p in pattern.pieces):
        pieces = [(i, p) for i, p in enumerate(pattern.pieces) if p.clip == name and p.objects]
        if len(pieces) < 2:
            continue
        first, later = pieces[0][1], pieces[1:]
        lo, hi = first.start, max(p.end for _, p in later)
        single = Pattern(f"{pattern.name}: {name} uncut", (Piece(name, lo, hi, first.objects),))
        folder = tmp / f"single-{name}"
        truth = build(single, clips, folder / "frames")
        project = pipeline.open_project(folder / "frames", folder / "project", working_short_side=480)
        project.meta["shots"] = []  # one shot: the source range as it was filmed
        clicks = first_clicks(single, truth)
        ids = _track(project, clicks, backend, refine)
        masks = _relabel(_masks(project), ids, sorted(clicks))
        for i, p in later:
            for _, obj in p.objects:
                frames = range(p.start - lo, p.end - lo)
                out[(obj, i + 1)] = mean([frame_j(truth[t] == obj, masks[t] == obj) for t in frames])
    return out


def evaluate(pattern: Pattern, clips: dict[str, Clip], backend: str = "classical",
             refine: str = "auto") -> PatternResult:
    """Build the pattern's clip, detect its cuts, track it with and without cuts, and score every shot."""
    from editor import pipeline

    t0 = time.perf_counter()
    with temp_dir("tam-shots-") as tmp:
        truth = build(pattern, clips, tmp / "frames")
        clicks = first_clicks(pattern, truth)
        objs = sorted(clicks)
        project = pipeline.open_project(tmp / "frames", tmp / "project", working_short_side=480)
        result = PatternResult(pattern, list(project.cuts))
        ids = _track(project, clicks, backend, refine)
        session = pipeline.open_session(project, backend, refine)
        masks = _relabel(_masks(project), ids, objs)
        for session_id, obj in zip(ids, objs, strict=True):
            decisions = decisions_of(session, session_id, pattern, len(truth))
            result.shots += score_shots(pattern, truth, masks, obj, pattern.cuts(), decisions)

        baseline = pipeline.open_project(tmp / "frames", tmp / "baseline", working_short_side=480)
        baseline.meta["shots"] = []  # the same clip as one shot: what tracking did before cuts
        b_ids = _track(baseline, clicks, backend, refine)
        b_masks = _relabel(_masks(baseline), b_ids, objs)
        for score in result.shots:
            f = score.frames
            score.baseline_j = mean([frame_j(truth[t] == score.obj, b_masks[t] == score.obj) for t in f])
            if f.start in pattern.cuts():
                score.baseline_carried = carried_frames([m == score.obj for m in truth],
                                                        [m == score.obj for m in b_masks], [f.start])
        for (obj, shot), j in single_shot_j(pattern, clips, tmp, backend, refine).items():
            match = next(s for s in result.shots if s.obj == obj and s.shot == shot)
            match.single_j = j
    result.seconds = time.perf_counter() - t0
    return result


# ------------------------------------------------------------------------------------------------ reporting


def tables(results: Sequence[PatternResult]) -> str:
    summary = []
    for r in results:
        js = [s.j for s in r.shots]
        summary.append([
            r.pattern.name, r.pattern.describe(), " ".join(map(str, r.pattern.cuts())),
            " ".join(map(str, r.detected)) or "none", fmt(r.precision, 2), fmt(r.recall, 2),
            fmt(mean(js)), fmt(min(js)), sum(s.carried for s in r.shots),
            fmt(mean([s.baseline_j for s in r.shots])), sum(s.baseline_carried for s in r.shots),
            f"{r.seconds:.0f}",
        ])
    every = [s for r in results for s in r.shots]
    summary.append([
        "**all**", "", "", "", fmt(mean([r.precision for r in results]), 2), fmt(mean([r.recall for r in results]), 2),
        f"**{fmt(mean([s.j for s in every]))}**", fmt(min(s.j for s in every)), sum(s.carried for s in every),
        fmt(mean([s.baseline_j for s in every])), sum(s.baseline_carried for s in every), "",
    ])
    head = markdown_table(
        ["pattern", "shots", "cuts", "detected", "cut precision", "cut recall", "mean J", "worst J",
         "carried frames", "no-cuts J", "no-cuts carried", "s"], summary)
    rows = []
    for s in every:
        gap = "" if s.single_j is None else fmt(s.j - s.single_j, 2)
        rows.append([
            s.pattern, s.obj, f"{s.shot} ({s.frames.start}-{s.frames.stop - 1})",
            "yes" if s.present else "no", s.decision, fmt(s.j), s.carried,
            "" if s.single_j is None else fmt(s.single_j), gap, fmt(s.baseline_j), s.baseline_carried,
        ])
    detail = markdown_table(
        ["pattern", "object", "shot (frames)", "in the shot", "tracking", "J", "carried", "single-shot J",
         "J - single-shot J", "no-cuts J", "no-cuts carried"], rows)
    return head + "\n\n" + detail


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--backend", default="classical", choices=("auto", "classical", "neural"))
    p.add_argument("--refine", default="auto", choices=("auto", "off", "always"))
    p.add_argument("--patterns", nargs="*", default=None, help="only the patterns whose name holds one of these words")
    args = p.parse_args(argv)
    set_threads(args.threads)
    patterns = (SWAN,) if args.quick else PATTERNS
    if args.patterns:
        patterns = tuple(p for p in PATTERNS if any(word in p.name for word in args.patterns))
    needed = sorted({piece.clip for pat in patterns for piece in pat.pieces})
    clips = {c.name: c for c in gt_clips(args.clips_dir, needed)}
    missing = [n for n in needed if n not in clips]
    if missing:
        raise SystemExit(f"clips not found: {', '.join(missing)} (they live in ../shared/clips)")
    t0 = time.perf_counter()
    results = []
    for pattern in patterns:
        print(f"{pattern.name}: {pattern.describe()} ...", flush=True)
        results.append(evaluate(pattern, clips, args.backend, args.refine))
    text = (f"`{command_line('benchmarks.shots')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; "
            f"{time.perf_counter() - t0:.0f} s in all\n\n" + tables(results))
    emit(text, args.out)


if __name__ == "__main__":
    main()
