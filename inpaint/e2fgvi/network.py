"""``InpaintGenerator``: E2FGVI-HQ, module for module with the official checkpoint's keys.

``forward(masked_frames, num_local_frames)`` takes (B, T, 3, H, W) frames in [-1, 1] with the hole set to
0 (``frames * (1 - mask)``), local frames first, then reference frames; H and W multiples of 60 and 108
(see ``pad_to_model``). It returns the (B*T, 3, H, W) tanh prediction and the local flows
``(forward, backward)``, each (B, T_local - 1, 2, H/4, W/4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inpaint.e2fgvi.encoder import Encoder, build_decoder
from inpaint.e2fgvi.propagation import BidirectionalPropagation
from inpaint.e2fgvi.spynet import SPyNet
from inpaint.e2fgvi.transformer import SoftComp, SoftSplit, T2TParams, TemporalFocalTransformerBlock

MOD_H, MOD_W = 60, 108  # the token grid must tile into 5x9 windows


class InpaintGenerator(nn.Module):
    """E2FGVI-HQ generator: SPyNet flows, encoder, flow-guided propagation, focal transformer, decoder."""

    def __init__(self, channel: int = 128, hidden: int = 512, depth: int = 8, num_heads: int = 4) -> None:
        super().__init__()
        t2t = T2TParams()
        self.encoder = Encoder()
        self.decoder = build_decoder(channel)
        self.feat_prop_module = BidirectionalPropagation(channel)
        self.ss = SoftSplit(channel, hidden, t2t)
        self.sc = SoftComp(channel, hidden, t2t)
        self.transformer = nn.ModuleList(
            [TemporalFocalTransformerBlock(hidden, num_heads, (5, 9), t2t) for _ in range(depth)]
        )
        self.update_spynet = SPyNet()

    def forward_bidirect_flow(self, local_frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flows between consecutive local frames (in [0, 1]) at 1/4 resolution: forward i->i+1, backward i+1->i."""
        b, lt, c, h, w = local_frames.shape
        small = F.interpolate(
            local_frames.reshape(-1, c, h, w),
            scale_factor=1 / 4,
            mode="bilinear",
            align_corners=True,
            recompute_scale_factor=True,
        ).view(b, lt, c, h // 4, w // 4)
        first = small[:, :-1].reshape(-1, c, h // 4, w // 4)
        second = small[:, 1:].reshape(-1, c, h // 4, w // 4)
        fwd = self.update_spynet(first, second).view(b, lt - 1, 2, h // 4, w // 4)
        bwd = self.update_spynet(second, first).view(b, lt - 1, 2, h // 4, w // 4)
        return fwd, bwd

    def encode(self, masked_frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B*T, 128, H/4, W/4)."""
        b, t, c, h, w = masked_frames.shape
        return self.encoder(masked_frames.reshape(b * t, c, h, w))

    def transform(self, feat: torch.Tensor, b: int, t: int) -> torch.Tensor:
        """Soft split -> focal transformer blocks -> soft composition; (B*T, C, h, w) -> same shape."""
        size = (feat.shape[-2], feat.shape[-1])
        tokens = self.ss(feat, b, size)
        for block in self.transformer:
            tokens = block(tokens, size)
        return self.sc(tokens, t, size)

    def forward(
        self, masked_frames: torch.Tensor, num_local_frames: int, decode_reference: bool = True
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """(B, T, 3, H, W) masked frames in [-1, 1], the first ``num_local_frames`` local -> (B*T', 3, H, W)
        frames in [-1, 1] and the local flows. ``decode_reference=False`` decodes only the local frames
        (T' = num_local_frames): the decoder is per frame, so their outputs are unchanged, and the reference
        frames' outputs are never used by the inference schedule."""
        lt = num_local_frames
        b, t, _, hh, ww = masked_frames.shape
        if hh % MOD_H or ww % MOD_W:
            raise ValueError(
                f"E2FGVI-HQ needs H, W multiples of {MOD_H}, {MOD_W}; got {hh}x{ww}: pad with pad_to_model() first"
            )
        if not 1 <= lt <= t:
            raise ValueError(f"num_local_frames must be in [1, {t}], got {lt}")
        if lt > 1:
            flows = self.forward_bidirect_flow((masked_frames[:, :lt] + 1) / 2)
        else:  # a single local frame has nothing to propagate from
            none = masked_frames.new_zeros(b, 0, 2, hh // 4, ww // 4)
            flows = (none, none)
        enc = self.encode(masked_frames)
        _, c, h, w = enc.shape
        enc = enc.view(b, t, c, h, w)
        local = self.feat_prop_module(enc[:, :lt], flows[0], flows[1])
        enc = torch.cat((local, enc[:, lt:]), dim=1)
        trans = self.transform(enc.reshape(-1, c, h, w), b, t).view(b, t, c, h, w)
        fused = enc + trans
        if not decode_reference:
            fused = fused[:, :lt]
        out = self.decoder(fused.reshape(-1, c, h, w))
        return torch.tanh(out), flows


def pad_to_model(x: torch.Tensor) -> torch.Tensor:
    """Mirror-pad (symmetric: edge row repeated) the last two dims up to multiples of 60 x 108, as test.py does."""
    h, w = x.shape[-2:]
    h_pad = (MOD_H - h % MOD_H) % MOD_H
    w_pad = (MOD_W - w % MOD_W) % MOD_W
    while x.shape[-2] < h + h_pad:
        x = torch.cat([x, torch.flip(x, [-2])], -2)
    while x.shape[-1] < w + w_pad:
        x = torch.cat([x, torch.flip(x, [-1])], -1)
    return x[..., : h + h_pad, : w + w_pad]
