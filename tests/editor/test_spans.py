"""Removal in spans: spans filled apart, in any order, by fresh workers, give the frames one process writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from editor.errors import InputError
from editor.pipeline import _MaskView
from editor.sample import make_sample
from editor.spans import fill_span, finish_fill, inpaint_in_spans, plan_fill, split
from editor.store import Project


def sample_project(tmp_path: Path, n: int = 12, size: tuple[int, int] = (96, 64)) -> Project:
    """A frame-folder project of the synthetic sample, with its true masks as the mask sequence."""
    sample = make_sample(n_frames=n, size=size)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(sample.frames):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    project = Project.open_or_create(tmp_path / "project", folder)
    for i, mask in enumerate(sample.masks):
        project.masks[i] = mask.astype(np.uint8)
    return project


def filled(project: Project) -> list[np.ndarray]:
    return [project.inpainted[i] for i in range(project.num_frames)]


def test_split() -> None:
    assert split(12, 5) == [(0, 5), (5, 10), (10, 12)]
    assert split(3, 10) == [(0, 3)]
    with pytest.raises(InputError):
        split(3, 0)


def test_classical_spans_in_any_order_and_a_killed_span_refilled_give_the_same_frames(tmp_path: Path) -> None:
    project = sample_project(tmp_path)
    report = inpaint_in_spans(project, backend="classical", span=5)
    assert report.frames_filled == 12 and not report.skipped
    reference = filled(project)
    assert inpaint_in_spans(project, backend="classical", span=5).skipped  # the stage is current

    # the same spans, last first, each by a fresh inpainter (another worker); one span "killed" midway first
    project.inpainted.clear()
    plan = plan_fill(project, backend="classical", span=5)
    assert plan.todo == ((0, 5), (5, 10), (10, 12))
    for span in reversed(plan.todo):
        fill_span(project, plan, *span)
    del project.inpainted[7]
    project.inpainted[6] = np.zeros_like(reference[6])  # a frame of the killed attempt, to be overwritten
    again = plan_fill(project, backend="classical", span=5)
    assert again.todo == ((5, 10),) and again.digest == plan.digest
    fill_span(project, again, 5, 10)
    finish_fill(project, again)
    for i, frame in enumerate(filled(project)):
        assert np.array_equal(frame, reference[i]), i


def test_other_spans_or_masks_start_the_fill_over(tmp_path: Path) -> None:
    project = sample_project(tmp_path, n=6)
    inpaint_in_spans(project, backend="classical", span=3)
    plan = plan_fill(project, backend="classical", span=4)
    assert plan.todo == ((0, 4), (4, 6)) and not project.inpainted.written()
    with pytest.raises(InputError, match="not one of the plan's spans"):
        fill_span(project, plan, 0, 3)


@pytest.mark.slow  # ~1 min on 2 CPU cores: the network with random weights runs ~15 windows
def test_e2fgvi_spans_give_the_whole_clip_frames(tmp_path: Path, one_torch_thread) -> None:
    """E2FGVI-HQ fills each frame from the whole clip's windows that hold it: any split is exact."""
    from inpaint.e2fgvi.inpainter import E2FGVIConfig, E2FGVIInpainter
    from inpaint.e2fgvi.network import InpaintGenerator

    torch.manual_seed(0)
    model = InpaintGenerator().eval()
    config = E2FGVIConfig(working_size=None, crop=False, ref_span=6, neighbor_stride=2, precision="fp32")
    project = sample_project(tmp_path, n=8, size=(64, 64))
    whole: dict[int, np.ndarray] = {}
    E2FGVIInpainter(model, config)(project.frames, _MaskView(project, None), whole.__setitem__)

    plan = plan_fill(project, backend="classical", span=3)  # the plan's bookkeeping; the inpainter is given
    for span in reversed(plan.todo):
        fill_span(project, plan, *span, inpainter=E2FGVIInpainter(model, config))
    for i in range(project.num_frames):
        assert np.array_equal(project.inpainted[i], whole[i]), i
