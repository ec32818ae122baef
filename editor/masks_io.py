"""Mask files in the DAVIS layout: reading folders of label maps, resizing them, importing them into a project.

A mask file is a PNG (or any image PIL reads) named like the frame it annotates:

- palette ("P") PNGs hold object ids as palette indices (0 = background, k = object k);
- greyscale 0/255 images hold one object (> 0 becomes id 1); greyscale with other small values are ids as is;
- RGB images are mapped back to ids through the DAVIS palette (the colours DAVIS tools write).

Matching masks to the project's frames (:func:`import_masks`), in this order:

1. by stem: every mask's stem is a frame stem, or names the same frame number (``693.png`` → ``00000693``);
2. by order: when no stem matches and there are exactly as many masks as frames, the i-th mask (sorted by its
   number) annotates the i-th frame;
3. otherwise it is an error that says what the names looked like.

Sizes: a mask at the project's working size or at its native size is accepted (the native one is scaled to
the working size, per object, smoothly); a mask one pixel off either of those (some tools crop odd widths)
is resized with nearest-neighbour and a warning; any other size is an error.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from editor.errors import InputError

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")


def davis_palette() -> np.ndarray:
    """The DAVIS / PASCAL VOC colour palette, ``uint8 256 x 3`` (index 1 is red, 2 green, 3 yellow...)."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def label_to_png(label: np.ndarray) -> Image.Image:
    """A palette ("P") PIL image of a ``uint8 H x W`` label map, with the DAVIS palette."""
    im = Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8))  # "L"; putpalette makes it "P"
    im.putpalette(davis_palette().reshape(-1).tolist())
    return im


def decode_mask(image: Image.Image, name: str = "mask") -> np.ndarray:
    """A PIL image of a mask → ``uint8 H x W`` label map (see the module docstring for the rules)."""
    if image.mode == "P":
        return np.array(image, dtype=np.uint8)
    if image.mode in ("RGBA", "LA"):
        image = image.convert(image.mode[:-1])
    if image.mode == "1":
        return np.array(image, dtype=np.uint8)
    if image.mode in ("I", "I;16", "F"):
        arr = np.array(image)
        if arr.min() < 0 or arr.max() > 255:
            raise InputError(
                f"{name}: mask values {arr.min()}..{arr.max()} do not fit object ids 0..255; "
                "save masks as palette or 8-bit greyscale PNGs"
            )
        image = Image.fromarray(arr.astype(np.uint8))
    if image.mode == "RGB":
        rgb = np.array(image, dtype=np.uint8)
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return _grey_to_label(rgb[..., 0])
        return _colours_to_label(rgb, name)
    if image.mode != "L":
        image = image.convert("L")
    return _grey_to_label(np.array(image, dtype=np.uint8))


def _grey_to_label(grey: np.ndarray) -> np.ndarray:
    values = np.unique(grey)
    if set(values.tolist()) <= {0, 255} or values.size > 64:  # binary (or a JPEG-blurred binary) mask
        return (grey > 127).astype(np.uint8)
    return grey.copy()


def _colours_to_label(rgb: np.ndarray, name: str) -> np.ndarray:
    pal = davis_palette().astype(np.int32)
    key = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
    lookup = {int(k): i for i, k in reversed(list(enumerate(key)))}
    flat = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    colours, inverse = np.unique(flat, return_inverse=True)
    ids = []
    for c in colours.tolist():
        if c not in lookup:
            raise InputError(
                f"{name}: colour #{c:06X} is not a DAVIS palette colour; save masks as palette PNGs "
                "(object ids as indices) or as 0/255 greyscale"
            )
        ids.append(lookup[c])
    return np.asarray(ids, np.uint8)[inverse].reshape(rgb.shape[:2])


def resize_labels(label: np.ndarray, size: tuple[int, int], smooth: bool = True) -> np.ndarray:
    """Resize a label map to ``size = (width, height)``.

    ``smooth``: each object's binary mask is resized with linear (up) or area (down) interpolation and every
    pixel takes the object whose resized mask is highest there, if that is >= 0.5 (else background). Edges
    follow the object's outline instead of the blocky staircase nearest-neighbour gives, and an object is
    never merged into another. ``smooth=False`` is nearest-neighbour. The same size returns a copy.
    """
    w, h = size
    if label.shape == (h, w):
        return label.copy()
    if not smooth:
        return cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)
    ids = np.unique(label)
    ids = ids[ids != 0]
    out = np.zeros((h, w), np.uint8)
    if ids.size == 0:
        return out
    down = w * h < label.shape[0] * label.shape[1]
    interp = cv2.INTER_AREA if down else cv2.INTER_LINEAR
    best = np.full((h, w), 0.5, np.float32)
    for k in ids.tolist():
        score = cv2.resize((label == k).astype(np.float32), (w, h), interpolation=interp)
        take = score >= best
        out[take] = k
        best = np.maximum(best, score)
    return out


def _numbers(stems: Sequence[str]) -> list[int] | None:
    out = []
    for s in stems:
        m = re.search(r"(\d+)$", s)
        if m is None:
            return None
        out.append(int(m.group(1)))
    return out


def _sort_key(p: Path) -> tuple[int, str]:
    m = re.search(r"(\d+)$", p.stem)
    return (int(m.group(1)) if m else -1, p.stem)


@dataclass(frozen=True)
class MaskFolder(Sequence[np.ndarray]):
    """A folder of mask images read lazily: ``folder[i]`` decodes the i-th file (sorted by number)."""

    paths: tuple[Path, ...]
    sizes: tuple[tuple[int, int], ...] = ()  # accepted (width, height); empty: any size

    @property
    def stems(self) -> list[str]:
        return [p.stem for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return read_mask(self.paths[i], self.sizes)

    def __iter__(self) -> Iterator[np.ndarray]:
        for p in self.paths:
            yield read_mask(p, self.sizes)


def fit_edge(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize for a size a pixel or two off: the last rows/columns are repeated or dropped,
    so every other pixel stays where it was (tools that crop an odd width drop the last column)."""
    w, h = size
    out = label[:h, :w]
    ph, pw = h - out.shape[0], w - out.shape[1]
    if ph or pw:
        out = np.pad(out, ((0, ph), (0, pw)), mode="edge")
    return np.ascontiguousarray(out)


def read_mask(path: str | Path, sizes: Sequence[tuple[int, int]] = ()) -> np.ndarray:
    """One mask file → label map; checked against the accepted ``(width, height)`` sizes (see module docstring).

    A mask within one pixel of an accepted size is fitted to it with a warning (:func:`fit_edge`); any other
    size raises :class:`InputError`.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            label = decode_mask(im, path.name)
    except (OSError, SyntaxError) as e:
        raise InputError(f"cannot read mask {path}: {e}; masks must be PNG images") from e
    if not sizes:
        return label
    h, w = label.shape
    if (w, h) in sizes:
        return label
    for sw, sh in sizes:
        if abs(sw - w) <= 1 and abs(sh - h) <= 1:
            warnings.warn(
                f"mask {path.name} is {w}x{h}, one pixel off {sw}x{sh}: edge row/column repeated or dropped",
                stacklevel=2,
            )
            return fit_edge(label, (sw, sh))
    want = " or ".join(f"{sw}x{sh}" for sw, sh in sizes)
    raise InputError(f"mask {path} is {w}x{h} but the frames are {want}; export the masks at the video's size")


def read_mask_folder(path: str | Path, sizes: Sequence[tuple[int, int]] = ()) -> tuple[list[str], MaskFolder]:
    """List a folder of masks: ``(stems, label maps)``, sorted by frame number; the maps decode lazily.

    ``sizes``: accepted ``(width, height)`` sizes (empty = no check); see :func:`read_mask`.
    """
    folder = Path(path)
    if folder.is_file():
        raise InputError(f"{folder} is a file; pass the folder that holds the PNG masks, named like the frames")
    if not folder.is_dir():
        raise InputError(f"mask folder {folder} does not exist; pass a folder of PNG masks named like the frames")
    paths = sorted((p for p in folder.iterdir() if p.suffix.lower() in MASK_SUFFIXES and p.is_file()), key=_sort_key)
    if not paths:
        raise InputError(f"no mask images (.png) in {folder}; masks must be named like the frames, e.g. 00000.png")
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise InputError(f"{folder} holds two masks with the same name and different extensions; keep one of each")
    return stems, MaskFolder(tuple(paths), tuple(tuple(s) for s in sizes))


def match_stems(mask_stems: Sequence[str], frame_stems: Sequence[str]) -> list[int]:
    """The frame index each mask annotates (see the module docstring for the rules)."""
    index = {s: i for i, s in enumerate(frame_stems)}
    if all(s in index for s in mask_stems):
        return [index[s] for s in mask_stems]
    mask_nums, frame_nums = _numbers(mask_stems), _numbers(frame_stems)
    if mask_nums is not None and frame_nums is not None:
        by_num = {n: i for i, n in enumerate(frame_nums)}
        if len(by_num) == len(frame_nums) and all(n in by_num for n in mask_nums):
            return [by_num[n] for n in mask_nums]
    if not any(s in index for s in mask_stems) and len(mask_stems) == len(frame_stems):
        return list(range(len(frame_stems)))
    raise InputError(
        f"cannot match {len(mask_stems)} masks ({mask_stems[0]}..{mask_stems[-1]}) to {len(frame_stems)} frames "
        f"({frame_stems[0]}..{frame_stems[-1]}): name each mask like the frame it annotates, "
        "or give exactly one mask per frame"
    )


@dataclass(frozen=True)
class Keyframe:
    """An imported mask for one frame: ``label`` is at the project's working size."""

    frame: int
    stem: str
    label: np.ndarray

    @property
    def object_ids(self) -> list[int]:
        ids = np.unique(self.label)
        return [int(k) for k in ids if k != 0]


def import_masks(
    project: Any, masks_dir: str | Path, as_keyframes: bool = False, session: Any = None
) -> list[Keyframe]:
    """Import a DAVIS-layout mask folder into ``project`` (``editor.store.Project``).

    ``as_keyframes=False``: the masks become the project's mask sequence; they must cover every frame
    (else :class:`InputError`: sparse masks are keyframes). ``as_keyframes=True``: nothing is written; the
    masks come back as :class:`Keyframe` s, and when ``session`` (``tracking.session.TrackSession``) is given each
    object of each keyframe is added to it with ``session.add_mask(frame, obj_id, mask)`` (objects it lacks are
    created; the returned labels then hold the session's ids). Masks are scaled to the working
    size (see :func:`resize_labels`). Returns the keyframes in frame order.
    """
    working, native = tuple(project.working_size), tuple(project.native_size)
    sizes = [working] if working == native else [working, native]
    stems, folder = read_mask_folder(masks_dir, sizes)
    frame_stems = list(project.stems)
    frames = match_stems(stems, frame_stems)
    if len(set(frames)) != len(frames):
        raise InputError(f"two masks in {masks_dir} name the same frame; keep one mask per frame")
    if not as_keyframes and len(frames) != len(frame_stems):
        raise InputError(
            f"{masks_dir} has masks for {len(frames)} of {len(frame_stems)} frames; import sparse masks as "
            "keyframes (and propagate them), or give one mask per frame"
        )
    keyframes = []
    ids: dict[int, int] = {}  # mask id -> session object id
    if as_keyframes and session is not None:  # create missing objects in id order, so ids 1..K stay 1..K
        every = sorted(set().union(*(np.unique(folder[j]).tolist() for j in range(len(folder)))) - {0})
        _to_session_ids(session, np.asarray(every, np.uint8), ids)
    for j, i in sorted(enumerate(frames), key=lambda t: t[1]):
        label = resize_labels(folder[j], working)
        if as_keyframes and session is not None:
            label = _to_session_ids(session, label, ids)
            for k in np.unique(label).tolist():
                if k:
                    session.add_mask(i, k, label == k)
        elif not as_keyframes:
            project.masks[i] = label
        keyframes.append(Keyframe(i, frame_stems[i], label))
    return keyframes


def _to_session_ids(session: Any, label: np.ndarray, ids: dict[int, int]) -> np.ndarray:
    """Map a mask's ids to the session's objects: an id the session already has is kept; a new one gets
    ``session.add_object()`` (the smallest free id, so masks with ids 1..K on a fresh session keep them)."""
    known = {o.id for o in session.objects}
    lut = np.arange(256, dtype=np.uint8)
    for k in np.unique(label).tolist():
        if k == 0:
            continue
        if k not in ids:
            ids[k] = k if k in known else int(session.add_object(name=f"object {k}"))
            known.add(ids[k])
        lut[k] = ids[k]
    return lut[label]


def load_single_mask(image: str | Path | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One mask image (path or array) as a label map at ``size = (width, height)``, to apply to every frame.

    Any size is accepted and scaled per object (see :func:`resize_labels`); an aspect ratio more than 2 %
    off the target's gives a warning, as the mask is then stretched.
    """
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3:
            label = decode_mask(Image.fromarray(arr.astype(np.uint8)), "mask")
        elif arr.dtype == bool:
            label = arr.astype(np.uint8)
        else:
            label = _grey_to_label(arr.astype(np.uint8)) if arr.max(initial=0) > 127 else arr.astype(np.uint8)
    else:
        path = Path(image)
        if not path.is_file():
            raise InputError(f"mask image {path} does not exist; pass a PNG mask (white = object)")
        label = read_mask(path)
    h, w = label.shape
    tw, th = size
    if abs(w / h - tw / th) > 0.02 * (tw / th):
        warnings.warn(f"mask is {w}x{h}, the video {tw}x{th}: its aspect ratio differs, it is stretched", stacklevel=2)
    return resize_labels(label, (tw, th))


__all__ = [
    "Keyframe",
    "MaskFolder",
    "davis_palette",
    "decode_mask",
    "fit_edge",
    "import_masks",
    "label_to_png",
    "load_single_mask",
    "match_stems",
    "read_mask",
    "read_mask_folder",
    "resize_labels",
]
