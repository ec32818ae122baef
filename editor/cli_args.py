"""The ``tam`` command's arguments: their types and help, parsing clicks and boxes, and every check made on
them before a command does any work (outputs that could not be written or would overwrite the source or the
project, object ids that do not exist)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from editor.errors import InputError, OutputError
from editor.messages import os_reason

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
BACKEND_HELP = (
    "auto: the neural models when their checkpoints are present, else classical; classical; neural; "
    "sam2: SAM 2.1 for clicks and propagation (`tam weights download sam2.1_hiera_tiny`)"
)

Input = Annotated[Path, typer.Argument(help="a video file or a folder of numbered frames (DAVIS layout)")]
Points = Annotated[
    list[str],
    typer.Option("--point", help="positive click X,Y in video pixels, or X,Y@N on frame N (a keyframe; repeatable)"),
]
Negs = Annotated[list[str], typer.Option("--neg", help="negative click X,Y or X,Y@N (repeatable)")]
Box = Annotated[str | None, typer.Option("--box", help="box X0,Y0,X1,Y1 around the object")]
Frame = Annotated[int, typer.Option("--frame", help="the frame the clicks without @N are on")]
Backend = Annotated[str, typer.Option("--backend", help=BACKEND_HELP)]
ProjectDir = Annotated[Path | None, typer.Option("--project", help="project folder (default: a cache folder)")]
Working = Annotated[int, typer.Option("--working-size", help="short side of the working frames")]
Refine = Annotated[str, typer.Option("--refine", help="SAM refinement of unsure frames: auto, off, always")]
FrameStoreKind = Annotated[str | None, typer.Option(
    "--frame-store", help="how a new project keeps its decoded frames: png (lossless, the default) or jpeg "
    "(several times smaller, for long clips); an existing project keeps its own")]
JpegQuality = Annotated[int, typer.Option("--jpeg-quality", help="quality of a jpeg frame store (1-100)")]
ExactSize = Annotated[bool, typer.Option(
    "--exact-size", help="keep an odd width/height exact in H.264 4:4:4 (browsers and phones do not play it); "
    "by default an odd size is padded by one pixel to the playable 4:2:0")]


def parse_xy(text: str, what: str = "--point") -> tuple[float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        x, y = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"{what} {text!r} is not X,Y (two numbers, e.g. {what} 320,180)") from None
    return x, y


def parse_box(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"--box {text!r} is not X0,Y0,X1,Y1 (four numbers)") from None
    return x0, y0, x1, y1


def check_output(path: Path, suffixes: set[str] | None = VIDEO_SUFFIXES) -> Path:
    """Fail before any work when the result could not be written."""
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(f"output {path.name!r}: use one of {', '.join(sorted(suffixes))}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder")
    # os.access says yes to root on a read-only or pseudo file system: create a file there to know (its name is
    # chosen first and it is removed in a finally, so Ctrl-C at any point leaves nothing behind)
    probe = folder / f".{path.stem}.probe.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {os_reason(exc, folder)}") from None
    return path


def project_root(source: Path, project: Path | None) -> Path:
    """The project folder a command on ``source`` works in (``--project`` or the default cache folder)."""
    from editor.pipeline import default_project_dir

    return Path(project) if project is not None else default_project_dir(source)


def check_outputs(*outputs: Path, source: Path | None = None, root: Path | None = None, crf: int | None = None) -> None:
    """Every check on what a command will write, before it does any work: no output may be, contain or lie
    inside the source or the project's own files; ``--crf`` must be a quality H.264 knows (0..51)."""
    from editor.store import guard_output

    if crf is not None and not 0 <= crf <= 51:
        raise InputError(f"--crf {crf} is outside 0..51 (0 lossless, 18 visually lossless, 23 the usual default)")
    for out in outputs:
        guard_output(out, source=source, root=root)


def check_object_ids(proj, objects: list[int]) -> tuple[int, ...] | None:
    """``--object`` ids, refused when the project's masks hold no such object (rather than a silent no-op)."""
    from editor.export import present_ids

    if not objects:
        return None
    present = present_ids(proj)
    unknown = sorted(set(objects) - set(present))
    if unknown:
        listed = ", ".join(map(str, present)) or "none"
        raise InputError(f"--object {', '.join(map(str, unknown))}: the project has no such object (it has: {listed})")
    return tuple(objects)


def parse_click(text: str, frame: int, what: str = "--point") -> tuple[int, float, float]:
    """``X,Y`` (on ``frame``) or ``X,Y@N`` (on frame N) -> ``(frame, x, y)``."""
    xy, at, n = text.partition("@")
    if at:
        try:
            frame = int(n.strip())
        except ValueError:
            raise InputError(f"{what} {text!r}: after @ comes a frame number, e.g. {what} 320,180@25") from None
    return (frame, *parse_xy(xy, what))


def object_prompts(points: list[str], negs: list[str], box: str | None, frame: int):
    """One object from the command line: clicks on ``--frame`` (and the box) start it; ``X,Y@N`` clicks on
    other frames become keyframes of the same object."""
    from editor.pipeline import ObjectPrompt

    clicks = [(*parse_click(p, frame), True) for p in points] + [(*parse_click(p, frame, "--neg"), False)
                                                                  for p in negs]
    positive_frames = [c[0] for c in clicks if c[3]]
    first = frame if box or not positive_frames or frame in positive_frames else min(positive_frames)
    here = [c for c in clicks if c[0] == first]
    return [
        ObjectPrompt(
            frame=first,
            points=tuple((x, y) for _, x, y, pos in here if pos),
            negatives=tuple((x, y) for _, x, y, pos in here if not pos),
            box=parse_box(box) if box else None,
            later_clicks=tuple(c for c in clicks if c[0] != first),
        )
    ]


def frame_format(kind: str | None, quality: int):
    """``--frame-store``/``--jpeg-quality`` as a FrameFormat; None (no --frame-store): the project's own, or PNG."""
    from editor.frame_store import FrameFormat

    return None if kind is None else FrameFormat(kind.lower(), quality)


__all__ = [
    "BACKEND_HELP",
    "VIDEO_SUFFIXES",
    "Backend",
    "Box",
    "ExactSize",
    "Frame",
    "FrameStoreKind",
    "Input",
    "JpegQuality",
    "Negs",
    "Points",
    "ProjectDir",
    "Refine",
    "Working",
    "check_object_ids",
    "check_output",
    "check_outputs",
    "frame_format",
    "object_prompts",
    "parse_box",
    "parse_click",
    "parse_xy",
    "project_root",
]
