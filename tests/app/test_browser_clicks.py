"""A correction and its undo in a real browser: click the object, box it, track, carve a tracked frame with a
negative click, then undo it: the frame's mask comes back to the pixel count it had and nothing is left to track;
redo brings the correction back.
Screenshots go to ``test-artifacts/browser/``."""

from __future__ import annotations

import re

import pytest

from tests.app.test_browser import (  # noqa: F401 - fixtures
    N_FRAMES,
    _area,
    _click_image,
    _settle,
    _shot,
    _upload,
    browser,
    sample_video,
    server,
)

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser]


@pytest.mark.slow
def test_correct_a_tracked_frame_then_undo(server, browser, sample_video) -> None:  # noqa: F811
    url, data = server
    video, _, truth, box = sample_video
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    project_id = _upload(page, url, video)

    # select the object with a box, track the clip
    page.get_by_text("Box (two corners)").click()
    _settle(page)
    x0, y0, x1, y1 = box
    _click_image(page, x0, y0, (480, 270))
    page.get_by_text("first corner set").wait_for(timeout=60_000)
    _settle(page)
    _click_image(page, x1, y1, (480, 270))
    page.get_by_text("first corner set").wait_for(state="detached", timeout=60_000)
    _settle(page)
    page.get_by_role("button", name="Track").click()
    page.get_by_text(f"tracked {N_FRAMES}/{N_FRAMES}").wait_for(timeout=180_000)
    _settle(page)

    # go to a tracked frame in the middle
    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(N_FRAMES // 2):
        page.keyboard.press("ArrowRight")
    frame = N_FRAMES // 2
    page.get_by_text(re.compile(rf"Frame {frame} \(tracked\)")).wait_for(timeout=60_000)
    _settle(page)
    tracked = _area(page)
    assert tracked > 0.4 * truth
    _shot(page, "c1-tracked-frame")

    # a negative click on the tracked mask carves it: the rest of the mask stays (it is not started over)
    page.get_by_text("Negative point").click()
    _settle(page)
    from benchmarks.tracking_quality import centre_point
    from editor.files import read_label_png

    masks = sorted((data / project_id / "project").rglob(f"masks/*{frame:05d}.png"))
    assert masks, list((data / project_id).rglob("*.png"))[:5]
    x, y = centre_point(read_label_png(masks[0]) == 1)
    _click_image(page, x, y, (480, 270))
    page.get_by_text(re.compile(rf"Frame {frame} \(keyframe\)")).wait_for(timeout=60_000)
    _settle(page)
    carved = _area(page)
    assert 0.3 * tracked < carved < tracked, (carved, tracked)
    page.get_by_text(re.compile(r"\d+ frames to track")).wait_for(timeout=30_000)
    _shot(page, "c2-negative-click")

    # undo: the tracked mask is back, exactly, and there is nothing to re-track
    page.get_by_role("button", name="Undo").click()
    page.get_by_text(re.compile(rf"Frame {frame} \(tracked\)")).wait_for(timeout=60_000)
    _settle(page)
    assert _area(page) == tracked
    # the viewer fragment reruns first; the track panel follows in the same rerun, so wait for it (under load
    # the two can be seconds apart) instead of reading it at once
    expect(page.get_by_text(re.compile(r"\d+ frames to track"))).to_have_count(0, timeout=30_000)
    expect(page.get_by_role("button", name="Re-track changes")).to_be_disabled(timeout=30_000)
    _shot(page, "c3-undone")

    # redo: the carved mask is back, exactly, and its span is to track again
    page.get_by_role("button", name="Redo").click()
    page.get_by_text(re.compile(rf"Frame {frame} \(keyframe\)")).wait_for(timeout=60_000)
    _settle(page)
    assert _area(page) == carved
    page.get_by_text(re.compile(r"\d+ frames to track")).wait_for(timeout=30_000)
    _shot(page, "c4-redone")
    assert not errors, errors
    context.close()
