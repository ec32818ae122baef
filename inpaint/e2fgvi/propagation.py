"""Second-order flow-guided deformable propagation of local-frame features (BasicVSR++ style).

Names mirror the checkpoint: ``feat_prop_module.{deform_align,backbone}.{backward_,forward_}.*`` and
``feat_prop_module.fusion``. The modulated deformable conv is ``torchvision.ops.deform_conv2d`` with a mask;
its offset layout is mmcv's: ``[N, groups * 2 * 9, H, W]`` blocked per deform group, (dy, dx) per kernel tap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaint.e2fgvi.spynet import flow_warp

try:  # torchvision is a dependency; the pure-torch path serves the CPU and wheels where it does not import
    from torchvision.ops import deform_conv2d as _tv_deform_conv2d
except Exception:  # pragma: no cover - exercised only without a working torchvision
    _tv_deform_conv2d = None


def modulated_deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    padding: int = 1,
) -> torch.Tensor:
    """DCNv2 with stride 1, dilation 1, one conv group; ``deform_groups = offset.shape[1] // (2 * kh * kw)``.

    On CUDA this is torchvision's kernel; on the CPU the pure-PyTorch version, which is about twice as fast
    there (grid_sample + one batched matmul) and equal to it within float32 rounding.
    """
    if _tv_deform_conv2d is not None and x.device.type != "cpu":
        dtype = x.dtype
        offset, mask, weight = offset.to(dtype), mask.to(dtype), weight.to(dtype)
        bias = None if bias is None else bias.to(dtype)
        return _tv_deform_conv2d(x, offset, weight, bias, stride=1, padding=padding, dilation=1, mask=mask)
    return _deform_conv2d_torch(x, offset, mask, weight, bias, padding)


def _deform_conv2d_torch(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    padding: int,
) -> torch.Tensor:
    """Pure-PyTorch DCNv2 (grid_sample per tap), the same semantics as mmcv: zero outside the image."""
    n, c, h, w = x.shape
    cout, _, kh, kw = weight.shape
    k = kh * kw
    groups = offset.shape[1] // (2 * k)
    cg = c // groups
    # sampling position of tap (i, j) at output (y, x): (y - p + i + dy, x - p + j + dx), normalised for
    # grid_sample(align_corners=True): 2 * pos / (size - 1) - 1
    sx, sy = 2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)
    gdt = torch.float32 if offset.dtype in (torch.float16, torch.bfloat16) else offset.dtype
    ys = torch.arange(h, device=x.device, dtype=gdt).view(1, h, 1)
    xs = torch.arange(w, device=x.device, dtype=gdt).view(1, 1, w)
    ki = torch.arange(kh, device=x.device, dtype=gdt).repeat_interleave(kw).view(k, 1, 1)
    kj = torch.arange(kw, device=x.device, dtype=gdt).repeat(kh).view(k, 1, 1)
    gx = ((xs - padding + kj) * sx - 1).expand(k, h, w)
    gy = ((ys - padding + ki) * sy - 1).expand(k, h, w)
    base = torch.stack((gx, gy), dim=-1)  # k, h, w, 2 as (x, y)
    off = offset.view(n, groups, k, 2, h, w).permute(0, 1, 2, 4, 5, 3).flip(-1).to(gdt)  # (dx, dy) last
    scale = torch.tensor([sx, sy], device=x.device, dtype=gdt)
    grid = torch.addcmul(base, off, scale).reshape(n * groups, k * h, w, 2)
    src = x.reshape(n * groups, cg, h, w).to(grid.dtype)  # sample at full-precision coordinates
    sampled = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True).to(x.dtype)
    sampled = sampled.view(n, groups, cg, k, h * w) * mask.view(n, groups, 1, k, h * w).to(x.dtype)
    cols = sampled.view(n, c * k, h * w)  # channel-major, then tap: matches weight.view(cout, c * k)
    out = torch.matmul(weight.reshape(cout, c * k).to(x.dtype), cols).view(n, cout, h, w)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1).to(out.dtype)
    return out


class SecondOrderDeformableAlignment(nn.Module):
    """Align the previous two propagated features to the current frame with flow-guided DCNv2.

    ``weight``/``bias`` are the deformable conv's own (mmcv ``ModulatedDeformConv2d`` layout);
    ``conv_offset`` predicts 27 channels per deform group: dy/dx residuals for both orders, then the mask.
    """

    def __init__(self, in_channels: int, out_channels: int, deform_groups: int = 16, max_residue: float = 10.0):
        super().__init__()
        self.deform_groups = deform_groups
        self.max_residue = max_residue
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.conv_offset = nn.Sequential(
            nn.Conv2d(3 * out_channels + 4, out_channels, 3, 1, 1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(out_channels, 27 * deform_groups, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor, flow_1: torch.Tensor, flow_2: torch.Tensor) -> torch.Tensor:
        out = self.conv_offset(torch.cat([cond, flow_1, flow_2], dim=1))
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = self.max_residue * torch.tanh(torch.cat((o1, o2), dim=1))
        offset_1, offset_2 = torch.chunk(offset, 2, dim=1)
        # flows are (x, y); offsets are (dy, dx) pairs, one per kernel tap and deform group
        offset_1 = offset_1 + flow_1.flip(1).repeat(1, offset_1.size(1) // 2, 1, 1)
        offset_2 = offset_2 + flow_2.flip(1).repeat(1, offset_2.size(1) // 2, 1, 1)
        offset = torch.cat([offset_1, offset_2], dim=1)
        return modulated_deform_conv2d(x, offset, torch.sigmoid(mask), self.weight, self.bias, padding=1)


class BidirectionalPropagation(nn.Module):
    """Backward then forward second-order propagation over the local frames, fused by a 1x1 conv.

    ``forward(x, flows_backward, flows_forward)`` with x (B, T, C, H, W) and flows (B, T-1, 2, H, W).
    E2FGVI-HQ passes its *forward* flows as ``flows_backward`` (and the backward branch indexes them
    from the start of the clip); that is what the checkpoint was trained with, so it is kept.
    """

    directions = ("backward_", "forward_")

    def __init__(self, channel: int) -> None:
        super().__init__()
        self.channel = channel
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(self.directions):
            self.deform_align[name] = SecondOrderDeformableAlignment(2 * channel, channel, deform_groups=16)
            self.backbone[name] = nn.Sequential(
                nn.Conv2d((2 + i) * channel, channel, 3, 1, 1),
                nn.LeakyReLU(0.1, inplace=True),
                nn.Conv2d(channel, channel, 3, 1, 1),
            )
        self.fusion = nn.Conv2d(2 * channel, channel, 1, 1, 0)

    def forward(self, x: torch.Tensor, flows_backward: torch.Tensor, flows_forward: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        spatial = [x[:, i] for i in range(t)]
        props: dict[str, list[torch.Tensor]] = {}
        for name in self.directions:
            frames = range(t - 1, -1, -1) if name == "backward_" else range(t)
            flows = flows_backward if name == "backward_" else flows_forward
            out: list[torch.Tensor] = []
            feat_prop = x.new_zeros(b, self.channel, h, w)
            for i, idx in enumerate(frames):
                current = spatial[idx]
                if i > 0:
                    # flow index i-1 for step i, in both directions (as the reference does)
                    flow_n1 = flows[:, i - 1]
                    cond_n1 = flow_warp(feat_prop, flow_n1.permute(0, 2, 3, 1))
                    if i > 1:
                        feat_n2 = out[-2]
                        flow_n2 = flow_n1 + flow_warp(flows[:, i - 2], flow_n1.permute(0, 2, 3, 1))
                        cond_n2 = flow_warp(feat_n2, flow_n2.permute(0, 2, 3, 1))
                    else:
                        feat_n2 = torch.zeros_like(feat_prop)
                        flow_n2 = torch.zeros_like(flow_n1)
                        cond_n2 = torch.zeros_like(cond_n1)
                    cond = torch.cat([cond_n1, current, cond_n2], dim=1)
                    feat_prop = self.deform_align[name](torch.cat([feat_prop, feat_n2], dim=1), cond, flow_n1, flow_n2)
                extra = [props["backward_"][idx]] if name == "forward_" else []
                feat = torch.cat([current, *extra, feat_prop], dim=1)
                feat_prop = feat_prop + self.backbone[name](feat)
                out.append(feat_prop)
            props[name] = out[::-1] if name == "backward_" else out
        fused = [self.fusion(torch.cat([props["backward_"][i], props["forward_"][i]], dim=1)) for i in range(t)]
        return torch.stack(fused, dim=1) + x
