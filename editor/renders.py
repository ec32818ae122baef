"""Every video the page renders for a project, kept: one file per render, named for its effect and time.

A render never overwrites another (``blur-20261203-181502.mp4``, ``pixelate-20261203-181533.mp4``); the list
with each render's settings is ``renders.json`` in the outputs folder, written atomically, newest last.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from editor.files import atomic_write_json

LIST_FILE = "renders.json"

# What each effect did, for labels ("Frame 12, blurred").
EFFECT_LABELS = {
    "remove": "object removed",
    "replace": "object replaced",
    "blur": "blurred",
    "pixelate": "pixelated",
    "background": "background swapped",
}


@dataclass(frozen=True)
class Render:
    """One rendered video: its file (in the outputs folder), effect, settings and when it was made."""

    file: str
    effect: str  # remove | replace | blur | pixelate | background
    settings: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0
    seconds: float = 0.0  # how long it took

    @property
    def label(self) -> str:
        return EFFECT_LABELS.get(self.effect, self.effect)

    def describe(self) -> str:
        """``Blur, strength 21 px, objects: dog · 18:15:02``."""
        parts = [self.effect.capitalize()]
        parts += [f"{k} {v}" for k, v in self.settings.items() if v not in (None, "", [])]
        return ", ".join(parts) + " · " + time.strftime("%H:%M:%S", time.localtime(self.created))


def new_path(outputs: Path, effect: str, now: float | None = None) -> Path:
    """A fresh file name for a render of ``effect``: the effect and the time, never an existing file."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    path = outputs / f"{effect}-{stamp}.mp4"
    n = 2
    while path.exists():
        path = outputs / f"{effect}-{stamp}-{n}.mp4"
        n += 1
    return path


def load(outputs: Path) -> list[Render]:
    """The project's renders whose file still exists, oldest first."""
    try:
        raw = json.loads((outputs / LIST_FILE).read_text())
    except (OSError, ValueError):
        return []
    out = []
    for item in raw if isinstance(raw, list) else []:
        try:
            render = Render(**item)
        except TypeError:
            continue
        if (outputs / render.file).is_file():
            out.append(render)
    return out


def add(outputs: Path, render: Render) -> None:
    """Append ``render`` to the list (atomically)."""
    items = [asdict(r) for r in load(outputs) if r.file != render.file] + [asdict(render)]
    outputs.mkdir(parents=True, exist_ok=True)
    atomic_write_json(outputs / LIST_FILE, items)


def render_and_keep(
    project_dir: Path,
    outputs: Path,
    edit: Any,
    effect: str,
    settings: dict[str, Any],
    backend: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    message: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Fill (removal, replacement), render under a new name and add it to the list; the page's render job."""
    from editor import compose, pipeline
    from editor.store import Project

    started = time.time()
    project = Project.open(project_dir)
    if isinstance(edit, compose.RemoveEdit | compose.ReplaceEdit):
        message("Removing the object (1/2)")
        pipeline.inpaint(project, edit.object_ids, backend=backend, progress=progress)
        message("Rendering with the sound (2/2)")
    else:
        message("Rendering with the sound")
    outputs.mkdir(parents=True, exist_ok=True)
    out = pipeline.render(project, new_path(outputs, effect, started), edit, progress=progress)
    add(outputs, Render(out.name, effect, settings, started, time.time() - started))
    return {"video": str(out)}
