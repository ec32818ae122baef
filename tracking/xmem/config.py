"""XMem inference settings: one frozen dataclass, defaults from the paper / reference ``eval.py``."""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("auto", "fp32", "fast", "int8", "bf16", "fp16")


@dataclass(frozen=True)
class XMemConfig:
    """Memory and inference settings; make variants with ``dataclasses.replace``.

    ``working_size`` is the short side frames are tracked at (larger frames are downscaled, smaller ones are
    never upscaled; ``None`` tracks at native size). ``precision="auto"`` picks the fast path measured for the
    device (fp16 autocast on CUDA; on CPUs "fast": float32 with a sparse top-k readout, since bf16 autocast
    drifts from float32 even with AMX; ``"bf16"`` opts in to it); ``"int8"`` opts in to int8 convolutions
    on CPUs with AVX-512 VNNI (``tracking.xmem.int8``);
    ``"fp32"`` is the exact reference.
    """

    top_k: int = 30
    mem_every: int = 5
    deep_update_every: int = -1  # < 0: a deep update on every memory frame
    enable_long_term: bool = True
    enable_long_term_count_usage: bool = True
    min_mid_term_frames: int = 5
    max_mid_term_frames: int = 10
    num_prototypes: int = 128
    max_long_term_elements: int = 10000
    working_size: int | None = 480
    precision: str = "auto"

    def __post_init__(self) -> None:
        def need(cond: bool, what: str) -> None:
            if not cond:
                raise ValueError(f"invalid XMemConfig: {what}")

        need(self.top_k >= 1, f"top_k must be >= 1, got {self.top_k}")
        need(self.mem_every >= 1, f"mem_every must be >= 1, got {self.mem_every}")
        need(self.deep_update_every != 0, "deep_update_every must be < 0 (sync with memory frames) or >= 1")
        need(
            2 <= self.min_mid_term_frames < self.max_mid_term_frames,
            f"need 2 <= min_mid_term_frames < max_mid_term_frames, got "
            f"{self.min_mid_term_frames} and {self.max_mid_term_frames}",
        )
        need(self.num_prototypes >= 1, f"num_prototypes must be >= 1, got {self.num_prototypes}")
        need(
            self.max_long_term_elements > self.num_prototypes,
            f"max_long_term_elements ({self.max_long_term_elements}) must exceed "
            f"num_prototypes ({self.num_prototypes})",
        )
        need(self.working_size is None or self.working_size >= 16, f"working_size must be >= 16 or None, got "
             f"{self.working_size}")
        need(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
