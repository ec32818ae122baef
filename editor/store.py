"""The project on disk: frames decoded once, masks, inpainted frames, meta.json with stage hashes.

Layout (docs/architecture.md)::

    project/
      meta.json      source path + fingerprint, fps "num/den", frame count, native size, rotation, audio,
                     working size, frame stems, frame_store, shots (editor.shots, measured while the
                     frames are decoded, or in a second pass when a decode resumed),
                     stages {name: {settings, inputs_hash}}; the tracking and
                     removal stages' hashes cover the source of the code that ran them (``source_digest``)
      frames/        <stem>.png at the working size (short side <= 480 by default, never upscaled), or
                     <stem>.jpg for a JPEG frame store (``frame_store`` in meta.json, editor.frame_store)
      masks/         <stem>.png palette label maps (DAVIS palette)
      inpainted/     <stem>.png filled frames at the working size
      prompts.json, session.json   owned by tracking.session
      exports/

Every file is written atomically (``tracking.atomic_files``: temp file in the same folder, then ``os.replace``),
so a stopped or killed run leaves only complete files and the decode resumes where it stopped; the files get the
mode the user's umask gives any new file. The source is only ever read, and no output
may be, contain or lie inside the source or the project's own files (:func:`guard_output`). One process
writes a project at a time (``editor.lock``).

Opening an existing project with another source (different fingerprint) or another working size raises
:class:`ProjectError` rather than silently discarding the masks and results already there: the user picks a
new project folder or deletes the old one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from editor.errors import InputError, OutputError, ProjectError
from editor.files import (  # the file helpers lived here before editor.files: re-exported for their callers
    atomic_write_bytes,
    atomic_write_json,
    davis_palette,
    read_label_png,
    write_label_png,
    write_png,
)
from editor.frame_store import FrameFormat, FrameStore
from editor.frames import FrameFolder, read_image
from editor.hashing import fingerprint, hash_inputs, same_source, source_digest  # re-exported as above
from editor.shots import Shot, content_changes, detect_shots, shots_from_changes, shots_from_json, shots_to_json

Progress = Callable[[int, int], object]

log = logging.getLogger("tam")

META_VERSION = 1

# What a project folder holds besides exports/: no output may be, contain or lie inside one of these.
PROJECT_PARTS = ("frames", "masks", "inpainted", "keyframes", "prompt_masks", "cache", "jobs", "meta.json",
                 "prompts.json", "session.json", ".lock")


# ----------------------------------------------------------------------------------------------- helpers


def guard_output(out: str | Path, *, source: str | Path | None = None, root: str | Path | None = None) -> Path:
    """Refuse an output path that is, contains or lies inside the ``source`` or the project's own files.

    Inside the project only ``exports/`` (and other folders tam does not own) may take outputs; the project
    folder itself, or a folder holding it, may not. Returns ``out``.
    """
    out = Path(out)
    target = out.resolve()

    def clash(path: Path) -> bool:
        return target == path or path in target.parents or target in path.parents

    if source is not None and clash(Path(source).resolve()):
        raise OutputError(
            f"the output {out} would overwrite the source {source} (it is, holds or lies inside it); "
            "the source is never modified: pick another output path"
        )
    if root is not None:
        home = Path(root).resolve()
        if target == home or target in home.parents or any(clash(home / part) for part in PROJECT_PARTS):
            raise OutputError(
                f"the output {out} would overwrite the project's own files in {root}; "
                f"pick a path outside it (or inside {Path(root) / 'exports'})"
            )
    return out


def working_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Scale ``(width, height)`` so the short side is at most ``short_side``; never upscale."""
    short = min(width, height)
    if short <= short_side:
        return width, height
    scale = short_side / short
    return max(1, round(width * scale)), max(1, round(height * scale))


# ------------------------------------------------------------------------------------------ image stores


class ImageStore:
    """Per-frame images on disk: ``store[i]`` (None when absent), ``store[i] = array`` (atomic), ``i in store``.

    ``kind="labels"`` stores ``uint8`` label maps as palette PNGs; ``kind="rgb"`` stores RGB frames.
    """

    def __init__(self, folder: Path, stems: list[str], kind: str, size: tuple[int, int] | None = None) -> None:
        if kind not in ("labels", "rgb"):
            raise ValueError(f"kind must be 'labels' or 'rgb', got {kind!r}")
        self.folder = folder
        self.stems = stems
        self.kind = kind
        self.size = size
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, index: int) -> Path:
        return self.folder / f"{self.stems[self._index(index)]}.png"

    def _index(self, index: int) -> int:
        if not isinstance(index, int | np.integer):
            raise TypeError(f"frame index must be an int, got {type(index).__name__}")
        index = int(index)
        if index < 0:
            index += len(self.stems)
        if not 0 <= index < len(self.stems):
            raise IndexError(f"frame {index} is outside 0..{len(self.stems) - 1}")
        return index

    def __len__(self) -> int:
        return len(self.stems)

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int | np.integer) or not -len(self.stems) <= int(index) < len(self.stems):
            return False
        return self.path(int(index)).is_file()

    def __getitem__(self, index: int) -> np.ndarray | None:
        path = self.path(index)
        if not path.is_file():
            return None
        return read_label_png(path) if self.kind == "labels" else read_image(path)

    def __setitem__(self, index: int, array: np.ndarray) -> None:
        path = self.path(index)
        array = np.asarray(array)
        if self.size is not None and (array.shape[1], array.shape[0]) != tuple(self.size):
            raise InputError(
                f"{self.folder.name}[{index}] must be {self.size[0]}x{self.size[1]} (the working size), "
                f"got {array.shape[1]}x{array.shape[0]}"
            )
        if self.kind == "labels":
            write_label_png(path, array)
        else:
            if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
                raise InputError(
                    f"{self.folder.name} frames must be RGB uint8 H x W x 3, got {array.dtype} {array.shape}"
                )
            write_png(path, array)

    def __delitem__(self, index: int) -> None:
        self.path(index).unlink(missing_ok=True)

    def written(self) -> list[int]:
        """Indices of the frames present on disk (one directory listing: the page asks on every rerun)."""
        names = {p.name for p in self.folder.iterdir() if not p.name.startswith(".")}
        return [i for i, stem in enumerate(self.stems) if f"{stem}.png" in names]

    def clear(self) -> None:
        """Remove every stored image (and stray temp files)."""
        for path in self.folder.iterdir():
            if path.is_file() and path.suffix in (".png", ".tmp"):
                path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- project


class Project:
    """A clip's working folder. Create with :meth:`open_or_create`, reopen with :meth:`open`."""

    def __init__(self, root: Path, meta: dict[str, Any]) -> None:
        self.root = root
        self.meta = meta
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        self.exports_dir.mkdir(parents=True, exist_ok=True)
        size = self.working_size
        self.frames = FrameStore(self.frames_dir, self.stems, FrameFormat.from_json(meta.get("frame_store")))
        self.masks = ImageStore(self.root / "masks", self.stems, "labels", size)
        self.inpainted = ImageStore(self.root / "inpainted", self.stems, "rgb", size)

    # -- opening ---------------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path) -> Project:
        """Open an existing project folder (raises :class:`ProjectError` when it is not one)."""
        root = Path(root)
        meta_path = root / "meta.json"
        if not meta_path.is_file():
            raise ProjectError(f"{root} is not a tam project (no meta.json): make it from a video first, e.g. "
                               f"tam track VIDEO --point X,Y --masks-out MASKS --project {root}")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ProjectError(f"{meta_path} is unreadable ({exc}); delete the project folder and start again") from exc
        if meta.get("version") != META_VERSION:
            raise ProjectError(f"{root} was made by another tam version; create a new project folder")
        return cls(root, meta)

    @classmethod
    def open_or_create(
        cls,
        root: str | Path,
        source: str | Path,
        *,
        working_short_side: int = 480,
        fps: Fraction | None = None,
        progress: Progress | None = None,
        frame_format: FrameFormat | None = None,
    ) -> Project:
        """Open the project at ``root`` for ``source`` (a video or a frame folder), decoding what is missing.

        ``fps`` is used for a frame folder (default 24); a video's own rate always wins. ``frame_format`` is
        how a new project stores its frames (default PNG); an existing project keeps its own, and asking for
        another one raises :class:`ProjectError`.
        """
        root = Path(root)
        source = Path(source).resolve()
        if working_short_side < 16:
            raise InputError(f"working_short_side must be at least 16, got {working_short_side}")
        if not source.exists():
            raise InputError(f"source not found: {source} (give a video file or a folder of frames)")
        print_fp = fingerprint(source)
        if (root / "meta.json").is_file():
            project = cls.open(root)
            if not same_source(project.meta["fingerprint"], print_fp):
                raise ProjectError(
                    f"{root} was made from {project.meta['source']}, not {source}; use another project folder "
                    "or delete this one"
                )
            if project.meta["working_short_side"] != working_short_side:
                raise ProjectError(
                    f"{root} works at short side {project.meta['working_short_side']}, not {working_short_side}; "
                    "use another project folder or delete this one"
                )
            if frame_format is not None and frame_format != project.frame_format:
                raise ProjectError(
                    f"{root} stores its frames as {project.frame_format.describe()}, not "
                    f"{frame_format.describe()}; use another project folder or delete this one"
                )
        else:
            if root.exists() and not root.is_dir():
                raise InputError(f"{root} is a file; the project needs a folder")
            root.mkdir(parents=True, exist_ok=True)
            meta = cls._describe(source, print_fp, working_short_side, fps)
            meta["frame_store"] = (frame_format or FrameFormat()).to_json()
            atomic_write_json(root / "meta.json", meta)
            project = cls(root, meta)
        project._decode(source, progress)
        if "shots" not in project.meta:  # a resumed decode, or a project from before shots were kept
            log.info("finding the shots of %s (reading the %d frames back)", root, project.num_frames)
            project.detect_shots(progress)
        return project

    @staticmethod
    def _describe(source: Path, print_fp: dict, short_side: int, fps: Fraction | None) -> dict[str, Any]:
        if source.is_dir():
            folder = FrameFolder(source)
            rate = Fraction(fps) if fps else Fraction(24)
            native = folder.size
            stems = folder.stems
            info = {"num_frames": len(folder), "rotation": 0, "has_audio": False, "codec": None, "is_vfr": False}
        else:
            from editor.video import probe

            video = probe(source)
            rate = video.fps
            native = video.size
            stems = [f"{i:05d}" for i in range(video.num_frames)]
            info = {
                "num_frames": video.num_frames,
                "rotation": video.rotation,
                "has_audio": video.has_audio,
                "codec": video.codec,
                "is_vfr": video.is_vfr,
            }
        work = working_size(native[0], native[1], short_side)
        return {
            "version": META_VERSION,
            "source": str(source),
            "fingerprint": print_fp,
            "fps": f"{rate.numerator}/{rate.denominator}",
            "native_size": list(native),
            "working_size": list(work),
            "working_short_side": short_side,
            "frame_stems": stems,
            "decoded": False,
            "stages": {},
            **info,
        }

    def _missing(self) -> list[int]:
        present = self.frames.present()
        return [i for i, stem in enumerate(self.stems) if stem not in present]

    def _decode(self, source: Path, progress: Progress | None) -> None:
        missing = self._missing()
        total = len(self.stems)
        if not missing:
            if not self.meta.get("decoded"):
                self.meta["decoded"] = True
                self._save_meta()
            return
        work = tuple(self.working_size)
        done = total - len(missing)
        todo = set(missing)
        for stale in self.frames_dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        if source.is_dir():
            folder = FrameFolder(source, check_sizes=False)
            if folder.stems != self.stems:
                raise ProjectError(f"the frames in {source} changed since {self.root} was made; use a new project")
            frames: Iterator[tuple[int, np.ndarray]] = ((i, folder[i]) for i in missing)
        else:
            from editor.video import DecodeStats, iter_frames

            start = missing[0]
            stats = DecodeStats()
            frames = enumerate(iter_frames(source, size=work, start=start, stats=stats), start=start)
        fmt = self.frame_format

        def written() -> Iterator[np.ndarray]:
            nonlocal done
            for index, image in frames:
                if index not in todo:
                    continue
                if (image.shape[1], image.shape[0]) != work:
                    image = cv2.resize(image, work, interpolation=cv2.INTER_AREA)
                atomic_write_bytes(self.frames.path(index), fmt.encode(image))
                done += 1
                if progress is not None:
                    progress(done, total)
                yield image

        # a decode from the first frame measures the shots' content changes on the frames in memory (one pass);
        # a resumed one leaves them to open_or_create's second pass over the whole clip
        whole = len(missing) == total
        if whole:
            self.meta.pop("shots", None)
            changes, spread = content_changes(written())
        else:
            for _ in written():
                pass
        missing = self._missing()
        if missing:
            raise ProjectError(
                f"decoding {source.name} stopped after {total - len(missing)} of {total} frames; "
                "the source may be truncated"
            )
        if not source.is_dir() and stats.missing:
            self.meta["undecodable_frames"] = self.meta.get("undecodable_frames", 0) + stats.missing
        if whole:
            self.meta["shots"] = shots_to_json(shots_from_changes(changes, spread))
            log.info("%s: %d shots", source.name, len(self.meta["shots"]))
        self.meta["decoded"] = True
        self._save_meta()

    def detect_shots(self, progress: Progress | None = None) -> list[Shot]:
        """Find the clip's shots (editor.shots) in the decoded frames and record them in meta.json."""
        found = detect_shots((self.frames[i] for i in range(len(self.frames))), len(self.frames), progress=progress)
        self.meta["shots"] = shots_to_json(found)
        self._save_meta()
        return found

    def guard_output(self, out: str | Path) -> Path:
        """Refuse an output that is, contains or lies inside this project's source or its own files."""
        return guard_output(out, source=self.source, root=self.root)

    # -- properties ----------------------------------------------------------------------------------

    @property
    def frame_format(self) -> FrameFormat:
        """How the decoded frames are stored (PNG or JPEG at a quality); part of the stages' inputs."""
        return self.frames.format

    @property
    def frames_dir(self) -> Path:
        return self.root / "frames"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def state_dir(self) -> Path:
        """Where tracking keeps prompts.json and session.json."""
        return self.root

    @property
    def prompts_path(self) -> Path:
        return self.root / "prompts.json"

    @property
    def session_path(self) -> Path:
        return self.root / "session.json"

    @property
    def source(self) -> Path:
        return Path(self.meta["source"])

    @property
    def stems(self) -> list[str]:
        return list(self.meta["frame_stems"])

    @property
    def fps(self) -> Fraction:
        return Fraction(self.meta["fps"])

    @property
    def num_frames(self) -> int:
        return int(self.meta["num_frames"])

    @property
    def native_size(self) -> tuple[int, int]:
        return tuple(self.meta["native_size"])  # type: ignore[return-value]

    @property
    def working_size(self) -> tuple[int, int]:
        return tuple(self.meta["working_size"])  # type: ignore[return-value]

    @property
    def has_audio(self) -> bool:
        return bool(self.meta["has_audio"])

    @property
    def rotation(self) -> int:
        return int(self.meta["rotation"])

    @property
    def shots(self) -> list[Shot]:
        """The clip's shots in order, covering every frame (one shot when none were detected or recorded)."""
        recorded = self.meta.get("shots")
        return shots_from_json(recorded) if recorded else [Shot(0, self.num_frames)]

    @property
    def cuts(self) -> list[int]:
        """The first frame of every shot after the first: nothing may be propagated from frame ``c - 1`` to ``c``."""
        return [shot.start for shot in self.shots[1:]]

    def __len__(self) -> int:
        return self.num_frames

    # -- stages --------------------------------------------------------------------------------------

    def _save_meta(self) -> None:
        atomic_write_json(self.root / "meta.json", self.meta)

    def stage_hash(self, name: str) -> str | None:
        """The inputs hash recorded for stage ``name``, or None."""
        stage = self.meta["stages"].get(name)
        return stage["inputs_hash"] if stage else None

    def stage_settings(self, name: str) -> dict[str, Any] | None:
        stage = self.meta["stages"].get(name)
        return dict(stage["settings"]) if stage else None

    def set_stage(self, name: str, settings: dict[str, Any], inputs_hash: str) -> None:
        """Record that stage ``name`` ran with ``settings`` on inputs hashing to ``inputs_hash``."""
        try:
            json.dumps(settings)
        except TypeError as exc:
            raise InputError(f"stage settings for {name!r} must be JSON values: {exc}") from exc
        self.meta["stages"][name] = {"settings": settings, "inputs_hash": inputs_hash}
        self._save_meta()

    def clear_stage(self, name: str) -> None:
        if self.meta["stages"].pop(name, None) is not None:
            self._save_meta()

    def stage_is_current(self, name: str, inputs_hash: str) -> bool:
        return self.stage_hash(name) == inputs_hash


__all__ = [
    "PROJECT_PARTS",
    "FrameStore",
    "ImageStore",
    "Project",
    "atomic_write_bytes",
    "atomic_write_json",
    "davis_palette",
    "fingerprint",
    "guard_output",
    "hash_inputs",
    "read_label_png",
    "same_source",
    "source_digest",
    "working_size",
    "write_label_png",
    "write_png",
]
