"""Tracking: SAM (or GrabCut) masks from clicks, XMem (or optical flow) propagation, refinement, the session."""

from tracking.backend import Propagator, Segmenter, SegmentResult, probs_to_labels
from tracking.backends import (
    BackendChoice,
    BackendUnavailable,
    StageChoice,
    choose,
    describe,
    make_propagator_factory,
    make_segmenter,
)
from tracking.refine import FrameRefinement, Quality, RefineConfig, Refiner, assess, prompts_from_mask
from tracking.session import (
    Prompt,
    PropagatedFrame,
    PropagationReport,
    SessionError,
    SessionState,
    Span,
    TrackedObject,
    TrackSession,
)

__all__ = [
    "BackendChoice",
    "BackendUnavailable",
    "FrameRefinement",
    "PropagatedFrame",
    "PropagationReport",
    "Prompt",
    "Propagator",
    "Quality",
    "RefineConfig",
    "Refiner",
    "SegmentResult",
    "Segmenter",
    "SessionError",
    "SessionState",
    "Span",
    "StageChoice",
    "TrackSession",
    "TrackedObject",
    "assess",
    "choose",
    "describe",
    "make_propagator_factory",
    "make_segmenter",
    "probs_to_labels",
    "prompts_from_mask",
]
