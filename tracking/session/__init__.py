"""The interactive tracking session: objects, prompts, keyframes, propagation, corrections, undo, resume.

The verbs follow SAM 2's video predictor (``add_click`` / ``add_box`` / ``add_mask``, ``propagate`` yielding
``(frame_idx, obj_ids, label_map)``, ``remove_object``, ``reset_state``) over explicit, typed state.

Model of the clip:
- a *keyframe* is a frame with prompts. Its label map is composed when a prompt changes: every prompted object
  gets the segmenter's mask from its prompts there; other objects keep the mask they had on that frame before
  it became a keyframe (propagated earlier), if any.
- keyframes cut the clip into *spans*: before the first keyframe, between two consecutive keyframes, after the
  last. A span between keyframes ``p < n`` is propagated backward from ``n`` (probabilities cached on disk)
  and forward from ``p``; the two are blended per pixel with weights ``(n - t) / (n - p)`` (forward) and
  ``(t - p) / (n - p)`` (backward). An object known at only one end (first prompted at ``n``, or prompted at
  ``p`` but absent or empty in ``n``'s map) comes from that end's pass alone. Before the first keyframe:
  backward only; after the last: forward only. Objects are not carried backward past an earlier keyframe
  where they were not prompted.
- an object tracked into a keyframe where it was not prompted and had no mask yet (the keyframe was made
  before propagation reached it) gets the forward pass's mask there once, on the keyframe's background;
  the span after that keyframe is then propagated again.
- a span is *done* once every frame in it is written. A prompt on frame ``c`` makes every span touching ``c``
  dirty; the next ``propagate`` rewrites only the frames of dirty spans, i.e. a correction at ``c`` between
  keyframes ``p < c < n`` re-propagates frames ``p + 1 .. n - 1`` and nothing else.
- during the writing pass each frame is scored and, if unsure, refined (``tracking.refine``); a refined label
  map is written to the propagator's memory (``memorize``) and the frame is recorded with the reason.

On disk, in ``state_dir`` (every file written atomically):
``prompts.json`` (all prompts), ``session.json`` (objects, keyframes, done spans, partial progress, refined
frames), ``keyframes/`` (per-object keyframe masks and the map a frame had before it became a keyframe),
``prompt_masks/`` (masks given with ``add_mask``), ``cache/`` (backward probabilities of a span in progress).
A new process opening the same ``state_dir`` continues the same session; an interrupted propagation resumes
after the last frame it wrote, replaying the pass from its keyframe so the result equals an uninterrupted run.
"""

from tracking.session.core import TrackSession
from tracking.session.runner import ProgressFn
from tracking.session.state import (
    FORMAT_VERSION,
    PALETTE,
    MaskStore,
    Prompt,
    PromptKind,
    PropagatedFrame,
    PropagationReport,
    SessionError,
    SessionState,
    Span,
    SpanProgress,
    TrackedObject,
)

__all__ = [
    "FORMAT_VERSION",
    "PALETTE",
    "MaskStore",
    "ProgressFn",
    "PromptKind",
    "PropagatedFrame",
    "PropagationReport",
    "Prompt",
    "SessionError",
    "SessionState",
    "Span",
    "SpanProgress",
    "TrackSession",
    "TrackedObject",
]
