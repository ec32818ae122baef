"""``XMemPropagator``: the neural ``tracking.backend.Propagator`` on top of our XMem.

It owns everything between the tam formats and the network: working resolution (short side 480 by
default, never upscaled), normalisation, the mapping from client object ids to tensor positions (objects
enter memory on the first keyframe that gives them pixels), the device and the fast path, and upsampling
probabilities back to the frame's own size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from tracking.xmem.config import XMemConfig
from tracking.xmem.core import InferenceCore
from tracking.xmem.int8 import cpu_has_vnni, quantize_network
from tracking.xmem.modules import aggregate
from tracking.xmem.network import XMem

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def resolve_precision(precision: str, device: torch.device) -> str:
    """The concrete path ``precision`` means on ``device``: "fp32" (exact reference), "fast" (float32 with a
    sparse top-k readout and channels-last convolutions), "int8", "bf16" or "fp16" (autocast).

    ``auto``: fp16 on CUDA (as XMem's own evaluation); on every CPU "fast". bf16 (opt-in) and int8 (opt-in,
    CPUs with AVX-512 VNNI) are faster on some CPUs but their masks drift from float32 by more than the 0.99
    IoU we ask of a default (bf16 autocast gave 0.85 on an AMX CPU; benchmarks/xmem_speed.py measures both).
    """
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"precision 'int8' is a CPU path; use fp16 or auto on {device.type}")
    if precision == "int8" and not cpu_has_vnni():
        raise ValueError("precision 'int8' needs a CPU with AVX-512 VNNI; use auto or fp32")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "fp16"
    return "fast"


AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def working_shape(height: int, width: int, size: int | None) -> tuple[int, int]:
    """Frame size scaled so the short side is ``size`` (never upscaled; ``None`` keeps the native size)."""
    short = min(height, width)
    if size is None or short <= size:
        return height, width
    scale = size / short
    return max(1, round(height * scale)), max(1, round(width * scale))


class XMemPropagator:
    """XMem behind the ``Propagator`` protocol: ``reset(object_ids)``, ``step(frame, label_map)``, ``memorize``."""

    backend = "xmem"

    def __init__(self, network: XMem, config: XMemConfig | None = None, device: str | torch.device | None = None):
        self.config = config or XMemConfig()
        dev = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        self.path = resolve_precision(self.config.precision, dev)
        self.autocast_dtype = AUTOCAST.get(self.path)
        self.fast = self.path != "fp32"
        self.network = network.to(dev).eval()
        if self.path == "int8":
            self.network = quantize_network(self.network)
        elif self.fast:
            self.network = self.network.to(memory_format=torch.channels_last)
        self.device = str(dev)
        self._dev = dev
        self.core = InferenceCore(self.network, self.config, self.autocast_dtype, sparse_readout=self.fast)
        self.object_ids: list[int] = []
        self._active: list[int] = []  # channel positions (0-based into object_ids) in memory order
        self._frame_hw: tuple[int, int] | None = None

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, config: XMemConfig | None = None, device: str | torch.device | None = None
    ) -> XMemPropagator:
        """Load an official XMem checkpoint strictly (single-object ones are adapted) and wrap it."""
        from weights import load_checkpoint

        return cls(XMem.from_state_dict(load_checkpoint(path)), config, device)

    # -- the protocol -------------------------------------------------------------------------------

    def reset(self, object_ids: Sequence[int]) -> None:
        """Start a new pass for these objects; channel ``1 + i`` of every output is ``object_ids[i]``."""
        ids = [int(i) for i in object_ids]
        bad = [i for i in ids if not 1 <= i <= 255]
        if bad or len(set(ids)) != len(ids):
            raise ValueError(f"object ids must be distinct integers in 1..255, got {ids}")
        self.object_ids = ids
        self._active = []
        self._frame_hw = None
        self.core.clear()

    def step(self, frame: np.ndarray, label_map: np.ndarray | None = None) -> np.ndarray:
        """Probabilities ``float32 (1 + K) x H x W`` for ``frame``; with ``label_map`` the frame is a keyframe
        (returned as given and memorised)."""
        self._check_frame(frame)
        image = self._to_input(frame)
        with torch.inference_mode():
            if label_map is not None:
                masks = self._enter_objects(label_map)
                self.core.step(image, masks, valid=list(range(len(self._active))))
                return self._given(label_map)
            prob = self.core.step(image)
            return self._to_output(prob)

    def memorize(self, label_map: np.ndarray) -> None:
        """Overwrite the last stepped frame's result with ``label_map`` and memorise it (its key is reused)."""
        if self._frame_hw is None:
            raise RuntimeError("memorize() needs a frame: call step() first")
        with torch.inference_mode():
            masks = self._enter_objects(label_map)
            self.core.memorize(masks)

    # -- helpers ------------------------------------------------------------------------------------

    def _check_frame(self, frame: np.ndarray) -> None:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            desc = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"frame must be an RGB uint8 H x W x 3 array, got {desc}")
        hw = frame.shape[:2]
        if self._frame_hw is None:
            self._frame_hw = hw
        elif hw != self._frame_hw:
            raise ValueError(f"frame size changed within a pass ({self._frame_hw} -> {hw}); call reset() first")

    def _work_hw(self) -> tuple[int, int]:
        return working_shape(*self._frame_hw, self.config.working_size)

    def _to_input(self, frame: np.ndarray) -> torch.Tensor:
        h, w = self._work_hw()
        if (h, w) != frame.shape[:2]:
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(np.ascontiguousarray(frame)).to(self._dev).permute(2, 0, 1).float().div_(255)
        mean = torch.tensor(MEAN, device=self._dev).view(3, 1, 1)
        std = torch.tensor(STD, device=self._dev).view(3, 1, 1)
        x = ((x - mean) / std).unsqueeze(0)
        return x.contiguous(memory_format=torch.channels_last) if self.fast else x

    def _enter_objects(self, label_map: np.ndarray) -> torch.Tensor:
        """Validate a label map, let objects with pixels enter, return ``n_active x h x w`` working masks."""
        if not self.object_ids:
            raise RuntimeError("call reset(object_ids) before giving label maps")
        if not isinstance(label_map, np.ndarray) or label_map.ndim != 2 or label_map.shape != self._frame_hw:
            shape = label_map.shape if isinstance(label_map, np.ndarray) else type(label_map).__name__
            raise ValueError(f"label map must be H x W = {self._frame_hw} like its frame, got {shape}")
        present = set(np.unique(label_map).tolist()) - {0}
        unknown = sorted(present - set(self.object_ids))
        if unknown:
            raise ValueError(f"label map holds ids {unknown} that are not among the objects {self.object_ids}; "
                             "pass them to reset() or set those pixels to 0")
        entering = [i for i, oid in enumerate(self.object_ids) if oid in present and i not in self._active]
        self._active.extend(entering)
        self.core.set_num_objects(len(self._active))
        h, w = self._work_hw()
        small = label_map if (h, w) == label_map.shape else cv2.resize(label_map, (w, h),
                                                                       interpolation=cv2.INTER_NEAREST)
        ids = torch.tensor([self.object_ids[i] for i in self._active], dtype=torch.uint8)
        masks = torch.from_numpy(np.ascontiguousarray(small)).unsqueeze(0) == ids.view(-1, 1, 1)
        return masks.float().to(self._dev)

    def _given(self, label_map: np.ndarray) -> np.ndarray:
        """A keyframe's output: its label map, soft-aggregated as XMem memorises it, at full size."""
        ids = np.asarray(self.object_ids, dtype=np.uint8)
        onehot = torch.from_numpy(label_map[None] == ids[:, None, None]).float()
        return aggregate(onehot, dim=0)[1].numpy()

    def _to_output(self, prob: torch.Tensor) -> np.ndarray:
        """Working-size ``(1 + n_active)`` probabilities -> ``(1 + K) x H x W`` at the frame size."""
        H, W = self._frame_hw
        if prob.shape[-2:] != (H, W):
            prob = F.interpolate(prob.unsqueeze(0).float(), size=(H, W), mode="bilinear", align_corners=False)[0]
        out = torch.zeros(1 + len(self.object_ids), H, W, dtype=torch.float32, device=prob.device)
        out[0] = prob[0]
        for pos, i in enumerate(self._active):
            out[1 + i] = prob[1 + pos]
        return out.cpu().numpy()
