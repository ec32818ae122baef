"""Which spatial fill for what no other frame shows: OpenCV Telea and Navier-Stokes, the membrane (Laplace
interpolation, ``inpaint.diffuse.fill_smooth``, the classical removal's default), our patch-based fill
(``inpaint.patch_fill``: PatchMatch + voting, coarse to fine) and opencv-contrib's ``xphoto.inpaint``
(FSR fast, shift-map), on frames of each removal case with the whole hole unknown.

The classical removal fills spatially only what no trusted temporal source covers; this measures the
candidates on exactly that job (the hole dilated by 4 px, the truth the original pixels), with CPU seconds.
``xphoto`` lives in opencv-contrib, which replaces (never sits beside) the opencv-python-headless the project
installs; to measure it without swapping packages, unpack its wheel into a folder and pass ``--contrib DIR``
(e.g. ``pip download --no-deps opencv-contrib-python-headless==<the installed version> -d W`` and unzip it).

    python -m benchmarks.spatial_fill --contrib /tmp/cvc/x
    python -m benchmarks.spatial_fill --frames 5 15 25 --fills telea membrane   # the fast ones, more frames
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
from inpaint.classical import spatial_fill  # noqa: E402
from inpaint.patch_fill import PatchConfig, patch_fill  # noqa: E402


def fills() -> dict[str, object]:
    out = {
        "telea (OpenCV, r=5)": lambda img, hole: cv2.inpaint(img, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA),
        "navier-stokes (OpenCV, r=5)": lambda img, hole: cv2.inpaint(img, hole.astype(np.uint8), 5, cv2.INPAINT_NS),
        "membrane (ours, default)": lambda img, hole: spatial_fill(img, hole, method="membrane"),
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
    p.add_argument("--frames", type=int, nargs="+", default=[5], help="which frames of each case (default 5)")
    p.add_argument("--fills", nargs="*", default=None,
                   help="only the fills whose name contains one of these words (e.g. telea membrane)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    t0 = time.perf_counter()
    candidates = fills()
    if args.fills:
        candidates = {k: v for k, v in candidates.items() if any(w in k for w in args.fills)}
    rows, notes = [], []
    if "xphoto FSR fast" not in fills():
        notes.append("cv2.xphoto not found: pass --contrib DIR (see the module's docstring)")
    specs = [s for s in rq.CASES if s.kind in ("grid", "logo", "large") or s.host == "davis2016-breakdance"
             and s.kind == "path"]
    last = max(args.frames) + 1
    cases = [(c, c.target) for c in (rq.make_case(s, last, args.clips_dir) for s in specs) if c is not None]
    cases.append(rq.sample_case(last))  # its truth is the background the object hides
    totals: dict[str, list[float]] = {name: [] for name in candidates}
    for case, truths in cases:
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in candidates}
        for index in args.frames:
            truth = truths[index]
            hole = cv2.dilate(case.holes[index].astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
            given = rq.blank_holes([truth], [hole])[0]
            for name, fill in candidates.items():
                c0 = time.process_time()
                out = fill(given, hole)
                cpu = time.process_time() - c0
                results[name].append((metrics.psnr(out, truth, hole), metrics.ssim(out, truth, hole), cpu))
        for name, got in results.items():
            psnr, ssim, cpu = (float(np.mean(v)) for v in zip(*got, strict=True))
            totals[name].append(psnr)
            rows.append([case.name, name, fmt(100 * case.hole_share, 1), fmt(psnr, 2), fmt(ssim, 3), fmt(cpu, 2)])
            print(f"  {case.name} {name}: {rows[-1][3]} dB", flush=True)
    for name, values in totals.items():
        rows.append([f"**mean over {len(values)} cases**", name, "", f"**{fmt(float(np.mean(values)), 2)}**", "", ""])
    header = ["case", "spatial fill", "hole % of frame", "PSNR dB (hole)", "SSIM (hole)", "CPU s / frame"]
    frames = ", ".join(map(str, args.frames))
    text = (f"`{command_line('benchmarks.spatial_fill')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; frame "
            f"{frames} of each case (mean over them); {time.perf_counter() - t0:.0f} s in all\n\n"
            + markdown_table(header, rows) + "".join(f"\n- {n}" for n in notes))
    emit(text, args.out)


if __name__ == "__main__":
    main()
