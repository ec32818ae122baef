"""SPyNet optical flow (the flow-completion branch of E2FGVI-HQ) and the shared ``flow_warp``.

Module names mirror the checkpoint: ``update_spynet.basic_module.{level}.basic_module.{layer}.conv.*``.
Its weights come with the E2FGVI-HQ checkpoint; nothing is downloaded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def flow_warp(x: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``x`` (N, C, H, W) at ``pixel + flow``; ``flow`` is (N, H, W, 2) in pixels, channel 0 = x.

    Bilinear, ``align_corners=True``, coordinates normalised by ``W - 1`` / ``H - 1``.
    """
    if x.shape[-2:] != flow.shape[1:3]:
        raise ValueError(f"flow_warp: feature size {tuple(x.shape[-2:])} != flow size {tuple(flow.shape[1:3])}")
    h, w = x.shape[-2:]
    ys = torch.arange(h, device=x.device, dtype=flow.dtype)
    xs = torch.arange(w, device=x.device, dtype=flow.dtype)
    gx = 2.0 * (xs.view(1, 1, w) + flow[..., 0]) / max(w - 1, 1) - 1.0
    gy = 2.0 * (ys.view(1, h, 1) + flow[..., 1]) / max(h - 1, 1) - 1.0
    grid = torch.stack((gx, gy), dim=3)
    if x.dtype == grid.dtype:
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)
    # reduced precision: sample at float32 coordinates (bf16 would move samples by up to ~0.2 px)
    out = F.grid_sample(x.float(), grid.float(), mode="bilinear", padding_mode=padding_mode, align_corners=True)
    return out.to(x.dtype)


class ConvAct(nn.Module):
    """A 7x7 conv with an optional ReLU (mmcv ``ConvModule`` layout: the conv lives under ``.conv``)."""

    def __init__(self, cin: int, cout: int, relu: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=7, stride=1, padding=3)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return F.relu(x, inplace=True) if self.relu else x


class SPyNetLevel(nn.Module):
    """One pyramid level: (ref 3, warped supp 3, flow 2) -> flow residual 2."""

    def __init__(self) -> None:
        super().__init__()
        chans = (8, 32, 64, 32, 16, 2)
        self.basic_module = nn.Sequential(*[ConvAct(chans[i], chans[i + 1], relu=i < 4) for i in range(5)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)


class SPyNet(nn.Module):
    """Six-level SPyNet. ``forward(ref, supp)`` is the flow from ``ref`` to ``supp`` in pixels, (N, 2, H, W).

    Inputs are RGB in [0, 1], (N, 3, H, W); any size (resized internally to multiples of 32).
    """

    def __init__(self) -> None:
        super().__init__()
        self.basic_module = nn.ModuleList([SPyNetLevel() for _ in range(6)])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def compute_flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        """Flow at a size that is a multiple of 32, coarse to fine."""
        n, _, h, w = ref.shape
        refs = [(ref - self.mean) / self.std]
        supps = [(supp - self.mean) / self.std]
        for _ in range(5):
            refs.append(F.avg_pool2d(refs[-1], kernel_size=2, stride=2, count_include_pad=False))
            supps.append(F.avg_pool2d(supps[-1], kernel_size=2, stride=2, count_include_pad=False))
        refs, supps = refs[::-1], supps[::-1]
        flow = refs[0].new_zeros(n, 2, h // 32, w // 32)
        for level, module in enumerate(self.basic_module):
            if level == 0:
                flow_up = flow
            else:
                flow_up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            warped = flow_warp(supps[level], flow_up.permute(0, 2, 3, 1), padding_mode="border")
            flow = flow_up + module(torch.cat([refs[level], warped, flow_up], dim=1))
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        h, w = ref.shape[2:4]
        h_up = -(-h // 32) * 32
        w_up = -(-w // 32) * 32
        ref = F.interpolate(ref, size=(h_up, w_up), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(h_up, w_up), mode="bilinear", align_corners=False)
        flow = F.interpolate(self.compute_flow(ref, supp), size=(h, w), mode="bilinear", align_corners=False)
        scale = torch.tensor([w / w_up, h / h_up], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
        return flow * scale
