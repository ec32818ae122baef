"""Time per click with the SAM segmenter: the first click on a frame (image embedding + decode) and later clicks
(decode only, the embedding comes from the cache), for MobileSAM and SAM ViT-B on a 480p frame.

Speed does not depend on weight values, so a variant whose checkpoint ``weights.locate`` cannot find runs
with random weights (said in the table). ``--bf16`` also times the encoder under CPU bfloat16 autocast and
reports how far its masks drift from float32.

    python -m benchmarks.click_speed [--variants mobile_sam,sam_vit_b] [--size 480x854] [--clicks 4] [--bf16]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from benchmarks.common import emit, fmt, header, markdown_table, mean, parser, set_threads
from tracking.sam import SamSegmenter, build_sam, load_sam, resolve_variant


def _frame(h: int, w: int) -> np.ndarray:
    """A structured test picture (gradients, a disc, a bar): deterministic, no RNG."""
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), ((xx // 16 + yy // 16) % 2) * 255], -1)
    img[(yy - h // 2) ** 2 + (xx - w // 3) ** 2 < (h // 5) ** 2] = (230, 40, 30)
    img[h // 5 : h // 3, w // 2 : 4 * w // 5] = (20, 200, 60)
    return img.astype(np.uint8)


def _load(name: str, device: str) -> tuple[SamSegmenter, str]:
    info = resolve_variant(name)
    path = None
    try:  # the catalog lives in weights/; tolerate an older checkout without locate()
        from weights import locate

        path = locate(info.checkpoint_name)
    except (ImportError, KeyError, ValueError):
        path = None
    if path is not None:
        return SamSegmenter(load_sam(info.arch, path, device), info.backend), path.name
    torch.manual_seed(0)
    return SamSegmenter(build_sam(info.arch).to(device), info.backend), "random init"


def _clicks(h: int, w: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cumulative prompts: click 1 positive on the disc, then alternating negative / positive corrections."""
    spots = [
        (w // 3, h // 2, 1),
        (w * 3 // 4, h // 4, 0),
        (w // 3 + h // 8, h // 2, 1),
        (20, 20, 0),
        (w // 2, h - 30, 0),
    ]
    out = []
    for k in range(1, n + 1):
        chosen = [spots[i % len(spots)] for i in range(k)]
        out.append((np.array([[x, y] for x, y, _ in chosen], np.float32), np.array([lab for *_, lab in chosen])))
    return out


def measure(name: str, size: tuple[int, int], clicks: int, device: str, bf16: bool) -> dict:
    """One variant: embedding, first decode, later decodes, cache revisit (seconds), optional bf16 drift."""
    seg, source = _load(name, device)
    h, w = size
    frame = _frame(h, w)
    prompts = _clicks(h, w, clicks)
    seg.set_image(_frame(64, 64))  # warm-up: first-call allocations and kernel selection
    seg.predict(np.array([[10.0, 10.0]]), np.array([1]))

    t0 = time.perf_counter()
    seg.set_image(frame, key=0)
    t1 = time.perf_counter()
    first = seg.predict(*prompts[0])
    t2 = time.perf_counter()
    later, logits = [], first.logits
    for points, labels in prompts[1:]:
        t = time.perf_counter()
        result = seg.predict(points, labels, mask_input=logits)
        later.append(time.perf_counter() - t)
        logits = result.logits
    seg.set_image(_frame(h, w)[::-1].copy(), key=1)  # another frame, then back: the cache answers
    t = time.perf_counter()
    seg.set_image(frame, key=0)
    seg.predict(*prompts[0])
    revisit = time.perf_counter() - t
    row = {
        "name": seg.backend,
        "source": source,
        "device": seg.device,
        "embed_s": t1 - t0,
        "first_decode_s": t2 - t1,
        "later_decode_s": mean(later),
        "revisit_s": revisit,
        "encoder_runs": seg.embeddings_computed,
    }
    if bf16 and seg.device == "cpu":
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            seg.set_image(frame)
        row["bf16_embed_s"] = time.perf_counter() - t
        drifted = seg.predict(*prompts[0])
        inter = np.logical_and(drifted.mask, first.mask).sum()
        union = np.logical_or(drifted.mask, first.mask).sum()
        row["bf16_mask_iou"] = float(inter / max(union, 1))
        row["bf16_pixels_changed"] = int((drifted.mask != first.mask).sum())
        row["bf16_max_logit_diff"] = float(np.abs(drifted.logits - first.logits).max())
    return row


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--variants", default="mobile_sam,sam_vit_b", help="comma-separated SAM variants")
    p.add_argument("--size", default="480x854", help="frame size HxW (default 480p)")
    p.add_argument("--clicks", type=int, default=4, help="clicks on the frame (first + corrections)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--bf16", action="store_true", help="also time CPU bfloat16 autocast and its mask drift")
    args = p.parse_args(argv)
    threads = set_threads(args.threads or 2)
    h, w = (int(v) for v in args.size.lower().split("x"))
    rows = [measure(v.strip(), (h, w), max(args.clicks, 2), args.device, args.bf16) for v in args.variants.split(",")]
    table = markdown_table(
        [
            "model",
            "weights",
            "device",
            "first click: embed + decode (s)",
            "embed (s)",
            "later click: decode (s)",
            "back to a cached frame (s)",
        ],
        [
            [
                r["name"],
                r["source"],
                r["device"],
                fmt(r["embed_s"] + r["first_decode_s"], 2),
                fmt(r["embed_s"], 2),
                fmt(r["later_decode_s"], 3),
                fmt(r["revisit_s"], 3),
            ]
            for r in rows
        ],
    )
    text = header(
        f"SAM click speed ({h}x{w} frame, {threads} threads)",
        ["python -m benchmarks.click_speed", *(argv or sys.argv[1:])],
    )
    text += "\n" + table + "\n"
    if args.bf16:
        text += (
            "\n"
            + markdown_table(
                [
                    "model",
                    "embed fp32 (s)",
                    "embed bf16 autocast (s)",
                    "mask IoU bf16 vs fp32",
                    "pixels changed",
                    "max |d logits|",
                ],
                [
                    [
                        r["name"],
                        fmt(r["embed_s"], 2),
                        fmt(r.get("bf16_embed_s"), 2),
                        fmt(r.get("bf16_mask_iou"), 4),
                        r.get("bf16_pixels_changed", "n/a"),
                        fmt(r.get("bf16_max_logit_diff"), 4),
                    ]
                    for r in rows
                ],
            )
            + "\n"
        )
    emit(text, args.out)


if __name__ == "__main__":
    main()
