"""Classical removal: flow-guided temporal fill with checked sources, then spatial inpainting (no weights needed).

The clip is processed in chunks of ``chunk`` frames, each with ``span`` frames of context on both sides (so
memory does not grow with the clip, and a chunked run gives what a whole-clip run gives):
1. check inputs; per frame, the region: the mask dilated by 3 px, or by 1 px where a mask that stays put (an
   overlay) has a clean edge (``inpaint.halo``; a moving mask is a tracked object's and keeps 3 px);
   ``unknown``: its pixels are never copied from or trusted; plus a ring of known pixels around it;
2. dense flow between neighbouring frames, completed into the unknown pixels from the background around
   them (``inpaint.flow_completion``);
3. candidates: two passes, from the past and from the future, chain every region pixel to the nearest frame
   (within ``span``) where its background point is known (``inpaint.sources``, drift re-matched on the ring);
   a homography per neighbouring frame, composed of consecutive-frame steps, a third
   (``inpaint.homography_source``); the previous frame's fill carried along the flow a fourth (a still
   background stays still), no better than it was; for the hole pixels none of these covers, keyframes up to
   ``long_range.reach`` frames away (``inpaint.long_range``: what a slow pan reveals later), matched ahead of
   the fill so the future's keyframes are there;
4. each candidate is checked on the ring (``inpaint.ring_check``, on the ring pixels some candidate explains):
   its colours are corrected by the ring's slow colour difference (the seam), and dropped where the ring's
   local misalignment exceeds ``max_error``; the trusted ones are averaged with weights that fall with their
   misalignment;
5. what no candidate covers is filled spatially (``spatial_fill``: a membrane, chosen by measurement over
   OpenCV's Telea, the patch-based ``inpaint.patch_fill`` and opencv-contrib's xphoto, see docs/benchmarks.md);
   in thin parts of the hole the spatial fill is also averaged with the trusted sources, each weighted by the
   error it is expected to make (``inpaint.thin_parts``); beside a clean edge the spatial fill starts at the
   mask itself (``clean_spatial_guard``): the first pixels outside are its border, and stay as they are where no
   source covers them;
6. the fill is pasted back with ``inpaint.paste.paste_back`` (dilated, feathered), so pixels outside the
   dilated mask are bit-identical to the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from inpaint import homography_source as hs
from inpaint import sources as src
from inpaint.diffuse import fill_smooth
from inpaint.flow_completion import FlowConfig, FlowSolver, sample_points
from inpaint.halo import HaloConfig, grown_regions
from inpaint.long_range import Keyframes, LongRangeConfig, long_range_colours
from inpaint.paste import paste_back
from inpaint.ring_check import check_all
from inpaint.thin_parts import spatial_weights


@dataclass(frozen=True)
class ClassicalConfig:
    chunk: int = 30  # frames filled per chunk
    span: int = 20  # farthest frame a source may come from; also the context loaded around a chunk
    dilate: int = 4  # paste-back dilation of the mask (px); the fill covers it
    feather: int = 4  # paste-back feather (px)
    # px added to the paste margin for the region never copied from (the mask dilated by ``dilate + guard``).
    # -1: pixels 3 px or more from the mask are trusted. Chosen on benchmarks.removal_quality's exact holes and its
    # soft-edged layers, whose halo reaches ~4 px past the mask (docs/benchmarks.md, "Removal quality, fifth
    # round"): -1 beat 0 on 23 of 25 cases; -2 lost 1.35 dB on a soft logo, -3 up to 7 dB (it copies the halo);
    # +4 hid what small motions reveal of thin holes (-0.8 dB mean, "third round")
    guard: int = -1
    # the same around a mask whose edge shows no halo (``inpaint.halo``: a hard caption, an exact hole): -3 trusts
    # pixels from 1 px beyond the mask, as the fifth and seventh rounds measured on exact holes and thin captions
    clean_guard: int = -3
    # the same for the spatial fill's border around a clean edge: -4 is the mask itself, so the spatial fill reads
    # the pixels right beside a clean edge (as Telea does) and keeps them where no checked source covers them;
    # the temporal sources keep ``clean_guard`` (thin captions, exact and coded with H.264: 13 of 20 better by up
    # to 1.3 dB, 4 lower by at most 0.26, 3 the same; still grids and logos +0.0 to +0.17; moving and soft-edged
    # cases unchanged; docs/benchmarks.md, "Removal quality, ninth round")
    clean_spatial_guard: int = -4
    halo: HaloConfig = field(default_factory=HaloConfig)
    # a mask whose IoU with a neighbouring frame's is below this moves (a tracked object's): it keeps ``guard``
    # whatever its edge; only a mask that stays put (an overlay's) is judged by ``inpaint.halo``
    still_iou: float = 0.95
    ring: int = 8  # width (px) of the ring of known pixels that checks every source
    max_error: float = 16.0  # ring misalignment (mean abs grey levels) above which a source is dropped
    spatial: str = "membrane"  # what fills the pixels no trusted source covers: 'membrane' or 'telea'
    # px: parts of the hole at most twice this across average the spatial fill with the temporal sources, each
    # weighted by its expected error (``inpaint.thin_parts``); 0: the sources alone wherever they are trusted
    thin: int = 8
    inpaint_radius: int = 5  # Telea's radius (spatial='telea'), and the margin of each group's box
    flow: FlowConfig = field(default_factory=FlowConfig)
    homography: hs.HomographyConfig = field(default_factory=hs.HomographyConfig)
    long_range: LongRangeConfig = field(default_factory=LongRangeConfig)


# relaxations per pyramid level of the membrane fill: 30 reaches within 0.1 dB of 100 at a third of the cost
MEMBRANE_ITERATIONS = 30


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


class _Clip:
    """Frames, masks, regions, prepared flow frames and flows of a bounded range of indices, loaded lazily."""

    def __init__(self, frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], cfg: ClassicalConfig) -> None:
        self.frames, self.masks, self.cfg = frames, masks, cfg
        self.n = len(frames)
        self.shape: tuple[int, int] | None = None
        self.solver: FlowSolver | None = None
        self._frame: dict[int, np.ndarray] = {}
        self._mask: dict[int, np.ndarray] = {}
        self._region: dict[int, src.Region] = {}
        self._prepared: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._flow: dict[tuple[int, int], np.ndarray] = {}
        self._grey: dict[int, np.ndarray] = {}
        self._unknown: dict[int, np.ndarray] = {}
        self._spatial: dict[int, np.ndarray] = {}
        self._step: dict[int, np.ndarray | None] = {}
        self.keyframes = Keyframes(cfg.long_range)
        self._scouted = 0  # frames before this one have been offered as keyframes and matched to the next

    def frame(self, i: int) -> np.ndarray:
        if i not in self._frame:
            frame = np.asarray(self.frames[i])
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise ValueError(f"frame {i} must be RGB uint8 H x W x 3, got {frame.dtype} {frame.shape}")
            if self.shape is None:
                self.shape = frame.shape[:2]
                self.solver = FlowSolver(self.shape, self.cfg.flow)
            elif frame.shape[:2] != self.shape:
                raise ValueError(f"frame {i} is {frame.shape[:2]}, not {self.shape} like the others; resize first")
            self._frame[i] = frame
        return self._frame[i]

    def mask(self, i: int) -> np.ndarray:
        if i not in self._mask:
            frame = self.frame(i)
            mask = np.asarray(self.masks[i]).astype(bool)
            if mask.shape != frame.shape[:2]:
                raise ValueError(
                    f"mask {i} has shape {mask.shape} but frame {i} is {frame.shape[:2]}; masks must match frames"
                )
            self._mask[i] = mask
        return self._mask[i]

    def region(self, i: int) -> src.Region:
        if i not in self._region:
            mask, cfg = self.mask(i), self.cfg
            if not mask.any():
                empty = np.zeros(0, np.int32)
                self._region[i] = src.Region(empty, empty, np.zeros(0, bool), np.zeros(mask.shape, bool))
                self._spatial[i] = np.zeros(mask.shape, bool)
            else:
                # a mask that moves is a tracked (or per-frame) object's, whose edge is never exact (the tracker's
                # error, motion blur, the codec smearing the object's edge): it keeps the wide guard; a mask that
                # stays put is an overlay's, and its edge is judged (``inpaint.halo``)
                moves = self.moves(i)
                guard = cfg.guard if moves else cfg.clean_guard
                spatial_guard = cfg.guard if moves else cfg.clean_spatial_guard
                unknown, spatial = grown_regions(self.frame(i), mask, (cfg.dilate + guard, cfg.dilate + spatial_guard),
                                                 cfg.dilate + cfg.guard, cfg.halo)
                self._spatial[i] = spatial & unknown
                dense = cv2.dilate(unknown.astype(np.uint8), _disk(cfg.ring)) > 0
                ys, xs = np.nonzero(dense)
                self._region[i] = src.Region(ys.astype(np.int32), xs.astype(np.int32), unknown[ys, xs], dense)
        return self._region[i]

    def moves(self, i: int) -> bool:
        """Whether frame ``i``'s mask differs from a neighbour's (IoU below ``still_iou``). The neighbours'
        masks are read, not kept: this must not hold frames outside the range being filled."""
        mask = self.mask(i)
        for j in (i - 1, i + 1):
            if 0 <= j < self.n:
                other = self._mask[j] if j in self._mask else np.asarray(self.masks[j]).astype(bool)
                if other.shape != mask.shape:
                    return True  # the size check of mask(j) will say what is wrong when it is filled
                union = np.count_nonzero(mask | other)
                if union and np.count_nonzero(mask & other) < self.cfg.still_iou * union:
                    return True
        return False

    def spatial(self, i: int) -> np.ndarray:
        """Bool H x W: the pixels the spatial fill must fill (``unknown`` less the first pixels beside a clean
        edge, which it reads as they are)."""
        self.region(i)
        return self._spatial[i]

    def grey(self, i: int) -> np.ndarray:
        if i not in self._grey:
            self._grey[i] = cv2.cvtColor(self.frame(i), cv2.COLOR_RGB2GRAY)
        return self._grey[i]

    def unknown(self, i: int) -> np.ndarray:
        """Bool H x W: the dilated mask and its guard, never copied from."""
        if i not in self._unknown:
            r = self.region(i)
            out = np.zeros(self.mask(i).shape, bool)
            out[r.ys[r.unknown], r.xs[r.unknown]] = True
            self._unknown[i] = out
        return self._unknown[i]

    def flow(self, t: int, u: int) -> np.ndarray:
        """Completed flow from frame ``t`` to neighbour ``u`` at the solver's scale."""
        if (t, u) not in self._flow:
            for i in (t, u):
                if i not in self._prepared:
                    self._prepared[i] = self.solver_for(i).prepare(self.frame(i), self.unknown(i))
            self._flow[(t, u)], self._flow[(u, t)] = self.solver_for(t).pair(self._prepared[t], self._prepared[u])
        return self._flow[(t, u)]

    def solver_for(self, i: int) -> FlowSolver:
        self.frame(i)
        assert self.solver is not None
        return self.solver

    def targets(self, t: int, u: int) -> tuple[np.ndarray, np.ndarray]:
        r = self.region(t)
        return self.solver_for(t).sample(self.flow(t, u), r.xs.astype(np.float32), r.ys.astype(np.float32))

    def step(self, i: int) -> np.ndarray | None:
        """Homography from frame ``i``'s background into frame ``i + 1`` (None when it cannot be fitted)."""
        if i not in self._step:
            free = cv2.dilate(self.region(i).dense.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
            self._step[i] = hs.step(self.grey(i), self.grey(i + 1), free, self.unknown(i + 1), self.cfg.homography)
        return self._step[i]

    def homography(self, i: int, j: int) -> np.ndarray | None:
        """Homography from frame ``i`` into frame ``j``, composed of the consecutive steps between them."""
        return hs.compose(self.step, i, j)

    def scout(self, start: int, upto: int, keep: range) -> None:
        """Match consecutive frames and keep the keyframes from ``start`` (or where the last call stopped) up to
        frame ``upto``, ahead of the fill (the long-range source looks that far into the future); frames outside
        ``keep`` are forgotten once matched (their chunk reads them again), so memory holds the keyframes, not
        the frames between them."""
        upto = min(upto, self.n - 1)
        self._scouted = max(self._scouted, start)
        while self._scouted <= upto:
            k = self._scouted
            self.keyframes.offer(k, self.frame, self.unknown)
            if k + 1 < self.n:
                self.step(k)
            if k not in keep:
                self._forget(k)
            self._scouted += 1

    def _forget(self, k: int) -> None:
        for store in (self._frame, self._mask, self._region, self._prepared, self._grey, self._unknown,
                      self._spatial):
            store.pop(k, None)

    def evict_before(self, i: int, far: int) -> None:
        """Forget frames before ``i``, and keyframes and steps before ``far`` (the long-range source's reach)."""
        for store in (self._frame, self._mask, self._region, self._prepared, self._grey, self._unknown,
                      self._spatial):
            for k in [k for k in store if k < i]:
                del store[k]
        for key in [key for key in self._flow if min(key) < i]:
            del self._flow[key]
        self.keyframes.evict_before(far)
        for k in [k for k in self._step if k < far]:
            del self._step[k]


class ClassicalInpainter:
    """The classical ``Inpainter``: checked flow-guided temporal fill + spatial fill + feathered paste."""

    backend = "classical"
    device = "cpu"

    def __init__(self, config: ClassicalConfig | None = None) -> None:
        self.config = config or ClassicalConfig()

    def __call__(
        self,
        frames: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        sink: Callable[[int, np.ndarray], None],
        *,
        skip: frozenset[int] = frozenset(),
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Fill every masked frame and hand it to ``sink``; frames with an empty mask go out unchanged.

        Frames in ``skip`` (already written) are not recomputed; they are emitted only when their mask is empty.
        """
        n = len(frames)
        if len(masks) != n:
            raise ValueError(f"got {n} frames but {len(masks)} masks; give one mask per frame")
        cfg = self.config
        clip = _Clip(frames, masks, cfg)
        previous: tuple[int, np.ndarray, np.ndarray] | None = None  # (index, output, its error) of the last fill
        for a in range(0, n, cfg.chunk):
            b = min(n, a + cfg.chunk)
            todo = [i for i in range(a, b) if i not in skip and clip.mask(i).any()]
            lo, hi = max(0, a - cfg.span), min(n, b + cfg.span)
            clip.evict_before(lo, a - cfg.long_range.reach)
            if cfg.long_range.reach > 0 and todo:  # only around frames to fill: an object seen for a moment
                # in a long shot does not make the whole shot be matched
                clip.scout(a - cfg.long_range.reach, b - 1 + cfg.long_range.reach, range(lo, hi))
            past: dict[int, src.Sources] = {}
            future: dict[int, src.Sources] = {}
            if todo:
                regions = {i: clip.region(i) for i in range(lo, hi)}
                past = src.run_pass(list(range(lo, b)), regions, clip.targets, -1, cfg.span)
                future = src.run_pass(list(range(hi - 1, a - 1, -1)), regions, clip.targets, +1, cfg.span)
            for i in range(a, b):
                frame = clip.frame(i)
                if not clip.mask(i).any():
                    sink(i, frame.copy())
                    previous = None
                elif i in skip:
                    previous = None
                else:
                    carried = previous[1:] if previous is not None and previous[0] == i - 1 else None
                    out, error = self._fill(clip, i, past.get(i), future.get(i), carried)
                    sink(i, out)
                    previous = (i, out, error)
                if progress is not None:
                    progress(i + 1, n)

    # -- one frame ----------------------------------------------------------------------------------
    def _fill(
        self,
        clip: _Clip,
        i: int,
        past: src.Sources | None,
        future: src.Sources | None,
        carried: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(the filled frame, the error each of its pixels is trusted to: what the next frame may carry)."""
        cfg = self.config
        frame, mask, region = clip.frame(i), clip.mask(i), clip.region(i)
        n = len(region.ys)
        # every trusted candidate (the source from the past, the one from the future, the previous frame's fill
        # carried along the flow), averaged with weights that fall with their ring misalignment
        candidates: list[tuple[np.ndarray, np.ndarray]] = []
        for sources in (past, future):
            if sources is not None:
                sources = src.refine(sources, region, clip.grey(i), clip.grey)
                colours, ok = src.gather(sources, clip.frame)
                if ok.any():
                    candidates.append((colours, ok))
        colours, ok = hs.homography_colours(i, region, clip.n, clip.homography, clip.frame, clip.unknown,
                                            cfg.homography)
        if ok.any():
            candidates.append((colours, ok))
        # what no source within the span shows: keyframes farther away (a slow pan reveals it later)
        lacking = region.unknown.copy()
        for _, has in candidates:
            lacking &= ~has
        if cfg.long_range.reach > 0 and lacking.any():
            colours, ok = long_range_colours(i, region, lacking, clip.keyframes, cfg.homography.window, clip.step,
                                             clip.frame, clip.unknown, clip.n)
            if (ok & region.unknown).any():
                candidates.append((colours, ok))
        floors = [np.zeros(n, np.float32)] * len(candidates)
        if carried is not None:
            qx, qy = clip.targets(i, i - 1)
            h, w = mask.shape
            inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
            candidates.append((sample_points(carried[0], qx, qy), inside))
            # what is carried is no better than it was (a spatial fill stays a spatial fill), and ages
            floors.append(sample_points(carried[1], qx, qy).reshape(-1) + 1.0)
        total = np.zeros((n, 3), np.float32)
        weight = np.zeros(n, np.float32)
        for checked, floor in zip(check_all(frame, region, candidates), floors, strict=True):
            error = np.maximum(checked.error, floor)
            wt = np.where(error <= cfg.max_error, 1.0 / (1.0 + error) ** 2, 0.0).astype(np.float32)
            total += checked.colours * wt[:, None]
            weight += wt
        best = total / np.maximum(weight, 1e-12)[:, None]
        accepted = weight > 0
        # the error the trusted sources make at each pixel (what the next frame may carry, and the thin parts weigh)
        trusted_error = np.where(accepted, 1.0 / np.sqrt(np.maximum(weight, 1e-12)) - 1.0, cfg.max_error)
        confidence = np.full(mask.shape, cfg.max_error, np.float32)  # the error each output pixel is trusted to
        confidence[region.ys, region.xs] = trusted_error
        # the spatial fill fills ``clip.spatial(i)``: beside a clean edge it reads the first pixels as they are
        missing = clip.spatial(i)
        thin, spatial_weight = spatial_weights(frame, missing, region, cfg.thin)
        mix = thin & accepted
        if mix.any():
            spatial = spatial_fill(frame, missing, cfg.inpaint_radius, cfg.spatial)
            colours = spatial[region.ys[mix], region.xs[mix]].astype(np.float32)
            temporal_weight = 1.0 / np.maximum(trusted_error[mix], 0.5) ** 2
            best[mix] = ((best[mix] * temporal_weight[:, None] + colours * spatial_weight[mix, None])
                         / (temporal_weight + spatial_weight[mix])[:, None])
        fill = frame.copy()
        sel = region.unknown & accepted
        fill[region.ys[sel], region.xs[sel]] = np.clip(np.rint(best[sel]), 0, 255).astype(np.uint8)
        gap = region.unknown & ~accepted & missing[region.ys, region.xs]  # else kept as it is
        if gap.any():
            hole = np.zeros(mask.shape, bool)
            hole[region.ys[gap], region.xs[gap]] = True
            fill = spatial_fill(fill, hole, cfg.inpaint_radius, cfg.spatial)
        return paste_back(frame, fill, mask, dilate=cfg.dilate, feather=cfg.feather), confidence


def spatial_fill(image: np.ndarray, missing: np.ndarray, radius: int = 5, method: str = "membrane") -> np.ndarray:
    """Fill the ``missing`` pixels of ``image`` from the rest of it alone (no other frame).

    ``membrane`` (the default) interpolates the colours on the border of each missing group smoothly across it
    (Laplace's equation, ``inpaint.diffuse.fill_smooth``); ``telea`` is OpenCV's Telea with ``radius``. The
    membrane was chosen by measurement: better than Telea in PSNR on 14 of 15 cases and in SSIM on all 15
    (docs/benchmarks.md, "Removal quality, sixth round"). Each group of missing pixels is filled in its own box
    with a margin: both methods read only what lies around the group, so this gives what the whole frame would
    at a fraction of the cost.
    """
    if method not in ("membrane", "telea"):
        raise ValueError(f"unknown spatial fill {method!r}: use 'membrane' or 'telea'")
    if missing.all():  # nothing to inpaint from: a flat grey frame is the only honest answer
        return np.full_like(image, 128)
    out = image.copy()
    m = missing.astype(np.uint8)
    h, w = m.shape
    pad = radius + 2
    # boxes of nearby groups merge (their margins would overlap): join the groups grown by the margin first
    count, _, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(m, np.ones((2 * pad + 1,) * 2, np.uint8)))
    for x, y, bw, bh, _ in stats[1:count]:
        ys, xs = slice(y, min(h, y + bh)), slice(x, min(w, x + bw))
        hole = m[ys, xs]
        if not hole.any():
            continue
        if method == "telea":
            out[ys, xs] = cv2.inpaint(image[ys, xs], hole, radius, cv2.INPAINT_TELEA)
        else:
            known = hole == 0
            if not known.any():  # a group with no border inside its box (it spans the frame): use the frame
                ys, xs, known = slice(0, h), slice(0, w), m == 0
            smooth = fill_smooth(image[ys, xs].astype(np.float32), known, iterations=MEMBRANE_ITERATIONS)
            out[ys, xs] = np.where(known[..., None], image[ys, xs], np.clip(np.rint(smooth), 0, 255).astype(np.uint8))
    return out
