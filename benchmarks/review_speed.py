"""Review speed of the web page in a real browser: seconds from a step to the next frame shown, median of 20.

For each clip (a video file under ``../shared/clips``), the page is served (``streamlit run``, classical
backend), the clip is uploaded in headless Chromium at 1366x768, one object is clicked at the frame's centre
and tracked, then the frame is stepped forward 20 times with the ``▶`` button and 20 times with the slider's
arrow key; each step is timed from the input to the caption of the new frame. The table gives the median,
the 90th percentile and the fastest step.

    python -m benchmarks.review_speed                                  # trackanything-sample2, sttn-dogs_jump
    python -m benchmarks.review_speed --clips sttn-dogs_jump --steps 10
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import clips_root, command_line, emit, fmt, machine, markdown_table, parser, temp_dir
from benchmarks.page import CHROMIUM, CHROMIUM_ARGS, serve_app, settle

DEFAULT_CLIPS = ("trackanything-sample2", "sttn-dogs_jump")
VIEWPORT = {"width": 1366, "height": 768}


def _video(folder: Path) -> Path | None:
    return next((p for p in sorted(folder.iterdir()) if p.suffix.lower() in (".mp4", ".mov", ".mkv")), None)


def _caption(page, frame: int):
    return page.get_by_text(re.compile(rf"^Frame {frame} \("))


def measure(page, url: str, video: Path, steps: int) -> dict[str, object]:
    """Upload, click, track, then time ``steps`` button steps and ``steps`` slider steps."""
    page.goto(url)
    page.get_by_text("Upload a video").wait_for(timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(str(video))
    page.get_by_text("Length").wait_for(timeout=120_000)
    settle(page)
    iframe = page.frame_locator("iframe[title='streamlit_image_coordinates.streamlit_image_coordinates']")
    img = iframe.locator("#image")
    img.wait_for(timeout=60_000)
    box = img.bounding_box()
    img.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    _caption(page, 0).wait_for(timeout=60_000)
    settle(page)
    page.get_by_role("button", name="Track").click()
    tracked = page.get_by_text(re.compile(r"tracked (\d+)/\1\b")).first
    tracked.wait_for(timeout=600_000)
    settle(page)
    frames = int(re.search(r"tracked (\d+)/", tracked.inner_text()).group(1))
    n = min(steps, frames - 1)
    button = []
    step = page.get_by_role("button", name="▶", exact=True)
    for i in range(n if step.count() else 0):  # an older page has no step button: the slider only
        t0 = time.perf_counter()
        step.click()
        _caption(page, i + 1).wait_for(timeout=60_000)
        button.append(time.perf_counter() - t0)
    slider = page.get_by_role("slider").first
    slider.focus()
    page.keyboard.press("Home")
    _caption(page, 0).wait_for(timeout=60_000)
    settle(page)
    keys = []
    for i in range(n):
        t0 = time.perf_counter()
        page.keyboard.press("ArrowRight")
        _caption(page, i + 1).wait_for(timeout=60_000)
        keys.append(time.perf_counter() - t0)
    return {"frames": frames, "button": button, "slider": keys}


def main(argv: Sequence[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="*", default=list(DEFAULT_CLIPS), help="clip folders holding a video file")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--app", default="streamlit_app.py", help="the page to serve (e.g. an older version, to compare)")
    args = p.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium)")
    root = clips_root(args.clips_dir)
    rows, medians = [], []
    with temp_dir() as tmp, serve_app(tmp, app=args.app) as (url, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for name in args.clips:
            video = _video(root / name)
            if video is None:
                print(f"  {name}: no video file, skipped", flush=True)
                continue
            context = browser.new_context(viewport=VIEWPORT)
            try:
                result = measure(context.new_page(), url, video, args.steps)
            except Exception as exc:  # noqa: BLE001 - one clip's timeout must not lose the others' figures
                rows.append([name, "-", f"failed: {type(exc).__name__}", "-", "-", "-"])
                print(f"  {name}: failed ({str(exc).splitlines()[0]})", flush=True)
                continue
            finally:
                context.close()
            for how in ("button", "slider"):
                times = result[how]
                if not times:
                    continue
                medians.append(statistics.median(times))
                rows.append([name, result["frames"], f"{how} ({len(times)} steps)", fmt(statistics.median(times), 2),
                             fmt(float(np.percentile(times, 90)), 2), fmt(min(times), 2)])
            print(f"  {name}: " + "; ".join(f"{r[2]} median {r[3]} s" for r in rows if r[0] == name), flush=True)
        browser.close()
    table = markdown_table(["clip", "frames", "step", "median s", "p90 s", "fastest s"], rows)
    worst = max(medians) if medians else float("nan")
    emit(f"`{command_line('benchmarks.review_speed')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}\n\n{table}\n\n"
         f"worst median step {worst:.2f} s", args.out)


if __name__ == "__main__":
    main()
