"""Removal quality where the truth is known: PSNR and SSIM inside the hole, worst frame, temporal stability, speed.

No real clip shows the background behind its object, so the hole is put where the pixels ARE known, in the
shapes users' footage has (every host is a real clip at 480p or below, mostly a moving camera):
- ``grid``: a static grid of squares (about 11 % of the frame) over the whole picture, subject included
  (a user's burnt-in overlay, the issue's case): the truth under the squares is the original pixels;
- ``logo``: a static text-shaped mask (a watermark) in a corner, over whatever passes under it;
- ``text``: a static caption in thin strokes (about 4 px), as creators burn in a channel's name: where a
  spatial fill from the strokes' own edge is nearly exact, so a temporal fill must earn its place;
- ``path``: another clip's ground-truth object masks (a dancer, a dog...) moved along a path across the
  frame, minus the host's own object dilated by 15 px (what a removed object hides is background);
- ``large``: the same mask grown until it covers about a quarter of the frame (grown after the host's object
  was cut out, so it covers parts of that object too: the truth there is the object);
- ``softlogo``, ``softtext`` and ``halo``: what a user's mask leaves around what it covers. A white watermark,
  the thin caption in white, and another clip's object moved along a path (its own pixels, ``path``'s masks),
  are laid over the host with an edge softened by a Gaussian of ``removal_holes.HALO_SIGMA`` px (anti-aliasing,
  a soft or motion-blurred outline): the mask given is the layer's outline before the softening (what a drawn
  or tracked mask covers), the truth is the host's own frame, and the score counts every pixel the layer
  changed by more than ``removal_holes.HALO_LEVELS`` grey levels (the halo the mask misses too: it must go as
  well);
- ``codedtext``: the thin caption burnt in white (a hard edge) and the clip then coded with H.264 at CRF 23
  (``removal_holes.lay_coded``), as a caption is in a video a user downloads: the mask is the caption's
  outline, the ring around it carries the codec's ringing, and the score counts the mask and every pixel within
  4 px of it that the caption changed (against the host coded alike);
- the synthetic sample (``editor.sample.make_sample``), whose clean background is rendered with it: the
  hole is its object, the truth the background behind it.
The inpainter never sees the truth inside the hole: those pixels are painted mid-grey before it runs.
Per case and backend: pooled PSNR (over every hole pixel of every frame) and SSIM inside the hole, the
worst frame's PSNR, frames below 18 dB, the warping error inside the hole (``editor.metrics.warping_error``,
lower is steadier; the truth's own beside it), frames per second, and the largest change of a pixel outside
the hole dilated by 6 px (must be 0). Per case, whatever the backend (``benchmarks.removal_ceiling``): the share
of the hole that any other frame of the case reveals after alignment (``revealed %``: 0 means no temporal
method can know it, the case measures the spatial fill) and the PSNR of an oracle that copies what is revealed
from where it is (``oracle dB``). ``telea`` (OpenCV's spatial inpainting, frame by frame) is the floor
every case is judged against: pooled PSNR >= Telea + 3 dB, worst frame >= Telea's worst frame, and no frame
below 18 dB where Telea's is above 20.

    python -m benchmarks.removal_quality           # every case, 30 frames each
    python -m benchmarks.removal_quality --quick   # 4 cases, 12 frames
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from benchmarks.common import (
    clips_root,
    command_line,
    emit,
    fmt,
    load_clip,
    machine,
    markdown_table,
    mean,
    parser,
    set_threads,
)
from benchmarks.removal_ceiling import Ceiling, ceiling
from benchmarks.removal_holes import (
    _bbox,
    _disk,
    grid_mask,
    lay_coded,
    lay_soft,
    logo_mask,
    path_masks,
    text_mask,
)

BAD_DB = 18.0  # a frame below this is visibly wrong
TELEA_GOOD_DB = 20.0  # ... unless Telea does no better there either
OUTSIDE_GUARD = 6  # px: pixels farther than this from the hole must come back unchanged


@dataclass(frozen=True)
class CaseSpec:
    """One benchmark case: a host clip, a hole shape, and what the camera does (for the reader)."""

    host: str
    kind: str  # grid | logo | path | large | softlogo | halo | text | softtext | codedtext
    camera: str
    donor: str = ""  # donor clip of the object-shaped masks (path, large)


CASES = (
    CaseSpec("davis2016-blackswan", "grid", "slow pan"),
    CaseSpec("davis2016-car-roundabout", "grid", "pan after a car, close trees"),
    CaseSpec("davis2016-camel", "grid", "slow pan"),
    CaseSpec("davis2016-drift-chicane", "grid", "static camera (< 0.5 px over the clip), car and smoke"),
    CaseSpec("davis2016-bmx-trees", "grid", "fast, parallax (trees in front)"),
    CaseSpec("davis2016-dance-twirl", "grid", "hand-held around a dancer"),
    CaseSpec("davis2016-car-shadow", "logo", "pan after a car"),
    CaseSpec("davis2016-cows", "logo", "slow pan"),
    CaseSpec("e2fgvi-tennis", "logo", "pan after the player (160 px in 20 frames)"),
    CaseSpec("sam2-bedroom", "logo", "indoor, moving camera"),
    CaseSpec("davis2016-blackswan", "path", "slow pan", "davis2016-dance-twirl"),
    CaseSpec("davis2016-car-roundabout", "path", "pan after a car, close trees", "davis2016-dog"),
    CaseSpec("davis2016-breakdance", "path", "static-ish, crowd", "davis2016-camel"),
    CaseSpec("davis2016-bmx-trees", "path", "fast, parallax (trees in front)", "davis2016-dog"),
    CaseSpec("e2fgvi-tennis", "large", "pan after the player", "davis2016-dance-twirl"),
    CaseSpec("davis2016-camel", "large", "slow pan", "davis2016-breakdance"),
    CaseSpec("davis2016-drift-chicane", "large", "static camera, car and smoke", "davis2016-blackswan"),
)
# what a mask leaves around what it covers: the logo hosts under a soft-edged watermark, the path hosts under
# the moved object itself with a soft edge
CASES += tuple(replace(s, kind="softlogo") for s in CASES if s.kind == "logo")
CASES += tuple(replace(s, kind="halo") for s in CASES if s.kind == "path")
# a thin burnt-in caption on every host of a static overlay (the grid and logo hosts): thin holes are where a
# spatial fill is nearly exact, so a temporal fill must earn its place there (session 11)
CASES += tuple(replace(s, kind="text") for s in CASES if s.kind in ("grid", "logo"))
# the same caption in white with a soft edge: whether the fill tells a thin caption's halo from a clean edge
# (session 12)
CASES += tuple(replace(s, kind="softtext") for s in CASES if s.kind == "text")
# the same caption burnt in and coded with H.264, as it is in a downloaded video (session 13)
CASES += tuple(replace(s, kind="codedtext") for s in CASES if s.kind == "text")
QUICK_CASES = (CASES[0], CASES[4], CASES[8], CASES[14])


@dataclass
class Case:
    name: str
    frames: list[np.ndarray]  # RGB uint8, what the inpainter is given (its holes painted grey first)
    holes: list[np.ndarray]  # bool, the masks it is given
    camera: str = ""
    truth: list[np.ndarray] | None = None  # what should come out, where not ``frames`` (a layer was laid over them)
    scored: list[np.ndarray] | None = None  # bool, the pixels scored, where not ``holes`` (the halo beyond them)

    @property
    def target(self) -> list[np.ndarray]:
        return self.frames if self.truth is None else self.truth

    @property
    def judged(self) -> list[np.ndarray]:
        return self.holes if self.scored is None else self.scored

    @property
    def hole_share(self) -> float:
        return float(np.mean([h.mean() for h in self.holes]))


@dataclass
class Score:
    case: str
    backend: str
    psnr: float  # pooled over every hole pixel of every frame
    ssim: float  # pooled (pixel-weighted) over the hole
    worst_psnr: float
    frame_psnr: list[float]
    warp: float
    warp_truth: float
    seconds_per_frame: float
    hole_share: float
    outside_change: int  # largest absolute change of a pixel farther than OUTSIDE_GUARD px from the hole
    ceiling: Ceiling | None = None  # what the case reveals and the oracle's PSNR (same for every backend)

    @property
    def fps(self) -> float:
        return 1.0 / self.seconds_per_frame if self.seconds_per_frame > 0 else float("inf")

    def bad_frames(self, threshold: float = BAD_DB) -> int:
        return sum(1 for p in self.frame_psnr if p < threshold)


# ------------------------------------------------------------------------------------------- the clips


def load_host(name: str, frames: int, clips_dir: str | None = None,
              short_side: int = 480) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """The first ``frames`` frames of clip ``name`` (short side at most ``short_side``, as tam's working size)
    and its objects' masks (empty where the clip has none); None when the clip is not there."""
    folder = clips_root(clips_dir) / name
    if not folder.is_dir():
        return None
    if (folder / "frames").is_dir():
        from editor.frames import FrameFolder

        seq = FrameFolder(folder / "frames", check_sizes=False)
        imgs = [seq[i] for i in range(min(frames, len(seq)))]
    else:
        from editor.video import iter_frames

        videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".mov", ".mkv"))
        if not videos:
            return None
        imgs = list(iter_frames(videos[0], end=frames))
    h, w = imgs[0].shape[:2]
    if min(h, w) > short_side:
        size = (round(w * short_side / min(h, w)) // 2 * 2, round(h * short_side / min(h, w)) // 2 * 2)
        imgs = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in imgs]
    h, w = imgs[0].shape[:2]
    clip = load_clip(folder)
    objects = [clip.gt(i, (w, h)) > 0 if clip is not None and i in clip.mask_files else np.zeros((h, w), bool)
               for i in range(len(imgs))]
    return imgs, objects


def make_case(spec: CaseSpec, frames: int, clips_dir: str | None = None) -> Case | None:
    """The frames and holes of one case; None when a clip it needs is missing."""
    host = load_host(spec.host, frames, clips_dir)
    if host is None:
        return None
    imgs, objects = host
    h, w = imgs[0].shape[:2]
    n = len(imgs)
    if spec.kind == "grid":
        holes, label = [grid_mask((w, h))] * n, "static grid of squares"
    elif spec.kind == "logo":
        holes, label = [logo_mask((w, h))] * n, "static logo"
    elif spec.kind == "text":
        holes, label = [text_mask((w, h))] * n, "static thin caption"
    elif spec.kind in ("softlogo", "softtext"):
        shape = logo_mask((w, h)) if spec.kind == "softlogo" else text_mask((w, h))
        frames_given, holes, scored = lay_soft(imgs, [shape] * n, [np.full((h, w, 3), 255, np.uint8)] * n)
        label = "soft-edged white logo" if spec.kind == "softlogo" else "soft-edged white caption"
        return Case(f"{spec.host} / {label}", frames_given, holes, spec.camera, imgs, scored)
    elif spec.kind == "codedtext":
        frames_given, holes, scored = lay_coded(imgs, [text_mask((w, h))] * n)
        return Case(f"{spec.host} / white caption coded with H.264", frames_given, holes, spec.camera, imgs, scored)
    elif spec.kind == "halo":
        donor = load_host(spec.donor, frames, clips_dir)
        if donor is None or len(donor[1]) < n or not all(m.any() for m in donor[1][:n]):
            return None
        hard, colours = path_masks(donor[1][:n], objects, (w, h), 0.55, images=donor[0][:n])
        frames_given, holes, scored = lay_soft(imgs, hard, colours)
        short = spec.donor.split("-", 1)[-1]
        return Case(f"{spec.host} / soft-edged {short} along a path", frames_given, holes, spec.camera, imgs,
                    scored)
    elif spec.kind in ("path", "large"):
        donor = load_host(spec.donor, frames, clips_dir)
        if donor is None or len(donor[1]) < n or not all(m.any() for m in donor[1][:n]):
            return None
        scale = 0.55 if spec.kind == "path" else 0.95
        holes = path_masks(donor[1][:n], objects, (w, h), scale)
        if spec.kind == "large":  # grow the object until it covers a quarter of the frame
            share = float(np.mean([m.mean() for m in holes]))
            if share < 0.25:
                r = max(1, int(round((math.sqrt(0.25 / share) - 1) * math.sqrt(share * w * h) / 2)))
                holes = [cv2.dilate(m.astype(np.uint8), _disk(r)) > 0 for m in holes]
        short = spec.donor.split("-", 1)[-1]
        label = f"{short} mask along a path" if spec.kind == "path" else f"large {short} mask along a path"
    else:
        raise ValueError(f"unknown case kind {spec.kind!r}")
    return Case(f"{spec.host} / {label}", imgs, [np.asarray(m, bool) for m in holes], spec.camera)


def sample_case(frames: int, size: tuple[int, int] = (480, 270)) -> tuple[Case, list[np.ndarray]]:
    """The synthetic sample: (frames with the object, its masks dilated 2 px) and the clean backgrounds."""
    from editor.sample import make_sample

    s = make_sample(frames, size)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    holes = [cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in s.masks]
    name = f"synthetic sample {size[0]}x{size[1]} (object over a known background)"
    return Case(name, s.frames, holes, "pan"), s.background


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


TELEA = "telea (spatial floor)"


def make_backends(names: Sequence[str]) -> tuple[dict[str, Callable], list[str]]:
    """Inpainters by name, plus one note per backend that cannot run here."""
    from inpaint.backends import BackendUnavailable, make_inpainter

    out: dict[str, Callable] = {}
    notes = []
    for name in names:
        if name == "telea":
            out[TELEA] = telea
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


def _hole_ssim(out: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> tuple[float, int]:
    """(sum of SSIM over the hole pixels, their count), computed on the hole's box plus a margin (fast)."""
    from editor import metrics

    x0, y0, x1, y1 = _bbox(hole)
    m = 8
    ys, xs = slice(max(0, y0 - m), y1 + m), slice(max(0, x0 - m), x1 + m)
    s = metrics.ssim_map(out[ys, xs], truth[ys, xs])
    return float(s[hole[ys, xs]].sum()), int(hole[ys, xs].sum())


def blank_holes(frames: Sequence[np.ndarray], holes: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The frames with their hole pixels painted mid-grey: the inpainter must not see the truth."""
    out = []
    for f, h in zip(frames, holes, strict=True):
        g = f.copy()
        g[h] = 128
        out.append(g)
    return out


def score(case: Case, backend: str, inpainter: Callable, truth: Sequence[np.ndarray] | None = None,
          warp_truth: float | None = None) -> Score:
    """Fill ``case`` with ``inpainter`` and compare with ``truth`` (default: the case's own) on the scored pixels."""
    from editor import metrics

    truth = case.target if truth is None else truth
    judged = case.judged
    given = blank_holes(case.frames, case.holes)
    outputs: dict[int, np.ndarray] = {}
    t0 = time.perf_counter()
    inpainter(given, case.holes, outputs.__setitem__)
    seconds = time.perf_counter() - t0
    out = [outputs[i] for i in range(len(case.frames))]
    use = [i for i, h in enumerate(judged) if h.any()]
    sq, count, ssim_sum, frame_psnr, outside = 0.0, 0, 0.0, [], 0
    for i in range(len(out)):
        far = ~(cv2.dilate(judged[i].astype(np.uint8), _disk(OUTSIDE_GUARD)) > 0)
        outside = max(outside, int(np.abs(out[i].astype(np.int16) - given[i].astype(np.int16))[far].max(initial=0)))
    for i in use:
        d = (out[i][judged[i]].astype(np.float64) - truth[i][judged[i]].astype(np.float64)) ** 2
        sq += float(d.sum())
        count += d.size
        frame_psnr.append(metrics.psnr(out[i], truth[i], judged[i]))
        s, c = _hole_ssim(out[i], truth[i], judged[i])
        ssim_sum += s
    pixels = sum(int(judged[i].sum()) for i in use)
    pooled = 10 * math.log10(255.0**2 / (sq / count)) if count and sq > 0 else float("inf")
    warp = metrics.warping_error(out, truth, judged)
    if warp_truth is None:
        warp_truth = metrics.warping_error(truth, truth, judged)
    return Score(case.name, backend, pooled, ssim_sum / max(pixels, 1), min(frame_psnr, default=float("nan")),
                 frame_psnr, warp, warp_truth, seconds / len(case.frames), case.hole_share, outside)


def run(specs: Sequence[CaseSpec], frames: int, backends: Sequence[str], clips_dir: str | None = None,
        sample: bool = True, oracle: bool = True, guard: int | None = None, clean_guard: int | None = None,
        spatial: Sequence[str] = ()) -> tuple[list[Score], list[str]]:
    fillers, notes = make_backends(backends)
    if (guard is not None or clean_guard is not None or spatial) and "classical" in fillers:  # other settings
        from inpaint.classical import ClassicalConfig, ClassicalInpainter

        variants = {}
        for method in spatial or (None,):
            changes = {k: v for k, v in (("guard", guard), ("clean_guard", clean_guard), ("spatial", method))
                       if v is not None}
            label = ", ".join(f"{k} {v}" for k, v in changes.items())
            variants[f"classical ({label})"] = ClassicalInpainter(ClassicalConfig(**changes))
        fillers = {**{k: v for k, v in fillers.items() if k != "classical"}, **variants}
    scores = []
    cases: list[tuple[Case, list[np.ndarray] | None]] = []
    for spec in specs:
        case = make_case(spec, frames, clips_dir)
        if case is None:
            notes.append(f"{spec.host} ({spec.kind}): clip not found")
            continue
        cases.append((case, None))
    if sample:
        cases.append(sample_case(frames))
    for case, truth in cases:
        warp_truth = None
        limit = ceiling(case.target if truth is None else truth, case.judged) if oracle else None
        for name, filler in fillers.items():
            s = score(case, name, filler, truth, warp_truth)
            s.ceiling = limit
            warp_truth = s.warp_truth
            scores.append(s)
            print(f"  {case.name} {name}: PSNR {s.psnr:.2f} worst {s.worst_psnr:.2f} {s.fps:.1f} fps", flush=True)
    return scores, notes


def _targets(mine: Score, floor: Score) -> list[str]:
    """The issue's targets for one case: +3 dB pooled, worst frame, no bad frame where Telea is fine."""
    bad = sum(1 for p, q in zip(mine.frame_psnr, floor.frame_psnr, strict=True) if p < BAD_DB and q > TELEA_GOOD_DB)
    return [fmt(mine.psnr - floor.psnr, 2), "yes" if mine.psnr >= floor.psnr + 3 else "**no**",
            "yes" if mine.worst_psnr >= floor.worst_psnr else "**no**", str(bad),
            "yes" if mine.outside_change == 0 else f"**no** ({mine.outside_change})"]


def _revealed(s: Score) -> str:
    return fmt(100 * s.ceiling.revealed, 1) if s.ceiling is not None else ""


def _oracle(s: Score) -> str:
    return fmt(s.ceiling.psnr, 2) if s.ceiling is not None else ""


def tables(scores: Sequence[Score], notes: Sequence[str]) -> str:
    rows = [[s.case, s.backend, fmt(100 * s.hole_share, 1), _revealed(s), _oracle(s), fmt(s.psnr, 2), fmt(s.ssim, 3),
             fmt(s.worst_psnr, 2), str(s.bad_frames()), fmt(s.warp, 2), fmt(s.warp_truth, 2), fmt(s.fps, 1)]
            for s in scores]
    for backend in dict.fromkeys(s.backend for s in scores):
        mine = [s for s in scores if s.backend == backend and not s.case.startswith("synthetic")]
        if mine:
            oracles = [s.ceiling.psnr for s in mine if s.ceiling is not None]
            rows.append([f"**mean over real clips ({len(mine)} cases)**", backend, "", "",
                         fmt(mean(oracles), 2) if len(oracles) == len(mine) else "",
                         f"**{fmt(mean([s.psnr for s in mine]), 2)}**", f"**{fmt(mean([s.ssim for s in mine]), 3)}**",
                         f"{fmt(min(s.worst_psnr for s in mine), 2)} (min)", str(sum(s.bad_frames() for s in mine)),
                         fmt(mean([s.warp for s in mine]), 2), fmt(mean([s.warp_truth for s in mine]), 2),
                         fmt(mean([s.fps for s in mine]), 1)])
    text = markdown_table(["case", "backend", "hole % of frame", "revealed %", "oracle dB", "pooled PSNR dB (hole)",
                           "SSIM (hole)",
                           "worst frame dB", f"frames < {BAD_DB:.0f} dB", "warp err", "warp err of truth", "fps"],
                          rows)
    floors = {s.case: s for s in scores if s.backend == TELEA}
    target_rows = [[s.case, s.backend, _revealed(s),
                    fmt(s.ceiling.psnr - floors[s.case].psnr, 2) if s.ceiling is not None else ""]
                   + _targets(s, floors[s.case]) for s in scores if s.backend != TELEA and s.case in floors]
    if target_rows:
        text += "\n\nTargets against Telea, per case:\n\n" + markdown_table(
            ["case", "backend", "revealed %", "oracle - Telea dB", "PSNR - Telea dB", ">= +3 dB",
             "worst frame >= Telea's", f"frames < {BAD_DB:.0f} dB where Telea > {TELEA_GOOD_DB:.0f}",
             "outside the hole unchanged"], target_rows)
    return text + "".join(f"\n- {n}" for n in notes)


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=None, help="frames per case (default 30, quick 12)")
    p.add_argument("--backends", nargs="*", default=["classical", "neural", "telea"])
    p.add_argument("--cases", nargs="*", default=None,
                   help="only the cases whose host clip contains one of these words (e.g. bmx grid)")
    p.add_argument("--no-sample", action="store_true", help="skip the synthetic sample")
    p.add_argument("--no-oracle", action="store_true", help="skip the revealed share and the oracle's PSNR")
    p.add_argument("--guard", type=int, default=None,
                   help="the classical fill's ClassicalConfig.guard (px beyond the paste margin never copied from, "
                        "around a mask whose edge shows a halo)")
    p.add_argument("--clean-guard", type=int, default=None,
                   help="the classical fill's ClassicalConfig.clean_guard (the same around a mask with a clean edge)")
    p.add_argument("--spatial", nargs="*", default=(), choices=("membrane", "telea"),
                   help="run the classical fill once per spatial fill named (ClassicalConfig.spatial)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    frames = args.frames or (12 if args.quick else 30)
    specs = QUICK_CASES if args.quick else CASES
    if args.cases:
        specs = tuple(s for s in specs if all(w in f"{s.host} {s.kind}" for w in args.cases))
    t0 = time.perf_counter()
    scores, notes = run(specs, frames, args.backends, args.clips_dir, sample=not args.no_sample,
                        oracle=not args.no_oracle, guard=args.guard, clean_guard=args.clean_guard,
                        spatial=args.spatial)
    text = (f"`{command_line('benchmarks.removal_quality')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; "
            f"{frames} frames per case; {time.perf_counter() - t0:.0f} s in all\n\n" + tables(scores, notes))
    emit(text, args.out)


if __name__ == "__main__":
    main()
