"""Roofline: the fastest XMem step and E2FGVI-HQ forward this CPU can physically run, per precision.

    .venv/bin/python -m benchmarks.roofline [--threads 2] [--repeat 5] [--no-hd] [--out FILE]

Three markdown tables:

1. kernel throughput: one representative 3x3 convolution (1 x 256 -> 256 channels at 120x216, channels-last;
   MACs = H*W*Cin*Cout*9) in float32, bfloat16, float16 and int8 (oneDNN ``qconv2d_pointwise``, the recipe of
   ``tracking.xmem.int8``; kernel alone and with the per-call activation quantisation), plus a 9360x512 @
   512x1960 matmul; achieved GMAC/s, best of ``--repeat`` runs after a warm-up. Also the ISA oneDNN reports
   and the kernel it picks per precision (a tiny conv run with ``ONEDNN_VERBOSE=1`` in a subprocess), and
   the relevant ``/proc/cpuinfo`` flags.
2. work: multiply-accumulates of one XMem step at 480x864 (1 and 3 objects; key encoder + key projection +
   decoder, value encoder amortised over ``mem_every`` = 5) and one E2FGVI-HQ forward (10 local + 3
   reference frames) at 240x432 and 480x864. Counted with ``FlopCounterMode`` (FLOPs / 2) on the meta device
   (shapes only: exact, and instant); attention (SDPA), deformable convolution and ``grid_sample`` are not
   in its registry and are counted by hand (see the notes under the table).
3. bound: seconds >= MACs / best GMAC/s of each precision, next to the targets (XMem 0.4 s per frame,
   E2FGVI-HQ 7 s per forward). The rate is the better of the ``--threads`` measurement and ``--threads`` x
   the 1-thread one (on a shared machine the other cores may be busy). A floor assumes every MAC runs at the
   speed of the best kernel measured here, with no memory traffic and no elementwise work: real runs are
   slower. For XMem it also gives the floor of the shipped int8 path (part of the network stays float32).

Takes about 30 s (the kernel timings; counting is instant on the meta device).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import ROOT, command_line, emit, machine, markdown_table

CONV = (256, 256, 120, 216)  # Cin, Cout, H, W of the probe convolution
MATMUL = (9360, 512, 1960)  # M, K, N
XMEM_SIZE = (480, 864)  # 480x854 padded to a multiple of 16
XMEM_TARGET = 0.4
E2FGVI_TARGET = 7.0
MEM_EVERY = 5
READOUT_FRAMES = 5  # memory frames for the hand-counted read-out row (XMem's min_mid_term_frames)
CPU_FLAGS = ("avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8", "amx_fp16")

# ------------------------------------------------------------------------------------------------ kernels


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def conv_cases() -> dict[str, Callable[[], object]]:
    """Probe-conv calls by precision label, each ready to run (weights and inputs prepared)."""
    from tracking.xmem.int8 import Int8Conv2d, quantize_uint8

    cin, cout, h, w = CONV
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.randn(1, cin, h, w).to(memory_format=torch.channels_last)
    cases: dict[str, Callable[[], object]] = {"float32": lambda: conv(x)}
    for name, dtype in (("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        c, xx = nn.Conv2d(cin, cout, 3, padding=1).eval().to(memory_format=torch.channels_last).to(dtype), x.to(dtype)
        cases[name] = lambda c=c, xx=xx: c(xx)
    if hasattr(torch.ops.onednn, "qconv2d_pointwise"):
        q = Int8Conv2d(conv)
        scale = float(x.abs().amax()) * 2 / 255
        qx = quantize_uint8(x, scale, 128)
        cases["int8 (kernel)"] = lambda: torch.ops.onednn.qconv2d_pointwise(
            qx,
            scale,
            128,
            q._packed,
            q.w_scales,
            q.w_zero_points,
            q.bias,
            q.stride,
            q.padding,
            q.dilation,
            1,
            1.0,
            0,
            torch.float32,
            "none",
            [],
            "",
        )
        cases["int8 (+ quantise input)"] = lambda: q(x)
    return cases


def kernel_rates(repeat: int) -> dict[tuple[str, str], float]:
    """GMAC/s of every probe kernel at the current thread count, keyed by (kernel, precision)."""
    cin, cout, h, w = CONV
    m, k, n = MATMUL
    rates = {}
    with torch.inference_mode():
        for name, fn in conv_cases().items():
            rates[f"conv3x3 {cin}->{cout} @ {h}x{w}", name] = h * w * cin * cout * 9 / best_seconds(fn, repeat) / 1e9
        for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
            rates[f"matmul {m}x{k} @ {k}x{n}", name] = m * k * n / best_seconds(lambda a=a, b=b: a @ b, repeat) / 1e9
    return rates


def kernel_rows(repeat: int, threads: int) -> tuple[list[list[object]], dict[str, float]]:
    """Rows of the throughput table (1 thread and ``threads`` threads) and the rate each precision's floor uses:
    the better of the ``threads``-thread measurement and perfect scaling of the 1-thread one (on a loaded
    machine the other cores may be busy, and a floor must not be pessimistic)."""
    torch.set_num_threads(1)
    single = kernel_rates(repeat)
    torch.set_num_threads(threads)
    multi = kernel_rates(repeat) if threads > 1 else single
    rows: list[list[object]] = []
    best: dict[str, float] = defaultdict(float)
    for (kernel, prec), one in single.items():
        many = multi[kernel, prec]
        key = prec.split()[0]
        best[key] = max(best[key], many, threads * one)
        rows.append([kernel, prec, f"{one:.0f}", f"{many:.0f}", f"{many / one:.2f}x"])
    return rows, dict(best)


_ONEDNN_PROBE = """
import torch
from torch import nn
from tracking.xmem.int8 import Int8Conv2d
conv = nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
x = torch.randn(1, 64, 40, 40).to(memory_format=torch.channels_last)
with torch.inference_mode():
    conv(x)
    conv.to(torch.bfloat16)(x.bfloat16())
    conv.to(torch.float16)(x.half())
    if hasattr(torch.ops.onednn, "qconv2d_pointwise"):
        Int8Conv2d(conv.float())(x)
    torch.randn(256, 256) @ torch.randn(256, 256)
    torch.randn(256, 256).bfloat16() @ torch.randn(256, 256).bfloat16()
"""


def onednn_report() -> list[str]:
    """oneDNN's ISA line and the implementation of each convolution / matmul it ran in a tiny probe."""
    env = dict(os.environ, ONEDNN_VERBOSE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", _ONEDNN_PROBE], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    isa, impls = "not reported", []
    for line in proc.stdout.splitlines():
        parts = line.split(",")
        if "isa:" in line:
            isa = line.split("isa:", 1)[1].strip()
        elif len(parts) > 8 and parts[2:4] == ["primitive", "exec"] and parts[5] in ("convolution", "matmul"):
            src = re.search(r"src:(\w+)", line)
            impls.append(f"{parts[5]} {src.group(1) if src else '?'}: `{parts[6]}`")
    if not impls:
        impls = ["no oneDNN convolution/matmul ran"]
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return [
        f"oneDNN ISA: {isa}",
        *dict.fromkeys(impls),
        f"float32 matmul: {blas.group(1) if blas else '?'} BLAS (not oneDNN)",
    ]


def cpu_flags() -> str:
    """Which of ``CPU_FLAGS`` ``/proc/cpuinfo`` advertises."""
    try:
        flags = set(
            next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags"))
            .split(":", 1)[1]
            .split()
        )
    except (OSError, StopIteration):
        return "/proc/cpuinfo unreadable"
    return ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in CPU_FLAGS)


# --------------------------------------------------------------------------------------------------- work


def _prod(shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in shape)


def _grid_sample_flops(inp: Any, grid: Any, *args: Any, out_shape: Sequence[int], **kwargs: Any) -> int:
    """Bilinear sampling: 4 MACs per output element."""
    return 2 * 4 * _prod(out_shape)


def _deform_conv_flops(inp: Any, weight: Sequence[int], *args: Any, out_shape: Sequence[int], **kwargs: Any) -> int:
    """DCNv2 (torchvision): the convolution's MACs plus 4-tap bilinear sampling of every input column."""
    cin_g, kh, kw = weight[1:]
    n, _, h, w = out_shape
    return 2 * (_prod(out_shape) * cin_g * kh * kw + 4 * n * inp[1] * kh * kw * h * w)


class AttentionCount(TorchFunctionMode):
    """Counts ``scaled_dot_product_attention`` by hand (2 * B*heads*Lq*Lk*d MACs: QK^T and AV) and returns an
    empty result in its place, so the flop counter never sees (and never double counts) its decomposition.
    Only for the meta device: the output has no values."""

    def __init__(self) -> None:
        super().__init__()
        self.macs = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.nn.functional.scaled_dot_product_attention:
            q, k, v = args[:3]
            self.macs += _prod(q.shape[:-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])
            return q.new_empty(*q.shape[:-1], v.shape[-1])
        return func(*args, **kwargs)


def count_macs(fn: Callable[[], object]) -> dict[str, int]:
    """MACs of ``fn()`` by kind: conv, matmul (mm/addmm/bmm), attention, deform conv, grid_sample, other."""
    custom = {torch.ops.aten.grid_sampler_2d: _grid_sample_flops}
    if hasattr(torch.ops, "torchvision") and hasattr(torch.ops.torchvision, "deform_conv2d"):
        custom[torch.ops.torchvision.deform_conv2d] = _deform_conv_flops
    with torch.inference_mode(), FlopCounterMode(display=False, custom_mapping=custom) as fc, AttentionCount() as att:
        fn()
    kinds: dict[str, int] = defaultdict(int)
    for op, flops in fc.get_flop_counts().get("Global", {}).items():
        name = str(op).split(".")[-1]
        kind = {
            "convolution": "conv",
            "_convolution": "conv",
            "mm": "matmul",
            "addmm": "matmul",
            "bmm": "matmul",
            "baddbmm": "matmul",
            "deform_conv2d": "deform conv",
            "grid_sampler_2d": "grid_sample",
        }.get(name, name)
        kinds[kind] += flops // 2
    kinds["attention"] += att.macs
    return dict(kinds)


def _add(a: dict[str, int], b: dict[str, int], weight: float = 1.0) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + round(v * weight)
    return out


def _xmem_parts(objects: int, size: tuple[int, int]) -> tuple[nn.Module, list[tuple[float, Callable[[], object]]]]:
    """A meta-device XMem and the calls of one amortised step, with their weights per frame: key encoder +
    projection and decoder every frame (hidden-state update on the 4 of 5 frames that are not memory frames, as
    ``InferenceCore`` does with a synced deep update), the value encoder (deep update) once per ``MEM_EVERY``."""
    from tracking.xmem.network import XMem

    net = XMem().eval().to("meta")
    h, w = size
    image = torch.empty(1, 3, h, w, device="meta")
    hidden = torch.empty(1, objects, net.hidden_dim, h // 16, w // 16, device="meta")
    readout = torch.empty(1, objects, net.value_dim, h // 16, w // 16, device="meta")
    masks = torch.empty(1, objects, h, w, device="meta")
    with torch.inference_mode():
        f16, f8, f4 = net.encode_key(image)[3:]
    frac = 1 / MEM_EVERY
    return net, [
        (1.0, lambda: net.encode_key(image)),
        (1 - frac, lambda: net.decoder(f16, f8, f4, hidden, readout, h_out=True)),
        (frac, lambda: net.decoder(f16, f8, f4, hidden, readout, h_out=False)),
        (frac, lambda: net.encode_value(image, f16, hidden, masks, deep_update=True)),
    ]


def xmem_work(objects: int, size: tuple[int, int] = XMEM_SIZE) -> dict[str, int]:
    """MACs of one amortised XMem step (see ``_xmem_parts``), by kind."""
    total: dict[str, int] = {}
    for weight, fn in _xmem_parts(objects, size)[1]:
        total = _add(total, count_macs(fn), weight)
    return total


def xmem_int8_split(objects: int, size: tuple[int, int] = XMEM_SIZE) -> tuple[int, int]:
    """(float32 MACs, int8 MACs) of one amortised XMem step on the int8 path: which convolutions
    ``tracking.xmem.int8.quantize_network`` swaps (its own rule), everything else stays float32."""
    from tracking.xmem.int8 import converts

    net, parts = _xmem_parts(objects, size)
    weight_now, acc = [1.0], {False: 0.0, True: 0.0}  # acc[int8?]

    def hook(name: str, conv: nn.Conv2d) -> Callable[..., None]:
        int8 = converts(name, conv)
        macs_per_out = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]

        def record(mod: nn.Module, inp: object, out: torch.Tensor) -> None:
            acc[int8] += weight_now[0] * out.numel() * macs_per_out

        return record

    handles = [m.register_forward_hook(hook(name, m)) for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        for weight, fn in parts:
            weight_now[0] = weight
            fn()
    for hd in handles:
        hd.remove()
    return round(acc[False]), round(acc[True])


def xmem_readout(
    objects: int, frames: int = READOUT_FRAMES, size: tuple[int, int] = XMEM_SIZE, sparse: bool = False
) -> dict[str, int]:
    """Hand count of the memory match for ``frames`` memory frames: the shrinkage/selection similarity (two
    Lq x 64 x Lk products) and the read-out (dense: N x 512 x Lk x Lq; sparse: top-30 per query)."""
    lq = (size[0] // 16) * (size[1] // 16)
    lk = frames * lq
    read = objects * 512 * lq * (30 if sparse else lk)
    return {"matmul": 2 * 64 * lq * lk + read}


def e2fgvi_work(height: int, width: int) -> tuple[dict[str, int], tuple[int, int]]:
    """MACs of one E2FGVI-HQ forward of 13 frames (10 local) at ``height`` x ``width`` padded to the model's
    multiple (meta device); also the padded size."""
    from inpaint.e2fgvi.network import InpaintGenerator, pad_to_model

    net = InpaintGenerator().eval().to("meta")  # built on the CPU: its index buffers need real values
    x = pad_to_model(torch.empty(1, 13, 3, height, width, device="meta"))
    return count_macs(lambda: net(x, 10)), tuple(x.shape[-2:])


# ---------------------------------------------------------------------------------------------- reporting

KINDS = ("conv", "matmul", "attention", "deform conv", "grid_sample")


def work_rows(work: dict[str, dict[str, int]]) -> list[list[object]]:
    rows = []
    for name, kinds in work.items():
        other = sum(v for k, v in kinds.items() if k not in KINDS)
        cells = [f"{kinds.get(k, 0) / 1e9:.1f}" for k in KINDS]
        rows.append([name, *cells, f"{other / 1e9:.1f}", f"**{sum(kinds.values()) / 1e9:.1f}**"])
    return rows


def bound_rows(workloads: Sequence[tuple[str, int, float]], best: dict[str, float]) -> list[list[object]]:
    rows = []
    for name, macs, target in workloads:
        cells = []
        for prec in ("float32", "bfloat16", "float16", "int8"):
            if prec not in best:
                cells.append("n/a")
                continue
            floor = macs / (best[prec] * 1e9)
            cells.append(f"{floor:.2f} {'>' if floor > target else '<='} {target:g}")
        rows.append([name, f"{macs / 1e9:.1f}", f"{target:g}", *cells])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the kernel timings (default 2)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per kernel after a warm-up (best is kept)")
    ap.add_argument("--no-hd", action="store_true", help="skip the E2FGVI-HQ count at 480x854")
    ap.add_argument("--out", default=None, help="also write the markdown to this file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    load = os.getloadavg()[0]
    k_rows, best = kernel_rows(args.repeat, args.threads)
    lines = [
        f"## CPU roofline: XMem and E2FGVI-HQ\n\n`{command_line('benchmarks.roofline')}` on {machine()}, "
        f"{time.strftime('%Y-%m-%d')}; {args.threads} threads, load average {load:.1f} at the start\n",
        f"CPU flags: {cpu_flags()}\n",
        *(f"- {s}" for s in onednn_report()),
        "",
        f"### Kernel throughput (best of {args.repeat} after a warm-up)\n",
        markdown_table(
            ["kernel", "precision", "GMAC/s, 1 thread", f"GMAC/s, {args.threads} threads", "scaling"], k_rows
        ),
        "",
    ]

    work: dict[str, dict[str, int]] = {}
    for n in (1, 3):
        work[f"XMem step, {n} obj, {XMEM_SIZE[0]}x{XMEM_SIZE[1]}"] = xmem_work(n)
    for n in (1, 3):
        work[f"XMem memory match, {n} obj, {READOUT_FRAMES} mem frames, dense (hand count)"] = xmem_readout(n)
    sizes = [(240, 432)] + ([] if args.no_hd else [(480, 854)])
    e2_names = []
    for h, w in sizes:
        macs, (ph, pw) = e2fgvi_work(h, w)
        e2_names.append(f"E2FGVI-HQ forward, 13 frames, {h}x{w} (padded {ph}x{pw})")
        work[e2_names[-1]] = macs
    lines += [
        "### Work per step (GMAC = 1e9 multiply-accumulates)\n",
        markdown_table(["workload", *KINDS, "other", "total"], work_rows(work)),
        "",
        "Notes: counted with `torch.utils.flop_counter.FlopCounterMode` on the meta device (FLOPs / 2). It "
        "has no formula for `grid_sample`, torchvision's `deform_conv2d` (the meta path; the CPU runs the "
        "same MACs as grid_sample + matmul) or CPU attention (`aten.scaled_dot_product_attention` is one "
        "fused op there and would count 0): attention is counted by hand (2 * B*heads*Lq*Lk*d, QK^T and AV, "
        "masked keys included as the kernel computes them), `grid_sample` as 4 MACs per output element, and "
        "the deformable conv as its convolution plus 4-tap bilinear sampling of each column. Elementwise "
        "work (norms, activations, softmax, interpolation, padding, im2col/col2im) is not counted. The XMem "
        f"step amortises the value encoder over mem_every={MEM_EVERY} and excludes the memory match, which "
        f"grows with memory (rows above: {READOUT_FRAMES} frames, dense read-out as in fp32; the sparse "
        "top-30 read-out of the fast path cuts the read-out term by Lk/30).\n",
    ]

    steps = [(k, sum(v.values()), XMEM_TARGET) for k, v in work.items() if k.startswith("XMem step")]
    for n in (1, 3):
        step = sum(work[f"XMem step, {n} obj, {XMEM_SIZE[0]}x{XMEM_SIZE[1]}"].values())
        match = sum(xmem_readout(n).values())
        steps.append((f"XMem step + memory match ({READOUT_FRAMES} mem frames), {n} obj", step + match, XMEM_TARGET))
    steps += [(k, sum(work[k].values()), E2FGVI_TARGET) for k in e2_names]
    shipped = []
    for n in (1, 3):
        fp, i8 = xmem_int8_split(n)
        floor = fp / (best["float32"] * 1e9) + i8 / (best["int8"] * 1e9) if "int8" in best else float("nan")
        shipped.append(
            f"- XMem step, {n} obj, int8 path as shipped (`quantize_network`: key encoder, key projection, "
            f"mask head, GRUs, CBAM gates stay float32): {fp / 1e9:.1f} GMAC float32 + {i8 / 1e9:.1f} GMAC "
            f"int8 (convolutions only) -> floor {floor:.2f} s vs {XMEM_TARGET:g} s target"
        )
    lines += [
        "### Lower bound on seconds = MACs / best GMAC/s of the precision (rates below the table)\n",
        markdown_table(
            ["workload", "GMAC", "target s", "float32 floor s", "bfloat16 floor s", "float16 floor s", "int8 floor s"],
            bound_rows(steps, best),
        ),
        "",
        "GMAC/s used: "
        + ", ".join(f"{k} {v:.0f}" for k, v in best.items())
        + f" (the best kernel of each precision, at {args.threads} threads or {args.threads} x its 1-thread "
        "rate, whichever is higher). A floor assumes the whole network "
        "at that rate; int8 covers only convolutions (the rest stays float), so its floor is optimistic.",
        "",
        *shipped,
        f"\n(measured in {time.perf_counter() - t0:.0f} s)",
    ]
    emit("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
