"""SAM 2.1 speed and memory beside XMem on the same 480x854 frames: seconds per frame and peak RSS.

Usage: ``.venv/bin/python -m benchmarks.sam2_speed [--quick] [--frames N] [--long N] [--out FILE]``.
Each configuration runs in its own process (peak RSS = VmHWM of that process): SAM 2.1 hiera tiny and small
through tam's propagator (seeded with the first frame's label map, then tracking), 1 and 3 objects, and XMem
(fp32) on the same frames; the ratio column is SAM 2.1's s/frame over XMem's for the same object count. CUDA
rows (autocast) are added when torch sees a GPU. ``--long N`` tracks N frames with tiny and prints the RSS
every N/10 frames (the memory bank is bounded, so it must stay flat once the window is full).

Weights: the real checkpoints when ``weights.locate`` finds them, else the synthetic conformance weights from
../shared/conformance (speed does not depend on the values: SAM 2.1 always runs at 1024x1024).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    SHARED,
    command_line,
    emit,
    machine,
    markdown_table,
    parser,
    run_isolated,
)

MANIFESTS = {"tiny": "manifest_t.json", "small": "manifest_s.json"}


def _vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _sam2_model(size: str, device: str):
    import weights
    from tracking.sam2.build import build_sam2, load_sam2

    path = weights.locate(f"sam2.1_hiera_{size}")
    if path is not None:
        return load_sam2(path, size, device), f"checkpoint {path.name}"
    sys.path.insert(0, str(SHARED / "conformance"))
    from synth_weights import load_manifest, synth_state_dict

    net = build_sam2(size)
    net.load_state_dict(synth_state_dict(load_manifest(str(SHARED / "conformance" / "sam2" / MANIFESTS[size]))))
    return net.to(device).eval(), "synthetic conformance weights"


def run_sam2(size: str, objects: int, frames: int, device: str = "cpu", rss_every: int = 0) -> dict:
    """Track ``frames`` frames with SAM 2.1 ``size`` through tam's propagator; timing per frame after the first."""
    import numpy as np

    from benchmarks.xmem_speed import make_clip
    from tracking.sam2.backend import Sam2Propagator

    net, source = _sam2_model(size, device)
    prop = Sam2Propagator(net, size)
    prop.reset(list(range(1, objects + 1)))
    clip, first = make_clip(frames, objects)
    times, rss = [], {}
    for i, frame in enumerate(clip):
        t0 = time.perf_counter()
        prop.step(frame, first if i == 0 else None)
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        if rss_every and (i + 1) % rss_every == 0:
            rss[i + 1] = _vm_rss_mb()
    warm = times[1:]
    return {"source": source, "s_per_frame": float(np.mean(warm)), "worst": float(np.max(warm)), "rss": rss}


def run_xmem(objects: int, frames: int) -> dict:
    """XMem (fp32, our propagator) on the same frames."""
    import numpy as np

    from benchmarks.xmem_speed import load_network, make_clip
    from tracking.xmem.config import XMemConfig
    from tracking.xmem.propagator import XMemPropagator

    net, source = load_network()
    prop = XMemPropagator(net, XMemConfig(precision="fp32"), device="cpu")
    prop.reset(list(range(1, objects + 1)))
    clip, first = make_clip(frames, objects)
    times = []
    for i, frame in enumerate(clip):
        t0 = time.perf_counter()
        prop.step(frame, first if i == 0 else None)
        times.append(time.perf_counter() - t0)
    warm = times[1:]
    return {"source": source, "s_per_frame": float(np.mean(warm)), "worst": float(np.max(warm))}


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=None, help="frames per configuration (default 6, --quick 3)")
    ap.add_argument("--long", type=int, default=0, help="also track N frames with tiny and print RSS over time")
    ap.add_argument("--sizes", default="tiny,small", help="comma-separated SAM 2.1 sizes for the table")
    args = ap.parse_args()
    threads = args.threads or 2
    n = args.frames or (3 if args.quick else 6)
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for objects in (1, 3):
        xmem = run_isolated("benchmarks.sam2_speed:run_xmem", {"objects": objects, "frames": n}, threads=threads)
        rows.append(["XMem fp32", "cpu", objects, f"{xmem['s_per_frame']:.2f}", f"{xmem['worst']:.2f}",
                     f"{xmem['peak_rss_mb']:.0f}", "1", xmem["source"]])
        for device in devices:
            for size in args.sizes.split(","):
                kw = {"size": size, "objects": objects, "frames": n, "device": device}
                r = run_isolated("benchmarks.sam2_speed:run_sam2", kw, threads=threads)
                ratio = r["s_per_frame"] / xmem["s_per_frame"] if device == "cpu" else float("nan")
                rows.append([f"SAM 2.1 {size}", device + (" (autocast)" if device != "cpu" else " fp32"), objects,
                             f"{r['s_per_frame']:.2f}", f"{r['worst']:.2f}", f"{r['peak_rss_mb']:.0f}",
                             f"{ratio:.1f}" if device == "cpu" else "-", r["source"]])
    gpu = "" if len(devices) > 1 else " CUDA rows: not run (no GPU)."
    text = [
        f"## SAM 2.1 vs XMem speed\n\n`{command_line('benchmarks.sam2_speed')}` on {machine()}, {threads} threads, "
        f"480x854 frames, {n} frames per configuration (mean and worst over frames 2..; frame 1 is the seeded "
        f"keyframe).{gpu}\n",
        markdown_table(["model", "device", "objects", "s/frame", "worst s/frame", "peak RSS (MB)",
                        "x XMem s/frame", "weights"], rows),
    ]
    if args.long:
        every = max(1, args.long // 10)
        kw = {"size": "tiny", "objects": 1, "frames": args.long, "rss_every": every}
        r = run_isolated("benchmarks.sam2_speed:run_sam2", kw, threads=threads)
        text.append(f"\nSAM 2.1 tiny, 1 object, {args.long} frames, {r['s_per_frame']:.2f} s/frame: RSS over time\n")
        text.append(markdown_table(["frames", "RSS (MB)"], [[k, f"{v:.0f}"] for k, v in r["rss"].items()]
                                   + [["peak", f"{r['peak_rss_mb']:.0f}"]]))
    emit("\n".join(text), args.out)


if __name__ == "__main__":
    main()
