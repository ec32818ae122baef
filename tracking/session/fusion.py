"""Fusing the two passes over a span between keyframes: which pass to trust where.

A span between keyframes ``L`` and ``R`` is tracked forward from ``L`` and backward from ``R``. Weighting the two by
distance alone trusts each pass equally at the span's middle. After a correction the passes are not equally good:
the forward pass may have lost the object long before ``R`` (a correction on an empty frame), or agreed with the
correction almost everywhere (a small fix whose backward pass, seeded from one corrected frame, is the worse
guess for the frames far from it). As in the difference-aware fusion of MiVOS (Cheng et al., CVPR 2021), what each
pass got wrong at the other end says how far to trust it: the forward pass's error on ``R`` is how far its
prediction there is from ``R``'s mask (what the correction changed), the backward pass's error on ``L`` is how far
its prediction there is from ``L``'s mask. Each pass's error is taken to grow linearly from its own keyframe (where
it is exact) to that value at the other end, and each object on each frame takes the pass with the smaller
expected error, in proportion: with equal errors this is the distance weighting exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tracking.backend import probs_to_labels

ERROR_FLOOR = 0.1  # a pass's error at the far keyframe counts as at least this (IoU measurements are noisy there)


def pass_error(predicted: np.ndarray, keyframe: np.ndarray) -> float:
    """1 - IoU of a pass's prediction of an object on a keyframe with the keyframe's mask of it (0: both empty)."""
    union = np.count_nonzero(predicted | keyframe)
    return 1.0 - np.count_nonzero(predicted & keyframe) / union if union else 0.0


def forward_weight(t: int, left: int, right: int, errors: tuple[float, float] | None = None) -> float:
    """The forward pass's weight on frame ``t`` of the span ``(left, right)``: by distance, and with ``errors``
    (the forward pass's error on ``right``, the backward pass's on ``left``) by the error each pass is expected
    to have on ``t``: ``e_bwd(t) / (e_fwd(t) + e_bwd(t))`` with each error growing linearly from its keyframe."""
    d = (t - left) / (right - left)
    if errors is None:
        return 1.0 - d
    e_fwd, e_bwd = (max(ERROR_FLOOR, float(e)) for e in errors)
    if e_fwd == e_bwd:
        return 1.0 - d
    return e_bwd * (1.0 - d) / (e_fwd * d + e_bwd * (1.0 - d))


def blend(
    fwd: np.ndarray | None,
    fwd_ids: Sequence[int],
    bwd: np.ndarray | None,
    bwd_ids: Sequence[int],
    w_fwd: float | Mapping[int, float],
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Combine forward and backward probabilities into a label map and per-object probability maps.

    Objects seen by both passes are blended with ``w_fwd`` / ``1 - w_fwd`` (one weight, or one per object: the
    background then takes their mean); an object seen by one pass only takes that pass's probability and claims
    the pixels where it wins that pass and no shared object does.
    """
    fwd_pos = {o: i + 1 for i, o in enumerate(fwd_ids)}
    bwd_pos = {o: i + 1 for i, o in enumerate(bwd_ids)}
    shared = [o for o in fwd_ids if o in bwd_pos]
    obj_probs: dict[int, np.ndarray] = {}
    if fwd is not None and bwd is not None:
        weights = {o: float(w_fwd[o]) if isinstance(w_fwd, Mapping) else float(w_fwd) for o in shared}
        if weights:
            w_bg = float(np.mean(list(weights.values())))
        else:
            w_bg = 0.5 if isinstance(w_fwd, Mapping) else float(w_fwd)
        bg = w_bg * fwd[0] + (1.0 - w_bg) * bwd[0]
        for o in shared:
            obj_probs[o] = weights[o] * fwd[fwd_pos[o]] + (1.0 - weights[o]) * bwd[bwd_pos[o]]
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
