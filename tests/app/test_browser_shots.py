"""Shots in a real browser: a clip joined from three shared clips shows its shots on the timeline and in a shot
list; "Shot 2" in the list moves the viewer to that shot's first frame, "Shot ▶" to the next shot's.

Screenshots go to ``test-artifacts/browser/`` and, for the docs, ``docs/screenshots/shots.png``.
"""

from __future__ import annotations

import base64
import re
from fractions import Fraction
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.common import CLIPS
from tests.app.test_browser import ROOT, SHOTS, _settle, _upload, browser, server  # noqa: F401 - fixtures

PARTS = (("davis2016-blackswan", 0, 15), ("davis2016-car-roundabout", 0, 15), ("davis2016-bmx-trees", 0, 15))
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not all((CLIPS / name / "frames").is_dir() for name, _, _ in PARTS),
                       reason=f"the shared clips are absent from {CLIPS} (they live in ../shared/clips)"),
]
VIEWPORT = {"width": 1366, "height": 768}
SIZE = (854, 480)


@pytest.fixture(scope="module")
def joined_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 15-frame shots from three shared clips, cut at frames 15 and 30."""
    from editor.encode import write_video

    frames = []
    for name, a, b in PARTS:
        for path in sorted((CLIPS / name / "frames").iterdir())[a:b]:
            frames.append(cv2.resize(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), SIZE))
    return write_video(frames, tmp_path_factory.mktemp("shots") / "three-shots.mp4", Fraction(25), crf=16)


def _shown(page) -> np.ndarray:
    """The image the viewer shows, as the browser received it (the component's data URL, decoded)."""
    from PIL import Image

    iframe = page.frame_locator("iframe[title='streamlit_image_coordinates.streamlit_image_coordinates']")
    img = iframe.locator("#image")
    img.wait_for(timeout=30_000)
    src = img.get_attribute("src") or ""
    assert src.startswith("data:image/"), src[:40]
    shown = Image.open(BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB").resize(SIZE)
    return np.asarray(shown).astype(np.float32)


def _distance(shown: np.ndarray, frame_png: Path) -> float:
    frame = cv2.cvtColor(cv2.imread(str(frame_png)), cv2.COLOR_BGR2RGB).astype(np.float32)
    return float(np.abs(shown - frame).mean())


def test_shots_are_listed_and_jump_to_shot_moves_the_frame(server, browser, joined_clip: Path) -> None:  # noqa: F811
    url, data = server
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    project_id = _upload(page, url, joined_clip)
    frames = data / project_id / "project" / "frames"

    page.get_by_text(re.compile(r"^This is Shot 1 · frames 0–14 ")).wait_for(timeout=60_000)
    page.get_by_text("Shots: 3 shots (2 cuts)").click()  # open the shot list
    row = page.get_by_role("button", name=re.compile(r"^Shot 2 · frames 15–29 · 0:00.60–0:01.20 · cut$"))
    row.wait_for(timeout=30_000)
    _settle(page)
    before = _shown(page)
    assert _distance(before, frames / "00000.png") < _distance(before, frames / "00015.png")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "shots-01-list.png"))

    row.click()
    page.get_by_text(re.compile(r"^Frame 15 \(")).wait_for(timeout=30_000)
    page.get_by_text(re.compile(r"^This is Shot 2 · frames 15–29 ")).wait_for(timeout=30_000)
    _settle(page)
    after = _shown(page)
    assert _distance(after, frames / "00015.png") < 12.0  # the frame shown is shot 2's first (JPEG on screen)
    assert _distance(after, frames / "00015.png") < _distance(after, frames / "00014.png")  # not the one before
    page.screenshot(path=str(SHOTS / "shots-02-jumped.png"))
    # the docs show the frame and, under it, the shots (the first row of the list at the bottom of the screen)
    first_row = page.get_by_role("button", name=re.compile(r"^Shot 1 · frames"))
    first_row.evaluate("e => e.scrollIntoView({block: 'end'})")
    page.wait_for_timeout(300)
    page.screenshot(path=str(ROOT / "docs" / "screenshots" / "shots.png"))

    page.get_by_role("button", name="Shot ▶").click()
    page.get_by_text(re.compile(r"^Frame 30 \(")).wait_for(timeout=30_000)
    page.get_by_text(re.compile(r"^This is Shot 3 · frames 30–44 ")).wait_for(timeout=30_000)
    page.get_by_role("button", name="◀ Shot").click()
    page.get_by_text(re.compile(r"^Frame 15 \(")).wait_for(timeout=30_000)
    assert not errors, errors
    context.close()
