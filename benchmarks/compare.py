"""A/B comparison: two settings timed side by side in one process, interleaved, with their ratio.

Absolute times drift on a shared machine (other jobs come and go); running A, B, A, B... in the same
process and comparing each round's pair cancels most of that drift. Reported: median and best seconds per
frame of each setting, the ratio of medians and the median of the per-round ratios (B / A).

A setting is ``key=value`` words:
- ``backend``: ``classical`` (flow propagator / classical fill), ``xmem`` or ``e2fgvi`` (the networks
  with the deterministic synthetic weights of ``../shared/conformance``: real compute, meaningless masks);
- ``working``: short side the frames are resized to before the stage (default 480);
- ``precision``: ``fp32`` | ``bf16`` | ``fp16`` | ``auto`` (models only; ``auto`` is the product's fast path).
The stage (``--stage propagate`` or ``inpaint``) runs on the first ``--frames`` frames of a real clip, from
its ground-truth mask on frame 0 (propagate) or with its ground-truth masks as the hole (inpaint).

    python -m benchmarks.compare --a "backend=classical working=480" --b "backend=classical working=360"
    python -m benchmarks.compare --stage propagate --a "backend=xmem precision=fp32" --b "backend=xmem precision=auto"
    python -m benchmarks.compare --stage inpaint --a "backend=e2fgvi precision=fp32" --b "backend=e2fgvi precision=bf16"
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import (
    CONFORMANCE,
    clips_root,
    command_line,
    emit,
    fmt,
    load_clip,
    machine,
    markdown_table,
    set_threads,
)
from benchmarks.common import parser as base_parser

STAGES = ("propagate", "inpaint")


@dataclass(frozen=True)
class Setting:
    text: str
    backend: str = "classical"
    working: int = 480
    precision: str = "auto"

    @classmethod
    def parse(cls, text: str) -> Setting:
        values: dict[str, object] = {}
        for word in text.split():
            if "=" not in word:
                raise SystemExit(f"setting {text!r}: {word!r} is not key=value")
            key, value = word.split("=", 1)
            if key == "working":
                values[key] = int(value)
            elif key in ("backend", "precision"):
                values[key] = value
            else:
                raise SystemExit(f"setting {text!r}: unknown key {key!r} (backend, working, precision)")
        return cls(text, **values)  # type: ignore[arg-type]


def synth_state_dict(model: str, conformance: Path = CONFORMANCE) -> dict:
    """The conformance fixtures' synthetic weights for ``xmem`` or ``e2fgvi_hq`` (``synth_weights.py`` via sys.path)."""
    if not (conformance / "synth_weights.py").is_file():
        raise SystemExit(f"synthetic weights need {conformance}/synth_weights.py (../shared/conformance)")
    if str(conformance) not in sys.path:
        sys.path.insert(0, str(conformance))
    import synth_weights

    manifest = synth_weights.load_manifest(str(conformance / model / "manifest.json"))
    return synth_weights.synth_state_dict(manifest)


def resize_short(image: np.ndarray, short: int, nearest: bool = False) -> np.ndarray:
    h, w = image.shape[:2]
    if min(h, w) == short:
        return image
    s = short / min(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def load_inputs(clip_dir: Path, frames: int, working: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The first ``frames`` frames of a clip at short side ``working`` and their label maps (zeros if none)."""
    from editor.frames import FrameFolder

    clip = load_clip(clip_dir)
    if clip is None or not clip.source.is_dir():
        raise SystemExit(f"{clip_dir}: need a frame folder with masks")
    folder = FrameFolder(clip.source, check_sizes=False)
    n = min(frames, len(folder))
    imgs = [resize_short(folder[i], working) for i in range(n)]
    h, w = imgs[0].shape[:2]
    labels = [resize_short(clip.gt(i), working, nearest=True) if i in clip.mask_files else np.zeros((h, w), np.uint8)
              for i in range(n)]
    return imgs, labels


def make_runner(setting: Setting, stage: str, frames: Sequence[np.ndarray],
                labels: Sequence[np.ndarray]) -> Callable[[], None]:
    """A callable that runs ``stage`` once over ``frames`` with ``setting``'s backend (built once, outside timing)."""
    if stage == "propagate":
        if setting.backend == "classical":
            from tracking.classical import FlowPropagator

            factory: Callable[[], object] = FlowPropagator
        elif setting.backend == "xmem":
            from tracking.xmem.config import XMemConfig
            from tracking.xmem.network import XMem
            from tracking.xmem.propagator import XMemPropagator

            net = XMem.from_state_dict(synth_state_dict("xmem"))
            config = XMemConfig(precision=setting.precision, working_size=setting.working)

            def factory() -> object:
                return XMemPropagator(net, config, "cpu")
        else:
            raise SystemExit(f"propagate: backend {setting.backend!r} is not classical or xmem")
        first = (labels[0] > 0).astype(np.uint8)

        def propagate() -> None:
            prop = factory()
            prop.reset([1])
            prop.step(frames[0], first)
            for f in frames[1:]:
                prop.step(f)

        return propagate
    if stage == "inpaint":
        holes = [lab > 0 for lab in labels]
        if setting.backend == "classical":
            from inpaint.classical import ClassicalInpainter

            inpainter: Callable = ClassicalInpainter()
        elif setting.backend == "e2fgvi":
            from inpaint.e2fgvi import E2FGVIInpainter
            from inpaint.e2fgvi.inpainter import E2FGVIConfig
            from inpaint.e2fgvi.network import InpaintGenerator
            from weights import load_strict

            model = InpaintGenerator()
            load_strict(model, synth_state_dict("e2fgvi_hq"), "e2fgvi_hq")
            inpainter = E2FGVIInpainter(model.eval(), E2FGVIConfig(precision=setting.precision))
        else:
            raise SystemExit(f"inpaint: backend {setting.backend!r} is not classical or e2fgvi")

        def fill() -> None:
            inpainter(frames, holes, lambda i, f: None)

        return fill
    raise SystemExit(f"stage must be one of {STAGES}")


def interleave(runners: Sequence[Callable[[], None]], rounds: int, warmup: int = 1) -> list[list[float]]:
    """Seconds of each runner per round, run in turn (A, B, A, B...); ``warmup`` rounds are not kept."""
    times: list[list[float]] = [[] for _ in runners]
    for r in range(warmup + rounds):
        for k, run in enumerate(runners):
            t0 = time.perf_counter()
            run()
            if r >= warmup:
                times[k].append(time.perf_counter() - t0)
    return times


def compare(a: Setting, b: Setting, stage: str, clip_dir: Path, frames: int, rounds: int,
            warmup: int = 1) -> dict:
    runners, counts = [], []
    for s in (a, b):
        imgs, labels = load_inputs(clip_dir, frames, s.working)
        runners.append(make_runner(s, stage, imgs, labels))
        counts.append(len(imgs))
    ta, tb = interleave(runners, rounds, warmup)
    pa, pb = [t / counts[0] for t in ta], [t / counts[1] for t in tb]
    return {
        "a": pa, "b": pb,
        "ratio_of_medians": statistics.median(pb) / statistics.median(pa),
        "median_ratio": statistics.median(y / x for x, y in zip(pa, pb, strict=True)),
        "frames": counts,
    }


def table(a: Setting, b: Setting, result: dict) -> str:
    runs = (("A", a, result["a"], result["frames"][0]), ("B", b, result["b"], result["frames"][1]))
    rows = [[name, s.text, n, fmt(statistics.median(t), 3), fmt(min(t), 3), " ".join(fmt(x, 3) for x in t)]
            for name, s, t, n in runs]
    text = markdown_table(["", "setting", "frames", "median s/frame", "best s/frame", "every round"], rows)
    return (text + f"\n\nB / A: ratio of medians **{result['ratio_of_medians']:.3f}**, "
            f"median of per-round ratios **{result['median_ratio']:.3f}** (below 1: B is faster)")


def main(argv: Sequence[str] | None = None) -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--a", required=True, help='setting A, e.g. "backend=classical working=480"')
    p.add_argument("--b", required=True, help='setting B, e.g. "backend=classical working=360"')
    p.add_argument("--stage", choices=STAGES, default="propagate")
    p.add_argument("--clip", default="davis2016-drift-chicane", help="clip under the clips folder")
    p.add_argument("--frames", type=int, default=None, help="frames per run (default 20, quick 8)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds of A and B (default 5, quick 3)")
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args(argv)
    set_threads(args.threads)
    a, b = Setting.parse(args.a), Setting.parse(args.b)
    frames = args.frames or (8 if args.quick else 20)
    rounds = args.rounds or (3 if args.quick else 5)
    clip_dir = clips_root(args.clips_dir) / args.clip
    t0 = time.perf_counter()
    result = compare(a, b, args.stage, clip_dir, frames, rounds, args.warmup)
    text = (f"`{command_line('benchmarks.compare')}`  \n{machine()}; {time.strftime('%Y-%m-%d')}; stage "
            f"{args.stage} on {args.clip}; {rounds} rounds after {args.warmup} warm-up; "
            f"{time.perf_counter() - t0:.0f} s in all\n\n" + table(a, b, result))
    emit(text, args.out)


if __name__ == "__main__":
    main()
