"""Our XMem (Cheng & Schwing, ECCV 2022): the network (names = checkpoint keys), its memory and the propagator."""

from tracking.xmem.config import XMemConfig
from tracking.xmem.core import InferenceCore
from tracking.xmem.memory import MemoryManager
from tracking.xmem.network import XMem
from tracking.xmem.propagator import XMemPropagator

__all__ = ["InferenceCore", "MemoryManager", "XMem", "XMemConfig", "XMemPropagator"]
