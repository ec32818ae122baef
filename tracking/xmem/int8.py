"""The int8 CPU fast path: XMem's heavy convolutions in 8-bit integers, everything else unchanged.

XMem's time on a CPU is almost all 3x3 convolutions (the ResNet-50 key encoder and the decoder's stride-8
and stride-4 blocks: about 155 GMAC per frame for one object at 480x864, ``benchmarks/roofline.py``). On
CPUs with AVX-512 VNNI, oneDNN runs an int8 convolution about four times faster than float32, so this module
swaps the value encoder's and decoder's convolutions for ``Int8Conv2d``: weights quantised once per output
channel (symmetric, with batch norm folded in), activations quantised per tensor from their own range on
every call (no calibration data needed), int32 accumulation, float32 out. The key encoder stays float32
(keys decide every later memory match: quantising it saved 15 % of its time and added error), as do small
or precision-critical layers (key projection, the final mask logit, the sensory-memory GRUs, CBAM's
attention). Speed and agreement with float32 are measured by ``benchmarks/xmem_speed.py``; it is opt-in
(``XMemConfig(precision="int8")``) because agreement can only be judged with the real checkpoint.
"""

from __future__ import annotations

import copy
import warnings
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from tracking.xmem.modules import GConv2D
from tracking.xmem.network import XMem

# float32 on purpose: keys decide every match; the rest are cheap and read directly (logits, gates)
KEEP_FLOAT = (
    "key_encoder", "key_proj", "decoder.pred", "decoder.hidden_update", "value_encoder.hidden_reinforce",
    "SpatialGate",
)


@lru_cache(maxsize=1)
def cpu_has_vnni() -> bool:
    """True when the CPU advertises AVX-512 VNNI (8-bit dot products) and torch has oneDNN's int8 conv."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags and hasattr(torch.ops.onednn, "qconv2d_pointwise")


def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` as one convolution (inference statistics)."""
    weight = conv.weight.detach().float()
    bias = conv.bias.detach().float() if conv.bias is not None else torch.zeros(weight.shape[0])
    if bn is None:
        return weight, bias
    scale = bn.weight.detach().float() / torch.sqrt(bn.running_var.float() + bn.eps)
    return weight * scale[:, None, None, None], (bias - bn.running_mean.float()) * scale + bn.bias.detach().float()


def quantize_uint8(x: torch.Tensor, scale: float, zero: int) -> torch.Tensor:
    """``round(x / scale) + zero`` clamped to uint8, keeping ``x``'s memory layout (channels-last stays so:
    ``quantize_per_tensor`` would otherwise make a transposed copy)."""
    nhwc = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    with warnings.catch_warnings():  # quantized tensors are deprecated upstream; torch 2.14 (pinned) has them
        warnings.simplefilter("ignore", UserWarning)
        if nhwc:
            return torch.quantize_per_tensor(x.permute(0, 2, 3, 1), scale, zero, torch.quint8).int_repr().permute(
                0, 3, 1, 2
            )
        return torch.quantize_per_tensor(x.contiguous(), scale, zero, torch.quint8).int_repr()


class Int8Conv2d(nn.Module):
    """``conv`` (optionally followed by ``bn``) with int8 weights and per-call int8 activations."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d | None = None) -> None:
        super().__init__()
        if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("Int8Conv2d supports plain zero-padded, ungrouped convolutions only")
        weight, bias = fold_batch_norm(conv, bn)
        scales = (weight.abs().amax(dim=(1, 2, 3)) / 127).clamp_min(1e-12).double()
        qweight = torch.round(weight / scales[:, None, None, None].float()).clamp(-127, 127).to(torch.int8)
        self.stride, self.padding, self.dilation = list(conv.stride), list(conv.padding), list(conv.dilation)
        self.out_channels = conv.out_channels
        self.register_buffer("bias", bias, persistent=False)
        self.register_buffer("w_scales", scales, persistent=False)
        self.register_buffer("w_zero_points", torch.zeros(len(scales), dtype=torch.long), persistent=False)
        # the packed weight is an opaque oneDNN tensor: kept out of state_dict and module buffers
        self._packed = torch.ops.onednn.qconv_prepack(
            qweight, scales, 1.0, 0, self.stride, self.padding, self.dilation, 1, None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        lo, hi = min(float(x.amin()), 0.0), max(float(x.amax()), 0.0)
        scale = (hi - lo) / 255 if hi > lo else 1.0
        zero = min(255, max(0, round(-lo / scale)))
        qx = quantize_uint8(x, scale, zero)
        return torch.ops.onednn.qconv2d_pointwise(
            qx, scale, zero, self._packed, self.w_scales, self.w_zero_points, self.bias, self.stride,
            self.padding, self.dilation, 1, 1.0, 0, torch.float32, "none", [], "",
        )


class Int8GConv2d(Int8Conv2d):
    """``Int8Conv2d`` over every object of a ``B x N x C x H x W`` tensor (the int8 ``GConv2D``)."""

    def forward(self, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        b, n = g.shape[:2]
        out = super().forward(g.flatten(0, 1))
        return out.view(b, n, *out.shape[1:])


def converts(name: str, conv: nn.Conv2d) -> bool:
    """Whether ``quantize_network`` turns the convolution at ``name`` into int8 (the one rule, also used by
    ``benchmarks/roofline.py`` to split the work)."""
    return not any(part in name for part in KEEP_FLOAT) and conv.in_channels >= 8


def quantize_network(network: XMem) -> XMem:
    """A copy of ``network`` (CPU, eval) with its heavy convolutions in int8; ``network`` is not changed
    (a network converted already is returned as it is).

    Conv + batch-norm pairs (the ResNet trunks) are folded into one int8 conv and the norm becomes identity.
    """
    if not cpu_has_vnni():
        raise RuntimeError("the int8 fast path needs a CPU with AVX-512 VNNI and torch's oneDNN int8 kernels")
    if any(isinstance(m, Int8Conv2d) for m in network.modules()):
        return network  # already converted (propagators share one network)
    net = copy.deepcopy(network).cpu().eval()
    modules = dict(net.named_modules())
    with torch.no_grad():
        for name, module in list(modules.items()):
            if not isinstance(module, nn.Conv2d) or not converts(name, module):
                continue
            parent_name, _, attr = name.rpartition(".")
            parent = modules[parent_name] if parent_name else net
            bn = _following_norm(parent, attr)
            cls = Int8GConv2d if isinstance(module, GConv2D) else Int8Conv2d
            setattr(parent, attr, cls(module, bn))
            if bn is not None:
                bn_attr = "1" if attr == "0" else attr.replace("conv", "bn")
                setattr(parent, bn_attr, nn.Identity())
    return net


def _following_norm(parent: nn.Module, attr: str) -> nn.BatchNorm2d | None:
    """The batch norm applied right after ``parent.<attr>``: ``convK -> bnK``, or a ``Sequential(conv, bn)``."""
    if attr == "0" and isinstance(parent, nn.Sequential) and isinstance(parent[1], nn.BatchNorm2d):
        return parent[1]
    bn = getattr(parent, attr.replace("conv", "bn"), None) if attr.startswith("conv") else None
    return bn if isinstance(bn, nn.BatchNorm2d) else None
