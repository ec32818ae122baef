"""In a real browser: a preview of the frame on screen in seconds; every result kept and named for what it
is: blur then pixelate give two files, both listed with their settings; the label says which effect; after a
reload the form shows the settings of the video on screen; a second object gets another colour; a bad upload
is a message without errno or path.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.app.test_browser import (  # noqa: F401 - fixtures
    N_FRAMES,
    _click_image,
    _settle,
    _shot,
    _upload,
    browser,
    sample_video,
    server,
)

pytestmark = [pytest.mark.browser]


@pytest.mark.slow
def test_two_renders_two_files_labels_and_form(server, browser, sample_video) -> None:  # noqa: F811
    url, data = server
    video, _, _, box = sample_video
    context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = context.new_page()
    project_id = _upload(page, url, video)
    page.get_by_text("Box (two corners)").click()
    _settle(page)
    _click_image(page, box[0], box[1], (480, 270))
    page.get_by_text("first corner set").wait_for(timeout=60_000)
    _settle(page)
    _click_image(page, box[2], box[3], (480, 270))
    page.get_by_text("first corner set").wait_for(state="detached", timeout=60_000)
    _settle(page)
    page.get_by_role("button", name="Track").click()
    page.get_by_text(f"tracked {N_FRAMES}/{N_FRAMES}").wait_for(timeout=180_000)
    _settle(page)

    # preview on this frame: seconds, and nothing of the whole clip is filled
    page.get_by_text("Remove", exact=True).first.click()
    _settle(page)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Preview on this frame").click()
    page.get_by_text(re.compile(r"Frame 0, preview: object removed \(\d+\.\d s\)")).wait_for(timeout=60_000)
    seconds = time.perf_counter() - t0
    print(f"preview on this frame: {seconds:.1f} s in the browser")
    assert seconds < 30
    assert not list((data / project_id / "project" / "inpainted").glob("*.png"))
    _shot(page, "renders-00-preview")

    outputs = data / project_id / "outputs"
    for effect in ("Blur", "Pixelate"):
        page.get_by_text(effect, exact=True).first.click()
        _settle(page)
        page.get_by_role("button", name="Render the video").click()
        page.get_by_text(re.compile(rf"Rendered {effect.lower()}-[0-9-]+\.mp4")).wait_for(timeout=240_000)
        _settle(page)
    files = sorted(p.name for p in outputs.glob("*.mp4") if p.name != "masks-preview.mp4")
    assert len(files) == 2 and files[0].startswith("blur-") and files[1].startswith("pixelate-"), files
    page.get_by_text(re.compile(r"On screen: Pixelate, objects object 1, strength 21")).wait_for(timeout=10_000)
    page.get_by_text("All renders of this project (2)").click()
    _settle(page)
    listing = page.locator("[data-testid='stExpander']").filter(has_text="All renders").first.inner_text()
    assert files[0] in listing and files[1] in listing and "Blur" in listing
    _shot(page, "renders-01-two-kept")

    # a reload: the form shows the settings of the video on screen (pixelate), not the default (remove)
    page.reload()
    page.get_by_text(re.compile(r"On screen: Pixelate")).wait_for(timeout=60_000)
    _settle(page)
    checked = page.locator("[data-testid='stRadio']").filter(has_text="Swap background").locator(
        "input[type=radio]:checked")
    assert checked.count() == 1
    label = checked.first.evaluate("el => el.closest('label').innerText")
    assert label.strip() == "Pixelate", label

    # a second object gets a colour far from the first one's
    page.get_by_text("Add an object").click()
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_text("object 2 (#2)").wait_for(timeout=30_000)
    import json

    objects = json.loads((data / project_id / "project" / "session.json").read_text())["objects"]
    a, b = (tuple(o["colour"]) for o in objects)
    assert sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5 > 150, (a, b)
    # a click on the image at once goes to the new object (the browser may still hold the radio's old choice)
    _click_image(page, 40, 40, (480, 270))
    page.get_by_text(re.compile(r"object 2: [1-9]\d* px")).wait_for(timeout=60_000)
    _settle(page)
    prompts = json.loads((data / project_id / "project" / "prompts.json").read_text())["prompts"]
    assert [(p["frame"], p["obj_id"]) for p in prompts][-1] == (0, 2), prompts
    _shot(page, "renders-03-second-object")
    context.close()


@pytest.mark.slow
def test_bad_upload_message_has_no_errno_or_path(server, browser, tmp_path: Path) -> None:  # noqa: F811
    url, _ = server
    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"not really a video" * 100)
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.goto(url)
    page.get_by_text("Upload a video").wait_for(timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(str(bad))
    alert = page.locator("[data-testid='stAlert']").filter(has_text="notes.mp4").first
    alert.wait_for(timeout=60_000)
    text = alert.inner_text()
    assert "Errno" not in text and "/" not in text, text
    assert "re-export" in text or "pick a video" in text
    _shot(page, "renders-02-bad-upload")
