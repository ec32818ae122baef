"""SAM 2.1's image encoder: the Hiera trunk (windowed and global attention, q-pooling between stages) and its FPN neck.

Parameter names follow the official checkpoints (``image_encoder.trunk.*``, ``image_encoder.neck.*``). The trunk
returns four feature maps (strides 4, 8, 16, 32); the neck projects them to 256 channels, adds the nearest-x2
top-down path on the two coarsest levels only and drops the stride-32 level (``scalp``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tracking.sam2.layers import MLP


@dataclass(frozen=True)
class HieraConfig:
    """The trunk hyper-parameters of one SAM 2.1 size (the ``sam2.1_hiera_*.yaml`` values)."""

    embed_dim: int = 96
    num_heads: int = 1
    stages: tuple[int, ...] = (1, 2, 7, 2)
    global_att_blocks: tuple[int, ...] = (5, 7, 9)
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    pos_embed_size: tuple[int, int] = (7, 7)
    q_pool: int = 3
    q_stride: tuple[int, int] = (2, 2)

    @property
    def channel_list(self) -> list[int]:
        """Output channels per stage, coarsest first (what the neck's ``convs`` take, in order)."""
        return [self.embed_dim * 2**i for i in range(len(self.stages))][::-1]


def _window_partition(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``B H W C`` -> ``(B * windows) size size C``, zero-padding H and W up to a multiple of ``size``."""
    b, h, w, c = x.shape
    pad_h, pad_w = (size - h % size) % size, (size - w % size) % size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // size, size, wp // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size, size, c), (hp, wp)


def _window_unpartition(x: torch.Tensor, size: int, padded: tuple[int, int], hw: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`_window_partition`, cropping the padding."""
    hp, wp = padded
    b = x.shape[0] // (hp * wp // size // size)
    x = x.reshape(b, hp // size, wp // size, size, size, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, : hw[0], : hw[1], :]


def _pool(x: torch.Tensor, pool: nn.Module | None) -> torch.Tensor:
    """Max-pool a ``B H W C`` map (the q-pooling between stages)."""
    if pool is None:
        return x
    return pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Self-attention over ``B H W C`` tokens whose queries may be max-pooled (stage change)."""

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_pool: nn.Module | None):
        super().__init__()
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        q, k, v = torch.unbind(self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1), 2)
        if self.q_pool is not None:
            q = _pool(q.reshape(b, h, w, -1), self.q_pool)
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.num_heads, -1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(out.transpose(1, 2).reshape(b, h, w, -1))


class MultiScaleBlock(nn.Module):
    """One Hiera block: (windowed) attention then MLP, pre-norm; a stage change projects and pools the shortcut."""

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_stride: tuple[int, int] | None, window_size: int):
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.window_size = window_size
        self.q_stride = q_stride
        self.pool = nn.MaxPool2d(kernel_size=q_stride, stride=q_stride) if q_stride else None
        self.attn = MultiScaleAttention(dim, dim_out, num_heads, self.pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, 4 * dim_out, dim_out, 2, activation=nn.GELU)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.dim != self.dim_out:
            shortcut = _pool(self.proj(x), self.pool)
        window = self.window_size
        h, w = x.shape[1], x.shape[2]
        padded = (h, w)
        if window > 0:
            x, padded = _window_partition(x, window)
        x = self.attn(x)
        if self.q_stride:
            window = self.window_size // self.q_stride[0]
            h, w = shortcut.shape[1:3]
            padded = (h + (window - h % window) % window, w + (window - w % window) % window)
        if self.window_size > 0:
            x = _window_unpartition(x, window, padded, (h, w))
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """7x7 stride-4 convolution to ``B H W C`` tokens."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Hiera(nn.Module):
    """The hierarchical ViT trunk; returns one ``B C H W`` map per stage, finest first."""

    def __init__(self, config: HieraConfig):
        super().__init__()
        self.config = config
        stages = config.stages
        self.stage_ends = [sum(stages[:i]) - 1 for i in range(1, len(stages) + 1)]
        q_pool_blocks = [end + 1 for end in self.stage_ends[:-1]][: config.q_pool]
        self.patch_embed = PatchEmbed(config.embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, config.embed_dim, *config.pos_embed_size))
        w0 = config.window_spec[0]
        self.pos_embed_window = nn.Parameter(torch.zeros(1, config.embed_dim, w0, w0))
        self.blocks = nn.ModuleList()
        dim, heads, stage = config.embed_dim, config.num_heads, 1
        for i in range(sum(stages)):
            dim_out = dim
            # the first block of a stage still uses the previous stage's window (it pools inside)
            window = 0 if i in config.global_att_blocks else config.window_spec[stage - 1]
            if i - 1 in self.stage_ends:
                dim_out, heads, stage = dim * 2, heads * 2, stage + 1
            q_stride = config.q_stride if i in q_pool_blocks else None
            self.blocks.append(MultiScaleBlock(dim, dim_out, heads, q_stride, window))
            dim = dim_out

    def _pos_embed(self, hw: tuple[int, int]) -> torch.Tensor:
        pos = F.interpolate(self.pos_embed, size=hw, mode="bicubic")
        win = self.pos_embed_window
        pos = pos + win.tile([p // q for p, q in zip(pos.shape, win.shape, strict=True)])
        return pos.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(x)
        x = x + self._pos_embed(x.shape[1:3])
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs


class _Lateral(nn.Module):
    """A 1x1 lateral projection (a module so its key is ``convs.N.conv.*`` like the checkpoint)."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.conv = nn.Conv2d(dim_in, dim_out, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class FpnNeck(nn.Module):
    """Lateral 1x1 convs to ``d_model`` channels plus a nearest-x2 top-down sum on ``top_down_levels``."""

    def __init__(self, channel_list: list[int], d_model: int = 256, top_down_levels: tuple[int, ...] = (2, 3)):
        super().__init__()
        self.convs = nn.ModuleList(_Lateral(c, d_model) for c in channel_list)
        self.top_down_levels = top_down_levels

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        n = len(self.convs) - 1
        out: list[torch.Tensor] = [xs[0]] * (n + 1)
        prev = None
        for i in range(n, -1, -1):
            lateral = self.convs[n - i](xs[i])
            if i in self.top_down_levels and prev is not None:
                prev = lateral + F.interpolate(prev.float(), scale_factor=2.0, mode="nearest")
            else:
                prev = lateral
            out[i] = prev
        return out


class ImageEncoder(nn.Module):
    """Trunk + neck; returns the three finest FPN levels (strides 4, 8, 16), 256 channels each.

    Their position encoding is :class:`SinePositionEncoding` (256 channels); only the stride-16 level's is used
    by the tracker, so it is not computed here.
    """

    def __init__(self, config: HieraConfig):
        super().__init__()
        self.trunk = Hiera(config)
        self.neck = FpnNeck(config.channel_list)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return self.neck(self.trunk(image))[:-1]  # scalp=1: the stride-32 level is not used
