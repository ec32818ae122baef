"""``tam batch`` throughput: the same clips one after another in one process, then on a local Ray with 1 and 2
workers, side by side; Ray's scheduling overhead per task; the per-stage costs a cluster plan starts from.

The manifest: every real clip with ground-truth masks (``../shared/clips``), its first ``--frames`` frames,
each removed from its FIRST-frame mask (so every clip runs all three stages: the mask propagated through the
clip, the removal in spans of ``--span`` frames, the render at native size), at working size ``--working``.
Every run starts from empty project folders (nothing skipped). Measured, per run: wall seconds, clips per
minute, frames per second and the ratio to the one-process run; for Ray runs, the cluster's start-up apart
from the batch, and whether every mask and filled frame equals the one-process run's bit for bit.

Scheduling overhead per task: (a) a no-op task's round trip (submit, run, get; 100 in a row) on the running
cluster; (b) with 1 worker, (batch wall - the sum of the stages' own seconds) / tasks: what a real task costs
beyond its work (Ray, a worker's first imports, reopening the project).

A long clip split across workers: ``e2fgvi-tennis`` (70 frames) removed from its full mask sequence, in spans
of ``--span``, in one process and on 2 workers (same frames checked).

    python -m benchmarks.batch             # 11 clips x 16 frames at working size 240, span 12 (~10 min on 2 cores)
    python -m benchmarks.batch --quick     # 4 clips x 12 frames
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import clips_root, command_line, emit, fmt, gt_clips, machine, markdown_table, parser, temp_dir
from editor.batch import BatchSettings, ClipResult, run_in_process
from editor.manifest import read_manifest

LONG_CLIP = "e2fgvi-tennis"


def build_manifest(root: Path, work: Path, frames: int, working: int, quick: bool) -> Path:
    """Copy (symlink) each clip's first frames and first mask into ``work``; one ``remove`` line per clip."""
    clips = [c for c in gt_clips(root) if (c.folder / "frames").is_dir()]
    if quick:
        clips = clips[:4]
    lines = []
    for clip in clips:
        dst = work / clip.name
        (dst / "frames").mkdir(parents=True)
        (dst / "masks").mkdir()
        files = sorted((clip.folder / "frames").iterdir())[:frames]
        for p in files:
            (dst / "frames" / p.name).symlink_to(p)
        first = clip.mask_files[min(clip.mask_files)]
        (dst / "masks" / first.name).symlink_to(first)
        lines.append({"name": clip.name, "input": f"{clip.name}/frames", "masks": f"{clip.name}/masks",
                      "op": "remove", "output": f"{clip.name}.mp4", "working_size": working, "backend": "classical"})
    path = work / "clips.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def long_manifest(root: Path, work: Path, working: int) -> Path:
    clip = root / LONG_CLIP
    line = {"name": LONG_CLIP, "input": str(clip / "frames"), "masks": str(clip / "masks"), "op": "remove",
            "output": f"{LONG_CLIP}.mp4", "working_size": working, "backend": "classical"}
    path = work / "long.jsonl"
    path.write_text(json.dumps(line) + "\n")
    return path


def same_frames(a: Path, b: Path) -> bool:
    """Every mask and filled frame of every project under ``a`` equals the one under ``b``, byte for byte."""
    for project in sorted((a / "projects").iterdir()):
        for kind in ("masks", "inpainted"):
            mine = sorted((project / kind).glob("*.png"))
            theirs = sorted((b / "projects" / project.name / kind).glob("*.png"))
            if [p.name for p in mine] != [p.name for p in theirs]:
                return False
            if not all(filecmp.cmp(x, y, shallow=False) for x, y in zip(mine, theirs, strict=True)):
                return False
    return True


def storage_per_frame(out: Path) -> dict[str, float]:
    """KiB per frame the projects hold (frames, masks, fills at the working size) and the outputs take."""
    sizes = {"frames": 0, "masks": 0, "inpainted": 0}
    count = 0
    for project in (out / "projects").iterdir():
        count += len(list((project / "frames").glob("*")))
        for kind in sizes:
            sizes[kind] += sum(p.stat().st_size for p in (project / kind).glob("*.png"))
    outputs = sum(p.stat().st_size for p in out.glob("*.mp4"))
    return {**{k: v / 1024 / max(1, count) for k, v in sizes.items()}, "output": outputs / 1024 / max(1, count)}


def tasks_of(results: list[ClipResult], span: int) -> int:
    return sum(2 + -(-r.frames // span) for r in results if r.status == "done")


def run_one_process(manifest: Path, out: Path, span: int) -> dict:
    start = time.perf_counter()
    results = run_in_process(read_manifest(manifest, out), BatchSettings(out, span=span))
    return {"wall": time.perf_counter() - start, "results": results, "startup": 0.0}


def run_ray(manifest: Path, out: Path, span: int, workers: int) -> dict:
    import ray

    from editor.batch_ray import RayOptions, run_on_ray

    start = time.perf_counter()
    ray_dir = tempfile.mkdtemp(prefix="tam-ray-bench-")  # short: Ray's socket paths must stay under 107 bytes
    ray.init(address="local", num_cpus=workers, _node_ip_address="127.0.0.1", include_dashboard=False,
             object_store_memory=128 * 1024**2, _temp_dir=ray_dir, logging_level="WARNING", log_to_driver=False)
    try:
        startup = time.perf_counter() - start
        start = time.perf_counter()
        results = run_on_ray(read_manifest(manifest, out), BatchSettings(out, span=span), RayOptions(workers=workers))
        wall = time.perf_counter() - start

        @ray.remote(num_cpus=1)
        def noop() -> None:
            return None

        ray.get(noop.remote())  # a warm worker
        t = time.perf_counter()
        for _ in range(100):
            ray.get(noop.remote())
        noop_ms = (time.perf_counter() - t) * 10
    finally:
        ray.shutdown()
        shutil.rmtree(ray_dir, ignore_errors=True)
    return {"wall": wall, "results": results, "startup": startup, "noop_ms": noop_ms}


def summary_row(label: str, run: dict, base: dict, span: int, same: str) -> list[object]:
    done = [r for r in run["results"] if r.status == "done"]
    frames = sum(r.frames for r in done)
    wall = run["wall"]
    return [label, f"{len(done)}/{len(run['results'])}", frames, fmt(wall, 1), fmt(len(done) * 60 / wall, 2),
            fmt(frames / wall, 2), fmt(base["wall"] / wall, 2), fmt(run["startup"], 1) if run["startup"] else "-",
            same]


def stage_rows(results: list[ClipResult]) -> list[list[object]]:
    """Seconds per frame of each stage over the clips: mean and worst."""
    rows = []
    names = {"prepare": "decode + propagate the first mask", "fill": "removal (classical fill)",
             "finish": "render at native size (H.264)"}
    for stage, what in names.items():
        per = [r.stage_seconds.get(stage, 0.0) / r.frames for r in results if r.status == "done" and r.frames]
        if per:
            rows.append([stage, what, fmt(sum(per) / len(per), 3), fmt(max(per), 3)])
    total = [r.seconds / r.frames for r in results if r.status == "done" and r.frames]
    rows.append(["all", "one clip, end to end", fmt(sum(total) / len(total), 3), fmt(max(total), 3)])
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default 16, --quick 12)")
    p.add_argument("--working", type=int, default=240, help="working size (short side)")
    p.add_argument("--span", type=int, default=12, help="frames per removal task")
    p.add_argument("--no-long", action="store_true", help="skip the long clip split across workers")
    args = p.parse_args()
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SystemExit("this benchmark compares Ray runs: pip install 'tam[ray]'") from None
    root = clips_root(args.clips_dir)
    frames = args.frames or (12 if args.quick else 16)
    t0 = time.perf_counter()
    with temp_dir("tam-bench-batch-") as work:
        manifest = build_manifest(root, work, frames, args.working, args.quick)
        n = len(read_manifest(manifest, work).clips)
        print(f"{n} clips x {frames} frames, working size {args.working}, span {args.span}", flush=True)
        base = run_one_process(manifest, work / "one", args.span)
        print(f"  one process: {base['wall']:.1f} s", flush=True)
        runs = {}
        for workers in (1, 2):
            runs[workers] = run_ray(manifest, work / f"ray{workers}", args.span, workers)
            print(f"  ray {workers} worker(s): {runs[workers]['wall']:.1f} s", flush=True)
        rows = [summary_row("one process, clips one after another", base, base, args.span, "(reference)")]
        for workers, run in runs.items():
            same = "yes" if same_frames(work / f"ray{workers}", work / "one") else "NO"
            rows.append(summary_row(f"Ray, {workers} worker{'s' * (workers > 1)} (1 CPU, 1 thread each)", run, base,
                                    args.span, same))
        one = runs[1]
        tasks = tasks_of(one["results"], args.span)
        busy = sum(r.seconds for r in one["results"])
        overhead = [
            ["no-op task round trip (submit, run, get), warm worker", fmt(one["noop_ms"], 1) + " ms"],
            [f"real task beyond its work, 1 worker ({tasks} tasks)", fmt((one["wall"] - busy) / tasks * 1000, 0)
             + " ms"],
            ["local Ray start-up (1 / 2 workers)", f"{fmt(runs[1]['startup'], 1)} / {fmt(runs[2]['startup'], 1)} s"],
        ]
        kib = storage_per_frame(work / "one")
        storage = [[kind, fmt(value, 1)] for kind, value in kib.items()]
        long_rows = []
        if not args.no_long:
            lm = long_manifest(root, work, args.working)
            lbase = run_one_process(lm, work / "long-one", args.span)
            lray = run_ray(lm, work / "long-ray2", args.span, 2)
            same = "yes" if same_frames(work / "long-ray2", work / "long-one") else "NO"
            for label, run in (("one process", lbase), ("Ray, 2 workers", lray)):
                r = run["results"][0]
                long_rows.append([label, r.status, r.frames, fmt(run["wall"], 1),
                                  fmt(r.stage_seconds.get("fill", 0.0), 1), fmt(r.frames / run["wall"], 2),
                                  fmt(lbase["wall"] / run["wall"], 2), same if run is lray else "(reference)"])
    text = "\n\n".join([
        f"`{command_line('benchmarks.batch')}`  \n{machine()}; {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d')}; "
        f"{time.perf_counter() - t0:.0f} s in all; load average at the end {os.getloadavg()[0]:.1f} "
        f"(other work shared the machine when it is above the CPU count). {n} clips x {frames} frames, "
        f"working size {args.working}, "
        f"classical backends, removal spans of {args.span} frames; each clip: first-frame mask propagated, "
        "removed, rendered.",
        markdown_table(["run", "clips done", "frames", "wall s", "clips/min", "frames/s", "x one process",
                        "Ray start-up s", "same frames"], rows),
        "Ray scheduling overhead\n\n" + markdown_table(["what", "cost"], overhead),
        "Per-stage cost in the one-process run (seconds per frame, over the clips)\n\n"
        + markdown_table(["stage", "what", "mean s/frame", "worst s/frame"], stage_rows(base["results"])),
        f"Shared storage per frame (KiB; PNG at working size {args.working}, output H.264 at native size)\n\n"
        + markdown_table(["what", "KiB per frame"], storage),
    ] + ([f"One long clip ({LONG_CLIP}, removal from its masks) split in spans of {args.span} frames\n\n"
          + markdown_table(["run", "status", "frames", "wall s", "fill s (sum over tasks)", "frames/s",
                            "x one process", "same frames"], long_rows)] if long_rows else []))
    emit(text, args.out)


if __name__ == "__main__":
    main()
