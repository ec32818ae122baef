"""What the halo check (``inpaint.halo``) sees beside each removal case's mask, and what it decides.

Per case of ``benchmarks.removal_quality`` (and the synthetic sample with the mask ``tam demo`` tracks, when
``--demo`` is given), on a few frames: the across / along ratio of the first ring outside the mask (a halo
runs along the outline: ratio well above 1), the first ring's variation against the ring 4 px out (a mask
whose edge zigzags across its object's: well above 1), the share of the outline flagged locally, and the guard
the classical fill then uses, as the share of the outline kept 3 px away (the rest is trusted from 1 px out).
Exact holes and captions should read about 1 and keep little; soft-edged layers and tracked masks nearly all.

    python -m benchmarks.halo_check
    python -m benchmarks.halo_check --frames 0 10 20 --demo
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks import removal_quality as rq
from benchmarks.common import command_line, emit, machine, markdown_table, parser
from inpaint.halo import judge_edges


def judge(frame: np.ndarray, mask: np.ndarray) -> tuple[float, float, float, float]:
    """Over the mask's groups: (the median and the largest across / along ratio, the largest busy ratio, the
    share of the outline that keeps the wide guard: its group's edge shows a halo, or its stretch does)."""
    if not mask.any():
        return float("nan"), float("nan"), float("nan"), 0.0
    judged = judge_edges(frame, mask)
    ratios, busy, wide = judged.ratios[1:], judged.busy[1:], judged.ring_wide
    return (float(np.nanmedian(ratios)), float(np.nanmax(ratios)), float(np.nanmax(busy)),
            float(wide.mean()) if len(wide) else 0.0)


def demo_case(n: int) -> tuple[str, list[np.ndarray], list[np.ndarray]]:
    """The sample (as ``tam demo`` writes it) with the mask the classical backends track from its click."""
    import tempfile
    from pathlib import Path

    from editor.cli_args import object_prompts
    from editor.pipeline import open_project, track
    from editor.sample import write_sample_video

    with tempfile.TemporaryDirectory() as tmp:
        s = write_sample_video(Path(tmp) / "sample.mp4")
        proj = open_project(Path(tmp) / "sample.mp4", Path(tmp) / "project")
        track(proj, object_prompts([f"{s.click[0]},{s.click[1]}"], [], None, 0), backend="classical")
        frames = [proj.frames[i] for i in range(n)]
        masks = [proj.masks[i] > 0 for i in range(n)]
    return "synthetic sample / the mask tam demo tracks", frames, masks


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, nargs="*", default=[0, 10], help="frames of each case to judge")
    p.add_argument("--demo", action="store_true", help="also the sample under the mask tam demo tracks")
    args = p.parse_args(argv)
    last = max(args.frames) + 1
    rows = []
    # each case as the fill sees it: its holes painted grey (the demo's frames keep the object under the mask)
    cases = [(c.name, rq.blank_holes(c.frames, c.holes), c.holes)
             for c in (rq.make_case(s, last, args.clips_dir) for s in rq.CASES) if c is not None]
    if args.demo:
        cases.append(demo_case(last))
    for name, frames, holes in cases:
        for t in args.frames:
            median, largest, busy, wide = judge(frames[t], holes[t])
            rows.append([name, t, f"{median:.2f}", f"{largest:.2f}", f"{busy:.2f}", f"{100 * wide:.0f}"])
    text = (f"`{command_line('benchmarks.halo_check')}`  \n{machine()}\n\n"
            + markdown_table(["case", "frame", "across / along (median group)", "across / along (largest)",
                              "first ring / 4 px out (largest)", "outline kept 3 px away %"], rows))
    emit(text, args.out)


if __name__ == "__main__":
    main()
