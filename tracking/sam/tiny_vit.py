"""TinyViT image encoder of MobileSAM (``vit_t``), written so ``mobile_sam.pt`` loads with ``strict=True``.

Module names mirror the checkpoint keys under ``image_encoder.``: ``patch_embed.seq``, ``layers.{0..3}``
(``blocks``, ``downsample``), ``norm_head`` / ``head`` (the unused 1000-class classifier, kept only so the
official file loads strictly), ``neck``. Architecture facts (from MobileSAM's ``tiny_vit_sam.py`` and the
conformance README): BatchNorm eps 1e-5, token LayerNorms eps 1e-5, neck LayerNorm2d eps 1e-6, exact GELU;
window attention pads tokens at the bottom/right *before* its LayerNorm and uses no mask; the relative
bias of window positions ``i, j`` is ``attention_biases[:, |dy| * ws + |dx|]``; the third PatchMerging
keeps stride 1, so the last two stages run at 64 x 64.

The attention bias is gathered in ``forward`` every call (never cached), so loading weights after
``eval()`` can never leave a stale table behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from segment_anything.modeling.common import LayerNorm2d
from torch import nn


@dataclass(frozen=True)
class TinyViTConfig:
    """The arguments of MobileSAM's ``build_sam_vit_t`` encoder (the 5M TinyViT at 1024 px)."""

    img_size: int = 1024
    in_chans: int = 3
    num_classes: int = 1000
    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (2, 4, 5, 10)
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    out_chans: int = 256


class Conv2dBN(nn.Sequential):
    """Conv2d without bias followed by BatchNorm2d; keys ``c.*`` and ``bn.*``."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, pad: int = 0, groups: int = 1):
        super().__init__()
        self.add_module("c", nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout))


class PatchEmbed(nn.Module):
    """Two stride-2 3x3 conv+BN with a GELU between them: 1024 px -> 256 x 256 tokens."""

    def __init__(self, in_chans: int, dim: int):
        super().__init__()
        self.seq = nn.Sequential(Conv2dBN(in_chans, dim // 2, 3, 2, 1), nn.GELU(), Conv2dBN(dim // 2, dim, 3, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project, residual add, then GELU."""

    def __init__(self, dim: int, expand_ratio: float):
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = Conv2dBN(dim, hidden, 1)
        self.conv2 = Conv2dBN(hidden, hidden, 3, 1, 1, groups=hidden)
        self.conv3 = Conv2dBN(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.conv1(x))
        y = F.gelu(self.conv2(y))
        return F.gelu(self.conv3(y) + x)


class PatchMerging(nn.Module):
    """1x1 conv, strided depthwise 3x3, 1x1 conv; takes NCHW or (B, L, C) tokens, returns (B, L', C')."""

    def __init__(self, resolution: int, dim: int, out_dim: int):
        super().__init__()
        self.resolution = resolution
        stride = 1 if out_dim in (320, 448, 576) else 2  # upstream keeps the last stages at 64 x 64
        self.conv1 = Conv2dBN(dim, out_dim, 1)
        self.conv2 = Conv2dBN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = Conv2dBN(out_dim, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            b, _, c = x.shape
            x = x.transpose(1, 2).reshape(b, c, self.resolution, self.resolution)
        x = F.gelu(self.conv1(x))
        x = F.gelu(self.conv2(x))
        x = self.conv3(x)
        return x.flatten(2).transpose(1, 2)


class ConvLayer(nn.Module):
    """Stage 0: MBConv blocks on NCHW features, then a PatchMerging to tokens."""

    def __init__(self, resolution: int, dim: int, out_dim: int, depth: int, expand_ratio: float):
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, expand_ratio) for _ in range(depth))
        self.downsample = PatchMerging(resolution, dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x)


def relative_bias_index(window: int) -> torch.Tensor:
    """``(ws*ws, ws*ws)`` table: index ``|dy| * ws + |dx|`` between row-major window positions."""
    pos = torch.arange(window)
    ys, xs = torch.meshgrid(pos, pos, indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    return (ys[:, None] - ys[None, :]).abs() * window + (xs[:, None] - xs[None, :]).abs()


class Attention(nn.Module):
    """Multi-head self-attention within one window, with a learned relative-position bias per head."""

    def __init__(self, dim: int, num_heads: int, window: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, window * window))
        self.register_buffer("attention_bias_idxs", relative_bias_index(window), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        x = self.norm(x)
        # per head the qkv output holds q, k, v contiguously: (B, N, heads, 3 * head_dim)
        q, k, v = self.qkv(x).view(b, n, self.num_heads, 3 * self.head_dim).permute(0, 2, 1, 3).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.scale + self.attention_biases[:, self.attention_bias_idxs]
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    """LayerNorm -> fc1 -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


class TinyViTBlock(nn.Module):
    """Window attention (residual), depthwise local conv (no residual), MLP (residual) on (B, L, C) tokens."""

    def __init__(self, resolution: int, dim: int, num_heads: int, window: int, mlp_ratio: float, local_conv: int):
        super().__init__()
        self.resolution = resolution
        self.window = window
        self.attn = Attention(dim, num_heads, window)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.local_conv = Conv2dBN(dim, dim, local_conv, 1, local_conv // 2, groups=dim)

    def _window_attention(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        h = w = self.resolution
        ws = self.window
        if h == ws and w == ws:
            return self.attn(x)
        pad_b, pad_r = (-h) % ws, (-w) % ws
        x = x.view(b, h, w, c)
        if pad_b or pad_r:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))  # zeros at the bottom/right, before the attention's norm
        ph, pw = h + pad_b, w + pad_r
        nh, nw = ph // ws, pw // ws
        x = x.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
        x = self.attn(x)
        x = x.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, ph, pw, c)
        return x[:, :h, :w].reshape(b, h * w, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        x = x + self._window_attention(x)
        x = self.local_conv(x.transpose(1, 2).reshape(b, c, self.resolution, self.resolution))
        x = x.reshape(b, c, n).transpose(1, 2)
        return x + self.mlp(x)


class BasicLayer(nn.Module):
    """Stages 1-3: TinyViT blocks on tokens, then an optional PatchMerging."""

    def __init__(
        self,
        resolution: int,
        dim: int,
        out_dim: int | None,
        depth: int,
        num_heads: int,
        window: int,
        mlp_ratio: float,
        local_conv: int,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            TinyViTBlock(resolution, dim, num_heads, window, mlp_ratio, local_conv) for _ in range(depth)
        )
        self.downsample = PatchMerging(resolution, dim, out_dim) if out_dim is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class TinyViT(nn.Module):
    """MobileSAM's image encoder: ``(B, 3, 1024, 1024)`` normalised pixels -> ``(B, 256, 64, 64)`` embeddings."""

    def __init__(self, config: TinyViTConfig | None = None):
        super().__init__()
        cfg = config or TinyViTConfig()
        self.config = cfg
        self.img_size = cfg.img_size  # read by segment_anything's Sam.preprocess and SamPredictor
        dims = cfg.embed_dims
        base = cfg.img_size // 4
        self.patch_embed = PatchEmbed(cfg.in_chans, dims[0])
        layers: list[nn.Module] = [ConvLayer(base, dims[0], dims[1], cfg.depths[0], cfg.mbconv_expand_ratio)]
        resolution = base // 2
        for i in range(1, len(dims)):
            out_dim = dims[i + 1] if i + 1 < len(dims) else None
            layers.append(
                BasicLayer(
                    resolution,
                    dims[i],
                    out_dim,
                    cfg.depths[i],
                    cfg.num_heads[i],
                    cfg.window_sizes[i],
                    cfg.mlp_ratio,
                    cfg.local_conv_size,
                )
            )
            if out_dim is not None and out_dim not in (320, 448, 576):
                resolution //= 2
        self.layers = nn.ModuleList(layers)
        self.out_resolution = resolution
        self.norm_head = nn.LayerNorm(dims[-1])  # classifier head: in the checkpoint, unused here
        self.head = nn.Linear(dims[-1], cfg.num_classes)
        self.neck = nn.Sequential(
            nn.Conv2d(dims[-1], cfg.out_chans, 1, bias=False),
            LayerNorm2d(cfg.out_chans, eps=1e-6),
            nn.Conv2d(cfg.out_chans, cfg.out_chans, 3, padding=1, bias=False),
            LayerNorm2d(cfg.out_chans, eps=1e-6),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        b, _, c = x.shape
        x = x.transpose(1, 2).reshape(b, c, self.out_resolution, self.out_resolution)
        return self.neck(x)
