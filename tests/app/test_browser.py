"""The web page in a real browser: Streamlit served on 127.0.0.1, driven by Playwright in headless Chromium.

Upload the synthetic sample through the file input, click the object on the image component, track,
remove, download; a second browser context at the same time has its own, separate project. Screenshots
of every step go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from benchmarks.page import CHROMIUM, CHROMIUM_ARGS, serve_app, settle

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "browser"
N_FRAMES = 12

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The page served with the classical backend and no checkpoints."""
    with serve_app(tmp_path_factory.mktemp("browser")) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[int, int], int, tuple]:
    """The sample clip, a click inside the object, its area on frame 0 and a box around it (8 px margin)."""
    from editor.compose import mask_box
    from editor.sample import write_sample_video

    path = tmp_path_factory.mktemp("sample") / "sample.mp4"
    sample = write_sample_video(path, n_frames=N_FRAMES)
    x0, y0, x1, y1 = mask_box(sample.masks[0])
    box = (max(0, x0 - 8), max(0, y0 - 8), min(479, x1 + 8), min(269, y1 + 8))
    return path, sample.click, int(sample.masks[0].sum()), box


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _image(locator) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(BytesIO(locator.screenshot())).convert("RGB")).astype(np.int16)


def _settle(page) -> None:
    """Wait until Streamlit has finished the current script run."""
    settle(page, timeout_ms=60_000)


def _upload(page, url: str, video: Path) -> str:
    page.goto(url)
    page.get_by_text("Upload a video").wait_for(timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(str(video))
    page.get_by_text("Length").wait_for(timeout=90_000)
    _settle(page)
    match = re.search(r"[?&]project=([a-z0-9]+)", page.url)
    assert match, page.url
    return match.group(1)


def _click_image(page, x: float, y: float, frame_size: tuple[int, int]):
    """Click at frame pixel (x, y) on the image component, whatever size it is displayed at."""
    iframe = page.frame_locator("iframe[title='streamlit_image_coordinates.streamlit_image_coordinates']")
    img = iframe.locator("#image")
    img.wait_for(timeout=30_000)
    box = img.bounding_box()
    assert box is not None and box["width"] > 50
    img.click(position={"x": x * box["width"] / frame_size[0], "y": y * box["height"] / frame_size[1]})
    return img


def _area(page) -> int:
    text = page.get_by_text(re.compile(r"Frame \d+ \(")).first.inner_text()
    found = re.search(r"object 1: (\d+) px", text)
    return int(found.group(1)) if found else 0


@pytest.mark.slow
def test_upload_click_track_remove_download(server, browser, sample_video, tmp_path: Path) -> None:
    from editor.video import probe

    url, data = server
    video, (cx, cy), truth, box = sample_video
    context = browser.new_context(viewport={"width": 1400, "height": 2400}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # 1. upload: the clip's facts are shown
    project_id = _upload(page, url, video)
    assert (data / project_id / "project" / "meta.json").is_file()
    body = page.locator("section.main, [data-testid='stMain']").first.inner_text()
    assert "480×270" in body and "24 fps" in body and "0.50 s" in body
    _shot(page, "01-uploaded")

    # 2. click the object: the mask appears on the displayed frame
    iframe = page.frame_locator("iframe[title='streamlit_image_coordinates.streamlit_image_coordinates']")
    before = _image(iframe.locator("#image"))
    _click_image(page, cx, cy, (480, 270))
    page.get_by_text(re.compile(r"Frame 0 \(keyframe\)")).wait_for(timeout=60_000)
    _settle(page)
    area = _area(page)
    assert area > 0
    after = _image(iframe.locator("#image"))
    assert before.shape == after.shape
    changed = np.abs(after - before).sum(axis=2) > 30
    scale = (480 * 270) / changed.size  # the screenshot may be at another pixel density
    assert 0.3 * area < changed.sum() * scale < 3 * area + 200, (changed.sum(), area)  # the tint is the mask
    _shot(page, "02-clicked")

    # the classical click segmenter is weak on this texture: add a box (two corner clicks) as a user would
    page.get_by_text("Box (two corners)").click()
    _settle(page)
    x0, y0, x1, y1 = box
    _click_image(page, x0, y0, (480, 270))
    page.get_by_text("first corner set").wait_for(timeout=60_000)
    _settle(page)
    _click_image(page, x1, y1, (480, 270))
    page.get_by_text("first corner set").wait_for(state="detached", timeout=60_000)
    _settle(page)
    area = _area(page)
    assert 0.6 * truth < area < 1.5 * truth, (area, truth)
    _shot(page, "02b-box")

    # 3. track: a progress bar, then every frame tracked
    page.get_by_role("button", name="Track").click()
    page.get_by_text(re.compile(r"Tracking.*\d+/\d+")).first.wait_for(timeout=60_000)
    _shot(page, "03-tracking")
    page.get_by_text(f"tracked {N_FRAMES}/{N_FRAMES}").wait_for(timeout=180_000)
    _settle(page)
    _shot(page, "04-tracked")
    # scrub to the last frame: the mask is there too
    slider = page.get_by_role("slider").first
    slider.focus()
    page.keyboard.press("End")
    page.get_by_text(re.compile(rf"Frame {N_FRAMES - 1} \(tracked\)")).wait_for(timeout=60_000)
    _settle(page)
    assert _area(page) > 0.4 * truth
    _shot(page, "05-last-frame")

    # 4. reload: same project, same masks
    page.reload()
    page.get_by_text("Length").wait_for(timeout=60_000)
    page.get_by_text(f"tracked {N_FRAMES}/{N_FRAMES}").wait_for(timeout=60_000)
    assert f"project={project_id}" in page.url

    # 5. remove and download: a valid video of the right length with its sound
    page.get_by_text("Remove", exact=True).first.wait_for()
    page.get_by_role("button", name="Render the video").click()
    page.get_by_text(re.compile(r"Rendered remove-[0-9-]+\.mp4")).wait_for(timeout=240_000)
    _settle(page)
    _shot(page, "06-rendered")
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Download the video").click()
    out = tmp_path / "downloaded.mp4"
    info.value.save_as(out)
    got = probe(out)
    assert got.num_frames == N_FRAMES and got.has_audio and (got.width, got.height) == (480, 270)
    assert not errors, errors
    context.close()


@pytest.mark.slow
def test_two_contexts_are_separate_projects(server, browser, sample_video) -> None:
    url, data = server
    video, (cx, cy), _, _ = sample_video
    first = browser.new_context(viewport={"width": 1400, "height": 2400})
    second = browser.new_context(viewport={"width": 1400, "height": 2400})
    a, b = first.new_page(), second.new_page()
    id_a = _upload(a, url, video)
    _click_image(a, cx, cy, (480, 270))
    a.get_by_text(re.compile(r"Frame 0 \(keyframe\)")).wait_for(timeout=60_000)
    # the second context, open at the same time, starts with nothing and gets its own project
    b.goto(url)
    b.get_by_text("Upload a video").wait_for(timeout=60_000)
    assert "project=" not in b.url
    _shot(b, "07-second-context-empty")
    id_b = _upload(b, url, video)
    assert id_b != id_a
    b.get_by_text(re.compile(r"Frame 0 \(no mask yet\)")).wait_for(timeout=60_000)
    _shot(b, "08-second-context-own-project")
    assert (data / id_a / "project" / "prompts.json").read_text().count('"kind": "click"') == 1
    prompts_b = data / id_b / "project" / "prompts.json"
    assert not prompts_b.exists() or '"kind"' not in prompts_b.read_text()
    first.close()
    second.close()


@pytest.mark.slow
def test_on_a_phone_the_whole_frame_is_shown_and_a_click_lands_where_it_was_made(
    server, browser, sample_video  # noqa: F811 - fixtures
) -> None:
    """At 390 px (a phone held upright) the frame was drawn 640 px wide in a column about 360 px wide: its right
    part was cut off (scrolled away inside the component), so a user could not click an object there. Now the
    frame shrinks to its column and a click on it still lands on the frame pixel it was made on."""
    url, _ = server
    video, click, area, _ = sample_video
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    try:
        _upload(page, url, video)
        iframe = page.locator("iframe[title='streamlit_image_coordinates.streamlit_image_coordinates']")
        iframe.wait_for(timeout=30_000)
        img = page.frame_locator("iframe[title='streamlit_image_coordinates.streamlit_image_coordinates']").locator(
            "#image"
        )
        img.wait_for(timeout=30_000)
        frame_box, img_box = iframe.bounding_box(), img.bounding_box()
        assert img_box["width"] <= frame_box["width"] + 1 and frame_box["x"] + frame_box["width"] <= 390, (
            img_box, frame_box)
        assert abs(img_box["height"] - img_box["width"] * 270 / 480) <= 2  # the frame's own shape, not squeezed
        assert img_box["height"] <= frame_box["height"] + 1  # nothing cut off at the bottom either
        _shot(page, "phone-01-loaded")
        _click_image(page, click[0], click[1], (480, 270))
        page.get_by_text(re.compile(r"Frame 0 \(keyframe\)")).wait_for(timeout=60_000)
        _settle(page)
        _shot(page, "phone-02-clicked")
        assert 0.5 * area <= _area(page) <= 2.0 * area  # the click found the object, not a spot beside it
        # the clip played with its masks fits the column too
        page.get_by_role("button", name="Track").click()
        page.get_by_text(f"tracked {N_FRAMES}/{N_FRAMES}").wait_for(timeout=180_000)
        _settle(page)
        page.get_by_text("Play with masks", exact=True).click()
        video = page.locator("video").first
        video.wait_for(timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('video') && document.querySelector('video').readyState >= 2", timeout=30_000
        )
        box = video.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        _shot(page, "phone-03-playing")
    finally:
        context.close()
