"""The web page's logic through Streamlit's AppTest, and the background job runner it relies on.

Clicks on the frame are simulated by writing what the image component would report into its
session-state key (``streamlit_app.CLICK_KEY``): displayed-pixel coordinates plus the displayed size.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from editor.errors import TamError
from editor.jobs import CANCELLED, DONE, FAILED, INTERRUPTED, RUNNING, JobBusy, JobCancelled, JobRunner

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "streamlit_app.py")
TIMEOUT = 120


# ------------------------------------------------------------------------------------------- job runner


def test_job_reports_progress_and_result_on_disk(tmp_path: Path) -> None:
    runner = JobRunner(tmp_path)
    gate = threading.Event()

    def work(ctx):
        ctx(3, 10)
        gate.wait(5)
        for i in range(4, 11):
            ctx(i, 10)
        return {"answer": 42, "path": tmp_path / "x"}

    runner.start("demo", work)
    deadline = time.time() + 5
    while (runner.status("demo").done != 3) and time.time() < deadline:
        time.sleep(0.01)
    mid = JobRunner(tmp_path).status("demo")  # another runner (a reloaded page) reads the same file
    assert mid.state == RUNNING and mid.done == 3 and mid.total == 10 and mid.fraction == pytest.approx(0.3)
    assert JobRunner(tmp_path).active().name == "demo"
    gate.set()
    final = runner.wait("demo", timeout=5)
    assert final.state == DONE and final.fraction == 1.0 and final.done == 10
    assert final.result == {"answer": 42, "path": str(tmp_path / "x")}
    assert runner.active() is None


def test_cancel_stops_at_next_progress_report(tmp_path: Path) -> None:
    runner = JobRunner(tmp_path)
    seen: list[int] = []

    def work(ctx):
        for i in range(1000):
            ctx(i, 1000)
            seen.append(i)
            time.sleep(0.005)

    runner.start("long", work)
    deadline = time.monotonic() + 30  # the job has begun (a fixed sleep can end before it starts on a busy machine)
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.cancel("long")
    status = runner.wait("long", timeout=5)
    assert status.state == CANCELLED
    assert 0 < len(seen) < 1000
    assert not runner.cancel_path("long").exists()
    assert not runner.cancel("long")  # nothing running any more


def test_one_job_at_a_time_and_failures_are_messages(tmp_path: Path) -> None:
    runner = JobRunner(tmp_path)
    gate = threading.Event()
    runner.start("a", lambda ctx: gate.wait(5) and None)
    with pytest.raises(JobBusy, match="'a' is still running"):
        runner.start("b", lambda ctx: None)
    gate.set()
    runner.wait("a", timeout=5)

    def bad_input(ctx):
        raise TamError("the clip has no frames; pick another file")

    runner.start("b", bad_input)
    status = runner.wait("b", timeout=5)
    assert status.state == FAILED and status.error == "the clip has no frames; pick another file"
    assert status.detail == ""

    runner.start("c", lambda ctx: 1 / 0)
    status = runner.wait("c", timeout=5)
    assert status.state == FAILED and "ZeroDivisionError" in status.detail and "division by zero" in status.error


def test_job_left_running_by_a_dead_server_is_interrupted(tmp_path: Path) -> None:
    runner = JobRunner(tmp_path)
    runner.start("x", lambda ctx: None)
    runner.wait("x", timeout=5)
    # rewrite the file as a server that died mid-run would have left it
    import json

    path = runner.state_path("x")
    data = json.loads(path.read_text())
    data.update(state=RUNNING, pid=2**22 + 12345)
    path.write_text(json.dumps(data))
    status = runner.status("x")
    assert status.state == INTERRUPTED and not status.active
    runner.start("x", lambda ctx: None)  # an interrupted job does not block a new one
    assert runner.wait("x", timeout=5).state == DONE


def test_job_cancelled_is_a_tam_cancel() -> None:
    from editor.errors import CancelledError

    assert issubclass(JobCancelled, CancelledError)
    with pytest.raises(ValueError):
        JobRunner(Path("/tmp")).state_path("../evil")


# ------------------------------------------------------------------------------------------- the page


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAM_DATA_DIR", str(tmp_path / "projects"))
    monkeypatch.setenv("TAM_BACKEND", "classical")
    monkeypatch.setenv("TAM_SAMPLE_FRAMES", "12")
    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    return tmp_path / "projects"


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def _project_id(at: AppTest) -> str:
    return at.query_params["project"][0] if isinstance(at.query_params["project"], list) else at.query_params["project"]


def _wait(at: AppTest, data_dir: Path, name: str) -> None:
    """Let the background job finish, then rerun the page as the polling fragment would."""
    status = JobRunner(data_dir / _project_id(at)).wait(name, timeout=TIMEOUT)
    assert status is not None and status.state == DONE, status
    at.run()


def _click(at: AppTest, x: float, y: float, shown: tuple[int, int], t: int) -> None:
    """What streamlit-image-coordinates reports: displayed pixels, the displayed size, a click time."""
    at.session_state["frame_click"] = {"x": x, "y": y, "width": shown[0], "height": shown[1], "unix_time": t}
    at.run()


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def _opened_sample(data_dir: Path) -> AppTest:
    at = _app().run()
    assert not at.exception
    _button(at, "use-sample").click().run()
    assert not at.exception, at.exception
    _wait(at, data_dir, "open")
    return at


def test_start_page_offers_upload_and_sample(data_dir: Path) -> None:
    at = _app().run()
    assert not at.exception
    assert any(b.key == "use-sample" for b in at.button)
    assert "Upload a video" in at.get("file_uploader")[0].proto.label
    assert "MB" in at.get("file_uploader")[0].proto.label  # the size limit is shown
    sidebar = "\n".join(m.value for m in at.sidebar.markdown)
    assert "classical-grabcut" in sidebar and "classical-flow" in sidebar  # what will run
    assert "tam weights download" in "\n".join(c.value for c in at.sidebar.caption)


def test_sample_click_track_remove(data_dir: Path) -> None:
    from editor.sample import make_sample
    from editor.video import probe

    at = _opened_sample(data_dir)
    pid = _project_id(at)
    assert (data_dir / pid / "project" / "meta.json").is_file()
    facts = _captions(at)  # one line above the frame, so the frame fits the screen
    assert "480×270" in facts and "audio yes" in facts and "24 fps" in facts and "Length 0.50 s" in facts

    # a click shown at half size lands on the object's pixel in the frame
    sample = make_sample(n_frames=12)
    cx, cy = sample.click
    _click(at, cx / 2, cy / 2, (240, 135), t=1)
    assert not at.exception, at.exception
    caption = _captions(at)
    assert "Frame 0 (keyframe)" in caption
    area = int(caption.split("object 1: ")[1].split(" px")[0])
    truth = int(sample.masks[0].sum())
    assert 0.5 * truth < area < 1.6 * truth
    # one click alone: the page says more clicks refine it (a new user does not know)
    assert "One click often selects only part of an object" in caption

    # the same report again (a rerun) does not add a second prompt
    at.run()
    session_prompts = (data_dir / pid / "project" / "prompts.json").read_text()
    assert session_prompts.count('"kind": "click"') == 1

    # track in the background, then the whole clip has masks and the timeline is shown
    _button(at, "track").click().run()
    assert not at.exception, at.exception
    _wait(at, data_dir, "track")
    assert "tracked 12/12" in _captions(at)
    # once tracked, the review flags guide: the hint does not push the timeline off a 768 px screen
    assert "One click often" not in _captions(at)
    at.slider(key="frame").set_value(11).run()
    caption = _captions(at)
    assert "Frame 11 (tracked)" in caption
    area = int(caption.split("object 1: ")[1].split(" px")[0])
    assert area > 0.5 * int(sample.masks[11].sum())

    # remove: inpaint + render with the sound; a playable video of the right length comes back
    at.radio(key="effect").set_value("Remove").run()
    _button(at, "render").click().run()
    assert not at.exception, at.exception
    _wait(at, data_dir, "render")
    rendered = sorted((data_dir / pid / "outputs").glob("remove-*.mp4"))
    assert len(rendered) == 1 and any(f"Rendered {rendered[0].name}" in s.value for s in at.success)
    info = probe(rendered[0])
    assert info.num_frames == 12 and info.has_audio and (info.width, info.height) == (480, 270)


def test_negative_click_box_undo_and_errors(data_dir: Path) -> None:
    at = _opened_sample(data_dir)
    pid = _project_id(at)
    prompts = data_dir / pid / "project" / "prompts.json"
    # box mode: two clicks are the corners
    at.radio(key="mode").set_value("Box (two corners)").run()
    _click(at, 60, 80, (480, 270), t=10)
    assert "first corner set" in _captions(at)
    _click(at, 240, 200, (480, 270), t=11)
    assert not at.exception, at.exception
    assert '"kind": "box"' in prompts.read_text()
    area_box = int(_captions(at).split("object 1: ")[1].split(" px")[0])
    assert area_box > 0
    assert "One click often" not in _captions(at)  # a box is not one click
    # a negative click inside the box shrinks the mask
    at.radio(key="mode").set_value("Negative point").run()
    _click(at, 70, 90, (480, 270), t=12)
    assert '"positive": false' in prompts.read_text()
    # undo removes the last prompt, redo brings it back, undo again
    _button(at, "undo").click().run()
    assert '"positive": false' not in prompts.read_text() and '"kind": "box"' in prompts.read_text()
    _button(at, "redo").click().run()
    assert '"positive": false' in prompts.read_text()
    _button(at, "undo").click().run()
    assert '"positive": false' not in prompts.read_text()
    assert _button(at, "redo").disabled is False
    # clear all: no objects, no prompts
    _button(at, "clear-all").click().run()
    _button(at, "confirm-drop-yes").click().run()
    assert '"kind"' not in prompts.read_text()
    assert not at.exception


def test_errors_are_messages_not_tracebacks(data_dir: Path) -> None:
    at = _app()
    at.query_params["project"] = "doesnotexist"
    at.run()
    assert not at.exception
    assert any("was not found" in w.value for w in at.warning)

    at = _opened_sample(data_dir)
    at.radio(key="mode").set_value("Box (two corners)").run()
    _click(at, 100, 100, (480, 270), t=20)
    _click(at, 100.5, 100.5, (480, 270), t=21)  # a degenerate box
    assert not at.exception
    assert any("too small" in e.value for e in at.error)


def test_reload_keeps_the_project_and_tabs_are_separate(data_dir: Path) -> None:
    at = _opened_sample(data_dir)
    pid = _project_id(at)
    _click(at, 150, 130, (480, 270), t=1)
    # a reload: a fresh session with only the URL's query parameter
    again = _app()
    again.query_params["project"] = pid
    again.run()
    assert not again.exception
    assert "Frame 0 (keyframe)" in _captions(again)
    assert "Length 0.50 s" in _captions(again)
    # another tab starts with no project and its sample goes to another folder
    other = _opened_sample(data_dir)
    assert _project_id(other) != pid
    assert "Frame 0 (no mask yet)" in _captions(other)


def test_unsupported_upload_is_refused(data_dir: Path, tmp_path: Path) -> None:
    at = _app().run()
    bogus = b"this is not a video at all" * 10
    # AppTest has no file-upload API: call the page's open step through its uploader key instead
    from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

    rec = UploadedFileRec(file_id="f1", name="clip.mp4", type="video/mp4", data=bogus)
    at.session_state["upload"] = UploadedFile(rec, None)
    try:
        at.run()
    except Exception as exc:  # noqa: BLE001 - Streamlit refuses to set an uploader's value this way
        pytest.skip(f"AppTest cannot simulate an upload here: {exc}")
    if at.exception and "cannot be set" in str(at.exception[0].value):
        pytest.skip("AppTest cannot simulate an upload (the browser test covers the real uploader)")
    assert not at.exception
    assert at.error and "clip.mp4" in at.error[0].value
    assert not list(data_dir.glob("*/input/clip.mp4"))  # the half-made project is dropped


def _shown_image(at: AppTest) -> np.ndarray:
    """The frame the image component displays (decoded from the PNG the page sends it)."""
    import base64
    import json
    from io import BytesIO

    from PIL import Image

    element = next(e for e in at.get("component_instance") if e.key == "frame_click")
    src = json.loads(element.proto.json_args)["src"]
    data = base64.b64decode(src.split(",", 1)[1])
    return np.asarray(Image.open(BytesIO(data)).convert("RGB")).astype(np.int16)


def test_mask_overlay_is_drawn_at_once_and_exports(data_dir: Path) -> None:
    from editor.sample import make_sample

    at = _opened_sample(data_dir)
    pid = _project_id(at)
    before = _shown_image(at)
    assert before.shape == (270, 480, 3)
    sample = make_sample(n_frames=12)
    from editor.compose import mask_box

    x0, y0, x1, y1 = mask_box(sample.masks[0])
    box = (x0 - 6, y0 - 6, x1 + 6, y1 + 6)
    at.radio(key="mode").set_value("Box (two corners)").run()
    _click(at, box[0], box[1], (480, 270), t=1)
    _click(at, box[2], box[3], (480, 270), t=2)
    assert not at.exception, at.exception
    after = _shown_image(at)
    changed = np.abs(after - before).sum(axis=2) > 40
    truth = sample.masks[0]
    # the overlay covers the object (the same run that got the click draws it) and little else
    assert changed[truth].mean() > 0.8
    assert changed[~truth].mean() < 0.05
    # the object exists at once: the radio lists it
    assert next(r for r in at.radio if r.label == "Object to click").options == ["object 1 (#1)"]

    _button(at, "track").click().run()
    _wait(at, data_dir, "track")
    _button(at, "export").click().run()
    _wait(at, data_dir, "export")
    labels = {b.label for b in at.get("download_button")}
    assert {"PNG masks (DAVIS zip)", "COCO JSON", "Alpha matte video"} <= labels
    import json
    import zipfile

    exports = data_dir / pid / "project" / "exports"
    with zipfile.ZipFile(exports / "masks_davis.zip") as z:
        assert len([n for n in z.namelist() if n.endswith(".png")]) == 12
    coco = json.loads((exports / "masks_coco.json").read_text())
    assert len(coco["images"]) == 12 and coco["annotations"]


def test_timeline_marks_keyframes_refined_review_and_current() -> None:
    from editor.timeline import strip as timeline

    strip = timeline(10, set(range(8)), [0], {4}, {6}, current=9)
    w = strip.shape[1]
    cell = lambda i: strip[12, int((i + 0.5) * w / 10)].tolist()  # noqa: E731
    assert cell(0) == [40, 110, 255]  # keyframe
    assert cell(4) == [255, 150, 0]  # refined
    assert cell(6) == [220, 30, 30]  # to review
    assert cell(2) == [150, 150, 150]  # tracked
    assert cell(8) == [40, 40, 40]  # not tracked
    assert (strip[0, int(9.5 * w / 10)] == 255).all()  # the current frame is outlined


def test_running_job_shows_progress_and_cancels(data_dir: Path) -> None:
    at = _opened_sample(data_dir)
    runner = JobRunner(data_dir / _project_id(at))

    def slow(ctx):
        for i in range(10_000):
            ctx(min(i, 40), 100)
            time.sleep(0.01)

    runner.start("track", slow, message="Tracking")
    deadline = time.monotonic() + 30  # wait for the job to report 40/100 (a fixed sleep fails on a busy machine)
    while (s := runner.status("track")) is None or s.done < 40:
        assert time.monotonic() < deadline, "the job never reported progress"
        time.sleep(0.05)
    at.run()
    assert not at.exception, at.exception
    bars = at.get("progress")
    assert bars and "Tracking 40/100" in bars[0].proto.text
    assert any("paused while a job runs" in i.value for i in at.info)
    _button(at, "cancel-track").click().run()
    assert runner.wait("track", timeout=10).state == CANCELLED
    at.run()
    assert any("cancelled" in i.value for i in at.info)


def test_correction_retracks_only_the_affected_range(data_dir: Path) -> None:
    at = _opened_sample(data_dir)
    masks = data_dir / _project_id(at) / "project" / "masks"
    _click(at, 150, 130, (480, 270), t=1)
    at.slider(key="frame").set_value(8).run()
    _click(at, 300, 150, (480, 270), t=2)
    _button(at, "track").click().run()
    _wait(at, data_dir, "track")
    assert "tracked 12/12" in _captions(at)
    stamps = {p.name: p.stat().st_mtime_ns for p in masks.glob("*.png")}
    # a correction on frame 10 dirties the spans around it only: frames 9 and 11
    at.slider(key="frame").set_value(10).run()
    at.radio(key="mode").set_value("Negative point").run()
    _click(at, 20, 20, (480, 270), t=3)  # a negative click alone corrects the tracked mask (it used to be refused)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Frame 10 (keyframe)" in _captions(at)
    at.radio(key="mode").set_value("Positive point").run()
    _click(at, 320, 150, (480, 270), t=4)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "2 frames to track (frames 9–11)" in _captions(at)
    assert _button(at, "track").label == "Re-track changes"
    _button(at, "track").click().run()
    _wait(at, data_dir, "track")
    rewritten = {p.name for p in masks.glob("*.png") if p.stat().st_mtime_ns != stamps.get(p.name)}
    assert rewritten == {"00009.png", "00010.png", "00011.png"}


def test_flagged_frames_are_one_button_away_with_reasons_in_words(data_dir: Path) -> None:
    from editor import pipeline, review
    from editor.store import Project

    at = _opened_sample(data_dir)
    pid = _project_id(at)
    at.radio(key="mode").set_value("Box (two corners)").run()
    _click(at, 120, 70, (480, 270), t=1)
    _click(at, 330, 220, (480, 270), t=2)
    _button(at, "track").click().run()
    _wait(at, data_dir, "track")
    root = data_dir / pid
    assert (root / "project" / "review.json").is_file() and (root / "outputs" / "masks-preview.mp4").is_file()
    # the tracker loses the object on frames 7 and 8 (their masks emptied on disk), the review is computed again
    project = Project.open(root / "project")
    for t in (7, 8):
        project.masks[t] = np.zeros_like(project.masks[t])
    session = pipeline.open_session(project, "classical")
    review.save(project.state_dir, review.compute(project, session))
    at.run()
    assert not at.exception, at.exception
    assert "to review" in _captions(at)
    flagged = sorted(review.load(project.state_dir))
    assert {7, 8} <= set(flagged)
    seen = []
    for _ in range(flagged.index(7) + 1):  # every press lands on the next flagged frame, in order
        _button(at, "next-flag").click().run()
        seen.append(at.slider(key="frame").value)
    assert seen == flagged[: flagged.index(7) + 1]
    warning = " ".join(w.value for w in at.warning)
    assert "To review: object 1: the mask is empty" in warning and "{" not in warning
    _button(at, "next-flag").click().run()
    assert at.slider(key="frame").value == 8
    _button(at, "prev-flag").click().run()
    assert at.slider(key="frame").value == 7
