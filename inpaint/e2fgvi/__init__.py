"""Our E2FGVI-HQ: the network (module names = the official checkpoint's keys) and the removal backend."""

from inpaint.e2fgvi.inpainter import E2FGVIConfig, E2FGVIInpainter, RunStats, dilate_mask, to_model_input
from inpaint.e2fgvi.network import InpaintGenerator, pad_to_model

__all__ = [
    "E2FGVIConfig",
    "E2FGVIInpainter",
    "InpaintGenerator",
    "RunStats",
    "dilate_mask",
    "pad_to_model",
    "to_model_input",
]
