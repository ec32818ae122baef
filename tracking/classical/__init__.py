"""Classical tracking backends, no weights needed: GrabCut from clicks/boxes, optical-flow propagation."""

from tracking.classical.flow import FlowConfig, FlowPropagator
from tracking.classical.grabcut import GrabCutConfig, GrabCutSegmenter

__all__ = ["FlowConfig", "FlowPropagator", "GrabCutConfig", "GrabCutSegmenter"]
