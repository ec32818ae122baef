"""Clicks to a good mask: the standard protocol of interactive segmentation, through the session's own verbs.

On frames of the shared DAVIS clips (every ``--step``-th frame of each, one object), a simulated user clicks at
the centre of the largest error region (positive on a miss, negative on a spill, at the interior point
farthest from the region's boundary: ``benchmarks.tracking_quality.correction_click``), up to ``--max-clicks``
clicks. Every click goes through ``TrackSession.add_click`` on the same frame, so it adds to the previous ones
(a correction of the mask that is there, not a new start). A frame stops once it reached IoU 0.90 after at
least 5 clicks (later clicks change none of the figures below). Reported per backend:
- NoC@85 / NoC@90: clicks needed to reach IoU 0.85 / 0.90 (``--max-clicks`` when never);
- mIoU after 1, 3 and 5 clicks;
- honoured: the share of clicks after which the clicked pixel is on the side asked for (must be 100 %);
- seconds per click (the session call: segmenter, honouring, composing).

``--stability`` adds, per frame, 25 first clicks on a 2 px grid around the object's centre (offsets -4..4 px in
steps of 2): the share of them whose IoU is below half of the centre click's IoU (the issue asks < 5 %).

The neural row (``--backends classical,mobile_sam``) runs MobileSAM with the synthetic conformance weights
(``../shared/conformance``) when no checkpoint is found: its IoU figures then mean nothing, only speed and the
share of honoured clicks do.

    python -m benchmarks.clicks                          # every 10th frame of every DAVIS clip, classical
    python -m benchmarks.clicks --step 30 --stability    # a third of the frames, with the stability test
    python -m benchmarks.clicks --step 40 --offset 20    # frames the reported run (offset 0) never sees
    python -m benchmarks.clicks --backends classical,mobile_sam --quick
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import (
    CONFORMANCE,
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
from benchmarks.tracking_quality import centre_point, correction_click
from tracking.backend import Segmenter

QUICK_CLIPS = ("davis2016-blackswan", "davis2016-dog")
STOP_IOU = 0.90  # a frame stops once it is this good ...
STOP_AFTER = 5  # ... after at least this many clicks


@dataclass
class FrameRun:
    """One frame's clicks: IoU and honoured flag after each click, seconds per click."""

    clip: str
    frame: int
    ious: list[float] = field(default_factory=list)
    honoured: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stability: float = float("nan")  # share of 2 px-grid first clicks below half the centre click's IoU


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def noc(ious: Sequence[float], threshold: float, max_clicks: int) -> int:
    """Clicks needed to reach ``threshold`` (1-based), ``max_clicks`` when never."""
    return next((k + 1 for k, v in enumerate(ious[:max_clicks]) if v >= threshold), max_clicks)


def iou_after(ious: Sequence[float], k: int) -> float:
    """IoU after ``k`` clicks; a run stopped early (good enough) keeps its last IoU."""
    if not ious:
        return 0.0
    return float(ious[min(k, len(ious)) - 1])


class _Masks:
    """A one-frame mask store in memory (the session's ``MaskStore``)."""

    def __init__(self, n: int = 1) -> None:
        self._maps: dict[int, np.ndarray] = {}
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> np.ndarray | None:
        return self._maps.get(index)

    def __setitem__(self, index: int, value: np.ndarray) -> None:
        self._maps[index] = np.array(value, dtype=np.uint8)

    def __delitem__(self, index: int) -> None:
        self._maps.pop(index, None)

    def __contains__(self, index: object) -> bool:
        return index in self._maps


def _no_propagation():
    raise RuntimeError("the click benchmark segments single frames; nothing is propagated")


class _Keyed:
    """A segmenter whose cache keys are prefixed, so one-frame sessions of different frames never share one."""

    def __init__(self, segmenter: Segmenter, prefix: object) -> None:
        self.inner, self.prefix = segmenter, prefix
        self.backend, self.device = segmenter.backend, segmenter.device

    def set_image(self, image: np.ndarray, key: object | None = None) -> None:
        self.inner.set_image(image, key=(self.prefix, key))

    def predict(self, *args, **kwargs):
        return self.inner.predict(*args, **kwargs)


def _session(image: np.ndarray, segmenter: Segmenter, state_dir: Path):
    from tracking.session import TrackSession

    return TrackSession([image], _Masks(), state_dir, _Keyed(segmenter, state_dir.name), _no_propagation)


def truth_box(truth: np.ndarray) -> tuple[float, float, float, float]:
    """The box a user draws around the object: its tight bounding box (x0, y0, x1, y1), pixel edges."""
    ys, xs = np.nonzero(truth)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def click_frame(
    image: np.ndarray, truth: np.ndarray, segmenter: Segmenter, state_dir: Path, max_clicks: int = 20,
    first: str = "click",
) -> tuple[list[float], list[bool], list[float]]:
    """The simulated user on one frame: IoU and honoured flag after each click, seconds per click.

    With ``first="box"`` the user first draws the object's bounding box (two corner clicks on the page, so it
    counts as two clicks: its IoU is listed twice, with its time split between them), then corrects with clicks."""
    from tracking.session import SessionError

    session = _session(image, segmenter, state_dir)
    obj = session.add_object()
    mask = np.zeros(truth.shape, bool)
    ious: list[float] = []
    honoured: list[bool] = []
    seconds: list[float] = []
    if first == "box":
        t0 = time.perf_counter()
        mask = session.add_box(0, obj, truth_box(truth)) == obj
        half = (time.perf_counter() - t0) / 2
        ious += [iou(mask, truth)] * 2
        seconds += [half, half]
    elif first != "click":
        raise ValueError(f"first must be 'click' or 'box', got {first!r}")
    for k in range(len(ious), max_clicks):
        click = correction_click(truth, mask)
        if click is None:
            break
        x, y, positive = click
        t0 = time.perf_counter()
        try:
            labels = session.add_click(0, obj, x, y, positive=positive)
            mask = labels == obj
        except (SessionError, ValueError):  # refused (e.g. negative clicks alone): the mask stays
            pass
        seconds.append(time.perf_counter() - t0)
        honoured.append(bool(mask[y, x]) == positive)
        ious.append(iou(mask, truth))
        if k + 1 >= STOP_AFTER and ious[-1] >= STOP_IOU:
            break
    return ious, honoured, seconds


def stability(image: np.ndarray, truth: np.ndarray, segmenter: Segmenter, state_dir: Path, step: int = 2) -> float:
    """Share of 25 first clicks on a ``step`` px grid around the object's centre whose IoU is below half of the
    centre click's IoU."""
    centre = centre_point(truth)
    if centre is None:
        return float("nan")
    cx, cy = centre
    h, w = truth.shape
    scores: dict[tuple[int, int], float] = {}
    for dy in range(-2 * step, 2 * step + 1, step):
        for dx in range(-2 * step, 2 * step + 1, step):
            x, y = min(w - 1, max(0, cx + dx)), min(h - 1, max(0, cy + dy))
            folder = state_dir / f"s{dx}_{dy}"
            session = _session(image, segmenter, folder)
            obj = session.add_object()
            scores[(dx, dy)] = iou(session.add_click(0, obj, x, y) == obj, truth)
    ref = scores[(0, 0)]
    return float(np.mean([v < 0.5 * ref for v in scores.values()]))


def benchmark_frames(clips: Sequence[Clip], step: int, offset: int = 0) -> list[tuple[Clip, int]]:
    """Every ``step``-th annotated frame of each clip (from its ``offset``-th) whose object is there."""
    out = []
    for clip in clips:
        for f in clip.annotated[offset::step]:
            if (clip.gt(f) > 0).any():
                out.append((clip, f))
    return out


def _frame(clip: Clip, index: int) -> np.ndarray:
    import cv2

    path = clip.folder / "frames"
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    image = cv2.imread(str(files[index]), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _synthetic_mobile_sam() -> tuple[Segmenter, str]:
    """MobileSAM from its checkpoint when ``weights.locate`` finds one, else with the synthetic conformance weights."""
    from tracking.sam import SamSegmenter, build_mobile_sam, load_sam

    try:
        from weights import locate

        path = locate("mobile_sam")
    except (ImportError, KeyError, ValueError):
        path = None
    if path is not None:
        return SamSegmenter(load_sam("vit_t", path, "cpu"), "mobile_sam"), "checkpoint"
    sys.path.insert(0, str(CONFORMANCE))
    try:
        import synth_weights
    finally:
        sys.path.remove(str(CONFORMANCE))
    from weights import load_strict

    manifest = synth_weights.load_manifest(str(CONFORMANCE / "mobile_sam" / "manifest.json"))
    model = build_mobile_sam()
    load_strict(model, dict(synth_weights.synth_state_dict(manifest)), "mobile_sam")
    return SamSegmenter(model.eval(), "mobile_sam"), "synthetic weights (IoU meaningless)"


def make_segmenter(name: str) -> tuple[Segmenter, str]:
    if name == "classical":
        from tracking.classical import GrabCutSegmenter

        return GrabCutSegmenter(), "no weights"
    if name == "mobile_sam":
        return _synthetic_mobile_sam()
    raise ValueError(f"unknown backend {name!r}: use classical or mobile_sam")


def evaluate(
    frames: Sequence[tuple[Clip, int]],
    segmenter: Segmenter,
    max_clicks: int = 20,
    with_stability: bool = False,
    progress: Callable[[int, int], None] | None = None,
    first: str = "click",
) -> list[FrameRun]:
    runs = []
    with temp_dir("tam-clicks-") as tmp:
        for i, (clip, f) in enumerate(frames):
            image = _frame(clip, f)
            truth = clip.gt(f) > 0
            run = FrameRun(clip.name, f)
            run.ious, run.honoured, run.seconds = click_frame(
                image, truth, segmenter, tmp / f"{clip.name}-{f}", max_clicks, first
            )
            if with_stability:
                run.stability = stability(image, truth, segmenter, tmp / f"{clip.name}-{f}-grid")
            runs.append(run)
            if progress is not None:
                progress(i + 1, len(frames))
    return runs


def summary_row(name: str, runs: Sequence[FrameRun], max_clicks: int) -> list[object]:
    clicks = [h for r in runs for h in r.honoured]
    noc85 = [noc(r.ious, 0.85, max_clicks) for r in runs]
    noc90 = [noc(r.ious, 0.90, max_clicks) for r in runs]
    row: list[object] = [
        name,
        len(runs),
        fmt(mean(noc85), 1),
        fmt(mean(noc90), 1),
        fmt(mean([iou_after(r.ious, 1) for r in runs])),
        fmt(min(iou_after(r.ious, 1) for r in runs)),
        fmt(mean([iou_after(r.ious, 3) for r in runs])),
        fmt(mean([iou_after(r.ious, 5) for r in runs])),
        f"{100.0 * float(np.mean(clicks)):.1f} % of {len(clicks)}" if clicks else "n/a",
        fmt(mean([s for r in runs for s in r.seconds]), 2),
    ]
    stab = [r.stability for r in runs if not np.isnan(r.stability)]
    row.append(f"{100.0 * mean(stab):.1f} % (worst {100.0 * max(stab):.0f} %)" if stab else "-")
    return row


HEADERS = ["backend / clip", "frames", "NoC@85", "NoC@90", "mIoU@1", "worst IoU@1", "mIoU@3", "mIoU@5",
           "clicks honoured", "s/click", "unstable (2 px grid)"]


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="*", default=None, help="clip names (default: every davis2016 clip)")
    p.add_argument("--backends", default="classical", help="comma-separated: classical, mobile_sam")
    p.add_argument("--step", type=int, default=10, help="every STEP-th annotated frame of each clip")
    p.add_argument("--offset", type=int, default=0,
                   help="start at the OFFSET-th annotated frame (develop on other frames than the reported ones)")
    p.add_argument("--max-clicks", type=int, default=20)
    p.add_argument("--stability", action="store_true", help="also the 25-click 2 px grid around each centre")
    p.add_argument("--per-clip", action="store_true", help="one row per clip as well")
    p.add_argument("--first", choices=("click", "box"), default="click",
                   help="the user's first prompt: a click, or the object's box (counted as two clicks)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    if args.step < 1 or args.max_clicks < 1:
        raise SystemExit("--step and --max-clicks must be 1 or more")
    if args.offset < 0:
        raise SystemExit("--offset must be 0 or more")
    names = args.clips or (list(QUICK_CLIPS) if args.quick else None)
    clips = [c for c in gt_clips(args.clips_dir, names) if names or c.name.startswith("davis2016-")]
    if not clips:
        raise SystemExit("no DAVIS clip with ground-truth masks found (see ../shared/clips)")
    frames = benchmark_frames(clips, args.step, args.offset)
    t0 = time.perf_counter()
    rows = []
    notes = []
    for name in args.backends.split(","):
        segmenter, source = make_segmenter(name.strip())
        notes.append(f"{name}: {segmenter.backend}, {source}")

        def progress(done: int, total: int, name: str = name) -> None:
            print(f"\r{name}: {done}/{total} frames", end="", file=sys.stderr, flush=True)

        runs = evaluate(frames, segmenter, args.max_clicks, args.stability, progress, args.first)
        print(file=sys.stderr)
        rows.append(summary_row(f"**{name}**", runs, args.max_clicks))
        if args.per_clip:
            for clip in clips:
                mine = [r for r in runs if r.clip == clip.name]
                if mine:
                    rows.append(summary_row(clip.name, mine, args.max_clicks))
    text = (
        f"`{command_line('benchmarks.clicks')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; "
        f"{time.perf_counter() - t0:.0f} s in all; {len(frames)} frames of {len(clips)} clips "
        f"(every {args.step}th annotated frame from the {args.offset}th); first prompt: {args.first}"
        f"{' (two clicks)' if args.first == 'box' else ''}; {'; '.join(notes)}\n\n"
        + markdown_table(HEADERS, rows)
    )
    emit(text, args.out)


if __name__ == "__main__":
    main()
