"""The ``tam`` command: the same stages as the web page, for scripts and batches.

Errors are one line on stderr and a non-zero exit code; a traceback only with ``TAM_DEBUG=1``.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from editor.cli_args import (
    Backend,
    Box,
    ExactSize,
    Frame,
    FrameStoreKind,
    Input,
    JpegQuality,
    Negs,
    Points,
    ProjectDir,
    Refine,
    Working,
    check_object_ids,
    check_output,
    check_outputs,
    frame_format,
    object_prompts,
    project_root,
)
from editor.cli_output import console, flagged_summary, stage, stages, warn
from editor.cli_weights import weights_app
from editor.errors import InputError, OutputError, TamError
from editor.messages import os_write_message

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Track anything in a video, then remove it.")
app.add_typer(weights_app, name="weights")

log = logging.getLogger("tam")


# ------------------------------------------------------------------------------------------------ helpers


def open_for(source: Path, project: Path | None, working: int, frames=None):
    from editor.pipeline import open_project
    from editor.timeline import shots_summary

    with stage("decode") as progress:
        proj = open_project(source, project, working_short_side=working, progress=progress, frame_format=frames)
    console.print(
        f"project {proj.root}: {proj.num_frames} frames, {proj.native_size[0]}x{proj.native_size[1]} "
        f"at {float(proj.fps):.3f} fps, working size {proj.working_size[0]}x{proj.working_size[1]}, "
        f"{shots_summary(proj.shots)}"
    )
    return proj


def run_tracking(proj, prompts, backend: str, refine: str):
    from editor.pipeline import track

    with stages("track", "check the masks") as (progress, checking):
        report = track(proj, prompts, backend=backend, refine=refine, progress=progress, check=checking)
    console.print(
        f"tracked objects {report.object_ids} with {report.segmenter} + {report.propagator} on {report.device}"
        + (f"; refined {len(report.refined)} unsure frames" if report.refined else "")
    )
    if report.unsure:
        console.print(f"[yellow]{len(report.unsure)} frames still look unsure (first: frame {min(report.unsure)}): "
                      "check them and add clicks there[/]")
    for obj in report.empty_objects:
        console.print(f"[yellow]warning: object {obj} has no pixels in any frame[/]")
    console.print(flagged_summary(report.flagged or {}, proj.num_frames, proj.root))
    warn(report.warnings)
    return report


def import_mask_input(proj, masks: Path) -> None:
    """``--masks``: a DAVIS folder (the full mask sequence) or one image applied to every frame."""
    from editor.masks_io import import_masks, load_single_mask

    if masks.is_dir():
        import_masks(proj, masks, as_keyframes=False)
    elif masks.is_file():
        label = load_single_mask(masks, tuple(proj.working_size))
        if not label.any():
            raise InputError(f"mask image {masks} is empty (all black); white marks what to remove")
        for i in range(proj.num_frames):
            proj.masks[i] = label
    else:
        raise InputError(f"--masks {masks} does not exist: give a folder of PNG masks or one mask image")


# ----------------------------------------------------------------------------------------------- commands


@app.command()
def remove(
    source: Input,
    output: Annotated[Path, typer.Option("-o", "--output", help="the clip without the object (.mp4, .mov...)")],
    point: Points = [],  # noqa: B006 (typer reads the default)
    neg: Negs = [],  # noqa: B006
    box: Box = None,
    frame: Frame = 0,
    masks: Annotated[Path | None, typer.Option("--masks", help="remove what these masks cover instead")] = None,
    backend: Backend = "auto",
    refine: Refine = "auto",
    project: ProjectDir = None,
    working_size: Working = 480,
    crf: Annotated[int, typer.Option("--crf", help="H.264 quality: lower is better (18 ~ visually lossless)")] = 18,
    exact_size: ExactSize = False,
    frame_store: FrameStoreKind = None,
    jpeg_quality: JpegQuality = 95,
) -> None:
    """Click an object (or give masks), track it through the clip and remove it, keeping the sound."""
    from editor.compose import RemoveEdit
    from editor.lock import project_lock
    from editor.pipeline import inpaint, render

    check_output(output)
    root = project_root(source, project)
    check_outputs(output, source=source, root=root, crf=crf)
    if masks is None and not point and box is None:
        raise InputError("say what to remove: --point X,Y (a click on the object), --box, or --masks DIR|IMAGE")
    prompts = None if masks is not None else object_prompts(point, neg, box, frame)
    frames = frame_format(frame_store, jpeg_quality)
    with project_lock(root):
        proj = open_for(source, root, working_size, frames)
        if masks is not None:
            import_mask_input(proj, masks)
        else:
            run_tracking(proj, prompts, backend, refine)
        with stage("remove") as progress:
            report = inpaint(proj, backend=backend, progress=progress)
        done = " (already done)" if report.skipped else ""
        console.print(f"removal with {report.backend} on {report.device}{done}")
        warn(report.warnings)
        with stage("render") as progress:
            out = render(proj, output, RemoveEdit(), crf=crf, progress=progress, exact_size=exact_size)
    console.print(f"[green]wrote {out}[/]")


@app.command()
def track(
    source: Input,
    masks_out: Annotated[Path, typer.Option("--masks-out", help="folder for the PNG label maps")],
    point: Points = [],  # noqa: B006
    neg: Negs = [],  # noqa: B006
    box: Box = None,
    frame: Frame = 0,
    backend: Backend = "auto",
    refine: Refine = "auto",
    project: ProjectDir = None,
    working_size: Working = 480,
    frame_store: FrameStoreKind = None,
    jpeg_quality: JpegQuality = 95,
) -> None:
    """Click an object and write its mask on every frame (palette PNGs named like the frames)."""
    from editor.export import export_davis
    from editor.lock import project_lock

    if masks_out.exists() and not masks_out.is_dir():
        raise OutputError(f"--masks-out {masks_out} is a file; give a folder")
    check_output(masks_out / "x" if masks_out.exists() else masks_out, suffixes=None)
    root = project_root(source, project)
    check_outputs(masks_out, source=source, root=root)
    prompts = object_prompts(point, neg, box, frame)
    frames = frame_format(frame_store, jpeg_quality)
    with project_lock(root):
        proj = open_for(source, root, working_size, frames)
        run_tracking(proj, prompts, backend, refine)
        out = export_davis(proj, masks_out)
    console.print(f"[green]wrote {proj.num_frames} masks to {out}[/]")


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="a project folder, or a video / frame folder (decoded once if new)")],
    project: ProjectDir = None,
    working_size: Working = 480,
    frame_store: FrameStoreKind = None,
    jpeg_quality: JpegQuality = 95,
    all_shots: Annotated[bool, typer.Option("--all-shots", help="list every shot, not the first and last")] = False,
) -> None:
    """The clip and its project: length, sizes, the frame store and what it costs, and the shots."""
    from editor.store import Project
    from editor.timeline import clock

    if (path / "meta.json").is_file():
        proj = Project.open(path)
    else:
        proj = open_for(path, project_root(path, project), working_size, frame_format(frame_store, jpeg_quality))
    seconds = proj.num_frames / float(proj.fps)
    size = proj.frames.disk_bytes()
    per_minute = size / max(seconds / 60, 1e-9)
    out = Console(soft_wrap=True)
    out.print(f"{proj.source.name}: {proj.num_frames} frames, {clock(seconds)} at {float(proj.fps):.3f} fps, "
              f"{proj.native_size[0]}x{proj.native_size[1]} (works at {proj.working_size[0]}x{proj.working_size[1]}), "
              f"audio {'yes' if proj.has_audio else 'none'}")
    out.print(f"project {proj.root}; frames stored as {proj.frame_format.describe()}: {size / 1e6:.1f} MB "
              f"({per_minute / 1e6:.0f} MB per minute)")
    print_shots(out, proj, all_shots)


def print_shots(out: Console, proj, all_shots: bool) -> None:
    """The project's shots (the first and last, or every one), and a warning when its masks were tracked with
    other cuts."""
    from editor.shot_update import stale_tracking
    from editor.timeline import shot_lines, shots_summary

    shots = proj.shots
    out.print(shots_summary(shots) + ":", highlight=False)
    lines = shot_lines(shots, proj.fps, head=len(shots)) if all_shots else shot_lines(shots, proj.fps)
    out.print("\n".join(lines), highlight=False)
    stale = stale_tracking(proj)
    if stale:
        console.print(f"[yellow]warning: {stale}[/]")


@app.command()
def shots(
    project: Annotated[Path, typer.Argument(help="a project folder")],
    detect: Annotated[bool, typer.Option(
        "--detect", help="find the shots again in the project's frames (a newer detector may cut elsewhere) and "
        "keep them")] = False,
    all_shots: Annotated[bool, typer.Option("--all-shots", help="list every shot, not the first and last")] = False,
) -> None:
    """The project's shots; with --detect, found again and recorded, saying which cuts changed."""
    from editor.lock import project_lock
    from editor.shot_update import redetect
    from editor.store import Project

    out = Console(soft_wrap=True)
    Project.open(project)  # a folder that is not a project is refused before a lock file is made in it
    with project_lock(project, shared=not detect):
        proj = Project.open(project)  # read again under the lock: another command may have just written it
        if detect:
            with stage("find shots") as progress:
                change = redetect(proj, progress)
            out.print("\n".join(change.describe()), highlight=False)
        print_shots(out, proj, all_shots)


@app.command()
def edit(
    project: Annotated[Path, typer.Argument(help="a project folder (from tam track/remove --project)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the edited clip")],
    replace: Annotated[Path | None, typer.Option("--replace", help="image or clip put in the object's place")] = None,
    fit: Annotated[str, typer.Option("--fit", help="replacement fit: contain, cover, stretch")] = "contain",
    clip_to_mask: Annotated[bool, typer.Option("--clip-to-mask", help="cut the replacement to the mask")] = False,
    blur: Annotated[bool, typer.Option("--blur", help="blur the object")] = False,
    pixelate: Annotated[bool, typer.Option("--pixelate", help="pixelate the object")] = False,
    strength: Annotated[float | None, typer.Option("--strength", help="blur sigma / pixel size")] = None,
    background: Annotated[str | None, typer.Option("--background", help="IMAGE, CLIP, #RRGGBB or 'blur'")] = None,
    splash: Annotated[bool, typer.Option("--splash", help="objects in colour, the rest grey")] = False,
    remove_: Annotated[bool, typer.Option("--remove", help="remove the objects (inpaint first)")] = False,
    objects: Annotated[list[int], typer.Option("--object", help="object id to edit (default: all)")] = [],  # noqa: B006
    backend: Backend = "auto",
    crf: Annotated[int, typer.Option("--crf", help="H.264 quality")] = 18,
    exact_size: ExactSize = False,
) -> None:
    """Replace, blur, pixelate, swap the background of, colour-splash or remove the tracked objects."""
    from editor.lock import project_lock
    from editor.store import Project

    check_output(output)
    check_outputs(output, root=project, crf=crf)
    chosen = [name for name, on in (("replace", replace), ("blur", blur), ("pixelate", pixelate),
                                    ("background", background), ("splash", splash), ("remove", remove_)) if on]
    if len(chosen) != 1:
        raise InputError("choose exactly one edit: --replace, --blur, --pixelate, --background, --splash or --remove")
    proj = Project.open(project)
    with project_lock(proj.root):
        edit_project(proj, output, replace, fit, clip_to_mask, blur, pixelate, strength, background, splash,
                     objects, backend, crf, exact_size)


def edit_project(proj, output: Path, replace: Path | None, fit: str, clip_to_mask: bool, blur: bool, pixelate: bool,
                 strength: float | None, background: str | None, splash: bool, objects: list[int], backend: str,
                 crf: int, exact_size: bool = False) -> None:
    """``tam edit``'s work, once its arguments are checked and the project is locked."""
    from editor import compose
    from editor.pipeline import inpaint, render

    proj.guard_output(output)
    ids = check_object_ids(proj, objects)
    if replace is not None:
        if fit not in ("contain", "cover", "stretch"):
            raise InputError(f"--fit {fit!r}: use contain, cover or stretch")
        if not replace.is_file():
            raise InputError(f"--replace {replace} does not exist")
        spec = compose.ReplaceEdit(source=replace, object_ids=ids, fit=fit, clip_to_mask=clip_to_mask)
    elif blur or pixelate:
        mode = "blur" if blur else "pixelate"
        kwargs = {"strength": strength} if strength else {}
        spec = compose.BlurEdit(object_ids=ids, mode=mode, **kwargs)
    elif background is not None:
        spec = compose.BackgroundEdit(background=background, object_ids=ids)
    elif splash:
        spec = compose.SplashEdit(object_ids=ids)
    else:
        spec = compose.RemoveEdit(object_ids=ids)
    if isinstance(spec, compose.RemoveEdit) or (isinstance(spec, compose.ReplaceEdit)):
        with stage("remove") as progress:
            report = inpaint(proj, ids, backend=backend, progress=progress)
        console.print(f"removal with {report.backend} on {report.device}")
        warn(report.warnings)
    with stage("render") as progress:
        out = render(proj, output, spec, crf=crf, progress=progress, exact_size=exact_size)
    console.print(f"[green]wrote {out}[/]")


@app.command("export")
def export_cmd(
    project: Annotated[Path, typer.Argument(help="a project folder")],
    fmt: Annotated[str, typer.Option("--format", help="davis, coco, alpha, rgba or overlay")],
    output: Annotated[Path, typer.Option("-o", "--output", help="output file or folder")],
    objects: Annotated[list[int], typer.Option("--object", help="object id (default: all)")] = [],  # noqa: B006
) -> None:
    """Export the masks: DAVIS PNGs, COCO RLE JSON, alpha mattes, RGBA cut-outs or an overlay preview."""
    from editor.lock import project_lock
    from editor.store import Project

    formats = ("davis", "coco", "alpha", "rgba", "overlay")
    if fmt not in formats:
        raise InputError(f"--format {fmt!r}: use one of {', '.join(formats)}")
    proj = Project.open(project)
    proj.guard_output(output)
    with project_lock(proj.root, shared=True):
        if not any(i in proj.masks for i in range(proj.num_frames)):
            raise InputError(f"{project} has no masks yet: run tam track first")
        chosen = check_object_ids(proj, objects)
        out = export_project(proj, fmt, output, list(chosen) if chosen else None)
    console.print(f"[green]wrote {out}[/]")


def export_project(proj, fmt: str, output: Path, ids: list[int] | None) -> object:
    """``tam export``'s work, once its arguments are checked and the project is locked (shared)."""
    from editor import export

    with stage(f"export {fmt}"):
        if fmt == "davis":
            out = export.export_davis(proj, output)
        elif fmt == "coco":
            out = export.export_coco(proj, check_output(output, {".json"}))
        elif fmt == "alpha":
            out = export.export_alpha(proj, output, ids)
        elif fmt == "rgba":
            pngs, video = export.export_rgba(proj, output, ids)
            out = f"{pngs}" + (f" and {video}" if video else "")
        else:
            out = export.export_overlay(proj, check_output(output))
    return out


@app.command("import-masks")
def import_masks_cmd(
    source: Input,
    masks_dir: Annotated[Path, typer.Argument(help="a folder of PNG masks (DAVIS layout)")],
    project: Annotated[Path, typer.Option("--project", help="the project folder to fill")],
    keyframes: Annotated[bool, typer.Option("--keyframes", help="sparse masks: propagate them")] = False,
    backend: Backend = "auto",
    working_size: Working = 480,
) -> None:
    """Import masks as the project's mask sequence, or as keyframes that are then propagated."""
    from editor.lock import project_lock

    with project_lock(project):
        import_into(source, masks_dir, project, keyframes, backend, working_size)


def import_into(source: Path, masks_dir: Path, project: Path, keyframes: bool, backend: str, working_size: int) -> None:
    """``tam import-masks``'s work, under the project's lock."""
    from editor.masks_io import import_masks
    from editor.pipeline import open_session

    proj = open_for(source, project, working_size)
    if not keyframes:
        kf = import_masks(proj, masks_dir, as_keyframes=False)
        console.print(f"[green]imported {len(kf)} masks into {proj.root}[/]")
        return
    from editor import review

    session = open_session(proj, backend)
    session.reset_state()
    kf = import_masks(proj, masks_dir, as_keyframes=True, session=session)
    with stages("track", "check the masks") as (progress, checking):
        n = sum(1 for _ in session.propagate(progress=progress))
        # the same check as ``tam track`` (and the page's flags): propagated masks are as fallible as tracked ones
        flags = review.compute(proj, session, progress=checking)
        review.save(proj.state_dir, flags, proj.masks)
    console.print(f"[green]imported {len(kf)} keyframes and propagated {n} frames in {proj.root}[/]")
    in_words = {f: "; ".join(review.describe(objs, {})) for f, objs in flags.items()}
    fix = (f"put a corrected mask for a wrong frame in {masks_dir} (named like the others) and import again with "
           "--keyframes: it becomes a keyframe")
    console.print(flagged_summary(in_words, proj.num_frames, proj.root, fix))


@app.command()
def sample(
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the sample clip")] = Path(
        "sample.mp4"
    ),
) -> None:
    """Write the bundled synthetic sample clip (a moving object over a moving textured background, with sound)."""
    from editor.sample import write_sample_video

    s = write_sample_video(check_output(output, {".mp4", ".mov", ".mkv"}))
    console.print(f"[green]wrote {output}[/]: {len(s.frames)} frames {s.size[0]}x{s.size[1]}; the object is at "
                  f"--point {s.click[0]},{s.click[1]} on frame 0")


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="the cleaned sample")] = Path("sample_removed.mp4"),
    backend: Backend = "auto",
) -> None:
    """The whole job on the bundled sample: write it, click the object, track, remove, measure."""
    from editor.compose import RemoveEdit
    from editor.metrics import iou, psnr
    from editor.pipeline import inpaint, render
    from editor.sample import write_sample_video

    check_output(output)
    src = output.with_name(output.stem + "_input.mp4")
    s = write_sample_video(src)
    console.print(f"sample written to {src} ({len(s.frames)} frames, object at {s.click})")
    proj = open_for(src, output.with_name(output.stem + "_project"), 480)
    run_tracking(proj, object_prompts([f"{s.click[0]},{s.click[1]}"], [], None, 0), backend, "auto")
    with stage("remove") as progress:
        report = inpaint(proj, backend=backend, progress=progress)
    console.print(f"removal with {report.backend} on {report.device}")
    with stage("render") as progress:
        render(proj, output, RemoveEdit(), progress=progress)
    ious = [iou(proj.masks[i] > 0, s.masks[i]) for i in range(len(s.frames))]
    holes = [psnr(proj.inpainted[i], s.background[i], mask=s.masks[i]) for i in range(len(s.frames))]
    table = Table(title="tam demo on the synthetic sample")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("mask IoU (mean over frames)", f"{sum(ious) / len(ious):.3f}")
    table.add_row("PSNR inside the object vs the true background (dB)", f"{sum(holes) / len(holes):.2f}")
    Console().print(table)
    console.print(f"[green]wrote {output}[/]")


@app.command()
def batch(
    manifest: Annotated[Path, typer.Argument(help="a .jsonl or .csv file: one clip per line (see docs/scaling.md)")],
    out: Annotated[Path, typer.Option("--out", help="folder for the outputs, the clips' projects and report.json")],
    address: Annotated[str | None, typer.Option("--address", help="a Ray cluster: auto or ray://HOST:PORT "
                                                "(default: a local Ray in this process)")] = None,
    gpus_per_clip: Annotated[float, typer.Option("--gpus-per-clip", help="GPUs per track/fill task")] = 0.0,
    cpus_per_clip: Annotated[float, typer.Option("--cpus-per-clip", help="CPUs per task")] = 1.0,
    workers: Annotated[int | None, typer.Option("--workers", help="CPUs of the local Ray (default: all)")] = None,
    span_frames: Annotated[int, typer.Option("--span-frames", help="frames per removal task")] = 60,
    in_process: Annotated[bool, typer.Option("--in-process", help="no Ray: one clip after another here")] = False,
) -> None:
    """Run many clips from a manifest (remove, track, edit): on Ray when installed, resumable, with a report."""
    from editor.batch_view import run_batch

    results = run_batch(console, manifest, out, address=address, workers=workers, cpus_per_clip=cpus_per_clip,
                        gpus_per_clip=gpus_per_clip, span=span_frames, in_process=in_process)
    if any(r.status in ("failed", "invalid") for r in results):
        raise SystemExit(1)  # not typer.Exit: app(standalone_mode=False) returns its code instead of exiting


@app.command("app")
def app_cmd(
    port: Annotated[int, typer.Option("--port")] = 8501,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
) -> None:
    """Start the web page (Streamlit)."""
    import subprocess

    page = Path(__file__).resolve().parents[1] / "streamlit_app.py"
    if not page.is_file():
        raise InputError(f"the web page {page} is missing; run tam app from a checkout of tam")
    cmd = [sys.executable, "-m", "streamlit", "run", str(page), "--server.port", str(port),
           "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    raise typer.Exit(subprocess.call(cmd))


# ------------------------------------------------------------------------------------------------ entry


def main() -> None:
    """Console entry point: user errors are one line, never a traceback; the exit code says how it ended
    (0 done, 1 a user error, 2 an unexpected one, 130 Ctrl-C, 143 SIGTERM)."""
    import signal

    logging.basicConfig(
        level=logging.INFO if os.environ.get("TAM_QUIET") is None else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_time=False, show_path=False)],
    )
    debug = bool(os.environ.get("TAM_DEBUG"))
    received: list[int] = []

    def on_sigterm(signum: int, frame: object) -> None:
        """Unwind like Ctrl-C (temp and part files are removed on the way out), then exit 143."""
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        code = run_app(debug, stopped=received)
    finally:
        signal.signal(signal.SIGTERM, previous)  # main() called in-process (tests) leaves no handler behind
    sys.exit(code)


def _is_a(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is one of click's exceptions called ``name``: typer 0.29 carries its own copy of click
    (``typer._click``), whose classes are not ``click``'s, so ``isinstance(exc, click.ClickException)`` missed every
    usage error (a missing option printed "unexpected MissingParameter")."""
    return any(c.__name__ == name and c.__module__.split(".")[-1] == "exceptions" for c in type(exc).__mro__)


def run_app(debug: bool, stopped: list[int]) -> int:
    """Run the command line; the exit code (``stopped`` is non-empty once SIGTERM arrived)."""
    import weights

    try:
        code = app(standalone_mode=False)  # the code of a typer.Exit (130 for Ctrl-C), else None
    except typer.Exit as exc:
        code = exc.exit_code
    except (TamError, weights.WeightsError, weights.CheckpointMismatch, RuntimeError, ValueError, OSError) as exc:
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        written = os_write_message(exc) if isinstance(exc, OSError) and not isinstance(exc, TamError) else None
        if written is not None:
            message = written
        elif not isinstance(exc, TamError | weights.WeightsError | weights.CheckpointMismatch):
            message = f"{message} ({type(exc).__name__}; set TAM_DEBUG=1 for details)"
        console.print(f"[red]error:[/] {message}")
        return 1
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # click's usage errors and anything unexpected
        if _is_a(exc, "ClickException"):  # a usage error: click's own message, with the usage line
            exc.show()
            return exc.exit_code
        if _is_a(exc, "Abort"):
            return 130
        if debug:
            raise
        console.print(f"[red]error:[/] unexpected {type(exc).__name__}: {exc} (set TAM_DEBUG=1 for the traceback)")
        return 2
    if code == 130:
        console.print(f"[yellow]{'stopped' if stopped else 'cancelled'}; run the same command to continue[/]")
        return 143 if stopped else 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    main()
