"""editor.frames: folders of numbered frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.errors import FrameFolderError
from editor.frames import FrameFolder, natural_key


def _write(folder: Path, name: str, value: int, size=(40, 30)) -> None:
    image = np.full((size[1], size[0], 3), value, np.uint8)
    cv2.imwrite(str(folder / name), image)


def test_natural_order_stems_and_reading(tmp_path: Path) -> None:
    for i, stem in enumerate(["00000693", "00000700", "00000694"]):
        _write(tmp_path, f"{stem}.png", 10 * i)
    _write(tmp_path, "f2.png", 1)
    _write(tmp_path, "f10.png", 2)
    (tmp_path / "notes.txt").write_text("ignored")
    folder = FrameFolder(tmp_path)
    assert folder.stems == ["00000693", "00000694", "00000700", "f2", "f10"]
    assert len(folder) == 5 and folder.size == (40, 30)
    assert folder[1].shape == (30, 40, 3) and int(folder[1][0, 0, 0]) == 20
    assert int(folder[-1][0, 0, 0]) == 2
    with pytest.raises(IndexError):
        folder[5]
    assert sorted(["a10", "a9", "a100"], key=natural_key) == ["a9", "a10", "a100"]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(FrameFolderError, match="not found"):
        FrameFolder(tmp_path / "absent")
    with pytest.raises(FrameFolderError, match="no JPG/PNG"):
        FrameFolder(tmp_path)
    _write(tmp_path, "00000.jpg", 0)
    _write(tmp_path, "00001.jpg", 0, size=(41, 30))
    with pytest.raises(FrameFolderError, match="same size"):
        FrameFolder(tmp_path)


def test_davis_clip(clips_dir: Path) -> None:
    folder = FrameFolder(clips_dir / "davis2016-dog" / "frames")
    assert folder.stems[0] == "00000" and len(folder) > 10
    assert folder[0].shape == (folder.height, folder.width, 3)
