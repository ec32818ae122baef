"""Mask exports at the source's native size: DAVIS PNGs (and a zip), COCO RLE JSON, alpha mattes, RGBA cut-outs,
an overlay preview.

Upsampling (the project's masks live at the working size): label maps are scaled per object, smoothly
(:func:`editor.masks_io.resize_labels`: each object's mask is interpolated linearly and a pixel takes the object
whose interpolated mask is highest there, if >= 0.5). Outlines follow the object instead of the staircase that
nearest-neighbour leaves, and no two objects merge. Alpha mattes keep the interpolated value as a soft 0..255
edge. When the working size is the native size every export is the stored mask exactly.

Frames whose mask was never written (not tracked) are skipped by the DAVIS and COCO exports and are empty
(transparent, black) in the videos; frames tracked with the object absent are written as empty label maps.
Every file is written atomically (temp file, then ``os.replace``).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from editor.compose import source_frames
from editor.errors import InputError, OutputError
from editor.files import atomic_write_bytes, replaced_atomically
from editor.masks_io import davis_palette, label_to_png, resize_labels
from editor.store import guard_output

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------- helpers


def _check_masks(project: Any) -> list[int]:
    written = project.masks.written()
    if not written:
        raise InputError("the project has no masks yet: track an object (or import masks) before exporting")
    return written


def native_label(project: Any, index: int) -> np.ndarray | None:
    """Frame ``index``'s label map scaled to the native size (None when the frame has no mask)."""
    label = project.masks[index]
    if label is None:
        return None
    return resize_labels(label, tuple(project.native_size))


def native_matte(label: np.ndarray | None, object_ids: Sequence[int] | None, size: tuple[int, int]) -> np.ndarray:
    """Soft matte ``uint8 H x W`` (0..255) at ``size = (w, h)`` of the objects in a working-size label map."""
    w, h = size
    if label is None:
        return np.zeros((h, w), np.uint8)
    m = label > 0 if object_ids is None else np.isin(label, np.asarray(list(object_ids), np.uint8))
    if m.shape == (h, w):
        return m.astype(np.uint8) * 255
    down = w * h < m.size
    a = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR)
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def objects(project: Any) -> dict[int, tuple[str, tuple[int, int, int]]]:
    """Object id → (name, colour) from the tracking session (``session.json``), DAVIS colours otherwise."""
    out: dict[int, tuple[str, tuple[int, int, int]]] = {}
    path = Path(getattr(project, "session_path", Path(project.root) / "session.json"))
    if path.is_file():
        try:
            for o in json.loads(path.read_text()).get("objects", []):
                out[int(o["id"])] = (str(o["name"]), tuple(int(c) for c in o["colour"]))  # type: ignore[misc]
        except (OSError, ValueError, KeyError, TypeError):
            out = {}
    return out


def colours(project: Any) -> dict[int, tuple[int, int, int]]:
    """Object id (1..255) → display colour: the session's colour, else the DAVIS palette's."""
    known, pal = objects(project), davis_palette()
    return {k: known[k][1] if k in known else (int(pal[k][0]), int(pal[k][1]), int(pal[k][2])) for k in range(1, 256)}


def present_ids(project: Any) -> list[int]:
    """Every object id in the project's masks (one pass over the working-size masks)."""
    ids: set[int] = set()
    for i in project.masks.written():
        label = project.masks[i]
        if label is not None:
            ids.update(int(k) for k in np.unique(label) if k)
    return sorted(ids)


def _ids(project: Any, object_ids: Sequence[int] | None) -> list[int]:
    if object_ids is None:
        ids = present_ids(project)
        if not ids:
            raise InputError("the masks hold no object: track an object before exporting it")
        return ids
    ids = [int(k) for k in object_ids]
    if not ids or any(not 1 <= k <= 255 for k in ids):
        raise InputError(f"object ids must be 1..255, got {list(object_ids)}")
    return ids


def _png_bytes(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=4)
    return buf.getvalue()


def _out_dir(path: str | Path) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; give a folder for the export")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {out}: {e}; choose a writable folder") from e
    return out


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


# ---------------------------------------------------------------------------------------------- DAVIS


def davis_pngs(project: Any) -> Iterator[tuple[str, bytes]]:
    """``(file name, palette PNG bytes)`` for every frame with a mask, at native size."""
    for i in project.masks.written():
        label = native_label(project, i)
        if label is not None:
            yield f"{project.stems[i]}.png", _png_bytes(label_to_png(label))


def export_davis(project: Any, out_dir: str | Path, progress: Progress | None = None) -> Path:
    """Palette PNG label maps at native size, named like the frames (``<stem>.png``); returns ``out_dir``."""
    written = _check_masks(project)
    guard_output(out_dir, source=project.source, root=getattr(project, "root", None))
    out = _out_dir(out_dir)
    for n, (name, data) in enumerate(davis_pngs(project), 1):
        atomic_write_bytes(out / name, data)
        _tick(progress, n, len(written))
    return out


def export_davis_zip(project: Any, out_path: str | Path, progress: Progress | None = None) -> Path:
    """The DAVIS PNGs in one zip (``Annotations/<stem>.png``), for the web page's download button."""
    written = _check_masks(project)
    out = Path(out_path)
    _out_dir(out.parent)
    with (
        replaced_atomically(out) as tmp,
        zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z,  # PNGs are compressed already
    ):
        for n, (name, data) in enumerate(davis_pngs(project), 1):
            z.writestr(f"Annotations/{name}", data)
            _tick(progress, n, len(written))
    return out


# ---------------------------------------------------------------------------------------------- COCO


def _file_names(project: Any) -> list[str]:
    src = Path(project.source)
    if src.is_dir():
        from editor.frames import FrameFolder

        folder = FrameFolder(src, check_sizes=False)
        if len(folder) == len(project.stems):
            return [p.name for p in folder.files]
    return [f"{stem}.png" for stem in project.stems]


def export_coco(project: Any, out_path: str | Path, progress: Progress | None = None) -> Path:
    """COCO-style JSON (video flavour) of the masks at native size.

    ``images`` (one per frame: ``id`` = index + 1, ``file_name`` = the frame's file name, ``width``,
    ``height``, ``frame_index``), ``categories`` (one per object: ``id`` = object id, ``name`` from the session),
    ``annotations`` (one per object per frame where present: ``segmentation`` = RLE with ``counts`` as str,
    ``area``, ``bbox`` [x, y, w, h], ``iscrowd`` 0, ``image_id``, ``category_id`` = ``track_id`` = object id,
    ``video_id``) and ``videos`` (one entry: name, size, fps, frame count, file names).
    """
    from pycocotools import mask as mask_utils

    written = _check_masks(project)
    out = Path(out_path)
    _out_dir(out.parent)
    w, h = project.native_size
    names = _file_names(project)
    known = objects(project)
    images = [
        {"id": i + 1, "file_name": names[i], "width": w, "height": h, "frame_index": i, "video_id": 1}
        for i in range(len(project.stems))
    ]
    annotations: list[dict[str, Any]] = []
    seen: set[int] = set()
    for n, i in enumerate(written, 1):
        label = native_label(project, i)
        if label is None:
            continue
        for k in (int(v) for v in np.unique(label) if v):
            rle = mask_utils.encode(np.asfortranarray(label == k, dtype=np.uint8))
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            area = int(mask_utils.area(rle))
            rle["counts"] = rle["counts"].decode("ascii")
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "video_id": 1,
                    "category_id": k,
                    "track_id": k,
                    "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"]},
                    "area": area,
                    "bbox": bbox,
                    "iscrowd": 0,
                }
            )
            seen.add(k)
        _tick(progress, n, len(written))
    categories = [
        {"id": k, "name": known[k][0] if k in known else f"object {k}", "supercategory": "object"}
        for k in sorted(seen | set(known))
    ]
    fps = project.fps
    doc = {
        "info": {"description": f"tam masks for {Path(project.source).name}", "version": "1.0"},
        "videos": [
            {
                "id": 1,
                "name": Path(project.source).stem,
                "width": w,
                "height": h,
                "length": len(project.stems),
                "fps": f"{fps.numerator}/{fps.denominator}",
                "file_names": names,
            }
        ],
        "images": images,
        "categories": categories,
        "annotations": annotations,
    }
    atomic_write_bytes(out, json.dumps(doc, separators=(",", ":")).encode())
    return out


# ---------------------------------------------------------------------------------------------- videos


def _matte_frames(project: Any, ids: Sequence[int] | None) -> Iterator[np.ndarray]:
    size = tuple(project.native_size)
    for i in range(project.num_frames):
        yield native_matte(project.masks[i], ids, size)


def export_alpha(
    project: Any, out: str | Path, object_ids: Sequence[int] | None = None, progress: Progress | None = None
) -> Path:
    """Alpha-matte video(s): white objects on black, H.264 ``.mp4``, the source's fps and frame count.

    ``out`` a folder: one video per object, ``alpha_<id>.mp4``. ``out`` a ``.mp4`` path: one video of the chosen
    objects together (all objects when ``object_ids`` is None). Returns ``out``.
    """
    from editor.encode import write_video

    _check_masks(project)
    ids = _ids(project, object_ids)
    target = Path(out)
    if target.suffix:
        if target.suffix.lower() != ".mp4":
            raise InputError(f"an alpha matte is written as .mp4, not {target.suffix}; or give a folder")
        _out_dir(target.parent)
        jobs = [(ids, target)]
    else:
        folder = _out_dir(target)
        jobs = [([k], folder / f"alpha_{k}.mp4") for k in ids]
    total = project.num_frames * len(jobs)
    for n, (chosen, path) in enumerate(jobs):

        def tick(done: int, _total: int, base: int = n * project.num_frames) -> None:
            _tick(progress, base + done, total)

        frames = (np.repeat(m[:, :, None], 3, axis=2) for m in _matte_frames(project, chosen))
        write_video(frames, path, project.fps, crf=12, progress=tick, total=project.num_frames)
    return target


def rgba_frame(frame: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """The object alone: RGB where the matte is set (black where it is 0), the matte as alpha."""
    rgb = np.where(matte[:, :, None] > 0, frame, 0).astype(np.uint8)
    return np.dstack([rgb, matte])


def export_rgba(
    project: Any,
    out_dir: str | Path,
    object_ids: Sequence[int] | None = None,
    video: str | None = ".webm",
    progress: Progress | None = None,
) -> tuple[Path, Path | None]:
    """The objects alone on transparency at native size: ``rgba/<stem>.png`` (RGBA) and a video with alpha.

    ``video``: ``".webm"`` (VP9 ``yuva420p``), ``".mov"`` (ProRes 4444) or None for the PNGs only.
    Returns ``(png folder, video path or None)``; one streaming pass over the source.
    """
    from PIL import Image

    from editor.encode import write_video

    _check_masks(project)
    ids = _ids(project, object_ids)
    if video not in (".webm", ".mov", None):
        raise InputError(f"an alpha video is .webm (VP9) or .mov (ProRes 4444), not {video!r}")
    out = _out_dir(out_dir)
    pngs = _out_dir(out / "rgba")
    size = tuple(project.native_size)
    stems = project.stems

    def frames() -> Iterator[np.ndarray]:
        for i, frame in enumerate(source_frames(project)):
            rgba = rgba_frame(frame, native_matte(project.masks[i], ids, size))
            atomic_write_bytes(pngs / f"{stems[i]}.png", _png_bytes(Image.fromarray(rgba)))
            yield rgba

    if video is None:
        for n, _ in enumerate(frames(), 1):
            _tick(progress, n, project.num_frames)
        return pngs, None
    path = out / f"cutout{video}"
    write_video(frames(), path, project.fps, progress=progress, total=project.num_frames)
    return pngs, path


def overlay_frame(
    frame: np.ndarray,
    label: np.ndarray | None,
    colours: dict[int, tuple[int, int, int]],
    opacity: float = 0.5,
    thickness: int = 2,
) -> np.ndarray:
    """Each object tinted with its colour at ``opacity`` and outlined; ``label`` at the frame's size."""
    if label is None or not label.any():
        return frame.copy()
    out = frame.astype(np.float32)
    for k in (int(v) for v in np.unique(label) if v):
        m = label == k
        c = np.asarray(colours.get(k, (255, 0, 0)), np.float32)
        out[m] = out[m] * (1.0 - opacity) + c * opacity
    result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    for k in (int(v) for v in np.unique(label) if v):
        contours, _ = cv2.findContours((label == k).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        c = tuple(int(v) for v in colours.get(k, (255, 0, 0)))
        cv2.drawContours(result, contours, -1, c, thickness, lineType=cv2.LINE_AA)
    return result


def export_overlay(
    project: Any, out_path: str | Path, opacity: float = 0.5, progress: Progress | None = None, *, crf: int = 20
) -> Path:
    """A preview video: the source with each object tinted in its colour and outlined, audio kept."""
    from editor.encode import write_video

    _check_masks(project)
    if not 0.0 <= opacity <= 1.0:
        raise InputError(f"opacity must be between 0 and 1, got {opacity}")
    palette = colours(project)
    thickness = max(1, round(min(project.native_size) / 240))

    def frames() -> Iterator[np.ndarray]:
        for i, frame in enumerate(source_frames(project)):
            yield overlay_frame(frame, native_label(project, i), palette, opacity, thickness)

    src = Path(project.source)
    audio = src if project.has_audio and src.is_file() else None
    return write_video(
        frames(), out_path, project.fps, audio_from=audio, crf=crf, progress=progress, total=project.num_frames
    )


__all__ = [
    "colours",
    "davis_pngs",
    "export_alpha",
    "export_coco",
    "export_davis",
    "export_davis_zip",
    "export_overlay",
    "export_rgba",
    "native_label",
    "native_matte",
    "objects",
    "overlay_frame",
    "present_ids",
    "rgba_frame",
]
