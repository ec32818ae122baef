"""``E2FGVIInpainter``: the E2FGVI-HQ removal backend (``inpaint.backend.Inpainter``).

The recipe, per clip:
1. check inputs, scan the masks once (one at a time) for the frames that need filling;
2. plan windows (``inpaint.windows``), keep only those that touch a frame to fill;
3. per window: read its frames by index, choose a view (the whole frame resized to the working size, or a
   native-resolution crop around the union of the window's masks when the object is small), run the
   generator, keep each local frame's prediction;
4. when no later window needs a frame, paste its predictions into the frame inside the (dilated,
   feathered) mask, average them as test.py does, and hand the frame to ``sink``.
Pixels where the paste weight is zero are the input pixels, bit for bit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from inpaint.e2fgvi.network import InpaintGenerator, pad_to_model
from inpaint.paste import paste_back
from inpaint.windows import Window, average_predictions, bounded_windows, needed_windows, official_windows
from weights import load_checkpoint, load_strict

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


@dataclass(frozen=True)
class E2FGVIConfig:
    """Settings of the E2FGVI-HQ backend; defaults follow the official test.py where it has one.

    ``working_size`` (w, h) is the model's working resolution for landscape frames (swapped for portrait);
    ``None`` runs at the frames' own size. ``ref_span=None`` takes references from the whole clip
    (test.py's ``num_ref=-1``, cost grows with the clip); an int bounds them to ``±ref_span`` frames.
    ``precision``: "fp32", "bf16" (CPU autocast), "fp16" (CUDA autocast) or "auto" (fp16 on CUDA,
    fp32 on CPU). ``testpy_composite`` composites exactly as test.py (prediction inside the dilated model
    mask, no feathering); it needs the model to run at the frames' size.
    """

    working_size: tuple[int, int] | None = (432, 240)
    neighbor_stride: int = 5
    ref_step: int = 10
    ref_span: int | None = 50
    mask_dilation: int = 4  # iterations of a 3x3 cross at the working size (test.py)
    crop: bool = True
    crop_margin: float = 0.25  # context around the mask box, as a fraction of its size (at least 16 px)
    paste_dilate: int = 4
    paste_feather: int = 4
    precision: str = "auto"
    testpy_composite: bool = False

    @classmethod
    def testpy(cls) -> E2FGVIConfig:
        """The official test.py, exactly: whole-clip references, frames' own size, hard composite."""
        return cls(working_size=None, ref_span=None, crop=False, testpy_composite=True, precision="fp32")


@dataclass
class RunStats:
    """What the last call did (for the CLI and benchmarks)."""

    windows: int = 0
    filled: int = 0
    copied: int = 0
    seconds: float = 0.0
    forward_seconds: list[float] = field(default_factory=list)


def dilate_mask(mask: np.ndarray, iterations: int) -> np.ndarray:
    """test.py's hole dilation: a 3x3 cross, ``iterations`` times (an L1 ball of that radius); uint8 0/1."""
    m = (np.asarray(mask) > 0).astype(np.uint8)
    if iterations <= 0:
        return m
    return cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), iterations=iterations)


def to_model_input(frames: Sequence[np.ndarray], holes: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """test.py's preprocessing: ``uint8 / 255 * 2 - 1``, holes (0/1) set to 0, mirror-padded to 60x108 multiples.

    Returns (1, T, 3, H', W') float32.
    """
    imgs = torch.from_numpy(np.stack(frames)).to(device).permute(0, 3, 1, 2).float().div_(255).mul_(2).sub_(1)
    masks = torch.from_numpy(np.stack(holes)).to(device).float().unsqueeze(1)
    return pad_to_model((imgs * (1 - masks)).unsqueeze(0))


def _bbox(mask: np.ndarray) -> Box | None:
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _union(boxes: list[Box]) -> Box:
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


@dataclass(frozen=True)
class View:
    """Where a window looks: ``box`` in frame pixels, resized to ``size`` (w, h) for the model."""

    box: Box
    size: tuple[int, int]


class E2FGVIInpainter:
    """Fill masked regions with E2FGVI-HQ over sliding windows; see the module docstring for the recipe."""

    backend = "e2fgvi_hq"

    def __init__(self, model: InpaintGenerator, config: E2FGVIConfig | None = None) -> None:
        self.model = model.eval()
        self.config = config or E2FGVIConfig()
        if self.config.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {self.config.precision!r}")
        self.stats = RunStats()

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, config: E2FGVIConfig | None = None
    ) -> E2FGVIInpainter:
        """Build the generator and load the official ``E2FGVI-HQ-CVPR22.pth`` (strict; SPyNet included)."""
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model = InpaintGenerator()
        load_strict(model, load_checkpoint(path), "e2fgvi_hq")
        return cls(model.to(device), config)

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device)

    # ------------------------------------------------------------------ model call
    def _autocast(self) -> contextlib.AbstractContextManager:
        dev = torch.device(self.device)
        prec = self.config.precision
        if prec == "auto":
            prec = "fp16" if dev.type == "cuda" else "fp32"
        if prec == "fp16":
            if dev.type != "cuda":
                raise ValueError("precision='fp16' needs a CUDA device; use 'bf16' or 'fp32' on CPU")
            return torch.autocast("cuda", dtype=torch.float16)
        if prec == "bf16":
            return torch.autocast(dev.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def predict(self, frames: list[np.ndarray], holes: list[np.ndarray], num_local: int) -> list[np.ndarray]:
        """One forward: RGB uint8 frames and 0/1 hole masks (same size) -> uint8 predictions of the local frames.

        Frames are normalised to [-1, 1], holes zeroed, mirror-padded to 60x108 multiples, and the
        prediction truncated to uint8 exactly as test.py does.
        """
        h, w = frames[0].shape[:2]
        x = to_model_input(frames, holes, torch.device(self.device))
        t0 = time.perf_counter()
        with self._autocast():
            pred, _ = self.model(x, num_local, decode_reference=False)
        self.stats.forward_seconds.append(time.perf_counter() - t0)
        pred = pred[:num_local, :, :h, :w].float()
        out = ((pred + 1) / 2).permute(0, 2, 3, 1).cpu().numpy() * 255
        return list(out.astype(np.uint8))

    # ------------------------------------------------------------------ views
    def _model_size(self, width: int, height: int) -> tuple[int, int]:
        ws = self.config.working_size
        if ws is None:
            return width, height
        ww, wh = ws if width >= height else (ws[1], ws[0])
        if width <= ww and height <= wh:
            return width, height
        s = min(ww / width, wh / height)
        return max(1, round(width * s)), max(1, round(height * s))

    def _view(self, boxes: list[Box], width: int, height: int) -> View:
        full = View((0, 0, width, height), self._model_size(width, height))
        cfg = self.config
        if not cfg.crop or cfg.working_size is None or full.size == (width, height):
            return full
        cw, ch = cfg.working_size if width >= height else cfg.working_size[::-1]
        cw, ch = min(cw, width), min(ch, height)
        x0, y0, x1, y1 = _union(boxes)
        mx = max(16, int(cfg.crop_margin * (x1 - x0)))
        my = max(16, int(cfg.crop_margin * (y1 - y0)))
        if (x1 - x0) + 2 * mx > cw or (y1 - y0) + 2 * my > ch:
            return full
        cx0 = min(max(0, (x0 + x1) // 2 - cw // 2), width - cw)
        cy0 = min(max(0, (y0 + y1) // 2 - ch // 2), height - ch)
        return View((cx0, cy0, cx0 + cw, cy0 + ch), (cw, ch))

    def _prepare(self, frame: np.ndarray, mask: np.ndarray, view: View) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = view.box
        img, m = frame[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.uint8)
        if (x1 - x0, y1 - y0) != view.size:
            img = cv2.resize(img, view.size, interpolation=cv2.INTER_AREA)
            m = (cv2.resize(m * 255, view.size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
        return np.ascontiguousarray(img), dilate_mask(m, self.config.mask_dilation)

    # ------------------------------------------------------------------ the loop
    def check_inputs(self, frames: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> None:
        if len(frames) != len(masks):
            raise ValueError(f"frames and masks differ in length ({len(frames)} vs {len(masks)}): one mask per frame")
        cfg = self.config
        if cfg.neighbor_stride < 1 or cfg.ref_step < 1:
            raise ValueError("neighbor_stride and ref_step must be >= 1")
        if cfg.testpy_composite and cfg.working_size is not None:
            raise ValueError("testpy_composite needs working_size=None (the model must run at the frames' size)")

    def plan(self, length: int) -> list[Window]:
        """All windows of a clip of ``length`` frames (before dropping those with nothing to fill)."""
        cfg = self.config
        if cfg.ref_span is None:
            return official_windows(length, cfg.neighbor_stride, cfg.ref_step, num_ref=-1)
        return bounded_windows(length, cfg.neighbor_stride, cfg.ref_step, cfg.ref_span)

    def __call__(
        self,
        frames: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        sink: Callable[[int, np.ndarray], None],
        *,
        skip: frozenset[int] = frozenset(),
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Fill every masked frame; empty-mask frames are emitted unchanged; frames in ``skip`` are not emitted."""
        t_start = time.perf_counter()
        self.check_inputs(frames, masks)
        self.stats = RunStats()
        n = len(frames)
        boxes: dict[int, Box] = {}
        for i in range(n):
            box = _bbox(np.asarray(masks[i]) > 0)
            if box is not None:
                boxes[i] = box
        wanted = {i for i in boxes if i not in skip}
        windows = needed_windows(self.plan(n), wanted)
        last_use: dict[int, int] = {}
        for wi, win in enumerate(windows):
            for i in win.neighbor_ids:
                if i in wanted:
                    last_use[i] = wi
        total = len(windows)
        if progress is not None:
            progress(0, total)

        preds: dict[int, list[tuple[View, np.ndarray, np.ndarray]]] = {}
        cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        next_emit = 0

        def read(i: int) -> tuple[np.ndarray, np.ndarray]:
            if i not in cache:
                frame = np.asarray(frames[i])
                if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                    raise ValueError(f"frame {i}: expected RGB uint8 HxWx3, got {frame.dtype} {frame.shape}")
                mask = np.asarray(masks[i]) > 0
                if mask.shape != frame.shape[:2]:
                    raise ValueError(f"mask {i} is {mask.shape}, frame is {frame.shape[:2]}: masks must match frames")
                cache[i] = (frame, mask)
            return cache[i]

        def emit_until(stop: int) -> None:
            nonlocal next_emit
            while next_emit < stop:
                i = next_emit
                next_emit += 1
                if i in skip:
                    continue
                if i in preds:
                    sink(i, self._composite(*read(i), preds.pop(i)))
                    self.stats.filled += 1
                else:
                    sink(i, np.array(np.asarray(frames[i]), copy=True))
                    self.stats.copied += 1

        for wi, win in enumerate(windows):
            data = [read(i) for i in win.ids]
            height, width = data[0][0].shape[:2]
            win_boxes = [boxes[i] for i in win.neighbor_ids if i in boxes]
            view = self._view(win_boxes, width, height)
            prepared = [self._prepare(f, m, view) for f, m in data]
            out = self.predict([p[0] for p in prepared], [p[1] for p in prepared], win.num_local)
            for k, i in enumerate(win.neighbor_ids):
                if i in wanted:
                    preds.setdefault(i, []).append((view, out[k], prepared[k][1]))
            self.stats.windows += 1
            pending = [i for i, last in last_use.items() if last > wi]
            emit_until(min(pending) if pending else n)
            keep = set(windows[wi + 1].ids) if wi + 1 < len(windows) else set()
            for i in list(cache):
                if i not in keep:
                    del cache[i]
            if progress is not None:
                progress(wi + 1, total)
        emit_until(n)
        self.stats.seconds = time.perf_counter() - t_start

    def _composite(
        self, frame: np.ndarray, mask: np.ndarray, entries: list[tuple[View, np.ndarray, np.ndarray]]
    ) -> np.ndarray:
        """Paste each window's prediction into the frame and average them in window order (test.py's blend)."""
        cfg = self.config
        ux0, uy0, ux1, uy1 = _union([v.box for v, _, _ in entries])
        region = frame[uy0:uy1, ux0:ux1]
        imgs = []
        for view, pred, hole in entries:
            x0, y0, x1, y1 = view.box
            img = region.copy()
            sub = (slice(y0 - uy0, y1 - uy0), slice(x0 - ux0, x1 - ux0))
            if cfg.testpy_composite:
                img[sub] = pred * hole[..., None] + frame[y0:y1, x0:x1] * (1 - hole[..., None])
            else:
                img[sub] = paste_back(
                    frame[y0:y1, x0:x1], pred, mask[y0:y1, x0:x1], cfg.paste_dilate, cfg.paste_feather
                )
            imgs.append(img)
        out = frame.copy()
        out[uy0:uy1, ux0:ux1] = average_predictions(imgs)
        return out


def with_config(inpainter: E2FGVIInpainter, **changes: object) -> E2FGVIInpainter:
    """A new inpainter sharing the model, with ``dataclasses.replace``-d settings."""
    return E2FGVIInpainter(inpainter.model, replace(inpainter.config, **changes))
