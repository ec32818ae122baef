"""``SamSegmenter``: clicks / a box -> one mask, on SAM or MobileSAM, with an LRU cache of image embeddings.

Two phases, as in segment_anything's ``SamPredictor``: ``set_image`` runs the heavy image encoder once per
frame (``ResizeLongestSide`` + ``Sam.preprocess``, bit-identical to the predictor), ``predict`` runs only the
prompt encoder and mask decoder. Embeddings (not images) are kept in a bounded LRU cache keyed by the
caller's ``key`` (a frame index), so going back to a frame or clicking again on it costs a decode only.

Mask choice (``predict``): SAM's three-mask output is meant for ambiguous prompts. We ask for it only when
``multimask`` is set *and* the prompt is a single click (one point, no box), and keep the mask with the
highest predicted IoU. Several points, a box, or points with a previous mask are unambiguous: SAM's paper
trains a fourth, single-mask output token for exactly that case, and its demo uses it for refinement
clicks, so we use that output. ``predict_all`` exposes the raw model call for callers that want all masks.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide

from tracking.backend import SegmentResult
from tracking.sam.build import load_sam, resolve_variant

MASK_LOGIT = 10.0  # magnitude of the logits a bool mask becomes when it is fed back as mask_input


@dataclass(frozen=True)
class ImageEmbedding:
    """The image encoder's output for one frame, with the sizes needed to map prompts and masks."""

    features: torch.Tensor  # (1, 256, 64, 64) on the model's device
    original_size: tuple[int, int]  # (H, W) of the frame
    input_size: tuple[int, int]  # (h, w) after ResizeLongestSide, before padding
    fingerprint: bytes  # digest of the frame's pixels: a key reused for another image is detected


class EmbeddingCache:
    """A bounded least-recently-used map ``key -> ImageEmbedding``."""

    def __init__(self, capacity: int = 8):
        if capacity < 0:
            raise ValueError(f"cache capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[object, ImageEmbedding] = OrderedDict()

    def get(self, key: object) -> ImageEmbedding | None:
        """The cached embedding (now most recently used) or None."""
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: object, item: ImageEmbedding) -> None:
        """Insert or refresh ``key``; evicts the least recently used entries beyond capacity."""
        if self.capacity == 0:
            return
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def keys(self) -> list[object]:
        """Keys from least to most recently used."""
        return list(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def _fingerprint(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest()


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"set_image expects an RGB uint8 H x W x 3 frame, got a {desc}; convert it first")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"set_image got an empty frame of shape {image.shape}")


class SamSegmenter:
    """SAM / MobileSAM behind tam's ``Segmenter`` protocol (see ``tracking.backend``)."""

    def __init__(self, sam: Sam, name: str, *, cache_size: int = 8):
        self.sam = sam.eval()
        self.backend = name
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)
        self.cache = EmbeddingCache(cache_size)
        self.embeddings_computed = 0  # how many times the image encoder ran (cache misses)
        self._current: ImageEmbedding | None = None

    @classmethod
    def from_checkpoint(
        cls, variant: str, path: str | Path, device: str | torch.device | None = None, *, cache_size: int = 8
    ) -> SamSegmenter:
        """Load ``variant`` (``vit_t``/``mobile_sam``, ``vit_b``, ``vit_l``, ``vit_h``) strictly from ``path``."""
        info = resolve_variant(variant)
        return cls(load_sam(info.arch, path, device), info.backend, cache_size=cache_size)

    @property
    def device(self) -> str:
        """Where the model runs, from its parameters (``"cpu"``, ``"cuda:0"``)."""
        return str(next(self.sam.parameters()).device)

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(H, W) of the current image, or None before ``set_image``."""
        return None if self._current is None else self._current.original_size

    # -- phase 1: the image ---------------------------------------------------------------------------------

    def set_image(self, image: np.ndarray, key: object | None = None) -> None:
        """Make ``image`` (RGB uint8 H x W x 3) current; with a ``key`` its embedding is cached and reused."""
        _check_image(image)
        fingerprint = _fingerprint(image)
        if key is not None:
            cached = self.cache.get(key)
            if cached is not None and cached.fingerprint == fingerprint:
                self._current = cached
                return
        self._current = self._embed(image, fingerprint)
        if key is not None:
            self.cache.put(key, self._current)

    @torch.inference_mode()
    def _embed(self, image: np.ndarray, fingerprint: bytes) -> ImageEmbedding:
        resized = self.transform.apply_image(image)  # PIL bilinear, as SamPredictor
        pixels = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        features = self.sam.image_encoder(self.sam.preprocess(pixels)).float()  # float32 even under autocast
        self.embeddings_computed += 1
        return ImageEmbedding(features, (image.shape[0], image.shape[1]), tuple(resized.shape[:2]), fingerprint)

    # -- phase 2: prompts -----------------------------------------------------------------------------------

    def predict(
        self,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> SegmentResult:
        """One mask for one object on the current image.

        ``points`` (N, 2) ``(x, y)`` and ``box`` XYXY are in pixels of the image given to ``set_image``;
        ``labels`` are 1 (positive) / 0 (negative). ``mask_input`` is the ``logits`` of a previous result
        on this image (iterative clicks), or a bool mask of the image (a tracked mask to correct, see
        ``mask_to_logits``). Returns the mask at the image's size, its predicted IoU and its
        low-res logits ``(1, 256, 256)`` to pass back as ``mask_input`` on the next click. With ``multimask``
        and a single click (no box) the best of SAM's three masks by predicted IoU is kept; any other prompt
        uses SAM's single-mask output (see the module docstring).
        """
        n_points = 0 if points is None else len(np.asarray(points).reshape(-1, 2))
        use_multimask = multimask and n_points == 1 and box is None
        low_res, scores = self._decode(points, labels, box, mask_input, use_multimask)
        best = int(torch.argmax(scores))
        mask = self._upscale(low_res[best : best + 1])[0]
        return SegmentResult(mask=mask, score=float(scores[best]), logits=low_res[best : best + 1].cpu().numpy())

    def predict_all(
        self,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The raw model call, like ``SamPredictor.predict``: masks (C, H, W) bool, IoU (C,), logits (C, 256, 256)."""
        low_res, scores = self._decode(points, labels, box, mask_input, multimask_output)
        return self._upscale(low_res), scores.cpu().numpy(), low_res.cpu().numpy()

    def predict_from_mask(
        self, mask: np.ndarray, logits: np.ndarray | None = None, *, n_positive: int = 3, n_negative: int = 0
    ) -> SegmentResult:
        """Re-segment an object from a rough mask (e.g. XMem's): its box plus points sampled inside it.

        ``logits`` (a previous SAM result on this image) are fed as ``mask_input`` when given; ``n_negative``
        background points are taken inside the box but away from the mask.
        """
        size = self._require_image().original_size
        mask = np.asarray(mask)
        if mask.shape != size:
            raise ValueError(f"mask has shape {mask.shape} but the current image is {size}; resize it first")
        points, labels, box = prompts_from_mask(mask, n_positive=n_positive, n_negative=n_negative)
        return self.predict(points, labels, box, mask_input=logits, multimask=False)

    def mask_to_logits(self, mask: np.ndarray) -> np.ndarray:
        """A bool mask of the current image as SAM's low-res ``mask_input`` logits ``(1, 256, 256)``: resized like
        the image (longest side to the encoder's size, padded bottom-right), at a quarter of it, +-``MASK_LOGIT``.
        A tracked or corrected mask is fed back this way, as SAM's interactive loop feeds its previous answer."""
        emb = self._require_image()
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != emb.original_size:
            raise ValueError(f"mask has shape {mask.shape} but the current image is {emb.original_size}")
        lh, lw = self.sam.prompt_encoder.mask_input_size
        ih, iw = emb.input_size
        side = self.sam.image_encoder.img_size
        size = (max(1, round(iw * lw / side)), max(1, round(ih * lh / side)))
        small = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        logits = np.full((lh, lw), -MASK_LOGIT, np.float32)
        logits[: size[1], : size[0]] = (2.0 * small - 1.0) * MASK_LOGIT
        return logits[None]

    # -- internals ------------------------------------------------------------------------------------------

    def _require_image(self) -> ImageEmbedding:
        if self._current is None:
            raise RuntimeError("no image set: call set_image(frame) before predict")
        return self._current

    @torch.inference_mode()
    def _decode(
        self,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt encoder + mask decoder: low-res logits (C, 256, 256) and IoU predictions (C,)."""
        emb = self._require_image()
        dev = emb.features.device
        h, w = emb.original_size
        point_arg = box_arg = mask_arg = None
        if points is None and box is None:
            raise ValueError("predict needs at least one click (points + labels) or a box")
        if points is not None:
            pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            if labels is None:
                raise ValueError("points were given without labels: pass labels (1 positive, 0 negative) per point")
            lab = np.asarray(labels).reshape(-1)
            if len(lab) != len(pts):
                raise ValueError(f"{len(pts)} points but {len(lab)} labels: give one label per point")
            if not np.isin(lab, (0, 1)).all():
                raise ValueError(f"labels must be 1 (positive) or 0 (negative), got {sorted(set(lab.tolist()))}")
            if not np.isfinite(pts).all() or (pts < 0).any() or (pts[:, 0] > w).any() or (pts[:, 1] > h).any():
                raise ValueError(f"points {pts.tolist()} fall outside the {w}x{h} image; give (x, y) pixel coords")
            coords = torch.as_tensor(self.transform.apply_coords(pts, emb.original_size), dtype=torch.float)
            point_arg = (coords[None].to(dev), torch.as_tensor(lab, dtype=torch.int)[None].to(dev))
        if box is not None:
            b = np.asarray(box, dtype=np.float64).reshape(-1)
            if b.shape != (4,) or not np.isfinite(b).all() or b[2] < b[0] or b[3] < b[1]:
                raise ValueError(f"box must be (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, got {b.tolist()}")
            b = np.clip(b, 0, [w, h, w, h])
            box_arg = torch.as_tensor(self.transform.apply_boxes(b, emb.original_size), dtype=torch.float).to(dev)
        if mask_input is not None:
            m = np.asarray(mask_input)
            m = self.mask_to_logits(m) if m.dtype == bool else m.astype(np.float32)
            lh, lw = self.sam.prompt_encoder.mask_input_size  # 256 x 256 for every released SAM
            if m.size != lh * lw:
                raise ValueError(
                    f"mask_input must be the (1, {lh}, {lw}) logits of a previous result, got shape {m.shape}"
                )
            mask_arg = torch.as_tensor(m.reshape(1, 1, lh, lw), device=dev)
        sparse, dense = self.sam.prompt_encoder(points=point_arg, boxes=box_arg, masks=mask_arg)
        low_res, iou = self.sam.mask_decoder(
            image_embeddings=emb.features,
            image_pe=self.sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
        )
        return low_res[0], iou[0]

    @torch.inference_mode()
    def _upscale(self, low_res: torch.Tensor) -> np.ndarray:
        """(C, 256, 256) logits -> (C, H, W) bool masks at the current image's size (as ``Sam.postprocess_masks``)."""
        emb = self._require_image()
        hires = self.sam.postprocess_masks(low_res[None], emb.input_size, emb.original_size)[0]
        return (hires > self.sam.mask_threshold).cpu().numpy()


def _spread_maxima(dist: np.ndarray, count: int, min_value: float) -> list[tuple[int, int]]:
    """Up to ``count`` (x, y) maxima of ``dist``, each at least ``min_value``, suppressing a disc around each pick."""
    dist = dist.copy()
    h, w = dist.shape
    picks: list[tuple[int, int]] = []
    yy, xx = np.ogrid[:h, :w]
    radius_floor = 0.25 * np.sqrt(float((dist > 0).sum()) / max(count, 1))
    for _ in range(count):
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        value = float(dist[y, x])
        if value < min_value:
            break
        picks.append((int(x), int(y)))
        radius = max(2.0 * value, radius_floor)
        dist[(yy - y) ** 2 + (xx - x) ** 2 <= radius * radius] = 0
    return picks


def prompts_from_mask(
    mask: np.ndarray, n_positive: int = 3, n_negative: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SAM prompts describing a mask: (points (N, 2) float, labels (N,) int, box (4,) XYXY float).

    The box is the mask's bounding box (inclusive pixel extremes, SAM's convention). Positive points are
    maxima of the distance transform (the deepest interior pixels, spread apart); negative points are
    maxima of the distance to the mask inside the box, i.e. background the box wrongly covers.
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be a 2-D H x W array, got shape {m.shape}")
    if not m.any():
        raise ValueError("mask is empty: there is nothing to prompt SAM with; skip this frame or add a click")
    if n_positive < 1:
        raise ValueError(f"n_positive must be >= 1, got {n_positive}")
    ys, xs = np.nonzero(m)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    inside = cv2.distanceTransform(np.pad(m, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    first = float(inside.max())
    positives = _spread_maxima(inside, n_positive, min_value=min(first, max(1.5, 0.2 * first)))
    negatives: list[tuple[int, int]] = []
    if n_negative > 0:
        outside = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5)
        in_box = np.zeros_like(outside)
        in_box[y0 : y1 + 1, x0 : x1 + 1] = outside[y0 : y1 + 1, x0 : x1 + 1]
        negatives = _spread_maxima(in_box, n_negative, min_value=3.0)
    points = np.array(positives + negatives, dtype=np.float32).reshape(-1, 2)
    labels = np.array([1] * len(positives) + [0] * len(negatives), dtype=np.int64)
    return points, labels, np.array([x0, y0, x1, y1], dtype=np.float32)
