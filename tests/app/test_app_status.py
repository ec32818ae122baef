"""What the page tells a new user (Streamlit AppTest): never that masks are right when it cannot know, never a mask
or a tracked frame after everything was cleared, nothing that cannot be undone without asking first, a busy
project or an unknown link in the page's words (no pid, no server folder), the way to another video on the page,
step 3 after a correction, and downloads that read no file until clicked."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from editor import review
from editor.sample import make_sample
from editor.store import Project
from tests.app.test_app import _button, _captions, _click, _opened_sample, _project_id, _wait, data_dir  # noqa: F401


def _warnings(at) -> str:
    return "\n".join(w.value for w in at.warning)


@contextlib.contextmanager
def _held_by_another_process(root: Path) -> Iterator[None]:
    """The project's lock held by another process (as another tab's job or a tam command holds it)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom editor.lock import project_lock\n"
         f"with project_lock({str(root)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_tracked_status_says_what_the_checks_flag_not_that_the_masks_are_right(data_dir: Path) -> None:  # noqa: F811
    at = _opened_sample(data_dir)
    _click(at, *make_sample(n_frames=12).click, (480, 270), t=1)
    _button(at, "track").click().run()
    _wait(at, data_dir, "track")
    root = data_dir / _project_id(at) / "project"
    review.save(root, {3: {1: ("the mask is empty",)}, 7: {1: ("the mask jumped",)}})
    at.run()
    assert not at.exception, at.exception
    status = _captions(at)
    assert "Every frame is tracked" not in status
    assert "2 of 12 frames are flagged" in status and "Review ▶" in status
    assert "2 frames are still flagged for review" in _warnings(at)  # step 3, beside the render button
    review.save(root, {})
    at.run()
    status = _captions(at)
    assert "none was flagged, but the checks miss some mistakes" in status and "Play with masks" in status
    assert "still flagged" not in _warnings(at)

    # after "Clear all" no frame is claimed as tracked, and the timeline counts nothing
    _button(at, "clear-all").click().run()
    _button(at, "confirm-drop-yes").click().run()
    assert not at.exception, at.exception
    assert all(not m.any() for m in (Project.open(root).masks[f] for f in range(12)))
    status = _captions(at)
    assert "Frame 0 (no mask yet)" in status and "tracked 12/12" not in status
    at.slider(key="frame").set_value(5).run()
    assert "Frame 5 (no mask yet)" in _captions(at)


def test_delete_object_and_clear_all_ask_first(data_dir: Path) -> None:  # noqa: F811
    at = _opened_sample(data_dir)
    prompts = data_dir / _project_id(at) / "project" / "prompts.json"
    _click(at, *make_sample(n_frames=12).click, (480, 270), t=1)
    for key in ("delete-object", "clear-all"):
        _button(at, key).click().run()
        assert not at.exception, at.exception
        assert '"kind": "click"' in prompts.read_text()  # nothing deleted yet: the page asks
        assert "Undo cannot bring them back" in _warnings(at)
        _button(at, "confirm-drop-no").click().run()
        assert '"kind": "click"' in prompts.read_text() and "Undo cannot" not in _warnings(at)
    _button(at, "delete-object").click().run()
    assert "object 1, its clicks and its masks" in _warnings(at)
    _button(at, "confirm-drop-yes").click().run()
    assert not at.exception, at.exception
    assert '"kind"' not in prompts.read_text()
    assert "Frame 0 (no mask yet)" in _captions(at)


def test_a_click_while_another_process_holds_the_project_says_so_in_page_words(data_dir: Path) -> None:  # noqa: F811
    """Another tab's job (or a tam command) holds the project's lock: the click is refused with a sentence for the
    page, not the CLI's (a process id, ``--project``)."""
    at = _opened_sample(data_dir)
    root = data_dir / _project_id(at) / "project"
    with _held_by_another_process(root):
        _click(at, *make_sample(n_frames=12).click, (480, 270), t=1)
    assert not at.exception, at.exception
    errors = "\n".join(e.value for e in at.error)
    assert "This project is busy" in errors and "Nothing was changed" in errors
    assert "--project" not in errors and str(root) not in errors
    prompts = root / "prompts.json"
    assert not prompts.exists() or '"kind"' not in prompts.read_text()  # the click was not applied


def test_new_video_is_on_the_page_not_only_in_the_collapsed_sidebar(data_dir: Path) -> None:  # noqa: F811
    at = _opened_sample(data_dir)
    pid = _project_id(at)
    assert [b.key for b in at.main.button if b.key == "new-project"] == ["new-project"]
    _button(at, "new-project").click().run()
    assert not at.exception, at.exception
    assert "project" not in at.query_params
    assert any(b.key == "use-sample" for b in at.button)  # the upload step again
    assert (data_dir / pid / "project" / "meta.json").is_file()  # the project stays on disk


def test_a_rerun_reads_no_render_or_export_file(data_dir: Path, monkeypatch) -> None:  # noqa: F811
    """Every kept render and export has a download button; their bytes are read when one is clicked, not on every
    rerun (a render may be hundreds of MB, and a step of the frame slider is a rerun)."""
    at = _opened_sample(data_dir)
    _click(at, *make_sample(n_frames=12).click, (480, 270), t=1)
    _button(at, "track").click().run()
    _wait(at, data_dir, "track")
    _button(at, "render").click().run()
    _wait(at, data_dir, "render")
    _button(at, "export").click().run()
    _wait(at, data_dir, "export")
    assert any(b.label == "Download the video" for b in at.get("download_button"))
    outputs = data_dir / _project_id(at)
    read: list[str] = []
    original = Path.read_bytes

    def counting(self: Path) -> bytes:
        if outputs in self.parents and ("outputs" in self.parts or "exports" in self.parts):
            read.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    at.run()
    assert not at.exception, at.exception
    assert any(b.label == "Download the video" for b in at.get("download_button"))
    assert not read, read


def test_step_3_after_a_correction_asks_to_re_track_not_to_track(data_dir: Path) -> None:  # noqa: F811
    at = _opened_sample(data_dir)
    cx, cy = make_sample(n_frames=12).click
    _click(at, cx, cy, (480, 270), t=1)
    assert "Track the objects through the clip first." in _captions(at)
    _button(at, "track").click().run()
    _wait(at, data_dir, "track")
    at.slider(key="frame").set_value(6).run()
    at.radio(key="mode").set_value("Negative point").run()
    _click(at, 5, 5, (480, 270), t=2)  # a correction on a tracked frame
    assert not at.exception, at.exception
    captions = _captions(at)
    assert "Track the objects through the clip first." not in captions
    assert "frames out of date: press Re-track changes (step 2) before rendering" in captions


def test_an_unknown_project_link_names_no_server_folder(data_dir: Path) -> None:  # noqa: F811
    from tests.app.test_app import _app

    at = _app()
    at.query_params["project"] = "doesnotexist"
    at.run()
    assert not at.exception
    warning = _warnings(at)
    assert "was not found on this server" in warning and "upload a video" in warning
    assert str(data_dir) not in warning and "/" not in warning


def test_a_job_refused_by_a_busy_project_fails_in_page_words(tmp_path: Path) -> None:
    """A page job (track, render, export) started while a tam command holds the project."""
    from editor.jobs import FAILED, JobRunner

    root = tmp_path / "project"
    root.mkdir()
    with _held_by_another_process(root):
        runner = JobRunner(tmp_path / "jobs")
        runner.start("track", lambda ctx: None, lock=root)
        status = runner.wait("track", timeout=10)
    assert status.state == FAILED
    assert "This project is busy" in status.error and "--project" not in status.error and str(root) not in status.error


def test_a_click_says_at_once_that_it_is_being_segmented(data_dir: Path) -> None:  # noqa: F811
    at = _opened_sample(data_dir)
    _click(at, *make_sample(n_frames=12).click, (480, 270), t=1)
    assert not at.exception, at.exception
    assert [t.value for t in at.toast] == ["Segmenting object 1 on frame 0…"]


def test_a_keyframe_mask_over_half_the_frame_is_questioned_in_page_words(data_dir: Path) -> None:  # noqa: F811
    import numpy as np

    from editor import pipeline
    from editor.lock import project_lock

    at = _opened_sample(data_dir)
    root = data_dir / _project_id(at) / "project"
    project = Project.open(root)
    w, h = project.working_size
    # masks as a script would set them (the page's own clicks reach half the frame only after many clicks); the
    # page reads what another process saved at its next rerun
    session = pipeline.open_session(project, backend="classical")

    def shown(mask: np.ndarray) -> str:
        with project_lock(root):
            session.add_mask(0, obj, mask)
        at.run()
        assert not at.exception, at.exception
        return _warnings(at)

    with project_lock(root):
        obj = session.add_object()
    big = np.zeros((h, w), bool)
    big[:, : int(0.62 * w)] = True
    said = shown(big)
    assert "object 1 covers 62% of this frame" in said
    assert "Negative point" in said and "Box (two corners)" in said  # what to do, in the page's own words
    assert str(data_dir) not in said
    small = np.zeros((h, w), bool)  # a mask of a normal size gets no such warning
    small[h // 4 : h // 2, w // 4 : w // 2] = True
    said = shown(small)
    assert "covers" not in said and "Nothing was selected" not in said
    # a prompt that selected nothing (a box GrabCut finds nothing in) is said too
    assert "Nothing was selected for object 1 on this frame" in shown(np.zeros((h, w), bool))


def test_mask_size_warnings_name_empty_and_oversized_masks() -> None:
    import numpy as np

    from streamlit_app import mask_size_warnings

    labels = np.zeros((10, 10), np.uint8)
    labels[:, :6] = 1  # 60 %
    labels[:, 6:8] = 2  # 20 %
    said = mask_size_warnings(labels, {1: "dog", 2: "ball", 3: "absent"}, {1, 2})
    assert len(said) == 1 and said[0].startswith("dog covers 60% of this frame")
    labels[:, :] = 2
    assert [s.split(" covers")[0] for s in mask_size_warnings(labels, {1: "dog", 2: "ball"}, set())] == ["ball"]
    # an object prompted on this frame with nothing selected is said; one prompted elsewhere (absent here) is not
    said = mask_size_warnings(labels * 0, {1: "dog", 3: "cat"}, {1})
    assert said == ["Nothing was selected for dog on this frame. Click inside the object (“Positive point”), or "
                    "undo and draw the box again, tighter around the object."]


def test_the_page_shows_and_keeps_what_a_command_saved_between_two_clicks(data_dir: Path) -> None:  # noqa: F811
    """The page's open session held the state of its last click: a script or ``tam`` command that added an
    object meanwhile was not shown, and the page's next click wrote over it (the object was gone from disk)."""
    import numpy as np

    from editor import pipeline
    from editor.lock import project_lock

    at = _opened_sample(data_dir)
    _click(at, 150, 130, (480, 270), t=1)
    root = data_dir / _project_id(at) / "project"
    project = Project.open(root)
    w, h = project.working_size
    with project_lock(root):
        other = pipeline.open_session(project, backend="classical")
        obj = other.add_object("logo")
        mask = np.zeros((h, w), bool)
        mask[:40, :60] = True
        other.add_mask(0, obj, mask)
    at.run()  # the next rerun (any widget) reads the project again
    assert not at.exception, at.exception
    assert "logo: 2400 px" in _captions(at)
    _click(at, 300, 130, (480, 270), t=2)
    assert "logo: 2400 px" in _captions(at)
    saved = pipeline.open_session(Project.open(root), backend="classical")
    assert [o.name for o in saved.objects] == ["object 1", "logo"]


def test_a_click_goes_to_the_object_chosen_and_to_a_new_one_right_after_add(data_dir: Path) -> None:  # noqa: F811
    """The object a click goes to is the page's own state: "Add" selects the new object, the radio selects any;
    in a browser, a click on the image right after "Add" could carry the old radio's value and go to object 1."""
    import json

    at = _opened_sample(data_dir)
    _click(at, 150, 130, (480, 270), t=1)
    _button(at, "add-object").click().run()
    radio = next(r for r in at.radio if r.label == "Object to click")
    assert radio.value == 2 and radio.options == ["object 1 (#1)", "object 2 (#2)"]
    _click(at, 400, 60, (480, 270), t=2)
    _click(at, 60, 220, (480, 270), t=3)
    radio = next(r for r in at.radio if r.label == "Object to click")
    radio.set_value(1).run()
    _click(at, 160, 140, (480, 270), t=4)
    prompts = json.loads(next(data_dir.rglob("prompts.json")).read_text())["prompts"]
    assert [p["obj_id"] for p in prompts] == [1, 2, 2, 1]


def test_first_click_hints_speak_to_an_object_selected_by_one_click_alone() -> None:
    """A new user's first click with the classical backend often gives part of the object (a shirt without its
    wearer); the page said nothing about refining it. An object with one positive click on the keyframe gets a
    hint; one with more prompts, a box, or a negative click does not; an object not on the page is not named."""
    from streamlit_app import first_click_hints
    from tracking.session.state import Prompt

    def click(i: int, obj: int, positive: bool = True) -> Prompt:
        return Prompt(i, 0, obj, "click", point=(5.0, 5.0), positive=positive)

    names = {1: "man", 2: "dog", 3: "bag", 4: "cup"}
    prompts = [click(1, 1), click(2, 2), click(3, 2), Prompt(4, 0, 3, "box", box=(0, 0, 9, 9)), click(5, 4, False),
               click(6, 9)]
    said = first_click_hints(prompts, names)
    assert len(said) == 1 and said[0].startswith("One click often selects only part of an object. If man's mask")
    assert first_click_hints([], names) == []
