"""Small building blocks shared by SAM 2.1's modules: MLP, channel LayerNorm, sine and random-Fourier encodings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """``num_layers`` linear layers with an activation between them (keys ``layers.N.*``)."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        activation: type[nn.Module] = nn.ReLU,
        sigmoid_output: bool = False,
    ):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip(dims, dims[1:] + [output_dim], strict=True))
        self.act = activation()
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == last else self.act(layer(x))
        return torch.sigmoid(x) if self.sigmoid_output else x


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a ``B C H W`` map."""

    def __init__(self, num_channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class SinePositionEncoding:
    """The DETR-style normalised 2-D sine encoding of a ``H x W`` grid, ``dim`` channels (y half, then x half).

    Values depend only on the grid size, so each size is computed once per instance and kept.
    """

    def __init__(self, dim: int, temperature: float = 10000.0):
        self.half = dim // 2
        self.temperature = temperature
        self._cache: dict[tuple[int, int, str], torch.Tensor] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The encoding for ``x``'s spatial size, shape ``B x dim x H x W`` (float32)."""
        h, w = x.shape[-2], x.shape[-1]
        key = (h, w, str(x.device))
        if key not in self._cache:
            self._cache[key] = self._grid(h, w, x.device)
        return self._cache[key][None].expand(x.shape[0], -1, -1, -1)

    def _grid(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        eps, scale = 1e-6, 2 * math.pi
        y = torch.arange(1, h + 1, dtype=torch.float32, device=device).view(-1, 1).repeat(1, w)
        x = torch.arange(1, w + 1, dtype=torch.float32, device=device).view(1, -1).repeat(h, 1)
        y = y / (y[-1:, :] + eps) * scale
        x = x / (x[:, -1:] + eps) * scale
        dim_t = torch.arange(self.half, dtype=torch.float32, device=device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.half)
        px, py = x[:, :, None] / dim_t, y[:, :, None] / dim_t
        px = torch.stack((px[:, :, 0::2].sin(), px[:, :, 1::2].cos()), dim=3).flatten(2)
        py = torch.stack((py[:, :, 0::2].sin(), py[:, :, 1::2].cos()), dim=3).flatten(2)
        return torch.cat((py, px), dim=2).permute(2, 0, 1).contiguous()


def sine_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """1-D sine encoding of (fractional) positions: ``[sin | cos]`` halves of ``dim // 2`` each."""
    half = dim // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * (dim_t // 2) / half)
    pe = positions.unsqueeze(-1) / dim_t
    return torch.cat([pe.sin(), pe.cos()], dim=-1)


class RandomFourierEncoding(nn.Module):
    """SAM's positional encoding of normalised coordinates through a (checkpoint) Gaussian matrix."""

    def __init__(self, num_pos_feats: int = 128):
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn((2, num_pos_feats)))

    def _encode(self, coords: torch.Tensor) -> torch.Tensor:
        coords = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def grid(self, h: int, w: int) -> torch.Tensor:
        """Encoding of the centre of every cell of a ``h x w`` grid, ``C x h x w``."""
        g = torch.ones((h, w), device=self.positional_encoding_gaussian_matrix.device, dtype=torch.float32)
        y = (g.cumsum(dim=0) - 0.5) / h
        x = (g.cumsum(dim=1) - 0.5) / w
        return self._encode(torch.stack([x, y], dim=-1)).permute(2, 0, 1)

    def points(self, coords: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """Encoding of pixel coordinates ``B x N x 2`` (x, y) in an image of ``image_size`` (H, W)."""
        coords = coords.clone()
        coords[:, :, 0] = coords[:, :, 0] / image_size[1]
        coords[:, :, 1] = coords[:, :, 1] / image_size[0]
        return self._encode(coords.to(torch.float))


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention over ``B x heads x N x C`` tensors."""
    return F.scaled_dot_product_attention(q, k, v)
