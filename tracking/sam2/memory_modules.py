"""SAM 2.1's memory encoder (mask downsampler + ConvNeXt fuser) and memory attention (self/cross attention with RoPE).

Keys follow the checkpoints: ``memory_encoder.*`` and ``memory_attention.*``. Tokens are ``HW x B x C``
(row-major), as the tracker stores them.
"""

from __future__ import annotations

import torch
from torch import nn

from tracking.sam2.heads import Attention
from tracking.sam2.layers import LayerNorm2d, SinePositionEncoding, attention


class MaskDownSampler(nn.Module):
    """Four stride-2 3x3 convs (1 -> 4 -> 16 -> 64 -> 256 channels, LayerNorm + GELU) then a 1x1 conv."""

    def __init__(self, dim: int = 256, layers: int = 4):
        super().__init__()
        mods: list[nn.Module] = []
        chans = 1
        for _ in range(layers):
            mods += [nn.Conv2d(chans, chans * 4, kernel_size=3, stride=2, padding=1), LayerNorm2d(chans * 4), nn.GELU()]
            chans *= 4
        mods.append(nn.Conv2d(chans, dim, kernel_size=1))
        self.encoder = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class CXBlock(nn.Module):
    """ConvNeXt block: 7x7 depthwise conv, LayerNorm, MLP x4 with GELU, layer scale ``gamma``, residual."""

    def __init__(self, dim: int = 256):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    """Two CXBlocks over the sum of projected image features and the downsampled mask."""

    def __init__(self, dim: int = 256, num_layers: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(CXBlock(dim) for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """Image features (stride 16) + a 1024x1024 mask (already scaled logits) -> 64-channel memory and its encoding."""

    def __init__(self, in_dim: int = 256, out_dim: int = 64):
        super().__init__()
        self.mask_downsampler = MaskDownSampler(in_dim)
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = Fuser(in_dim)
        self.out_proj = nn.Conv2d(in_dim, out_dim, kernel_size=1)
        self.position_encoding = SinePositionEncoding(out_dim)

    def forward(self, pix_feat: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pix_feat_proj(pix_feat) + self.mask_downsampler(mask)
        x = self.out_proj(self.fuser(x))
        return x, self.position_encoding(x).to(x.dtype)


def axial_rope(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> torch.Tensor:
    """Complex rotations ``(end_x * end_y) x dim/2`` for 2-D RoPE: x frequencies then y frequencies."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    t_x, t_y = (t % end_x).float(), torch.div(t, end_x, rounding_mode="floor").float()
    fx, fy = torch.outer(t_x, freqs), torch.outer(t_y, freqs)
    return torch.cat([torch.polar(torch.ones_like(fx), fx), torch.polar(torch.ones_like(fy), fy)], dim=-1)


def _rotate(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Apply complex rotations ``freqs`` (``N x C/2``, tiled along N if shorter) to ``B x H x N x C``."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    if freqs.shape[0] != xc.shape[-2]:
        freqs = freqs.repeat(xc.shape[-2] // freqs.shape[0], 1)
    return torch.view_as_real(xc * freqs).flatten(3).type_as(x)


class RoPEAttention(Attention):
    """Attention with axial rotary position encoding on queries and on the first keys (pointer tokens excluded)."""

    def __init__(self, dim: int = 256, num_heads: int = 1, kv_in_dim: int | None = None, theta: float = 10000.0):
        super().__init__(dim, num_heads, kv_in_dim=kv_in_dim)
        self.theta = theta
        self._freqs: dict[tuple[int, str], torch.Tensor] = {}

    def _rope(self, n: int, device: torch.device) -> torch.Tensor:
        key = (n, str(device))
        if key not in self._freqs:
            side = int(round(n**0.5))
            self._freqs[key] = axial_rope(self.internal_dim // self.num_heads, side, side, self.theta).to(device)
        return self._freqs[key]

    def forward(self, q, k, v, num_k_exclude_rope: int = 0):  # noqa: ANN001, ANN201 - tensors
        q, k, v = self._heads(self.q_proj(q)), self._heads(self.k_proj(k)), self._heads(self.v_proj(v))
        freqs = self._rope(q.shape[-2], q.device)
        q = _rotate(q, freqs)
        n_rope = k.size(-2) - num_k_exclude_rope
        if n_rope > 0:
            k = torch.cat([_rotate(k[:, :, :n_rope], freqs), k[:, :, n_rope:]], dim=2)
        return self.out_proj(self._merge(attention(q, k, v)))


class MemoryAttentionLayer(nn.Module):
    """Pre-norm: RoPE self-attention, RoPE cross-attention to memory (keys get their position), ReLU FFN."""

    def __init__(self, dim: int = 256, mem_dim: int = 64, ffn_dim: int = 2048):
        super().__init__()
        self.self_attn = RoPEAttention(dim)
        self.cross_attn_image = RoPEAttention(dim, kv_in_dim=mem_dim)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x, memory, memory_pos, num_obj_ptr_tokens: int):  # noqa: ANN001, ANN201 - tensors
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y)
        y = self.norm2(x)
        x = x + self.cross_attn_image(y, memory + memory_pos, memory, num_k_exclude_rope=num_obj_ptr_tokens)
        return x + self.linear2(torch.relu(self.linear1(self.norm3(x))))


class MemoryAttention(nn.Module):
    """Conditions the current frame's stride-16 tokens on the memory bank (spatial memories + object pointers)."""

    def __init__(self, dim: int = 256, num_layers: int = 4, mem_dim: int = 64):
        super().__init__()
        self.layers = nn.ModuleList(MemoryAttentionLayer(dim, mem_dim) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        curr: torch.Tensor,
        curr_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        num_obj_ptr_tokens: int,
    ) -> torch.Tensor:
        """All inputs ``N x B x C`` (sequence first); returns ``HW x B x C``."""
        x = (curr + 0.1 * curr_pos).transpose(0, 1)
        memory, memory_pos = memory.transpose(0, 1), memory_pos.transpose(0, 1)
        for layer in self.layers:
            x = layer(x, memory, memory_pos, num_obj_ptr_tokens)
        return self.norm(x).transpose(0, 1)
