"""E2FGVI-HQ speed and memory: one forward of 10 local + 3 reference frames, per resolution and precision.

    .venv/bin/python benchmarks/e2fgvi_speed.py [--quick] [--hd] [--threads 2] [--repeat 3]

Prints a markdown table: seconds per forward (median of the repeats after one warm-up), seconds per output
frame in test.py's steady state (one forward per ``neighbor_stride`` = 5 frames), the speed-up over the
reference fp32 forward measured in the same process, and peak RSS (VmHWM) of the process. Rows: the
reference forward (all 13 frames decoded, as test.py), the inpainter's forward (only the 10 local frames
decoded: the same outputs for them) and that with the fast precision (bf16 autocast on CPU, fp16 on CUDA).
Each resolution runs in its own subprocess so peaks do not mix. Weights are seeded random (speed does not
depend on their values).
Reference: the official code takes 20.3 s for the 240x432 forward on the 2-vCPU build machine (fp32).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _vmhwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _measure(height: int, width: int, device: str, threads: int, repeat: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import torch

    from inpaint.e2fgvi.network import InpaintGenerator, pad_to_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = InpaintGenerator().eval().to(device)
    x = pad_to_model(torch.rand(1, 13, 3, height, width) * 2 - 1).to(device)
    fast = torch.float16 if device == "cuda" else torch.bfloat16
    rows = {}
    paths = (("fp32", None, True), ("fp32, local decode", None, False), ("fast", fast, False))
    for name, dtype, decode_reference in paths:
        times = []
        for _ in range(repeat + 1):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            with torch.inference_mode(), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
                model(x, 10, decode_reference=decode_reference)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        rows[name] = {
            "seconds": statistics.median(times[1:]),
            "first": times[0],
            "peak_rss": _vmhwm(),
            "dtype": ("fp32" if dtype is None else str(dtype).removeprefix("torch."))
            + ("" if decode_reference else ", 10 frames decoded (as the inpainter runs)"),
        }
        if device == "cuda":
            rows[name]["peak_cuda"] = torch.cuda.max_memory_allocated()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="240x432 on the CPU only, one repeat")
    ap.add_argument("--hd", action="store_true", help="also 480x854 on the CPU (slow: minutes)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--one", nargs=3, metavar=("H", "W", "DEVICE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        h, w, dev = args.one
        print(json.dumps(_measure(int(h), int(w), dev, args.threads, args.repeat)))
        return

    import torch

    repeat = 1 if args.quick else args.repeat
    cases = [(240, 432, "cpu")]
    if args.hd and not args.quick:
        cases.append((480, 854, "cpu"))
    if torch.cuda.is_available() and not args.quick:
        cases += [(240, 432, "cuda"), (480, 854, "cuda")]
    print(
        f"E2FGVI-HQ, one forward of 10 local + 3 reference frames, {args.threads} CPU threads, "
        f"median of {repeat} after a warm-up; torch {torch.__version__}\n"
    )
    print("| size (HxW) | device | precision | s / forward | s / output frame | vs fp32 | first call s | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for h, w, dev in cases:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(h),
            str(w),
            dev,
            "--threads",
            str(args.threads),
            "--repeat",
            str(repeat),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(f"| {h}x{w} | {dev} | failed: {res.stderr.strip().splitlines()[-1]} | | | | | |")
            continue
        rows = json.loads(res.stdout.strip().splitlines()[-1])
        base = rows["fp32"]["seconds"]
        for r in rows.values():
            extra = f" (GPU {r['peak_cuda'] / 2**30:.2f} GiB)" if "peak_cuda" in r else ""
            print(
                f"| {h}x{w} | {dev} | {r['dtype']} | {r['seconds']:.2f} | {r['seconds'] / 5:.2f} | "
                f"{base / r['seconds']:.2f}x | {r['first']:.2f} | {r['peak_rss'] / 2**30:.2f} GiB{extra} |"
            )


if __name__ == "__main__":
    main()
