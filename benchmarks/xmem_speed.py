"""XMem speed and memory on CPU at 480x854: fp32, the automatic fast path and int8, 1 and 3 objects.

Usage: ``.venv/bin/python benchmarks/xmem_speed.py [--quick] [--long]``. Each configuration runs in its own
process so peak RSS (VmHWM) is per configuration. Uses the real checkpoint when ``weights.locate("xmem")``
finds it, else the synthetic conformance weights from ../shared/conformance (speed does not depend on values).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TAM_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))


def vm_hwm_mb() -> float:
    """Peak resident set size of this process (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_network():
    import torch

    from tracking.xmem.network import XMem

    try:
        from weights import locate

        path = locate("xmem")
    except Exception:  # the catalog may not exist yet in this checkout
        path = None
    if path is not None:
        from weights import load_checkpoint

        return XMem.from_state_dict(load_checkpoint(path)), f"checkpoint {path.name}"
    sys.path.insert(0, str(SHARED / "conformance"))
    from synth_weights import load_manifest, synth_state_dict

    sd = synth_state_dict(load_manifest(str(SHARED / "conformance" / "xmem" / "manifest.json")))
    del torch
    return XMem.from_state_dict(sd), "synthetic conformance weights"


def make_clip(n_frames: int, n_objects: int, height: int = 480):
    """The conformance clip resized to ``height`` x 16:9 (480x854; looped, ping-pong), with 1 or 3 objects."""
    import cv2
    import numpy as np

    clip = np.load(SHARED / "conformance" / "xmem" / "clip.npz")
    size = (round(height * 854 / 480), height)
    src = [cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in clip["frames"]]
    order = list(range(len(src))) + list(range(len(src) - 2, 0, -1))
    frames = (src[order[i % len(order)]] for i in range(n_frames))
    first = cv2.resize(clip["first_mask"], size, interpolation=cv2.INTER_NEAREST)
    if n_objects == 1:
        first = np.where(first == 1, 1, 0).astype(np.uint8)
    else:
        cols = np.arange(first.shape[1])[None, :]
        xs = np.nonzero(first == 2)[1]
        first = np.where((first == 2) & (cols > np.median(xs)), 3, first).astype(np.uint8)
    return frames, first


def child(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from tracking.xmem.config import XMemConfig
    from tracking.xmem.propagator import XMemPropagator

    net, source = load_network()
    prop = XMemPropagator(net, XMemConfig(precision=args.precision), device="cpu")
    ids = list(range(1, args.objects + 1))
    prop.reset(ids)
    frames, first = make_clip(args.frames, args.objects, args.height)
    times, labels, rss = [], [], {}
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        probs = prop.step(frame, first if i == 0 else None)
        times.append(time.perf_counter() - t0)
        if args.save_labels:
            labels.append(probs.astype(np.float16))
        if i + 1 in (100, 1000):
            rss[i + 1] = vm_rss_mb()
    warm = times[2:] if len(times) > 3 else times[1:]
    out = {
        "source": source, "s_per_frame": float(np.mean(warm)), "median": float(np.median(warm)),
        "peak_rss_mb": vm_hwm_mb(), "rss": rss, "autocast": prop.path, "fast": prop.fast,
        "work": prop.core.memory.work.size, "long": prop.core.memory.long.size,
    }
    if args.save_labels:
        np.save(args.save_labels, np.stack(labels))
    print(json.dumps(out))


def run_child(**kw) -> dict:
    cmd = [sys.executable, __file__, "--child"] + [f"--{k.replace('_', '-')}={v}" for k, v in kw.items()]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def agreement(ref, out) -> tuple[float, float, float]:
    """(min mask IoU over frames and objects, IoU over the pixels where fp32's top two probabilities differ by
    more than 0.1, max |probability difference|) of ``out`` against the fp32 ``ref`` (frames x (1+K) x H x W)."""
    import numpy as np

    ids = list(range(1, ref.shape[1]))
    la, lb = ref.argmax(1), out.argmax(1)
    top2 = np.sort(ref, axis=1)[:, -2:]
    sure = top2[:, 1] - top2[:, 0] > 0.1
    ious = [iou(x, y, ids) for x, y in zip(la, lb, strict=True)]
    return min(ious), iou(np.where(sure, la, -1), np.where(sure, lb, -1), ids), float(np.abs(ref - out).max())


def iou(a, b, ids) -> float:
    import numpy as np

    vals = []
    for k in ids:
        inter, union = ((a == k) & (b == k)).sum(), ((a == k) | (b == k)).sum()
        vals.append(1.0 if union == 0 else inter / union)
    return float(np.mean(vals))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="6 frames per configuration instead of 12")
    ap.add_argument("--long", action="store_true", help="also RSS after 100 vs 1000 frames (fast path, 1 object)")
    ap.add_argument("--long-height", type=int, default=480, help="frame height of the --long run (240: 4x quicker)")
    ap.add_argument("--only-long", action="store_true", help="skip the speed table, run --long only")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--objects", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, default=12, help=argparse.SUPPRESS)
    ap.add_argument("--height", type=int, default=480, help=argparse.SUPPRESS)
    ap.add_argument("--save-labels", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    import tempfile

    import numpy as np

    from tracking.xmem.int8 import cpu_has_vnni

    if not args.only_long:
        n = 6 if args.quick else 12
        precisions = ("fp32", "auto", "bf16", "int8") if cpu_has_vnni() else ("fp32", "auto", "bf16")
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for objects in (1, 3):
                res, min_iou = {}, {}
                for precision in precisions:
                    path = f"{tmp}/{precision}_{objects}.npy"
                    res[precision] = run_child(precision=precision, objects=objects, frames=n, save_labels=path,
                                               threads=args.threads)
                    a, b = np.load(f"{tmp}/fp32_{objects}.npy")[1:], np.load(path)[1:]  # frame 0 is given
                    min_iou[precision] = agreement(a.astype(np.float32), b.astype(np.float32))
                rows.append((objects, res, min_iou))
        print(f"\nXMem at 480x854 (padded 480x864), CPU, {args.threads} threads, {n} frames "
              f"(mean of frames 3..), weights: {rows[0][1]['fp32']['source']}\n")
        print("| objects | path | s/frame (mean) | s/frame (median) | peak RSS (MB) | min mask IoU vs fp32 "
              "| IoU where fp32 is sure | max abs prob diff |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for objects, res, min_iou in rows:
            for precision, r in res.items():
                label = {"fp32": "fp32", "auto": f"auto ({r['autocast']})", "bf16": "bf16 autocast",
                         "int8": "int8 (opt-in)"}[precision]
                m, sure, dp = min_iou[precision]
                agree = ["1 (reference)", "1", "0"] if precision == "fp32" else [f"{m:.4f}", f"{sure:.4f}", f"{dp:.3f}"]
                cells = [objects, label, f"{r['s_per_frame']:.3f}", f"{r['median']:.3f}", f"{r['peak_rss_mb']:.0f}",
                         *agree]
                print("| " + " | ".join(str(c) for c in cells) + " |")
    if args.long or args.only_long:
        h = args.long_height
        r = run_child(precision="auto", objects=1, frames=1000, threads=args.threads, height=h)
        print(f"\n1000 frames at {h}x{round(h * 854 / 480)}, auto path, 1 object, {r['s_per_frame']:.3f} s/frame")
        print("\n| frames | RSS (MB) |\n| --- | --- |")
        for k, v in r["rss"].items():
            print(f"| {k} | {v:.0f} |")
        print(f"| peak | {r['peak_rss_mb']:.0f} |  (working memory {r['work']} keys, long-term {r['long']})")


if __name__ == "__main__":
    main()
