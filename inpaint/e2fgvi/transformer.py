"""Soft split / soft composition and the temporal focal transformer of E2FGVI-HQ.

Tokens: features (B*T, 128, h, w) are unfolded in 7x7 patches with stride 3 and padding 3 and embedded to
512 channels, giving a (B, T, th, tw, 512) token grid. Each block attends within 5x9 windows over all T
frames, to the rolled (expanded) neighbourhood around each window, and to one pooled token per window
(a learnt ``Linear(45 -> 1)`` pool); the fusion feed-forward folds tokens back to pixels and re-splits them.
Names mirror the checkpoint: ``ss.*``, ``sc.*``, ``transformer.{i}.{pool_layers,norm1,attn,norm2,mlp}.*``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class T2TParams:
    """Geometry of the soft split: 7x7 patches, stride 3, padding 3."""

    kernel: tuple[int, int] = (7, 7)
    stride: tuple[int, int] = (3, 3)
    padding: tuple[int, int] = (3, 3)

    def grid(self, size: tuple[int, int]) -> tuple[int, int]:
        """Token grid (th, tw) for a feature map of ``size`` (h, w)."""
        return tuple(  # type: ignore[return-value]
            (size[i] + 2 * self.padding[i] - self.kernel[i]) // self.stride[i] + 1 for i in range(2)
        )

    def fold(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return F.fold(x, output_size=size, kernel_size=self.kernel, stride=self.stride, padding=self.padding)

    def unfold(self, x: torch.Tensor) -> torch.Tensor:
        return F.unfold(x, kernel_size=self.kernel, stride=self.stride, padding=self.padding)


class SoftSplit(nn.Module):
    """(B*T, C, h, w) features -> (B, T, th, tw, hidden) tokens."""

    def __init__(self, channel: int, hidden: int, t2t: T2TParams) -> None:
        super().__init__()
        self.t2t = t2t
        self.embedding = nn.Linear(t2t.kernel[0] * t2t.kernel[1] * channel, hidden)

    def forward(self, x: torch.Tensor, b: int, size: tuple[int, int]) -> torch.Tensor:
        th, tw = self.t2t.grid(size)
        feat = self.embedding(self.t2t.unfold(x).transpose(1, 2))
        return feat.view(b, -1, th, tw, feat.size(2))


class SoftComp(nn.Module):
    """(B, T, th, tw, hidden) tokens -> (B*T, C, h, w) features (fold without normalisation, then a 3x3 conv)."""

    def __init__(self, channel: int, hidden: int, t2t: T2TParams) -> None:
        super().__init__()
        self.t2t = t2t
        self.embedding = nn.Linear(hidden, t2t.kernel[0] * t2t.kernel[1] * channel)
        self.bias_conv = nn.Conv2d(channel, channel, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor, t: int, size: tuple[int, int]) -> torch.Tensor:
        b, c = x.shape[0], x.shape[-1]
        feat = self.embedding(x.reshape(b, -1, c))
        feat = feat.view(b * t, -1, feat.size(2)).transpose(1, 2)
        return self.bias_conv(self.t2t.fold(feat, size))


class FusionFeedForward(nn.Module):
    """Linear 512->1960, fold to pixels / overlap count, unfold again, GELU, Linear 1960->512."""

    def __init__(self, dim: int, t2t: T2TParams, hidden: int = 1960) -> None:
        super().__init__()
        self.t2t = t2t
        self.conv1 = nn.Sequential(nn.Linear(dim, hidden))
        self.conv2 = nn.Sequential(nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        th, tw = self.t2t.grid(size)
        n_vecs = th * tw
        x = self.conv1(x)
        b, n, c = x.shape
        patch = self.t2t.kernel[0] * self.t2t.kernel[1]
        ones = x.new_ones(1, patch, n_vecs)
        normalizer = self.t2t.fold(ones, size)
        x = self.t2t.fold(x.view(-1, n_vecs, c).transpose(1, 2), size)
        x = self.t2t.unfold(x / normalizer).transpose(1, 2).reshape(b, n, c)
        return self.conv2(x)


def window_partition(x: torch.Tensor, ws: tuple[int, int]) -> torch.Tensor:
    """(B, T, H, W, C) -> (B, nWh, nWw, T, wh, ww, C)."""
    b, t, h, w, c = x.shape
    x = x.view(b, t, h // ws[0], ws[0], w // ws[1], ws[1], c)
    return x.permute(0, 2, 4, 1, 3, 5, 6)


def window_reverse(windows: torch.Tensor, ws: tuple[int, int], b: int, t: int, h: int, w: int) -> torch.Tensor:
    """(B*nW, T*wh*ww, C) -> (B, T, H, W, C)."""
    x = windows.view(b, h // ws[0], w // ws[1], t, ws[0], ws[1], -1)
    return x.permute(0, 3, 1, 4, 2, 5, 6).reshape(b, t, h, w, -1)


def rolled_valid_index(ws: tuple[int, int], expand: tuple[int, int]) -> torch.Tensor:
    """Indices into the 4 rolled copies (tl, tr, bl, br) of a window that lie outside the window itself."""
    masks = []
    for sy, sx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        m = torch.ones(ws)
        rows = slice(None, -expand[0]) if sy == 0 else slice(expand[0], None)
        cols = slice(None, -expand[1]) if sx == 0 else slice(expand[1], None)
        m[rows, cols] = 0
        masks.append(m)
    return torch.stack(masks).flatten().nonzero(as_tuple=False).view(-1)


class WindowAttention(nn.Module):
    """Temporal focal window attention: window tokens of all frames attend to the window, its rolled
    surroundings and the pooled tokens of the 5x9 neighbouring windows (masked with -100 off the grid)."""

    def __init__(self, dim: int, window: tuple[int, int], num_heads: int) -> None:
        super().__init__()
        self.dim = dim
        self.window = window
        self.expand = (window[0] // 2, window[1] // 2)
        self.num_heads = num_heads
        self.register_buffer("valid_ind_rolled", rolled_valid_index(window, self.expand))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """(B, nWh, nWw, T, wh, ww, C) -> (B*nW, heads, T*wh*ww, hd)."""
        c = x.shape[-1]
        n = self.window[0] * self.window[1]
        x = x.reshape(-1, t, n, self.num_heads, c // self.num_heads).permute(0, 3, 1, 2, 4)
        return x.reshape(x.shape[0], self.num_heads, t * n, c // self.num_heads)

    def forward(self, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """x (B, T, H, W, C) normalised tokens; pooled (B, nWh, nWw, T, C). Returns (B*nW, T*45, C)."""
        b, t, h, w, c = x.shape
        ws, ex, nh = self.window, self.expand, self.num_heads
        hd = c // nh
        q, k, v = self.qkv(x).view(b, t, h, w, 3, c).unbind(4)
        q_win = self._heads(window_partition(q, ws), t)

        def expanded(z: torch.Tensor) -> torch.Tensor:
            own = self._heads(window_partition(z, ws), t)
            rolled = [
                window_partition(torch.roll(z, shifts=(sy * ex[0], sx * ex[1]), dims=(2, 3)), ws).reshape(
                    -1, t, ws[0] * ws[1], nh, hd
                )
                for sy, sx in ((-1, -1), (-1, 1), (1, -1), (1, 1))
            ]
            rolled = torch.cat(rolled, 2).permute(0, 3, 1, 2, 4)[:, :, :, self.valid_ind_rolled]
            return torch.cat((own, rolled.reshape(rolled.shape[0], nh, -1, hd)), 2)

        k_all, v_all = expanded(k), expanded(v)

        # pooled level: one token per window, unfolded over the 5x9 neighbouring windows
        pw = pooled.permute(0, 3, 1, 2, 4)  # B, T, nWh, nWw, C
        nwh, nww = pw.shape[2:4]
        kern, pad = ws, (ws[0] // 2, ws[1] // 2)
        ones = pw.new_ones(t, 1, nwh, nww)
        valid = F.unfold(ones, kern, padding=pad)  # T, 45, L
        valid = valid.view(t, kern[0] * kern[1], -1).permute(2, 0, 1).reshape(1, -1, t * kern[0] * kern[1])
        pool_mask = torch.zeros_like(valid).masked_fill(valid == 0, -100.0)  # 1, L, T*45
        kv_pooled = self.qkv(pw).view(b, t, nwh, nww, 3, c).permute(4, 0, 1, 5, 2, 3).reshape(3, b * t, c, nwh, nww)

        def pooled_heads(z: torch.Tensor) -> torch.Tensor:
            z = F.unfold(z, kern, padding=pad).view(b, t, c, kern[0], kern[1], -1)
            z = z.permute(0, 5, 1, 3, 4, 2).reshape(-1, t, kern[0] * kern[1], nh, hd).permute(0, 3, 1, 2, 4)
            return z.reshape(z.shape[0], nh, -1, hd)

        k_all = torch.cat((k_all, pooled_heads(kv_pooled[1])), 2)
        v_all = torch.cat((v_all, pooled_heads(kv_pooled[2])), 2)

        n_windows = pool_mask.shape[1]
        n_keys = k_all.shape[2]
        mask = q_win.new_zeros(b, n_windows, 1, 1, n_keys)
        mask[..., n_keys - pool_mask.shape[2] :] = pool_mask.to(q_win.dtype).view(1, n_windows, 1, 1, -1)
        mask = mask.view(b * n_windows, 1, 1, n_keys)
        out = F.scaled_dot_product_attention(q_win, k_all, v_all, attn_mask=mask)
        out = out.transpose(1, 2).reshape(out.shape[0], -1, c)
        return self.proj(out)


class TemporalFocalTransformerBlock(nn.Module):
    """LayerNorm -> focal window attention -> residual -> LayerNorm -> fusion FFN -> residual."""

    def __init__(self, dim: int, num_heads: int, window: tuple[int, int], t2t: T2TParams) -> None:
        super().__init__()
        self.window = window
        self.pool_layers = nn.ModuleList([nn.Linear(window[0] * window[1], 1)])
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim, t2t)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, nWh, nWw, T, C): trim/pad the grid to whole windows, then the learnt pool."""
        b, t, h, w, c = x.shape
        ws = self.window
        hp, wp = math.ceil(h / ws[0]) * ws[0], math.ceil(w / ws[1]) * ws[1]
        if h > hp:
            top = (h - hp) // 2
            x = x[:, :, top : top + hp]
        elif h < hp:
            top = (hp - h) // 2
            x = F.pad(x, (0, 0, 0, 0, top, hp - h - top))
        if w > wp:
            left = (w - wp) // 2
            x = x[:, :, :, left : left + wp]
        elif w < wp:
            left = (wp - w) // 2
            x = F.pad(x, (0, 0, left, wp - w - left))
        win = window_partition(x.contiguous(), ws)  # B, nWh, nWw, T, wh, ww, C
        win = win.reshape(*win.shape[:4], ws[0] * ws[1], c).transpose(4, 5)
        return self.pool_layers[0](win).flatten(-2)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, t, h, w, c = x.shape
        y = self.norm1(x)
        attn = self.attn(y, self.pool(y))
        x = x + window_reverse(attn, self.window, b, t, h, w)
        return x + self.mlp(self.norm2(x).view(b, t * h * w, c), size).view(b, t, h, w, c)
