"""The E2FGVI-HQ frame encoder (to 1/4 resolution, 128 channels) and decoder (back to RGB).

Names mirror the checkpoint: ``encoder.layers.{0,2,...,16}`` and ``decoder.{0,2,4,6}``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (in, out, stride, groups) of the nine convs; odd indices of ``layers`` are LeakyReLU(0.2)
_ENCODER_CONVS = (
    (3, 64, 2, 1),
    (64, 64, 1, 1),
    (64, 128, 2, 1),
    (128, 256, 1, 1),
    (256, 384, 1, 1),
    (640, 512, 1, 2),
    (768, 384, 1, 4),
    (640, 256, 1, 8),
    (512, 128, 1, 1),
)


class Encoder(nn.Module):
    """Strided convs to 1/4, then four grouped convs that each see the 256-channel stem ``x0`` again.

    Before conv ``j`` (j >= 5) the stem and the running output are interleaved per group ``g``:
    ``cat([x0.view(n, g, -1, h, w), out.view(n, g, -1, h, w)], 2)`` (not a plain channel concat).
    """

    def __init__(self) -> None:
        super().__init__()
        self.group = (1, 2, 4, 8, 1)
        layers: list[nn.Module] = []
        for cin, cout, stride, groups in _ENCODER_CONVS:
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, groups=groups), nn.LeakyReLU(0.2, inplace=True)]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        out = x
        x0 = out
        for i, layer in enumerate(self.layers):
            if i == 8:
                x0 = out
            if i > 8 and i % 2 == 0:
                g = self.group[(i - 8) // 2]
                h, w = x0.shape[-2:]
                out = torch.cat([x0.view(n, g, -1, h, w), out.view(n, g, -1, h, w)], 2).view(n, -1, h, w)
            out = layer(out)
        return out


class Deconv(nn.Module):
    """x2 bilinear upsampling (``align_corners=True``) followed by a 3x3 conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


def build_decoder(channel: int = 128) -> nn.Sequential:
    """128-channel 1/4-resolution features -> 3-channel image (before tanh)."""
    return nn.Sequential(
        Deconv(channel, 128),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(128, 64, 3, 1, 1),
        nn.LeakyReLU(0.2, inplace=True),
        Deconv(64, 64),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(64, 3, 3, 1, 1),
    )
