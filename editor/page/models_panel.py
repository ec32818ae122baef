"""The models on the page: which backend runs (the one chosen, or classical while its checkpoints are missing),
the sidebar saying so, and the panel that downloads the neural checkpoints and switches to them."""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from editor import pipeline
from editor.errors import TamError
from editor.jobs import DONE, JobBusy, JobRunner
from editor.messages import user_message
from editor.page.status import fail, job_panel

BACKENDS = ("auto", "classical", "neural", "sam2")


def chosen_backend() -> str:
    return st.session_state.get("backend") or os.environ.get("TAM_BACKEND", "auto")


def neural_missing(name: str = "neural") -> str | None:
    """Why a checkpoint backend (neural, sam2) cannot run yet (its checkpoints are missing), or None."""
    from tracking import backends

    try:
        backends.choose(name)
    except (backends.BackendUnavailable, ValueError) as exc:
        return str(exc)
    return None


def running_backend() -> str:
    """The backend that runs: the one chosen, except neural or sam2 without its checkpoints keeps classical."""
    chosen = chosen_backend()
    return "classical" if chosen in ("neural", "sam2") and neural_missing(chosen) else chosen


def _models_runner() -> JobRunner:
    """Downloads are one job for the whole server (not a project's): the folder cannot be a project id."""
    return JobRunner(pipeline.data_dir() / ".models")


def apply_downloaded_models() -> None:
    """Once this page's download finished, switch the backend to neural (before the selector is drawn)."""
    if not st.session_state.get("models-started"):
        return
    status = _models_runner().status("models")
    if status is not None and status.state == DONE:
        st.session_state.pop("models-started")
        st.session_state["backend"] = "neural"
        st.session_state["models-switched"] = True


def models_panel() -> None:
    """The checkpoints, what each improves, and one button that downloads the neural pair."""
    from editor import models

    runner = _models_runner()
    try:
        need = models.missing()
        offers = models.offers()
    except TamError as exc:
        fail(exc)
        return
    wants_neural = chosen_backend() == "neural"
    if wants_neural and need:
        st.info("The neural models are not downloaded yet: download them below. Until then tam keeps the "
                "classical models, so every step still works.")
    if st.session_state.pop("models-switched", False):
        st.success("Models downloaded and verified: the backend is now neural.")
    title = "Better models: download the neural checkpoints" if need else "Models: the neural checkpoints are here"
    with st.expander(title, expanded=wants_neural and bool(need)):
        rows = [f"| {'✅' if o.present else '—'} | `{o.name}` | {o.size_text} | {o.licence} | {o.improves} |"
                for o in offers]
        st.markdown("| | checkpoint | size | licence | what it improves |\n|---|---|---|---|---|\n" + "\n".join(rows))
        if need:
            busy = runner.active() is not None
            if st.button(f"Download {' + '.join(need)} and switch to neural", key="download-models", type="primary",
                         disabled=busy):
                try:
                    runner.start("models", lambda ctx: _download_models(need, ctx), message="Downloading")
                except JobBusy as exc:
                    st.warning(str(exc))
                else:
                    st.session_state["models-started"] = True
                    st.rerun()
            st.caption("Resumable and verified (the same download as `tam weights download`).")
        job_panel(runner, ("models",))


def _download_models(names: list[str], ctx: Any) -> dict[str, Any]:
    from editor import models

    paths = models.download(names, progress=ctx, message=ctx.message)
    return {"files": [p.name for p in paths]}


def status_panel() -> None:
    import weights
    from tracking import backends

    st.sidebar.header("Models")
    st.sidebar.selectbox(
        "Backend",
        BACKENDS,
        index=BACKENDS.index(os.environ.get("TAM_BACKEND", "auto")),
        key="backend",
        help="auto: the neural models when their checkpoints are present, else the classical ones.",
    )
    if chosen_backend() != running_backend():
        st.sidebar.info(f"{chosen_backend()} chosen, but its checkpoints are missing: classical runs until they "
                        "are downloaded (`tam weights download ...`).")
    try:
        choice = backends.choose(running_backend())
    except (backends.BackendUnavailable, ValueError) as exc:
        st.sidebar.error(user_message(exc))
        return
    inpainter = "e2fgvi_hq" if weights.locate("e2fgvi_hq") is not None else "classical fill"
    if running_backend() == "classical":
        inpainter = "classical fill"
    st.sidebar.markdown(
        f"**Will run:** segmenter `{choice.segmenter.backend}`, propagator `{choice.propagator.backend}`, "
        f"removal `{inpainter}` on `{choice.device}`"
    )
    rows = [f"| {'✅' if weights.locate(name) else '—'} | `{name}` |" for name in weights.catalog()]
    st.sidebar.markdown("| | checkpoint |\n|---|---|\n" + "\n".join(rows))
    st.sidebar.caption(
        "Checkpoints live in the server's weights folder. Download them on the page (Better models) or with "
        "`tam weights download <name>` "
        "(e.g. `tam weights download mobile_sam`). Without them the classical backends run."
    )


__all__ = [
    "BACKENDS",
    "apply_downloaded_models",
    "chosen_backend",
    "models_panel",
    "neural_missing",
    "running_backend",
    "status_panel",
]
