"""The XMem network (Cheng & Schwing, ECCV 2022) as a pure module with three stage methods.

Module names map 1:1 to the keys of the official ``XMem.pth`` (a plain ``state_dict``), so it loads with
``strict=True``. ``adapt_checkpoint`` is the only key/shape adaptation: single-object checkpoints have a
4-channel value ``conv1`` and get a zero "others" channel, as the reference loader does.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from tracking.xmem.modules import Decoder, KeyEncoder, KeyProjection, ValueEncoder, aggregate

VALUE_CONV1 = "value_encoder.conv1.weight"


def dims_from_checkpoint(state_dict: Mapping[str, torch.Tensor]) -> tuple[int, int, int]:
    """``(key_dim, value_dim, hidden_dim)`` read off the checkpoint, as the reference loader does."""
    try:
        key_dim = state_dict["key_proj.key_proj.weight"].shape[0]
        value_dim = state_dict["value_encoder.fuser.block2.conv2.weight"].shape[0]
        hidden_dim = state_dict["decoder.hidden_update.transform.weight"].shape[0] // 3
    except KeyError as exc:
        from weights import CheckpointMismatch

        raise CheckpointMismatch(
            f"not an XMem checkpoint ({exc.args[0]!r} is missing); delete it and run tam weights download xmem"
        ) from None
    return int(key_dim), int(value_dim), int(hidden_dim)


def adapt_checkpoint(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return a new state dict for the multi-object network (zero-pads a single-object value ``conv1``)."""
    out = dict(state_dict)
    w = out.get(VALUE_CONV1)
    if w is not None and w.ndim == 4 and w.shape[1] == 4:
        out[VALUE_CONV1] = torch.cat([w, w.new_zeros(w.shape[0], 1, *w.shape[2:])], 1)
    return out


class XMem(nn.Module):
    """Key encoder + key projection, value encoder, decoder; memory lives outside (``tracking.xmem.memory``)."""

    def __init__(self, key_dim: int = 64, value_dim: int = 512, hidden_dim: int = 64) -> None:
        super().__init__()
        self.key_dim, self.value_dim, self.hidden_dim = key_dim, value_dim, hidden_dim
        self.key_encoder = KeyEncoder()
        self.value_encoder = ValueEncoder(value_dim, hidden_dim)
        self.key_proj = KeyProjection(1024, key_dim)
        self.decoder = Decoder(value_dim, hidden_dim)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor]) -> XMem:
        """Build with the checkpoint's dimensions and load it strictly (raises ``CheckpointMismatch``)."""
        from weights import load_strict

        state_dict = adapt_checkpoint(state_dict)
        net = cls(*dims_from_checkpoint(state_dict))
        load_strict(net, state_dict, "xmem")
        return net.eval()

    def encode_key(
        self, image: torch.Tensor, need_shrinkage: bool = True, need_selection: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalised ``B x 3 x H x W`` image -> key, shrinkage, selection (1/16) and f16, f8, f4 features."""
        f16, f8, f4 = self.key_encoder(image)
        key, shrinkage, selection = self.key_proj(f16, need_shrinkage, need_selection)
        return key, shrinkage, selection, f16, f8, f4

    def encode_value(
        self, image: torch.Tensor, f16: torch.Tensor, hidden: torch.Tensor, masks: torch.Tensor,
        deep_update: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Image + per-object masks ``B x N x H x W`` -> values ``B x N x Cv x h x w`` and the hidden state.

        Each object's second mask channel ("others") is the sum of the other objects' masks.
        """
        n = masks.shape[1]
        if n == 1:
            others = torch.zeros_like(masks)
        else:
            others = torch.cat(
                [masks[:, [j for j in range(n) if j != i]].sum(1, keepdim=True) for i in range(n)], 1
            )
        return self.value_encoder(image, f16, hidden, masks, others, deep_update)

    def segment(
        self, features: tuple[torch.Tensor, torch.Tensor, torch.Tensor], readout: torch.Tensor,
        hidden: torch.Tensor, h_out: bool = True, strip_bg: bool = True,
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Decode ``(f16, f8, f4)`` + readout ``B x N x Cv x h x w`` -> (new hidden, logits, probabilities).

        Logits and probabilities are soft-aggregated with a background channel first (dropped by ``strip_bg``).
        """
        hidden, logits = self.decoder(*features, hidden, readout, h_out=h_out)
        logits, prob = aggregate(torch.sigmoid(logits), dim=1)
        if strip_bg:
            prob = prob[:, 1:]
        return hidden, logits, prob
