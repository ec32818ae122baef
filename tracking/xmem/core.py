"""The per-frame XMem step (the reference ``InferenceCore``): encode, read memory, decode, maybe memorise.

Objects are tensor positions ``0..n-1`` here; mapping client object ids to positions is the caller's job
(``tracking.xmem.propagator``). Inputs are normalised image tensors; output is ``(1 + n) x H x W``
probabilities with background first, at the input size (padding to multiples of 16 is internal).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tracking.xmem.config import XMemConfig
from tracking.xmem.memory import MemoryManager
from tracking.xmem.modules import aggregate
from tracking.xmem.network import XMem

Pad = tuple[int, int, int, int]  # left, right, top, bottom


def pad_to_multiple(x: torch.Tensor, d: int = 16) -> tuple[torch.Tensor, Pad]:
    """Zero-pad the last two dims up to multiples of ``d``, centred (floor on the left/top)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % d, (-w) % d
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    return (F.pad(x, pad) if ph or pw else x), pad


def unpad(x: torch.Tensor, pad: Pad) -> torch.Tensor:
    """Undo ``pad_to_multiple`` on the last two dims."""
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


@dataclass
class _FrameCache:
    """What ``memorize`` needs from the frame stepped last: its features and the state before its write."""

    image: torch.Tensor
    key: torch.Tensor
    shrinkage: torch.Tensor
    selection: torch.Tensor
    f16: torch.Tensor
    hidden_before: torch.Tensor | None
    pad: Pad
    wrote_memory: bool


class InferenceCore:
    """Runs XMem frame by frame over one temporal direction, keeping its memory bounded."""

    def __init__(
        self, network: XMem, config: XMemConfig, autocast_dtype: torch.dtype | None = None,
        sparse_readout: bool = False,
    ) -> None:
        self.network = network
        self.config = config
        self.autocast_dtype = autocast_dtype
        self.sparse_readout = sparse_readout
        self.clear()

    def clear(self) -> None:
        """Forget everything: memory, sensory state, frame counter, objects."""
        self.curr_ti = -1
        self.last_mem_ti = 0
        self.last_deep_update_ti = -self.config.deep_update_every
        self.num_objects = 0
        self.memory = MemoryManager(self.config, self.network.hidden_dim, sparse_readout=self.sparse_readout)
        self._last: _FrameCache | None = None

    def set_num_objects(self, n: int) -> None:
        """Objects ``0..n-1`` exist from now on (objects are only ever added, at the end)."""
        if n < self.num_objects:
            raise ValueError(f"objects cannot be removed from a running pass ({self.num_objects} -> {n}); clear() it")
        self.num_objects = n

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        device = next(self.network.parameters()).device.type
        return torch.autocast(device_type=device, dtype=self.autocast_dtype)

    @property
    def deep_update_sync(self) -> bool:
        return self.config.deep_update_every < 0

    def step(
        self, image: torch.Tensor, mask: torch.Tensor | None = None, valid: list[int] | None = None, end: bool = False
    ) -> torch.Tensor:
        """One frame. ``image`` is normalised ``1 x 3 x H x W``; ``mask`` (``n x H x W``, objects so far) makes
        it a memory frame, with ``valid`` the objects it defines (default all; the others keep the prediction).
        """
        cfg = self.config
        self.curr_ti += 1
        image, pad = pad_to_multiple(image, 16)
        n = self.num_objects
        is_mem = (self.curr_ti - self.last_mem_ti >= cfg.mem_every or mask is not None) and not end
        need_segment = self.curr_ti > 0 and n > 0 and self.memory.work.engaged() and (
            valid is None or len(valid) != n
        )
        deep = self._is_deep_update(is_mem) and not end
        normal_update = (not self.deep_update_sync or not deep) and not end

        hidden_before = self.memory.hidden
        with self._autocast():
            key, shrinkage, selection, f16, f8, f4 = self.network.encode_key(image)
        key, shrinkage, selection = key.float(), shrinkage.float(), selection.float()

        prob: torch.Tensor | None = None
        if need_segment:
            readout = self.memory.match(key, selection).unsqueeze(0)
            with self._autocast():
                hidden, _, prob = self.network.segment((f16, f8, f4), readout, self.memory.hidden,
                                                       h_out=normal_update, strip_bg=False)
            prob = prob[0].float()
            if prob.shape[0] < 1 + n:  # objects that have not reached memory yet
                prob = torch.cat([prob, prob.new_zeros(1 + n - prob.shape[0], *prob.shape[1:])], 0)
            if normal_update:
                self.memory.hidden = hidden.float()

        if mask is not None:
            mask, _ = pad_to_multiple(mask, 16)
            mask = mask.float()
            if prob is not None:
                pred = prob[1:]
                pred[:, mask.sum(0) > 0.5] = 0
                if valid is not None:
                    keep = [i for i in range(n) if i not in valid]
                    mask[keep] = pred[keep]
            prob = aggregate(mask, dim=0)[1]
            self.memory.ensure_hidden(n, key)
        elif prob is None:  # nothing known yet: all background
            prob = torch.zeros(1 + n, *image.shape[-2:], device=image.device)
            prob[0] = 1

        wrote = False
        if is_mem and n > 0 and self.memory.hidden is not None:
            self._write(image, key, shrinkage, selection, f16, prob, deep)
            wrote = True
        self._last = _FrameCache(image, key, shrinkage, selection, f16, hidden_before, pad, wrote)
        return unpad(prob, pad)

    def memorize(self, mask: torch.Tensor) -> torch.Tensor:
        """Replace the last stepped frame's result with ``mask`` (``n x H x W``, unpadded) and memorise it,
        reusing its cached features; returns the new ``(1 + n) x H x W`` probabilities."""
        last = self._last
        if last is None:
            raise RuntimeError("memorize() needs a frame: call step() first")
        if last.wrote_memory:
            self.memory.remove_last_frame()
        self.memory.hidden = last.hidden_before  # as if the mask had been given to step(): no decoder update
        mask, _ = pad_to_multiple(mask.float(), 16)
        prob = aggregate(mask, dim=0)[1]
        self.memory.ensure_hidden(self.num_objects, last.key)
        self._write(last.image, last.key, last.shrinkage, last.selection, last.f16, prob, self._is_deep_update(True))
        last.wrote_memory = True
        return unpad(prob, last.pad)

    def _is_deep_update(self, is_mem: bool) -> bool:
        if self.deep_update_sync:
            return is_mem
        return self.curr_ti - self.last_deep_update_ti >= self.config.deep_update_every

    def _write(
        self, image: torch.Tensor, key: torch.Tensor, shrinkage: torch.Tensor, selection: torch.Tensor,
        f16: torch.Tensor, prob: torch.Tensor, deep: bool,
    ) -> None:
        with self._autocast():
            value, hidden = self.network.encode_value(image, f16, self.memory.hidden, prob[1:].unsqueeze(0),
                                                      deep_update=deep)
        self.memory.add(key, shrinkage, value.float(), list(range(self.num_objects)),
                        selection=selection if self.config.enable_long_term else None)
        self.last_mem_ti = self.curr_ti
        if deep:
            self.memory.hidden = hidden.float()
            self.last_deep_update_ti = self.curr_ti
