"""The timeline strip and the shot list stay small and fast for thousands of frames and shots."""

from __future__ import annotations

from fractions import Fraction

from editor import timeline as tl
from editor.shots import Shot


def _shots(n_shots: int, length: int) -> list[Shot]:
    return [Shot(k * length, (k + 1) * length, "start" if k == 0 else ("fade" if k % 10 == 5 else "cut"))
            for k in range(n_shots)]


def test_strip_is_a_fixed_width_with_cuts_and_shots_shaded() -> None:
    image = tl.strip(100, set(range(0, 30)), [0], set(), {20}, current=99, cuts=[40, 70], width=200)
    assert image.shape == (24, 200, 3)
    col = lambda f: image[12, int((f + 0.5) * 2)].tolist()  # noqa: E731 - the middle of frame f's columns
    assert col(0) == list(tl.KEYFRAME) and col(10) == list(tl.TRACKED) and col(20) == list(tl.REVIEW)
    assert col(35) == list(tl.UNTRACKED[0]) and col(50) == list(tl.UNTRACKED[1]) and col(80) == list(tl.UNTRACKED[0])
    assert image[12, 80].tolist() == list(tl.CUT) and image[12, 140].tolist() == list(tl.CUT)
    assert (image[0, 198] == 255).all()  # the current frame is framed


def test_strip_for_a_ten_minute_clip_keeps_its_width() -> None:
    """The page sends the same 960-column strip for 15,000 frames (its draw time is a benchmark matter)."""
    n = 25 * 600
    cuts = list(range(100, n, 100))
    image = tl.strip(n, set(range(n)), list(range(0, n, 500)), set(range(0, n, 7)), set(range(3, n, 50)),
                     current=n // 2, cuts=cuts)
    assert image.shape == (24, 960, 3)


def test_shot_lookup_labels_and_pages() -> None:
    shots = _shots(2000, 12)
    assert tl.shot_at(shots, 0) == 0 and tl.shot_at(shots, 11) == 0 and tl.shot_at(shots, 12) == 1
    assert tl.shot_at(shots, 23_999) == 1999
    assert tl.shot_label(1, shots[1], Fraction(24)) == "Shot 2 · frames 12–23 · 0:00.50–0:01.00 · cut"
    assert tl.shot_label(1999, shots[1999], Fraction(24)).startswith("Shot 2000 · frames 23988–23999 · 16:39.50")
    assert tl.shots_summary(shots) == "2000 shots (1799 cuts, 200 fades)"
    assert tl.shots_summary(shots[:1]) == "1 shot"
    lines = tl.shot_lines(shots, Fraction(24), head=3, tail=2)
    assert len(lines) == 6 and "… 1995 more shots …" in lines[3] and "Shot 2000" in lines[-1]
    assert len(tl.shot_lines(shots[:6], Fraction(24), head=3, tail=2)) == 6  # short lists are shown whole
    assert tl.page_count(2000, 10) == 200 and tl.page_range(199, 2000, 10) == range(1990, 2000)
    assert tl.page_range(500, 25, 10) == range(20, 25)  # a page past the end shows the last
    assert tl.page_label(1, 25, 10) == "shots 11–20" and tl.page_label(2, 25, 10) == "shots 21–25"
