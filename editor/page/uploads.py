"""What the page accepts as uploads, and where it keeps the media uploaded for an edit (the workspace's media/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from editor.workspace import Workspace

VIDEO_TYPES = ["mp4", "mov", "m4v", "mkv", "webm", "avi"]
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp"]


def save_upload(ws: Workspace, upload: Any) -> Path:
    """Keep an uploaded file in the workspace's media/ under a safe name; returns its path."""
    folder = ws.root / "media"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / re.sub(r"[^A-Za-z0-9._-]", "_", Path(upload.name).name)
    path.write_bytes(upload.getbuffer())
    return path


__all__ = ["IMAGE_TYPES", "VIDEO_TYPES", "save_upload"]
