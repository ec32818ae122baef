"""The web page's folder for one project: ``input/`` (the upload), ``project/`` (tam's project), ``jobs/``,
``outputs/`` (renders), ``media/`` (uploaded replacement media). Its id is the page's ``?project=`` value."""

from __future__ import annotations

import uuid
from pathlib import Path

from editor import pipeline
from editor.jobs import JobRunner
from editor.store import Project


class Workspace:
    """The page's folder for one project: ``input/`` (the upload), ``project/`` (tam's project), ``jobs/``."""

    def __init__(self, project_id: str) -> None:
        self.id = project_id
        self.root = pipeline.data_dir() / project_id
        self.jobs = JobRunner(self.root)

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def project_dir(self) -> Path:
        return self.root / "project"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    @property
    def source(self) -> Path | None:
        files = sorted(p for p in self.input_dir.glob("*") if p.is_file() and not p.name.startswith("."))
        return files[0] if files else None

    def project(self) -> Project | None:
        """The decoded project, or None while it is still being decoded."""
        meta = self.project_dir / "meta.json"
        if not meta.is_file():
            return None
        project = Project.open(self.project_dir)
        return project if project.meta.get("decoded") else None


def new_workspace() -> Workspace:
    """A fresh, empty workspace under the data folder."""
    ws = Workspace(uuid.uuid4().hex[:12])
    ws.input_dir.mkdir(parents=True, exist_ok=True)
    return ws
