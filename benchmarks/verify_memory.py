"""What ``tam weights verify`` costs per checkpoint: the check of keys and shapes against the network, before and now.

Before: the file was read whole (``torch.load``) and loaded into the network built on the CPU, so verifying a
checkpoint held it twice (sam_vit_h: 2.5 GB file). Now: the file is memory-mapped (``torch.load(mmap=True)``) and
compared with the network built on the meta device (``editor.checkpoints``), so nothing of the weights is read.
No real checkpoints are needed: each variant is saved with its random initial weights (the same keys, shapes and
file size as the official file). Each way runs in a fresh process; the figure is its peak resident size above what
it held before the check (imports done), and the check's wall time.

    python -m benchmarks.verify_memory                       # mobile_sam, sam_vit_b
    python -m benchmarks.verify_memory --variants sam_vit_h  # 2.5 GB on disk, about 5 GB of memory for "before"
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import command_line, emit, machine, markdown_table, parser, run_isolated, temp_dir


def _resident_kb(field: str) -> int:
    line = next(row for row in Path("/proc/self/status").read_text().splitlines() if row.startswith(field + ":"))
    return int(line.split()[1])


def check(way: str, name: str, path: str) -> dict:
    """Check ``path`` against catalog entry ``name``'s network ``way`` = "before" or "now"; runs in its own process."""
    import weights
    from editor.checkpoints import network_check
    from tracking.sam.build import build_sam, resolve_variant

    Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident size: measure the check alone
    before = _resident_kb("VmRSS")
    started = time.perf_counter()
    if way == "now":
        network_check(name)(weights.load_checkpoint(path, mmap=True))
    else:
        info = resolve_variant(name)
        weights.load_strict(build_sam(info.arch), weights.load_checkpoint(path), info.checkpoint_name)
    return {"seconds": time.perf_counter() - started, "extra_mb": (_resident_kb("VmHWM") - before) / 1024}


def save_random(name: str, path: str) -> dict:
    """Save the variant's network with its random initial weights (the official file's keys and shapes)."""
    import torch

    from tracking.sam.build import build_sam, resolve_variant

    torch.save(build_sam(resolve_variant(name).arch).state_dict(), path)
    return {"bytes": Path(path).stat().st_size}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=["mobile_sam", "sam_vit_b"], help="SAM catalog names")
    args = p.parse_args()
    rows = []
    with temp_dir() as folder:
        for name in args.variants:
            path = str(folder / f"{name}.pth")
            size = run_isolated("benchmarks.verify_memory:save_random", {"name": name, "path": path})["bytes"]
            results = {way: run_isolated("benchmarks.verify_memory:check", {"way": way, "name": name, "path": path})
                       for way in ("before", "now")}
            cells = [f"{results[w]['extra_mb']:.0f} MB, {results[w]['seconds']:.1f} s" for w in ("before", "now")]
            rows.append([name, f"{size / 2**20:.0f}", *cells])
            Path(path).unlink()
    table = markdown_table(["checkpoint", "file MB", "before: read + load (peak over the process, time)",
                            "now: mapped + meta network"], rows)
    emit(f"## tam weights verify: memory of the keys-and-shapes check\n\n`{command_line('benchmarks.verify_memory')}` "
         f"on {machine()}, {time.strftime('%Y-%m-%d')}\n\n{table}", args.out)


if __name__ == "__main__":
    main()
