"""Atomic writes leave nothing behind wherever an interrupt lands (Ctrl-C and the CLI's SIGTERM arrive as
KeyboardInterrupt between any two bytecodes): each writer is run once per line it executes, with a
KeyboardInterrupt injected at that line, and afterwards the folder holds the old file or the new one, never a temp
file. The CI failure this answers: a SIGTERM landing just after ``mkstemp`` and before the ``try`` that removes
the part file left ``.blur.PID.XXXX.part.mp4`` beside the output."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import editor.encode
import editor.files
import tracking.atomic_files
from editor.encode import write_video
from editor.files import atomic_write_bytes, write_label_png
from tracking.atomic_files import replaced_atomically, write_atomic

TRACED = {
    tracking.atomic_files.__file__,
    editor.files.__file__,
    editor.encode.__file__,
    contextlib.__file__,
}


class _Interrupt:
    """A trace function that raises KeyboardInterrupt at the n-th line executed in ``TRACED`` (0: never)."""

    def __init__(self, at: int) -> None:
        self.at, self.lines = at, 0

    def __call__(self, frame, event, arg):  # the global tracer: trace only our files' frames
        return self._line if frame.f_code.co_filename in TRACED else None

    def _line(self, frame, event, arg):
        if event == "line":
            self.lines += 1
            if self.lines == self.at:
                raise KeyboardInterrupt
        return self._line


def _run(write: Callable[[], object], at: int) -> int:
    tracer = _Interrupt(at)
    sys.settrace(tracer)
    try:
        write()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)
    return tracer.lines


def _every_interrupt(folder: Path, write: Callable[[], object], target: Path, old: bytes | None) -> set[bytes | None]:
    """Run ``write`` interrupted at each of its lines; check the folder after each run; the contents seen."""
    total = _run(write, 0)
    new = target.read_bytes()
    assert total > 5
    seen: set[bytes | None] = set()
    for at in range(1, total + 1):
        if old is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(old)
        _run(write, at)
        left = sorted(p.name for p in folder.iterdir())
        assert left == [target.name] or (old is None and left == []), f"interrupted at line {at}/{total}: {left}"
        content = target.read_bytes() if target.exists() else None
        assert content in (old, new), f"interrupted at line {at}/{total}: the file is neither the old nor the new one"
        seen.add(content)
    return seen


def test_write_atomic_leaves_the_old_file_or_the_new_one_wherever_it_is_interrupted(tmp_path):
    target = tmp_path / "state.json"
    seen = _every_interrupt(tmp_path, lambda: write_atomic(target, b"new state"), target, b"old state")
    assert seen == {b"old state", b"new state"}  # interrupts early keep the old file, late ones land the new


def test_project_files_and_label_pngs_leave_no_temp_file_wherever_interrupted(tmp_path):
    target = tmp_path / "00000.png"
    labels = np.zeros((24, 32), np.uint8)
    labels[4:12, 6:20] = 1
    _every_interrupt(tmp_path, lambda: write_label_png(target, labels), target, None)
    other = tmp_path / "meta.json"
    target.unlink(missing_ok=True)
    _every_interrupt(tmp_path, lambda: atomic_write_bytes(other, b"{}"), other, b'{"old": 1}')


def test_a_video_leaves_no_part_file_wherever_it_is_interrupted(tmp_path):
    frames = [np.full((32, 48, 3), 40 * i, np.uint8) for i in range(3)]
    target = tmp_path / "out.mp4"
    seen = _every_interrupt(tmp_path, lambda: write_video(iter(frames), target, 24), target, None)
    assert None in seen and len(seen) == 2


def test_the_temp_file_gets_the_umask_mode_and_a_name_that_says_whose_it_is(tmp_path):
    old = os.umask(0o027)
    try:
        with replaced_atomically(tmp_path / "a.bin") as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(f".a.bin.{os.getpid()}.")
            assert oct(tmp.stat().st_mode & 0o777) == oct(0o640)
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").read_bytes() == b"x" and not tmp.exists()


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(ValueError), replaced_atomically(target) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError("the writer failed")
    assert sorted(tmp_path.iterdir()) == [target] and target.read_bytes() == b"old"
