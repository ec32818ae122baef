"""Classical removal speed at 480p: CPU seconds per frame (all threads of the process) and wall seconds.

CPU time is what the fill costs whatever else shares the machine; wall time is what a user waits on this
machine at this moment (both are printed, with the load average). The case is a static grid of squares
(11 % of an 854x480 frame) over davis2016-blackswan, the hole painted grey as in ``removal_quality``.

    python -m benchmarks.removal_speed --frames 20
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from benchmarks import removal_quality as rq
from benchmarks.common import command_line, emit, machine, markdown_table, parser, set_threads


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=20)
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    spec = next(s for s in rq.CASES if s.host == "davis2016-blackswan" and s.kind == "grid")
    case = rq.make_case(spec, args.frames, args.clips_dir)
    if case is None:
        raise SystemExit("davis2016-blackswan not found under the clips folder (see benchmarks/common.py)")
    given = rq.blank_holes(case.frames, case.holes)
    fillers, _ = rq.make_backends(["classical", "telea"])
    load = os.getloadavg()[0]
    rows = []
    for name, fill in fillers.items():
        out: dict = {}
        c0, w0 = time.process_time(), time.perf_counter()
        fill(given, case.holes, out.__setitem__)
        cpu, wall = (time.process_time() - c0) / len(given), (time.perf_counter() - w0) / len(given)
        rows.append([name, f"{cpu:.3f}", f"{1 / cpu:.1f}", f"{wall:.3f}", f"{1 / wall:.1f}"])
        print(f"  {name}: {cpu:.3f} CPU s/frame", flush=True)
    size = f"{case.frames[0].shape[1]}x{case.frames[0].shape[0]}"
    text = (f"`{command_line('benchmarks.removal_speed')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; {threads} "
            f"threads; {case.name}, {size}, hole {100 * case.hole_share:.1f} % of the frame, {len(given)} frames; "
            f"load average {load:.1f} at the start\n\n"
            + markdown_table(["backend", "CPU s/frame", "frames per CPU second", "wall s/frame", "wall fps"], rows))
    emit(text, args.out)


if __name__ == "__main__":
    main()
