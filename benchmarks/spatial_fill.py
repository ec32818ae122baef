"""Which spatial fill for what no other frame shows: OpenCV Telea and Navier-Stokes, our patch-based fill
(``inpaint.patch_fill``: PatchMatch + voting, coarse to fine) and opencv-contrib's ``xphoto.inpaint``
(FSR fast, shift-map), on one frame of each removal case with the whole hole unknown.

The classical removal fills spatially only what no trusted temporal source covers; this measures the
candidates on exactly that job (the hole dilated by 4 px, the truth the original pixels), with CPU seconds.
``xphoto`` lives in opencv-contrib, which replaces (never sits beside) the opencv-python-headless the project
installs; to measure it without swapping packages, unpack its wheel into a folder and pass ``--contrib DIR``
(e.g. ``pip download --no-deps opencv-contrib-python-headless==<the installed version> -d W`` and unzip it).

    python -m benchmarks.spatial_fill --contrib /tmp/cvc/x
"""

from __future__ import annotations

import sys

if "--contrib" in sys.argv:  # must come before the first import of cv2
    sys.path.insert(0, sys.argv[sys.argv.index("--contrib") + 1])

import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import removal_quality as rq  # noqa: E402
from benchmarks.common import command_line, emit, fmt, machine, markdown_table, parser, set_threads  # noqa: E402
from editor import metrics  # noqa: E402
from inpaint.patch_fill import PatchConfig, patch_fill  # noqa: E402


def fills() -> dict[str, object]:
    out = {
        "telea (OpenCV, r=5)": lambda img, hole: cv2.inpaint(img, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA),
        "navier-stokes (OpenCV, r=5)": lambda img, hole: cv2.inpaint(img, hole.astype(np.uint8), 5, cv2.INPAINT_NS),
        "patch, known-first start (ours)": lambda img, hole: patch_fill(img, hole, PatchConfig(known_first=True)),
        "patch, Telea start (ours)": patch_fill,
    }
    if hasattr(cv2, "xphoto"):
        def xphoto(alg: int, lab: bool = False):
            def run(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
                src = cv2.cvtColor(img, cv2.COLOR_RGB2Lab) if lab else img
                dst = np.zeros_like(src)
                cv2.xphoto.inpaint(src, (~hole).astype(np.uint8) * 255, dst, alg)
                return cv2.cvtColor(dst, cv2.COLOR_Lab2RGB) if lab else dst
            return run

        out["xphoto FSR fast"] = xphoto(cv2.xphoto.INPAINT_FSR_FAST)
        out["xphoto shift-map"] = xphoto(cv2.xphoto.INPAINT_SHIFTMAP, lab=True)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--contrib", default=None, help="a folder holding opencv-contrib's cv2 (see above)")
    p.add_argument("--frame", type=int, default=5, help="which frame of each case")
    args = p.parse_args(argv)
    set_threads(args.threads)
    t0 = time.perf_counter()
    candidates = fills()
    rows, notes = [], []
    if "xphoto FSR fast" not in candidates:
        notes.append("cv2.xphoto not found: pass --contrib DIR (see the module's docstring)")
    specs = [s for s in rq.CASES if s.kind != "path" or s.host == "davis2016-breakdance"]
    cases = [(c, c.frames) for c in (rq.make_case(s, args.frame + 1, args.clips_dir) for s in specs) if c is not None]
    cases.append(rq.sample_case(args.frame + 1))
    for case, truths in cases:
        truth = truths[args.frame]
        hole = cv2.dilate(case.holes[args.frame].astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        given = rq.blank_holes([case.frames[args.frame]], [hole])[0]
        for name, fill in candidates.items():
            c0 = time.process_time()
            out = fill(given, hole)
            cpu = time.process_time() - c0
            rows.append([case.name, name, fmt(100 * hole.mean(), 1), fmt(metrics.psnr(out, truth, hole), 2),
                         fmt(metrics.ssim(out, truth, hole), 3), fmt(cpu, 2)])
            print(f"  {case.name} {name}: {rows[-1][3]} dB", flush=True)
    text = (f"`{command_line('benchmarks.spatial_fill')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; frame "
            f"{args.frame} of each case; {time.perf_counter() - t0:.0f} s in all\n\n"
            + markdown_table(["case", "spatial fill", "hole % of frame", "PSNR dB (hole)", "SSIM (hole)", "CPU s"],
                             rows) + "".join(f"\n- {n}" for n in notes))
    emit(text, args.out)


if __name__ == "__main__":
    main()
