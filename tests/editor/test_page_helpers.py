"""The page's helpers: renders kept under distinct names, messages without errno or paths, distinct colours."""

from __future__ import annotations

import time
from pathlib import Path

from editor import colours, renders
from editor.errors import VideoError
from editor.messages import user_message


def test_two_renders_of_the_same_second_get_two_files_and_both_are_listed(tmp_path: Path) -> None:
    now = time.time()
    a = renders.new_path(tmp_path, "blur", now)
    a.write_bytes(b"x")
    b = renders.new_path(tmp_path, "blur", now)
    assert a != b and a.name.startswith("blur-") and b.name.startswith("blur-")
    b.write_bytes(b"y")
    renders.add(tmp_path, renders.Render(a.name, "blur", {"strength": 21}, now))
    renders.add(tmp_path, renders.Render(b.name, "pixelate", {"strength": 9}, now + 1))
    kept = renders.load(tmp_path)
    assert [r.file for r in kept] == [a.name, b.name]
    assert kept[1].label == "pixelated" and "strength 9" in kept[1].describe()
    a.unlink()  # a render deleted by hand drops out of the list
    assert [r.file for r in renders.load(tmp_path)] == [b.name]


def test_messages_drop_errno_and_server_paths() -> None:
    exc = VideoError("notes.mp4 is not a readable video (truncated, corrupt or not a video: [Errno 1094995529] "
                     "Invalid data found when processing input: '/srv/tam/data/ab12cd/input/notes.mp4'); "
                     "re-export it as MP4 (H.264)")
    text = user_message(exc)
    assert "Errno" not in text and "/srv" not in text and "notes.mp4" in text and "re-export" in text
    text = user_message(FileNotFoundError(2, "No such file or directory", "/srv/tam/data/x/frames/00001.png"))
    assert "Errno" not in text and "/srv" not in text and "00001.png" in text


def test_default_colours_are_distinct() -> None:
    used = []
    for _ in range(4):
        used.append(tuple(int(colours.next_colour(used)[i:i + 2], 16) for i in (1, 3, 5)))
    assert len(set(used)) == 4
    for i, a in enumerate(used):
        for b in used[i + 1:]:
            assert sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5 > 120
