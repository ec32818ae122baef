"""XMem's building blocks; attribute names mirror the keys of the official ``XMem.pth``.

Conventions: ``x`` features depend on the image only (``B x C x H x W``); ``g`` features also depend on an
object's mask and carry an object axis (``B x N x C x H x W``). A trailing number is the stride (f16 = 1/16).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tracking.xmem.resnet import BasicBlock, Bottleneck, make_stage


def _flat(g: torch.Tensor) -> torch.Tensor:
    return g.flatten(0, 1)


def _unflat(x: torch.Tensor, b: int, n: int) -> torch.Tensor:
    return x.view(b, n, *x.shape[1:])


def resize_groups(g: torch.Tensor, scale: float, mode: str) -> torch.Tensor:
    """Resize every object's map: bilinear (align_corners=False) up, area down, as the reference."""
    b, n = g.shape[:2]
    align = False if mode == "bilinear" else None
    return _unflat(F.interpolate(_flat(g), scale_factor=scale, mode=mode, align_corners=align), b, n)


def aggregate(prob: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft aggregation (STM): prepend background = prod(1 - p), clamp, logit, softmax -> (logits, probs)."""
    with_bg = torch.cat([torch.prod(1 - prob, dim=dim, keepdim=True), prob], dim).clamp(1e-7, 1 - 1e-7)
    logits = torch.log(with_bg / (1 - with_bg))
    return logits, F.softmax(logits, dim=dim)


class GConv2D(nn.Conv2d):
    """A conv applied to every object of a ``B x N x C x H x W`` tensor."""

    def forward(self, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _unflat(super().forward(_flat(g)), g.shape[0], g.shape[1])


class GroupResBlock(nn.Module):
    """Pre-activation residual block on object features, with a 3x3 projection when widths differ."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.downsample = None if in_dim == out_dim else GConv2D(in_dim, out_dim, 3, padding=1)
        self.conv1 = GConv2D(in_dim, out_dim, 3, padding=1)
        self.conv2 = GConv2D(out_dim, out_dim, 3, padding=1)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(g))))
        return out + (g if self.downsample is None else self.downsample(g))


class _Conv(nn.Module):
    """Holds a conv under ``.conv`` (the CBAM key layout ``SpatialGate.spatial.conv``)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, padding=(kernel - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ChannelGate(nn.Module):
    """CBAM channel attention: a shared MLP over the global average and max pools, summed, sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        mid = channels // reduction
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, mid), nn.ReLU(), nn.Linear(mid, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(att)[:, :, None, None]


class SpatialGate(nn.Module):
    """CBAM spatial attention: 7x7 conv over the channel max and mean, sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = _Conv(2, 1, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """Channel then spatial attention (Woo et al. 2018)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(channels)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusionBlock(nn.Module):
    """Fuse image features ``x`` into every object's ``g``: concat, res block, CBAM residual, res block."""

    def __init__(self, x_dim: int, g_dim: int, mid_dim: int, out_dim: int) -> None:
        super().__init__()
        self.block1 = GroupResBlock(x_dim + g_dim, mid_dim)
        self.attention = CBAM(mid_dim)
        self.block2 = GroupResBlock(mid_dim, out_dim)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        b, n = g.shape[:2]
        g = torch.cat([x.unsqueeze(1).expand(-1, n, -1, -1, -1), g], 2)
        g = self.block1(g)
        r = _unflat(self.attention(_flat(g)), b, n)
        return self.block2(g + r)


def _gru(values: torch.Tensor, h: torch.Tensor, dim: int) -> torch.Tensor:
    """XMem's GRU variant: gates forget | update | candidate; ``h' = f*h*(1-u) + u*tanh(c)``."""
    forget = torch.sigmoid(values[:, :, :dim])
    update = torch.sigmoid(values[:, :, dim : dim * 2])
    candidate = torch.tanh(values[:, :, dim * 2 :])
    return forget * h * (1 - update) + update * candidate


class HiddenUpdater(nn.Module):
    """Decoder-side sensory memory update from the 1/16, 1/8 and 1/4 decoder features (+ logits)."""

    def __init__(self, g_dims: tuple[int, int, int], mid_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.g16_conv = GConv2D(g_dims[0], mid_dim, 1)
        self.g8_conv = GConv2D(g_dims[1], mid_dim, 1)
        self.g4_conv = GConv2D(g_dims[2], mid_dim, 1)
        self.transform = GConv2D(mid_dim + hidden_dim, hidden_dim * 3, 3, padding=1)

    def forward(self, g16: torch.Tensor, g8: torch.Tensor, g4: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        g = (
            self.g16_conv(g16)
            + self.g8_conv(resize_groups(g8, 1 / 2, "area"))
            + self.g4_conv(resize_groups(g4, 1 / 4, "area"))
        )
        return _gru(self.transform(torch.cat([g, h], 2)), h, self.hidden_dim)


class HiddenReinforcer(nn.Module):
    """Value-encoder-side sensory memory update (the "deep update")."""

    def __init__(self, g_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.transform = GConv2D(g_dim + hidden_dim, hidden_dim * 3, 3, padding=1)

    def forward(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return _gru(self.transform(torch.cat([g, h], 2)), h, self.hidden_dim)


class KeyEncoder(nn.Module):
    """ResNet-50 up to ``layer3`` (``layer1`` is called ``res2``): image -> f16, f8, f4."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.res2 = make_stage(Bottleneck, 64, 64, 3, 1)
        self.layer2 = make_stage(Bottleneck, 256, 128, 4, 2)
        self.layer3 = make_stage(Bottleneck, 512, 256, 6, 2)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(torch.relu(self.bn1(self.conv1(image))), 3, stride=2, padding=1)
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class KeyProjection(nn.Module):
    """f16 -> key, shrinkage ``d(x)^2 + 1`` and selection ``sigmoid(e(x))``."""

    def __init__(self, in_dim: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)
        self.d_proj = nn.Conv2d(in_dim, 1, 3, padding=1)
        self.e_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)

    def forward(
        self, x: torch.Tensor, need_shrinkage: bool = True, need_selection: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        shrinkage = self.d_proj(x) ** 2 + 1 if need_shrinkage else None
        selection = torch.sigmoid(self.e_proj(x)) if need_selection else None
        return self.key_proj(x), shrinkage, selection


class ValueEncoder(nn.Module):
    """ResNet-18 up to ``layer3`` on image + mask + others, fused with f16, then the hidden reinforce."""

    def __init__(self, value_dim: int, hidden_dim: int, mask_channels: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3 + mask_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = make_stage(BasicBlock, 64, 64, 2, 1)
        self.layer2 = make_stage(BasicBlock, 64, 128, 2, 2)
        self.layer3 = make_stage(BasicBlock, 128, 256, 2, 2)
        self.fuser = FeatureFusionBlock(1024, 256, value_dim, value_dim)
        self.hidden_reinforce = HiddenReinforcer(value_dim, hidden_dim)

    def forward(
        self, image: torch.Tensor, f16: torch.Tensor, h: torch.Tensor, masks: torch.Tensor, others: torch.Tensor,
        deep_update: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, n = masks.shape[:2]
        g = torch.cat([image.unsqueeze(1).expand(-1, n, -1, -1, -1), torch.stack([masks, others], 2)], 2)
        # conv1 -> bn1 -> maxpool -> relu (the reference order; max-pool and ReLU commute)
        g = torch.relu(F.max_pool2d(self.bn1(self.conv1(_flat(g))), 3, stride=2, padding=1))
        g = self.layer3(self.layer2(self.layer1(g)))
        g = self.fuser(f16, _unflat(g, b, n))
        if deep_update:
            h = self.hidden_reinforce(g, h)
        return g, h


class UpsampleBlock(nn.Module):
    """x2 bilinear upsampling of object features plus a projected skip connection, then a res block."""

    def __init__(self, skip_dim: int, up_dim: int, out_dim: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, up_dim, 3, padding=1)
        self.out_conv = GroupResBlock(up_dim, out_dim)

    def forward(self, skip: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        skip = self.skip_conv(skip)
        g = resize_groups(g, 2, "bilinear")
        return self.out_conv(skip.unsqueeze(1) + g)


class Decoder(nn.Module):
    """Memory readout + hidden + f16 -> per-object logits at full (padded) size, and the new hidden state."""

    def __init__(self, value_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fuser = FeatureFusionBlock(1024, value_dim + hidden_dim, 512, 512)
        self.hidden_update = HiddenUpdater((512, 256, 256 + 1), 256, hidden_dim)
        self.up_16_8 = UpsampleBlock(512, 512, 256)
        self.up_8_4 = UpsampleBlock(256, 256, 256)
        self.pred = nn.Conv2d(256, 1, 3, padding=1)

    def forward(
        self, f16: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor, hidden: torch.Tensor, readout: torch.Tensor,
        h_out: bool = True,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        b, n = readout.shape[:2]
        g16 = self.fuser(f16, torch.cat([readout, hidden], 2))
        g8 = self.up_16_8(f8, g16)
        g4 = self.up_8_4(f4, g8)
        logits = self.pred(F.relu(_flat(g4)))
        new_hidden = None
        if h_out:
            g4 = torch.cat([g4, _unflat(logits, b, n)], 2)
            new_hidden = self.hidden_update(g16, g8, g4, hidden)
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return new_hidden, logits.view(b, n, *logits.shape[-2:])
