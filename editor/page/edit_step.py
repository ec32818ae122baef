"""Step 3 of the page, edit and export: the effect form, a preview on the frame on screen, the render job, every
render kept (played, downloaded), and the mask exports."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import streamlit as st

from editor import compose, export, renders
from editor.errors import TamError
from editor.jobs import DONE
from editor.page.models_panel import running_backend
from editor.page.status import fail, job_panel, start_job
from editor.page.uploads import IMAGE_TYPES, VIDEO_TYPES, save_upload
from editor.store import Project
from editor.workspace import Workspace

EFFECTS = ("Remove", "Replace", "Blur", "Pixelate", "Swap background")
EFFECT_NAMES = {"Remove": "remove", "Replace": "replace", "Blur": "blur", "Pixelate": "pixelate",
                "Swap background": "background"}


def _download(path: Path, label: str, mime: str, key: str) -> None:
    """A download of ``path``, read when it is clicked: a rerun reads no file (every kept render has a button, and a
    render may be hundreds of MB), and the click itself reruns nothing."""
    st.download_button(label, data=path.read_bytes, file_name=path.name, mime=mime, key=key, on_click="ignore")


def _edit_spec(ws: Workspace, effect: str, ids: tuple[int, ...] | None) -> compose.EditSpec:
    """The edit the form describes (uploads saved into the workspace)."""
    state = st.session_state
    if effect == "Remove":
        return compose.RemoveEdit(ids)
    if effect in ("Blur", "Pixelate"):
        return compose.BlurEdit(ids, effect.lower(), float(state.get("strength", 21)))
    if effect == "Replace":
        media = state.get("replace-file")
        if media is None:
            raise TamError("Upload an image or a clip to put in the object's place.")
        return compose.ReplaceEdit(save_upload(ws, media), ids, state.get("fit", "contain"))
    kind = state.get("bg-kind", "Colour")
    if kind == "Colour":
        background: str | Path = state.get("bg-colour", "#00b140")
    elif kind == "Blurred":
        background = "blur"
    else:
        media = state.get("bg-file")
        if media is None:
            raise TamError("Upload an image or a clip for the new background.")
        background = save_upload(ws, media)
    return compose.BackgroundEdit(background, ids)


def _form_settings(effect: str, names: list[str]) -> dict[str, Any]:
    """The form's settings that shaped a render (kept with it, and put back in the form when it is shown)."""
    state = st.session_state
    settings: dict[str, Any] = {"objects": ", ".join(names)}
    if effect in ("Blur", "Pixelate"):
        settings["strength"] = int(state.get("strength", 21))
    elif effect == "Replace":
        settings["fit"] = state.get("fit", "contain")
    elif effect == "Swap background":
        settings["background"] = state.get("bg-kind", "Colour")
        if settings["background"] == "Colour":
            settings["colour"] = state.get("bg-colour", "#00b140")
    return settings


def _restore_form(latest: renders.Render | None) -> None:
    """A fresh page (a reload) shows the settings of the render on screen, not the form's defaults."""
    state = st.session_state
    if latest is None or "effect" in state:
        return
    effect = next((label for label, name in EFFECT_NAMES.items() if name == latest.effect), None)
    if effect is None:
        return
    state["effect"] = effect
    if "strength" in latest.settings:
        state["strength"] = int(latest.settings["strength"])
    if "fit" in latest.settings:
        state["fit"] = latest.settings["fit"]
    if "background" in latest.settings:
        state["bg-kind"] = latest.settings["background"]
    if "colour" in latest.settings:
        state["bg-colour"] = latest.settings["colour"]


def step_edit(ws: Workspace, project: Project, session: Any, busy: bool, flagged: int = 0) -> None:
    """Step 3; ``flagged``: how many frames the review still flags (a render uses their masks as they are)."""
    st.subheader("3 · Edit and export")
    if not session.is_done():
        dirty = session.dirty_frames()
        tracked = set(project.masks.written()) - set(session.keyframes) if session.objects else set()
        if tracked and dirty:  # tracked before, then corrected (or shots changed): not "track first" again
            st.caption(f"Your changes put {len(dirty)} frames out of date: press Re-track changes (step 2) before "
                       "rendering, so the video follows your corrections.")
        else:
            st.caption("Track the objects through the clip first.")
        return
    if flagged:
        st.warning(f"{flagged} frames are still flagged for review (step 2): a render uses their masks as they are, "
                   "so check them first.")
    kept = renders.load(ws.outputs_dir)
    _restore_form(kept[-1] if kept else None)
    objects = {o.id: o.name for o in session.objects}
    chosen = st.multiselect(
        "Objects", list(objects), default=list(objects), format_func=lambda o: objects[o], key="edit-objects"
    )
    effect = st.radio("Effect", EFFECTS, horizontal=True, key="effect")
    if effect == "Replace":
        st.file_uploader("Image or clip to put in its place", type=IMAGE_TYPES + VIDEO_TYPES, key="replace-file")
        st.selectbox("Fit", ("contain", "cover", "stretch"), key="fit")
    elif effect in ("Blur", "Pixelate"):
        st.slider("Strength (pixels)", 4, 60, key="strength", value=st.session_state.get("strength", 21))
    elif effect == "Swap background":
        kind = st.radio("New background", ("Colour", "Blurred", "Image or clip"), horizontal=True, key="bg-kind")
        if kind == "Colour":
            st.color_picker("Colour", "#00b140", key="bg-colour")
        elif kind == "Image or clip":
            st.file_uploader("Background image or clip", type=IMAGE_TYPES + VIDEO_TYPES, key="bg-file")
    c1, c2 = st.columns([1, 4])
    if c1.button("Preview on this frame", key="preview", disabled=busy or not chosen,
                 help="the current frame with this effect, in seconds, before the whole clip is rendered"):
        _preview(ws, project, effect, None if set(chosen) == set(objects) else tuple(chosen))
    _show_preview(project)
    if c2.button("Render the video", key="render", type="primary", disabled=busy or not chosen):
        try:
            ids = None if set(chosen) == set(objects) else tuple(chosen)
            edit = _edit_spec(ws, effect, ids)
            settings = _form_settings(effect, [objects[o] for o in chosen])
        except Exception as exc:  # noqa: BLE001 - form problems are messages
            fail(exc)
        else:
            backend = running_backend()
            name = EFFECT_NAMES[effect]
            start_job(ws, "render", lambda ctx: renders.render_and_keep(
                project.root, ws.outputs_dir, edit, name, settings, backend, ctx, ctx.message), "Preparing")
            st.rerun()
    job_panel(ws.jobs, ("render",))
    _renders_list(ws, project, kept)
    _exports(ws, project, busy)


def _preview(ws: Workspace, project: Project, effect: str, ids: tuple[int, ...] | None) -> None:
    """Fill and composite the frame on screen only (one window of frames around it), kept for the page."""
    from editor.preview import preview_frame

    frame = min(int(st.session_state.get("frame", 0)), project.num_frames - 1)
    try:
        edit = _edit_spec(ws, effect, ids)
        started = time.perf_counter()
        with st.spinner(f"Previewing frame {frame}…"):
            image = preview_frame(project, frame, edit, backend=running_backend())
    except Exception as exc:  # noqa: BLE001 - a message, the page goes on
        fail(exc)
        return
    st.session_state["preview-result"] = (frame, EFFECT_NAMES[effect], image, time.perf_counter() - started)


def _show_preview(project: Project) -> None:
    shown = st.session_state.get("preview-result")
    if not shown:
        return
    frame, effect, image, seconds = shown
    before, after = st.columns(2)
    before.image(project.frames[frame], caption=f"Frame {frame}", width="stretch")
    label = renders.EFFECT_LABELS.get(effect, effect)
    after.image(image, caption=f"Frame {frame}, preview: {label} ({seconds:.1f} s)", width="stretch")


def _renders_list(ws: Workspace, project: Project, kept: list[renders.Render]) -> None:
    """Every render of the project, newest first: the newest plays, each can be downloaded."""
    if not kept:
        return
    latest = kept[-1]
    done = ws.jobs.status("render")
    if done is not None and done.state == DONE and Path(done.result.get("video", "")).name == latest.file:
        st.success(f"Rendered {latest.file} in {done.elapsed:.1f} s.")
    st.markdown(f"**On screen:** {latest.describe()}")
    st.video(str(ws.outputs_dir / latest.file), width=640)
    _download(ws.outputs_dir / latest.file, "Download the video", "video/mp4", "download-video")
    frame = int(st.session_state.get("frame", 0))
    if latest.effect == "remove" and frame in project.inpainted:
        before, after = st.columns(2)
        before.image(project.frames[frame], caption=f"Frame {frame}", width="stretch")
        after.image(project.inpainted[frame], caption=f"Frame {frame}, {latest.label}", width="stretch")
    if len(kept) > 1:
        with st.expander(f"All renders of this project ({len(kept)})"):
            for i, item in enumerate(reversed(kept)):
                st.markdown(f"`{item.file}` · {item.describe()} · made in {item.seconds:.1f} s")
                if st.toggle("Play", key=f"play-render-{item.file}"):
                    st.video(str(ws.outputs_dir / item.file), width=480)
                _download(ws.outputs_dir / item.file, f"Download {item.file}", "video/mp4", f"download-render-{i}")


def _exports(ws: Workspace, project: Project, busy: bool) -> None:
    st.markdown("**Masks**")
    if st.button("Export the masks", key="export", disabled=busy):
        start_job(ws, "export", lambda ctx: _export(project.root, ctx), "Exporting masks")
        st.rerun()
    job_panel(ws.jobs, ("export",))
    done = ws.jobs.status("export")
    if done is None or done.state != DONE:
        return
    cols = st.columns(3)
    for col, (key, label, mime) in zip(
        cols,
        (
            ("davis", "PNG masks (DAVIS zip)", "application/zip"),
            ("coco", "COCO JSON", "application/json"),
            ("alpha", "Alpha matte video", "video/mp4"),
        ),
        strict=True,
    ):
        path = Path(done.result.get(key, ""))
        with col:
            if path.is_file():
                _download(path, label, mime, f"download-{key}")


def _export(project_dir: Path, ctx: Any) -> dict[str, Any]:
    project = Project.open(project_dir)
    out = project.exports_dir
    ctx.message("PNG masks (1/3)")
    davis = export.export_davis_zip(project, out / "masks_davis.zip", progress=ctx)
    ctx.message("COCO JSON (2/3)")
    coco = export.export_coco(project, out / "masks_coco.json", progress=ctx)
    ctx.message("Alpha matte (3/3)")
    alpha = export.export_alpha(project, out / "alpha_matte.mp4", progress=ctx)
    return {"davis": str(davis), "coco": str(coco), "alpha": str(alpha)}


__all__ = ["EFFECTS", "EFFECT_NAMES", "step_edit"]
