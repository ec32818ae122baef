"""The page's shot list (Streamlit AppTest): a page of buttons at a time, a page selector, a jump per shot."""

from __future__ import annotations

from pathlib import Path

from editor.shots import Shot, shots_to_json
from editor.store import Project
from tests.app.test_app import _opened_sample, _project_id, data_dir  # noqa: F401 - fixture


def test_shot_list_is_paged_and_jumps_to_a_shots_first_frame(data_dir: Path) -> None:  # noqa: F811
    at = _opened_sample(data_dir)
    assert not [b for b in at.button if str(b.key).startswith("shot-")]  # one shot: no shot list
    project = Project.open(data_dir / _project_id(at) / "project")
    project.meta["shots"] = shots_to_json([Shot(k, k + 1, "cut" if k else "start") for k in range(12)])
    project._save_meta()
    at.run()
    assert not at.exception, at.exception
    assert [e.label for e in at.expander if e.label.startswith("Shots:")] == ["Shots: 12 shots (11 cuts)"]
    keys = [b.key for b in at.button if str(b.key).startswith("shot-")]
    assert keys == [f"shot-{i}" for i in range(8)]  # the first page only
    pages = at.selectbox(key="shot-page")
    assert pages.options == ["shots 1–8", "shots 9–12"]
    pages.set_value(1).run()
    keys = [b.key for b in at.button if str(b.key).startswith("shot-")]
    assert keys == [f"shot-{i}" for i in range(8, 12)]
    at.button(key="shot-10").click().run()
    assert not at.exception, at.exception
    assert at.session_state["frame"] == 10
    assert any(c.value.startswith("This is Shot 11 · frames 10–10") for c in at.caption)
    at.button(key="prev-shot").click().run()
    assert at.session_state["frame"] == 9


def test_frames_to_review_are_listed_a_page_at_a_time(data_dir: Path) -> None:  # noqa: F811
    import numpy as np

    from editor import review
    from editor.sample import make_sample
    from tests.app.test_app import _click

    at = _opened_sample(data_dir)
    _click(at, *make_sample(n_frames=12).click, (480, 270), t=1)  # object 1, the one the flags are about
    project = Project.open(data_dir / _project_id(at) / "project")
    w, h = project.working_size
    for f in range(1, 12):
        project.masks[f] = np.zeros((h, w), np.uint8)
    review.save(project.state_dir, {f: {1: ("the mask is empty",)} for f in range(1, 11)})
    at.run()
    assert not at.exception, at.exception
    keys = [b.key for b in at.button if str(b.key).startswith("review-")]
    assert keys == [f"review-{f}" for f in range(1, 9)]
    pages = at.selectbox(key="review-page")
    assert pages.options == ["frames 1–8", "frames 9–10"]
    pages.set_value(1).run()
    assert [b.key for b in at.button if str(b.key).startswith("review-")] == ["review-9", "review-10"]
    at.button(key="review-10").click().run()
    assert at.session_state["frame"] == 10
    at.button(key="clear-all").click().run()
    at.button(key="confirm-drop-yes").click().run()  # the object is gone, and so are the flags about it
    assert not at.exception, at.exception
    assert not [b for b in at.button if str(b.key).startswith("review-")]
    assert not any("frames to review" in e.label for e in at.expander)


def test_new_shots_under_tracked_masks_reopen_the_session_and_say_to_track_again(data_dir: Path) -> None:  # noqa: F811
    import json

    from editor.sample import make_sample
    from tests.app.test_app import _button, _captions, _click, _wait

    at = _opened_sample(data_dir)
    cx, cy = make_sample(n_frames=12).click
    _click(at, cx, cy, (480, 270), t=1)
    _button(at, "track").click().run()
    _wait(at, data_dir, "track")
    assert "Every frame has a mask" in _captions(at) or "frames are flagged" in _captions(at)
    root = data_dir / _project_id(at) / "project"
    project = Project.open(root)
    project.meta["shots"] = shots_to_json([Shot(0, 6, "start"), Shot(6, 12, "cut")])  # as tam shots --detect would
    project._save_meta()
    at.run()
    assert not at.exception, at.exception
    assert any("shots changed since it was tracked (0 cuts then, 1 now)" in w.value for w in at.warning)
    assert "frames to track" in _captions(at)  # the page's session now has the new cut: every shot is dirty
    _click(at, cx, cy, (480, 270), t=2)  # a correction saves session.json with the new cuts ...
    assert not at.exception, at.exception
    at.run()  # ... and the masks of the other frames still cross the new cut: the warning stays
    assert any("shots changed since it was tracked (0 cuts then, 1 now)" in w.value for w in at.warning)
    _button(at, "track").click().run()
    _wait(at, data_dir, "track")
    assert not any("shots changed" in w.value for w in at.warning)
    assert json.loads((root / "session.json").read_text())["cuts"] == [6]
