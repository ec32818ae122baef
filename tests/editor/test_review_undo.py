"""Undo on the page: the review list after an undo is the one the page showed before the prompt and its track."""

from __future__ import annotations

from pathlib import Path

from editor import review
from editor.pipeline import open_session
from editor.sample import write_sample_video
from editor.store import Project


def test_undo_and_redo_bring_back_the_review_list_of_the_masks_they_restore(tmp_path: Path) -> None:
    sample = write_sample_video(tmp_path / "clip.mp4", n_frames=14, size=(192, 112))
    project = Project.open_or_create(tmp_path / "proj", tmp_path / "clip.mp4")
    session = open_session(project, backend="classical", refine="off")
    obj = session.add_object("blob")
    session.add_click(0, obj, *sample.click)
    preview = tmp_path / "out" / "preview.mp4"
    review.track_and_review(session, project.root, preview)
    listed = (project.state_dir / review.REVIEW_FILE).read_bytes()
    masks = {t: project.masks[t] for t in range(14)}

    session.add_click(7, obj, 4, 4)  # a wrong click in the corner: the track after it flags other frames
    review.track_and_review(session, project.root, preview)
    relisted = (project.state_dir / review.REVIEW_FILE).read_bytes()
    assert relisted != listed

    assert session.undo() is not None
    assert (project.state_dir / review.REVIEW_FILE).read_bytes() == listed
    assert all((project.masks[t] == masks[t]).all() for t in range(14))
    assert session.redo() is not None
    assert (project.state_dir / review.REVIEW_FILE).read_bytes() == relisted


def test_flags_of_objects_that_no_longer_exist_do_not_apply() -> None:
    flags = {3: {1: ("the mask is empty",), 2: ("a jump",)}, 5: {2: ("a jump",)}}
    assert review.current(flags, [], {3, 5}) == flags
    assert review.current(flags, [], {3, 5}, objects={1}) == {3: {1: ("the mask is empty",)}}
    assert review.current(flags, [3], {3, 5}, objects=set()) == {}
