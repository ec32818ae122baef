"""What the page tells the user about work: an error as one readable line, and the background jobs' progress
(polled, with a cancel button) or outcome."""

from __future__ import annotations

from typing import Any

import streamlit as st

from editor.jobs import CANCELLED, DONE, FAILED, INTERRUPTED, JobBusy, JobRunner, JobStatus
from editor.messages import scrub, user_message
from editor.workspace import Workspace


def fail(exc: BaseException) -> None:
    """Show an error as one readable line: what was wrong and what to do, never a traceback, errno or path."""
    st.error(user_message(exc))


def start_job(ws: Workspace, name: str, fn: Any, message: str) -> None:
    try:
        ws.jobs.start(name, fn, message=message, lock=ws.project_dir)
    except JobBusy as exc:
        st.warning(str(exc))


def job_panel(runner: JobRunner, names: tuple[str, ...]) -> JobStatus | None:
    """Progress of the running job (polled), else the outcome of the last of ``names``; returns the running one."""
    active = runner.active()
    if active is not None and active.name in names:
        _poll_job(runner, active.name)
        return active
    for name in names:
        status = runner.status(name)
        if status is None or status.state == DONE:
            continue
        if status.state in (FAILED, INTERRUPTED):
            st.error(f"{name.capitalize()} stopped: {scrub(status.error)}")
        elif status.state == CANCELLED:
            st.info(f"{name.capitalize()} was cancelled; run it again to continue where it stopped.")
    return None


@st.fragment(run_every=0.5)
def _poll_job(runner: JobRunner, name: str) -> None:
    """Redrawn twice a second while the job runs; reruns the whole page once it is over."""
    status = runner.status(name)
    if status is None or not status.active:
        st.rerun(scope="app")
        return
    label = status.message or name
    counts = f" {status.done}/{status.total}" if status.total else ""
    st.progress(status.fraction, text=f"{label}{counts} ({status.fraction:.0%})")
    if st.button("Cancel", key=f"cancel-{name}"):
        runner.cancel(name)
        st.toast(f"Cancelling {name}…")


__all__ = ["fail", "job_panel", "start_job"]
