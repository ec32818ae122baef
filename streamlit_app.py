"""tam's web page: upload a clip, click an object, track it, then remove, replace or blur it, keeping the sound.

Run with ``streamlit run streamlit_app.py``. Projects live under ``$TAM_DATA_DIR`` (default
``~/.cache/tam/projects``), one folder per upload; the page keeps the folder's id in the URL
(``?project=<id>``), so a reload continues where it was and two tabs are two separate projects.
``$TAM_BACKEND`` (auto | classical | neural | sam2) sets the default backend.

The page is thin: every step is a call into ``editor`` (project, pipeline, compose, export, jobs) or
``tracking`` (the interactive session); long steps run as background jobs (``editor.jobs``) whose progress
is polled by a fragment, so the page stays responsive and a reload finds the job where it is. This file holds the
page's frame: the workspace, the session, steps 1 and 2 (open a video; select, track, fix); its other parts live
in ``page/`` (``edit_step`` step 3, ``models_panel`` the backend and checkpoints, ``status`` errors and jobs,
``uploads``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import streamlit as st
from streamlit_image_coordinates import streamlit_image_coordinates

from editor import colours, compose, export, pipeline, review, timeline
from editor.errors import TamError
from editor.lock import LockedSession
from editor.page.edit_step import step_edit
from editor.page.models_panel import apply_downloaded_models, models_panel, running_backend, status_panel
from editor.page.status import fail, job_panel, start_job
from editor.page.uploads import VIDEO_TYPES
from editor.shot_update import tracked_cuts
from editor.store import Project
from editor.workspace import Workspace, new_workspace

CLICK_KEY = "frame_click"  # the image component's session-state key (tests set it to simulate a click)
MODES = ("Positive point", "Negative point", "Box (two corners)")
PREVIEW_FILE = "masks-preview.mp4"  # the overlay video rendered after tracking (outputs/)
ROWS_PER_PAGE = 8  # long lists (shots, frames to review) show a page at a time: a long clip has hundreds
VIEW_WIDTH = 640  # the frame's displayed width: with its controls and its review note it fits a 1366x768 screen
_ID = re.compile(r"^[a-z0-9]{6,32}$")


# ------------------------------------------------------------------------------------------- workspace


def _current_workspace() -> Workspace | None:
    project_id = st.query_params.get("project")
    if not project_id:
        return None
    if not _ID.match(project_id) or not (pipeline.data_dir() / project_id).is_dir():
        st.query_params.clear()
        st.warning(f"Project {project_id!r} was not found on this server (it may have been deleted, or the link is "
                   "from another server): upload a video to start a new one.")
        return None
    return Workspace(project_id)


@st.cache_resource(max_entries=16)
def _sessions(project_dir: str) -> dict[str, Any]:
    """The live tracking session of a project folder, shared by every rerun, tab and job of this server."""
    return {}


def _session(project_dir: str, backend: str, busy: bool, cuts: list[int]) -> Any:
    """One session per project folder (a second one would hold stale state); reopened when the backend changes or
    the project's cuts do (``tam shots --detect``): a session keeps the cuts it was opened with."""
    holder = _sessions(project_dir)
    stale = "session" in holder and list(holder["session"].state.cuts) != list(cuts)
    if "session" not in holder or ((holder["backend"] != backend or stale) and not busy):
        with st.spinner(f"Loading the {backend} tracking models…"):
            session = pipeline.open_session(Project.open(project_dir), backend=backend)
            holder["session"] = LockedSession(session, project_dir)  # a CLI run on this project refuses clicks
        holder["backend"] = backend
    elif not busy:
        holder["session"].refresh()  # a `tam` command may have changed the project since the last rerun
    return holder["session"]


# ------------------------------------------------------------------------------------------- helpers


def _draw_prompts(image: np.ndarray, session: Any, frame: int, pending: tuple[float, float] | None) -> np.ndarray:
    """Mark the prompts of this frame: green/red dots for clicks, rectangles for boxes, the pending corner."""
    for p in session.state.prompts_at(frame):
        if p.kind == "click" and p.point is not None:
            centre = (int(round(p.point[0])), int(round(p.point[1])))
            cv2.circle(image, centre, 5, (0, 220, 0) if p.positive else (230, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(image, centre, 5, (255, 255, 255), 1, cv2.LINE_AA)
        elif p.kind == "box" and p.box is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in p.box)
            cv2.rectangle(image, (x0, y0), (x1, y1), (255, 220, 0), 2)
    if pending is not None:
        cv2.drawMarker(image, (int(pending[0]), int(pending[1])), (255, 220, 0), cv2.MARKER_CROSS, 14, 2)
    return image


def _masked(project: Project, session: Any) -> list[int]:
    """The frames holding a mask of an object that exists (one listing of masks/: a long clip has thousands).
    After "Clear all" the label maps on disk are empty: no frame is claimed as tracked then."""
    return project.masks.written() if session.objects else []


def _flags(project: Project, session: Any, written: list[int]) -> dict[int, dict[int, tuple[str, ...]]]:
    """The needs-review flags computed after the last tracking run that still apply to the masks on disk."""
    return review.still_flagged(project.state_dir, session, written)


# ------------------------------------------------------------------------------------------- sidebar


def _project_sidebar(ws: Workspace | None) -> None:
    st.sidebar.header("Project")
    if ws is None:
        st.sidebar.caption("No project open.")
        return
    st.sidebar.caption(f"id `{ws.id}` · kept in the URL, so a reload continues here.")


def _new_video() -> None:
    """Button callback: leave this project (it stays on disk, its URL reopens it) for the upload step."""
    st.query_params.clear()
    for key in list(st.session_state):
        if key != "backend":
            del st.session_state[key]


def mask_size_warnings(labels: np.ndarray, names: dict[int, str], prompted: set[int]) -> list[str]:
    """What to say about a keyframe's masks whose size suggests the prompt went wrong: an object prompted here
    with no pixel (GrabCut can find nothing in a box whose inside looks like its outside), or one covering half
    the frame or more (``pipeline.WARN_SHARE``, as the CLI): more often the background than the object."""
    out = []
    for obj, name in names.items():
        share = float((labels == obj).mean())
        if obj in prompted and share == 0.0:
            out.append(
                f"Nothing was selected for {name} on this frame. Click inside the object (“Positive point”), or "
                "undo and draw the box again, tighter around the object."
            )
        elif share >= pipeline.WARN_SHARE:
            out.append(
                f"{name} covers {share:.0%} of this frame. If that is the background rather than the object, choose "
                "“Negative point” and click the background, or undo and draw a box around the object "
                "(“Box (two corners)”)."
            )
    return out


def first_click_hints(prompts: Sequence[Any], names: dict[int, str]) -> list[str]:
    """What to say to an object selected by one click alone on a keyframe: one click gives part of an object more
    often than all of it (a shirt without its wearer's head; issue 14's benchmark: mean IoU 0.46 after one click
    with the classical backend, 0.67 after three), and a new user does not know that more clicks refine it."""
    kinds: dict[int, list[Any]] = {}
    for prompt in prompts:
        kinds.setdefault(prompt.obj_id, []).append(prompt)
    out = []
    for obj, given in kinds.items():
        if obj in names and len(given) == 1 and given[0].kind == "click" and given[0].positive:
            out.append(f"One click often selects only part of an object. If {names[obj]}'s mask misses a part, click "
                       "that part; if it spills onto something else, choose “Negative point” and click there.")
    return out


def _tracked_status(flagged: int, frames: int) -> str:
    """What the page says once every frame has a mask: never that the masks are right (tam cannot know), but how
    many frames its checks flag and what to do next."""
    if flagged:
        return (f":red[{flagged} of {frames} frames are flagged] for review (red on the timeline): check them "
                "with Review ▶, fix a wrong one with a click, then re-track. The checks miss some mistakes and flag "
                "some good frames: watch the clip with Play with masks too.")
    return ("Every frame has a mask and none was flagged, but the checks miss some mistakes: watch the clip with "
            "Play with masks before rendering, and click on any frame to correct it.")


# ------------------------------------------------------------------------------------------- steps


def _step_open() -> None:
    st.subheader("1 · Video")
    limit = st.get_option("server.maxUploadSize")
    upload = st.file_uploader(
        f"Upload a video ({', '.join(VIDEO_TYPES)}; up to {limit} MB)", type=VIDEO_TYPES, key="upload"
    )
    use_sample = st.button("Use the bundled sample clip", key="use-sample")
    if upload is None and not use_sample:
        return
    ws = new_workspace()
    try:
        if use_sample:
            from editor.sample import write_sample_video

            source = ws.input_dir / "sample.mp4"
            write_sample_video(source, n_frames=int(os.environ.get("TAM_SAMPLE_FRAMES", "48")))
        else:
            name = Path(upload.name).name
            if Path(name).suffix.lower().lstrip(".") not in VIDEO_TYPES:
                raise TamError(f"{name} is not a video this page accepts ({', '.join(VIDEO_TYPES)}).")
            source = ws.input_dir / re.sub(r"[^A-Za-z0-9._-]", "_", name)
            source.write_bytes(upload.getbuffer())
        from editor.video import probe

        probe(source)  # a clear error now rather than half a project
    except Exception as exc:  # noqa: BLE001 - shown to the user, the workspace is dropped
        shutil.rmtree(ws.root, ignore_errors=True)
        fail(exc)
        return
    st.query_params["project"] = ws.id
    start_job(ws, "open", lambda ctx: _open(ws, ctx), "Decoding frames")
    st.rerun()


def _open(ws: Workspace, ctx: Any) -> dict[str, Any]:
    project = pipeline.open_project(ws.source, ws.project_dir, progress=ctx)
    return {"frames": project.num_frames}


def _video_info(project: Project) -> None:
    """The clip's facts on one line, and the way to another video (the sidebar starts collapsed)."""
    w, h = project.native_size
    ww, wh = project.working_size
    seconds = project.num_frames / float(project.fps)
    facts, new = st.columns([8, 1], vertical_alignment="center")
    facts.caption(
        f"**{project.source.name}** · Length {seconds:.2f} s ({project.num_frames} frames) · "
        f"{float(project.fps):.3g} fps · {w}×{h} (works at {ww}×{wh}) · audio {'yes' if project.has_audio else 'none'}"
    )
    new.button("New video", key="new-project", on_click=_new_video,
               help="open another video; this project stays, and its link (the URL) reopens it")


def _choose_object(radio: str) -> None:
    """Radio callback: the object the next click goes to."""
    st.session_state["object"] = st.session_state[radio]


def _objects_panel(session: Any) -> int | None:
    """Object list, selection and 'add object'; returns the selected object id."""
    objects = {o.id: o for o in session.objects}
    with st.expander("Add an object", expanded=not objects):
        c1, c2, c3 = st.columns([3, 1, 1])
        name = c1.text_input("Name", value=f"object {len(objects) + 1}", key=f"new-object-name-{len(objects)}")
        suggested = colours.next_colour(o.colour for o in objects.values())
        colour = c2.color_picker("Colour", value=suggested, key=f"new-object-colour-{len(objects)}")
        if c3.button("Add", key="add-object"):
            obj = session.add_object(name.strip() or None, compose.parse_colour(colour))
            st.session_state["object"] = obj
            st.rerun()
    if not objects:
        return None
    ids = list(objects)
    if st.session_state.get("object") not in ids:
        st.session_state["object"] = ids[0]
    # "object" (the object a click goes to) is the page's own key, not the radio's: the radio is a new widget
    # whenever the objects change, so a browser that sends the old radio's value (a click on the image right
    # after "Add") cannot send the click to the previous object
    radio = "object-choice-" + "-".join(map(str, ids))
    selected = st.radio(
        "Object to click",
        ids,
        index=ids.index(st.session_state["object"]),
        key=radio,
        horizontal=True,
        format_func=lambda o: f"{objects[o].name} (#{o})",
        on_change=_choose_object,
        args=(radio,),
    )
    swatches = " ".join(f"<span style='color:rgb{tuple(objects[o].colour)}'>■</span> {objects[o].name}" for o in ids)
    st.markdown(swatches, unsafe_allow_html=True)
    return selected


def _handle_click(session: Any, project: Project, frame: int, obj: int | None) -> bool:
    """Apply the click the image component reported (once per click; it keeps reporting the last one).

    Returns whether a click changed something (the caller redraws the whole page then)."""
    value = st.session_state.get(CLICK_KEY)
    if not value or value.get("unix_time") == st.session_state.get("last-click"):
        return False
    st.session_state["last-click"] = value.get("unix_time")
    if obj not in {o.id for o in session.objects}:
        colour = colours.next_colour(o.colour for o in session.objects)
        obj = session.add_object(None, compose.parse_colour(colour))
        st.session_state["object"] = obj
    w, h = project.working_size
    x = float(value["x"]) * w / max(1, float(value.get("width") or w))
    y = float(value["y"]) * h / max(1, float(value.get("height") or h))
    x, y = min(max(x, 0.0), w - 1e-3), min(max(y, 0.0), h - 1e-3)
    mode = st.session_state.get("mode", MODES[0])
    if mode == MODES[2]:
        pending = st.session_state.get("box-start")
        if pending is None or pending[0] != frame:
            st.session_state["box-start"] = (frame, x, y)
            return True
        st.session_state["box-start"] = None
        x0, y0 = pending[1], pending[2]
        box = (min(x0, x), min(y0, y), max(x0, x), max(y0, y))
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            raise TamError("That box is too small: click two opposite corners of the object.")
        _segmenting(session, obj, frame)
        session.add_box(frame, obj, box)
    else:
        _segmenting(session, obj, frame)
        session.add_click(frame, obj, x, y, positive=mode == MODES[0])
    return True


def _segmenting(session: Any, obj: int, frame: int) -> None:
    """Say at once that a click is being worked on: segmenting takes seconds on a CPU, and the frame only fades."""
    name = next((o.name for o in session.objects if o.id == obj), f"object {obj}")
    st.toast(f"Segmenting {name} on frame {frame}…", icon="⏳")


def _go_to(frame: int | None) -> None:
    """Button callback: show ``frame`` (runs before the slider is drawn, so the slider follows)."""
    if frame is not None:
        st.session_state["frame"] = int(frame)


def _step_select(ws: Workspace, project: Project, session: Any, busy: bool) -> None:
    view, side = st.columns([3, 2], gap="medium")
    with view:
        _viewer(ws, str(project.root), running_backend(), busy)
    with side:
        st.markdown("**2 · Select objects, track, fix**")
        obj = _objects_panel(session)
        st.radio("A click adds", MODES, key="mode", horizontal=True)
        frame = min(int(st.session_state.get("frame", 0)), project.num_frames - 1)
        b1, b5, b2 = st.columns([1, 1, 2])
        b3, b4 = st.columns(2)
        if b1.button("Undo", key="undo", disabled=busy or not session.state.prompts):
            session.undo()
            st.rerun()
        if b5.button("Redo", key="redo", disabled=busy or not session.can_redo):
            session.redo()
            st.rerun()
        if b2.button("Clear this frame", key="clear-frame", disabled=busy or frame not in session.keyframes):
            session.clear_frame(frame, obj)
            st.rerun()
        if b3.button("Delete object", key="delete-object", disabled=busy or obj is None):
            st.session_state["confirm-drop"] = obj
        if b4.button("Clear all", key="clear-all", disabled=busy or not session.objects):
            st.session_state["confirm-drop"] = "all"
        _confirm_drop(session, busy)
        _step_track(ws, project, session, busy)


def _confirm_drop(session: Any, busy: bool) -> None:
    """Deleting an object or everything cannot be undone (the undo history goes with it): asked once more."""
    target = st.session_state.get("confirm-drop")
    names = {o.id: o.name for o in session.objects}
    if target is None or busy or (target != "all" and target not in names):
        st.session_state.pop("confirm-drop", None)
        return
    what = "every object, its clicks and its masks" if target == "all" else f"{names[target]}, its clicks and its masks"
    st.warning(f"Delete {what} on every frame? Undo cannot bring them back.")
    yes, no = st.columns(2)
    if yes.button("Delete", key="confirm-drop-yes", type="primary"):
        if target == "all":
            session.reset_state()
        else:
            session.remove_object(target)
        st.session_state.pop("object", None)
        st.session_state.pop("confirm-drop", None)
        st.rerun()
    if no.button("Keep", key="confirm-drop-no"):
        st.session_state.pop("confirm-drop", None)
        st.rerun()


@st.fragment
def _viewer(ws: Workspace, project_dir: str, backend: str, busy: bool) -> None:
    """The frame with its masks, the slider, the review buttons and the timeline.

    A fragment: moving the slider or stepping reruns only this, so a step is as fast as reading one frame;
    a click that changes the masks reruns the whole page (the track button and lists follow)."""
    project = Project.open(project_dir)
    session = _session(project_dir, backend, busy, project.cuts)
    n = project.num_frames
    frame = min(int(st.session_state.get("frame", 0)), n - 1)
    if busy:
        st.info("Clicks are paused while a job runs.")
    else:
        try:
            if _handle_click(session, project, frame, st.session_state.get("object")):
                st.rerun(scope="app")
        except Exception as exc:  # noqa: BLE001 - a bad click is an error message, the page goes on
            fail(exc)
    written = _masked(project, session)
    flags = _flags(project, session, written)
    preview = ws.outputs_dir / PREVIEW_FILE
    playing = preview.is_file() and st.session_state.get("play-masks", False)
    if playing:
        st.video(str(preview), width=VIEW_WIDTH, autoplay=True)
    else:
        labels = session.frame_mask(frame)
        tints = {o.id: tuple(o.colour) for o in session.objects}
        pending = st.session_state.get("box-start")
        corner = (pending[1], pending[2]) if pending and pending[0] == frame else None
        shown = export.overlay_frame(project.frames[frame], labels, tints, opacity=0.55)
        image = _draw_prompts(shown, session, frame, corner)
        # VIEW_WIDTH wide, or the column's width where that is narrower (a phone): a fixed width was drawn in
        # full and cut off by the column, so objects on the right could not be clicked
        with st.container(width=VIEW_WIDTH, gap=None):
            streamlit_image_coordinates(
                image, key=CLICK_KEY, cursor="crosshair", width="stretch", image_format="JPEG", jpeg_quality=90
            )
    prev_flag, next_flag = review.next_flagged(flags, frame, False), review.next_flagged(flags, frame, True)
    c = st.columns([1.2, 1.2, 4.6, 3, 3], gap="xsmall", vertical_alignment="center")  # ◀ ▶ stay legible at 1024 px
    c[0].button("◀", key="step-back", help="previous frame", on_click=_go_to, args=(max(0, frame - 1),))
    c[1].button("▶", key="step-fwd", help="next frame", on_click=_go_to, args=(min(n - 1, frame + 1),))
    with c[2]:
        frame = st.slider("Frame", 0, n - 1, key="frame", label_visibility="collapsed")
    c[3].button("◀ Review", key="prev-flag", disabled=prev_flag is None, on_click=_go_to, args=(prev_flag,),
                help="the previous frame flagged for review")
    c[4].button("Review ▶", key="next-flag", disabled=next_flag is None, on_click=_go_to, args=(next_flag,),
                help="the next frame flagged for review")
    if playing:
        st.caption("Playing the clip with its masks (rendered after tracking).")
    else:
        _frame_caption(project, session, frame, flags, tracked=bool(set(written) - set(session.keyframes)))
    cuts = project.cuts
    if written or cuts:
        st.image(timeline.strip(n, written, session.keyframes, session.state.refined, flags, frame, cuts),
                 width="stretch")
    _shots_nav(project, frame)
    if preview.is_file():
        st.toggle("Play with masks", key="play-masks", help="the whole clip with its masks, as a video")


def _page(key: str, count: int, first: int, noun: str) -> range:
    """The indices of one page of a long list (a page selector when there is more than one): the page holding
    ``first`` until the user picks another. A list of thousands never becomes thousands of widgets."""
    pages = timeline.page_count(count, ROWS_PER_PAGE)
    page = 0
    if pages > 1:
        page = st.selectbox("Page", range(pages), index=timeline.page_of(first, ROWS_PER_PAGE), key=key,
                            format_func=lambda p: timeline.page_label(p, count, ROWS_PER_PAGE, noun))
    return timeline.page_range(page, count, ROWS_PER_PAGE)


def _shots_nav(project: Project, frame: int) -> None:
    """The shot on screen, the previous and next shots, and every shot a page at a time (one click to its start)."""
    shots = project.shots
    if len(shots) < 2:
        return
    k = timeline.shot_at(shots, frame)
    c = st.columns([2, 8, 2], vertical_alignment="center")
    c[0].button("◀ Shot", key="prev-shot", disabled=k == 0, on_click=_go_to, args=(shots[max(0, k - 1)].start,),
                help="the first frame of the previous shot")
    c[1].caption(f"This is {timeline.shot_label(k, shots[k], project.fps)}")
    c[2].button("Shot ▶", key="next-shot", disabled=k == len(shots) - 1, on_click=_go_to,
                args=(shots[min(k + 1, len(shots) - 1)].start,), help="the first frame of the next shot")
    with st.expander(f"Shots: {timeline.shots_summary(shots)}"):
        for i in _page("shot-page", len(shots), k, "shots"):
            st.button(timeline.shot_label(i, shots[i], project.fps), key=f"shot-{i}", on_click=_go_to,
                      args=(shots[i].start,), type="primary" if i == k else "secondary")


def _frame_caption(
    project: Project, session: Any, frame: int, flags: dict[int, dict[int, tuple[str, ...]]], tracked: bool = False
) -> None:
    """The line under the frame: its kind and each object's area; warnings about a keyframe's masks; before the
    first tracking, a hint that more clicks refine a one-click mask (after it, the review flags guide)."""
    labels = session.frame_mask(frame)
    total = labels.size if labels is not None else 1
    areas = [
        f"{o.name}: {int((labels == o.id).sum()) if labels is not None else 0} px "
        f"({100.0 * ((labels == o.id).sum() if labels is not None else 0) / total:.1f} %)"
        for o in session.objects
    ]
    masked = labels is not None and bool(session.objects)
    kind = "keyframe" if frame in session.keyframes else ("tracked" if masked else "no mask yet")
    st.caption(f"Frame {frame} ({kind}) · " + (" · ".join(areas) or "click the object to select it"))
    pending = st.session_state.get("box-start")
    if pending and pending[0] == frame:
        st.caption("Box: first corner set, click the opposite corner.")
    names = {o.id: o.name for o in session.objects}
    if frame in session.keyframes and labels is not None:
        prompts = session.state.prompts_at(frame)
        warnings = mask_size_warnings(labels, names, {p.obj_id for p in prompts})
        for warning in warnings:
            st.warning(warning)
        if not warnings and not tracked:
            for hint in first_click_hints(prompts, names):
                st.caption(hint)
    if frame in flags:
        st.warning("To review: " + " · ".join(review.describe(flags[frame], names)))
    refined = session.state.refined.get(frame)
    if refined:
        st.caption("Refined here: " + "; ".join(f"{names.get(o, o)}: {r}" for o, r in refined.items()))


def _step_track(ws: Workspace, project: Project, session: Any, busy: bool) -> None:
    dirty = session.dirty_frames()
    written = _masked(project, session)
    flags = _flags(project, session, written) if written else {}
    tracked_with = tracked_cuts(project)
    if tracked_with is not None and tracked_with != project.cuts:
        st.warning(f"The clip's shots changed since it was tracked ({len(tracked_with)} cuts then, "
                   f"{len(project.cuts)} now): track again so that no mask crosses a cut.")
    if session.keyframes:
        tracked = set(written) - set(session.keyframes)
        label = "Track" if not tracked else "Re-track changes"
        if dirty:
            lo, hi = min(dirty), max(dirty)
            st.caption(f"{len(dirty)} frames to track (frames {lo}–{hi}).")
        else:
            st.caption(_tracked_status(len(flags), project.num_frames))
        if st.button(label, key="track", type="primary", disabled=busy or not dirty):
            start_job(ws, "track", lambda ctx: review.track_and_review(
                session, project.root, ws.outputs_dir / PREVIEW_FILE, ctx, ctx.message), "Tracking")
            st.rerun()
    job_panel(ws.jobs, ("track",))
    if written:
        refined = session.state.refined
        st.caption(
            f"Timeline: :blue[■] keyframes {len(session.keyframes)} · :orange[■] refined {len(refined)} · "
            f":red[■] to review {len(flags)} · :gray[■] tracked {len(written)}/"
            f"{project.num_frames} · □ this frame" + (" · :orange[|] cut" if project.cuts else "")
        )
        if flags:
            names = {o.id: o.name for o in session.objects}
            with st.expander(f"{len(flags)} frames to review"):
                flagged = sorted(flags.items())
                for f, objs in (flagged[i] for i in _page("review-page", len(flagged), 0, "frames")):
                    st.button(f"Frame {f}", key=f"review-{f}", on_click=_go_to, args=(f,))
                    st.caption(" · ".join(review.describe(objs, names)))


# ------------------------------------------------------------------------------------------- page


def main() -> None:
    st.set_page_config(
        page_title="tam: track anything, then remove it", page_icon="🎯", layout="wide",
        initial_sidebar_state="collapsed",
    )
    # Streamlit leaves 6 rem above the first element; the frame and its controls must fit a 1366x768 screen.
    st.markdown("<style>.block-container{padding-top:2.8rem;padding-bottom:1rem}</style>", unsafe_allow_html=True)
    st.markdown("#### tam · click an object in a video, track it, then remove, replace or blur it (sound kept)")
    apply_downloaded_models()
    status_panel()
    ws = _current_workspace()
    _project_sidebar(ws)
    if ws is None:
        _step_open()
        models_panel()
        return
    opening = job_panel(ws.jobs, ("open",))
    try:
        project = ws.project()
    except TamError as exc:
        fail(exc)
        return
    if project is None:
        if opening is None:
            st.warning("This project was not decoded completely.")
            if st.button("Decode again", key="reopen") and ws.source is not None:
                start_job(ws, "open", lambda ctx: _open(ws, ctx), "Decoding frames")
                st.rerun()
        return
    _video_info(project)
    models_panel()
    busy = ws.jobs.active() is not None
    try:
        session = _session(str(project.root), running_backend(), busy, project.cuts)
    except Exception as exc:  # noqa: BLE001 - e.g. a neural backend without its checkpoint
        fail(exc)
        return
    try:
        _step_select(ws, project, session, busy)
        step_edit(ws, project, session, busy, flagged=len(_flags(project, session, _masked(project, session))))
    except Exception as exc:  # noqa: BLE001 - the page shows a message, never a traceback
        fail(exc)


if __name__ == "__main__":
    main()
