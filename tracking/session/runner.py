"""Passes over a span: one propagator pass seeded from a keyframe, and the blend of a forward and a backward pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tracking.backend import Propagator, probs_to_labels


class Pass:
    """One propagator pass in one direction, seeded from a keyframe map, over a fixed set of objects."""

    def __init__(self, factory: Callable[[], Propagator], obj_ids: Sequence[int]) -> None:
        self.obj_ids = tuple(obj_ids)
        self.propagator = factory() if self.obj_ids else None

    def seed(self, frame: np.ndarray, label_map: np.ndarray) -> None:
        if self.propagator is None:
            return
        self.propagator.reset(self.obj_ids)
        self.propagator.step(frame, restrict(label_map, self.obj_ids))

    def step(self, frame: np.ndarray) -> np.ndarray:
        if self.propagator is None:
            return np.ones((1, *frame.shape[:2]), dtype=np.float32)
        probs = np.asarray(self.propagator.step(frame), dtype=np.float32)
        if probs.shape != (1 + len(self.obj_ids), *frame.shape[:2]):
            raise RuntimeError(
                f"{self.propagator.backend} returned probabilities of shape {probs.shape}, expected "
                f"{(1 + len(self.obj_ids), *frame.shape[:2])}"
            )
        return probs

    def memorize(self, label_map: np.ndarray) -> None:
        if self.propagator is not None:
            self.propagator.memorize(restrict(label_map, self.obj_ids))


def restrict(label_map: np.ndarray, obj_ids: Sequence[int]) -> np.ndarray:
    """The label map with every object not in ``obj_ids`` set to background."""
    return np.where(np.isin(label_map, obj_ids), label_map, 0).astype(np.uint8)


def blend(
    fwd: np.ndarray | None,
    fwd_ids: Sequence[int],
    bwd: np.ndarray | None,
    bwd_ids: Sequence[int],
    w_fwd: float,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Combine forward and backward probabilities into a label map and per-object probability maps.

    Objects seen by both passes are blended with ``w_fwd`` / ``1 - w_fwd``; an object seen by one pass only
    takes that pass's probability and claims the pixels where it wins that pass and no shared object does.
    """
    fwd_pos = {o: i + 1 for i, o in enumerate(fwd_ids)}
    bwd_pos = {o: i + 1 for i, o in enumerate(bwd_ids)}
    shared = [o for o in fwd_ids if o in bwd_pos]
    obj_probs: dict[int, np.ndarray] = {}
    if fwd is not None and bwd is not None:
        bg = w_fwd * fwd[0] + (1.0 - w_fwd) * bwd[0]
        for o in shared:
            obj_probs[o] = w_fwd * fwd[fwd_pos[o]] + (1.0 - w_fwd) * bwd[bwd_pos[o]]
    else:
        bg = (fwd if fwd is not None else bwd)[0]  # type: ignore[index]
        shared = list(fwd_ids if fwd is not None else bwd_ids)
        only = fwd if fwd is not None else bwd
        pos = fwd_pos if fwd is not None else bwd_pos
        for o in shared:
            obj_probs[o] = only[pos[o]]  # type: ignore[index]
    if shared:
        stack = np.stack([bg, *(obj_probs[o] for o in shared)])
        labels = probs_to_labels(stack, shared)
    else:
        labels = np.zeros(bg.shape, dtype=np.uint8)
    if fwd is not None and bwd is not None:
        for probs, ids, pos in ((fwd, fwd_ids, fwd_pos), (bwd, bwd_ids, bwd_pos)):
            alone = [o for o in ids if o not in shared]
            if not alone:
                continue
            pass_labels = probs_to_labels(probs, ids)
            for o in alone:
                obj_probs[o] = probs[pos[o]]
                labels[(pass_labels == o) & (labels == 0)] = o
    return labels, obj_probs

