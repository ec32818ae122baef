"""Removal quality where the truth is known: PSNR and SSIM inside the hole, and temporal stability.

No real clip shows the background behind its object, so the hole is put where the pixels ARE known:
- ``moving`` holes: another clip's ground-truth object masks (a person dancing, a dog...), scaled and moved
  so that they cover background the host clip shows (never the host's own object: its dilated mask is
  cut out of the hole), frame by frame, so the hole moves and changes shape like a real object;
- ``static`` holes: a fixed ellipse (a logo, a watermark) placed the same way;
- the synthetic sample (``editor.sample.make_sample``), whose clean background is rendered with it: the
  hole is its object, the truth the background behind it.
Each backend fills (frames, holes) at the frames' size; we report PSNR and SSIM over the hole pixels
against the original pixels (mean over frames), the warping error of the output inside the hole
(``editor.metrics.warping_error``: lower is steadier) beside the same measure on the true pixels, and the
seconds per frame. ``telea`` (OpenCV's spatial inpainting, frame by frame) is a floor: what a fill that
ignores time gets.

    python -m benchmarks.removal_quality           # 5 host clips x 2 holes + the sample
    python -m benchmarks.removal_quality --quick   # 2 host clips, 20 frames
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
)

# host clip -> donor clip of the moving hole
PAIRS = {
    "davis2016-blackswan": "davis2016-dance-twirl",
    "davis2016-car-roundabout": "davis2016-dog",
    "davis2016-camel": "davis2016-breakdance",
    "davis2016-drift-chicane": "davis2016-blackswan",
    "e2fgvi-tennis": "davis2016-dance-twirl",
}
QUICK_PAIRS = ("davis2016-blackswan", "e2fgvi-tennis")


@dataclass
class Case:
    name: str
    frames: list[np.ndarray]  # RGB uint8, the truth
    holes: list[np.ndarray]  # bool

    @property
    def hole_share(self) -> float:
        return float(np.mean([h.mean() for h in self.holes]))


@dataclass
class Score:
    case: str
    backend: str
    psnr: float
    ssim: float
    warp: float
    warp_truth: float
    seconds_per_frame: float
    hole_share: float


# -------------------------------------------------------------------------------------------- the holes


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _best_offset(union: np.ndarray, forbidden: np.ndarray, step: int = 8) -> tuple[int, int]:
    """Top-left ``(x, y)`` where ``union`` (a small mask) overlaps ``forbidden`` least, nearest the centre."""
    h, w = forbidden.shape
    uh, uw = union.shape
    integral = cv2.integral(forbidden.astype(np.uint8))
    best, best_key = (0, 0), None
    for y in range(0, max(h - uh, 0) + 1, step):
        for x in range(0, max(w - uw, 0) + 1, step):
            # cheap bound with the box sum first, exact overlap only for candidates
            box = integral[y + uh, x + uw] - integral[y, x + uw] - integral[y + uh, x] + integral[y, x]
            overlap = int(np.count_nonzero(union & forbidden[y:y + uh, x:x + uw])) if box else 0
            key = (overlap, abs(x + uw / 2 - w / 2) + abs(y + uh / 2 - h / 2))
            if best_key is None or key < best_key:
                best, best_key = (x, y), key
    return best


def place_masks(
    donor: Sequence[np.ndarray], host_objects: Sequence[np.ndarray], size: tuple[int, int], scale: float = 0.6,
    guard: int = 15,
) -> list[np.ndarray]:
    """Donor masks scaled so their union box is ``scale`` of the frame's height (or width), moved where they
    cover the host's background most, minus the host's own objects dilated by ``guard`` px."""
    w, h = size
    union = np.zeros(donor[0].shape, bool)
    for m in donor:
        union |= m
    x0, y0, x1, y1 = _bbox(union)
    s = min(scale * h / (y1 - y0), scale * w / (x1 - x0))
    uw, uh = max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))
    crops = [cv2.resize(m[y0:y1, x0:x1].astype(np.uint8), (uw, uh), interpolation=cv2.INTER_NEAREST) > 0
             for m in donor]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * guard + 1, 2 * guard + 1))
    forbidden = [cv2.dilate(o.astype(np.uint8), kernel) > 0 for o in host_objects]
    all_forbidden = np.logical_or.reduce(forbidden)
    union_small = np.logical_or.reduce(crops)
    ox, oy = _best_offset(union_small, all_forbidden)
    out = []
    for crop, bad in zip(crops, forbidden, strict=True):
        hole = np.zeros((h, w), bool)
        hole[oy:oy + uh, ox:ox + uw] = crop[: h - oy, : w - ox]
        out.append(hole & ~bad)
    return out


def static_ellipse(host_objects: Sequence[np.ndarray], size: tuple[int, int], share: float = 0.04,
                   guard: int = 15) -> list[np.ndarray]:
    """A fixed ellipse covering ``share`` of the frame, placed off the host's objects."""
    w, h = size
    a = int(np.sqrt(share * w * h / np.pi * 1.6))
    b = max(4, int(a / 1.6))
    shape = np.zeros((2 * b + 1, 2 * a + 1), np.uint8)
    cv2.ellipse(shape, (a, b), (a, b), 0, 0, 360, 1, -1)
    return place_masks([shape > 0] * len(host_objects), host_objects, size, scale=(2 * b + 1) / h, guard=guard)


def real_cases(host: Clip, donor: Clip, frames: int) -> list[Case]:
    """The moving and the static hole over the first ``frames`` frames of ``host``."""
    from editor.frames import FrameFolder

    if not host.source.is_dir():
        raise ValueError(f"{host.name}: host clips must be frame folders")
    folder = FrameFolder(host.source, check_sizes=False)
    n = min(frames, host.num_frames, donor.num_frames)
    imgs = [folder[i] for i in range(n)]
    objects = [host.gt(i) > 0 if i in host.mask_files else np.zeros(host.size[::-1], bool) for i in range(n)]
    donor_masks = [donor.gt(i) > 0 for i in range(n)]
    short = donor.name.split("-", 1)[-1]
    return [
        Case(f"{host.name} / moving ({short} mask)", imgs, place_masks(donor_masks, objects, host.size)),
        Case(f"{host.name} / static ellipse", imgs, static_ellipse(objects, host.size)),
    ]


def sample_case(frames: int, size: tuple[int, int] = (480, 270)) -> tuple[Case, list[np.ndarray]]:
    """The synthetic sample: (frames with the object, its masks dilated 2 px) and the clean backgrounds."""
    from editor.sample import make_sample

    s = make_sample(frames, size)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    holes = [cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in s.masks]
    return Case(f"synthetic sample {size[0]}x{size[1]} (object over a known background)", s.frames, holes), s.background


# ------------------------------------------------------------------------------------------- backends


def telea(frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], sink: Callable[[int, np.ndarray], None],
          **_: object) -> None:
    """Spatial-only floor: OpenCV Telea inpainting frame by frame."""
    for i, (f, m) in enumerate(zip(frames, masks, strict=True)):
        if not m.any():
            sink(i, f.copy())
            continue
        bgr = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
        out = cv2.inpaint(bgr, m.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        sink(i, cv2.cvtColor(out, cv2.COLOR_BGR2RGB))


def make_backends(names: Sequence[str]) -> tuple[dict[str, Callable], list[str]]:
    """Inpainters by name, plus one note per backend that cannot run here."""
    from inpaint.backends import BackendUnavailable, make_inpainter

    out: dict[str, Callable] = {}
    notes = []
    for name in names:
        if name == "telea":
            out["telea (spatial floor)"] = telea
        elif name == "neural":
            try:
                inp = make_inpainter("neural")
            except BackendUnavailable as exc:
                notes.append(f"neural (E2FGVI-HQ): not run: no checkpoint ({exc})")
                continue
            out[f"{inp.backend} ({inp.device})"] = inp
        else:
            inp = make_inpainter(name)
            out[inp.backend] = inp
    return out, notes


def score(case: Case, backend: str, inpainter: Callable, truth: Sequence[np.ndarray] | None = None) -> Score:
    """Fill ``case`` with ``inpainter`` and compare with ``truth`` (default: the case's own frames)."""
    from editor import metrics

    truth = case.frames if truth is None else truth
    outputs: dict[int, np.ndarray] = {}
    t0 = time.perf_counter()
    inpainter(case.frames, case.holes, outputs.__setitem__)
    seconds = time.perf_counter() - t0
    out = [outputs[i] for i in range(len(case.frames))]
    use = [i for i, h in enumerate(case.holes) if h.any()]
    psnr = mean([metrics.psnr(out[i], truth[i], case.holes[i]) for i in use])
    ssim = mean([metrics.ssim(out[i], truth[i], case.holes[i]) for i in use])
    warp = metrics.warping_error(out, truth, case.holes)
    warp_truth = metrics.warping_error(truth, truth, case.holes)
    return Score(case.name, backend, psnr, ssim, warp, warp_truth, seconds / len(case.frames), case.hole_share)


def run(pairs: dict[str, str], frames: int, backends: Sequence[str], clips_dir: str | None = None,
        sample: bool = True) -> tuple[list[Score], list[str]]:
    fillers, notes = make_backends(backends)
    clips = {c.name: c for c in gt_clips(clips_dir, sorted(set(pairs) | set(pairs.values())))}
    scores = []
    cases: list[tuple[Case, list[np.ndarray] | None]] = []
    for host, donor in pairs.items():
        if host not in clips or donor not in clips:
            notes.append(f"{host} / {donor}: clip not found")
            continue
        cases += [(c, None) for c in real_cases(clips[host], clips[donor], frames)]
    if sample:
        cases.append(sample_case(frames))
    for case, truth in cases:
        for name, filler in fillers.items():
            scores.append(score(case, name, filler, truth))
            print(f"  {case.name} {name}: PSNR {scores[-1].psnr:.2f}", flush=True)
    return scores, notes


def tables(scores: Sequence[Score], notes: Sequence[str]) -> str:
    rows = [[s.case, s.backend, fmt(100 * s.hole_share, 1), fmt(s.psnr, 2), fmt(s.ssim, 3), fmt(s.warp, 2),
             fmt(s.warp_truth, 2), fmt(s.seconds_per_frame, 2)] for s in scores]
    for backend in dict.fromkeys(s.backend for s in scores):
        mine = [s for s in scores if s.backend == backend and not s.case.startswith("synthetic")]
        if mine:
            rows.append([f"**mean over real clips ({len(mine)} cases)**", backend, "",
                         f"**{fmt(mean([s.psnr for s in mine]), 2)}**", f"**{fmt(mean([s.ssim for s in mine]), 3)}**",
                         fmt(mean([s.warp for s in mine]), 2), fmt(mean([s.warp_truth for s in mine]), 2),
                         fmt(mean([s.seconds_per_frame for s in mine]), 2)])
    text = markdown_table(["case", "backend", "hole % of frame", "PSNR dB (hole)", "SSIM (hole)",
                           "warp err", "warp err of truth", "s/frame"], rows)
    return text + "".join(f"\n- {n}" for n in notes)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default 40, quick 20)")
    p.add_argument("--backends", nargs="*", default=["classical", "neural", "telea"])
    p.add_argument("--no-sample", action="store_true", help="skip the synthetic sample")
    args = p.parse_args(argv)
    set_threads(args.threads)
    frames = args.frames or (20 if args.quick else 40)
    pairs = {k: v for k, v in PAIRS.items() if not args.quick or k in QUICK_PAIRS}
    t0 = time.perf_counter()
    scores, notes = run(pairs, frames, args.backends, args.clips_dir, sample=not args.no_sample)
    text = (f"`{command_line('benchmarks.removal_quality')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; "
            f"{frames} frames per clip; {time.perf_counter() - t0:.0f} s in all\n\n" + tables(scores, notes))
    emit(text, args.out)


if __name__ == "__main__":
    main()
