"""The E2FGVI-HQ backend around the network: windows, skipping, paste-back, loading, memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaint.e2fgvi.inpainter import E2FGVIConfig, E2FGVIInpainter, dilate_mask, to_model_input
from inpaint.e2fgvi.network import InpaintGenerator
from inpaint.paste import paste_alpha
from inpaint.windows import average_predictions, official_windows
from weights import CheckpointMismatch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model() -> InpaintGenerator:
    """The real network with seeded PyTorch-default weights (no checkpoint needed for these tests)."""
    torch.manual_seed(0)
    return InpaintGenerator().eval()


def _clip(n: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = (rng.random((h, w + 3 * n, 3)) * 255).astype(np.uint8)
    return [np.ascontiguousarray(base[:, 3 * i : 3 * i + w]) for i in range(n)]


def _box_masks(n: int, h: int, w: int, box: tuple[int, int, int, int], frames: set[int] | None = None) -> list:
    x0, y0, x1, y1 = box
    out = []
    for i in range(n):
        m = np.zeros((h, w), bool)
        if frames is None or i in frames:
            m[y0:y1, x0 + i : x1 + i] = True
        out.append(m)
    return out


class CountingSequence(Sequence):
    """A lazily generated clip that records which indices were read."""

    def __init__(self, items: list[np.ndarray]) -> None:
        self.items = items
        self.reads: list[int] = []

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):  # type: ignore[override]
        self.reads.append(i)
        return self.items[i]


def _run(inp: E2FGVIInpainter, frames, masks, **kw) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}

    def sink(i: int, f: np.ndarray) -> None:
        assert i not in out, f"frame {i} emitted twice"
        out[i] = f

    inp(frames, masks, sink, **kw)
    return out


def test_scheduler_equals_whole_clip_run(model: InpaintGenerator) -> None:
    """Window by window from a lazy Sequence == a brute-force test.py loop over the whole clip in memory."""
    n, h, w = 6, 40, 90
    frames, masks = _clip(n, h, w), _box_masks(n, h, w, (30, 10, 50, 25))
    inp = E2FGVIInpainter(
        model,
        E2FGVIConfig(
            working_size=None,
            ref_span=None,
            crop=False,
            testpy_composite=True,
            neighbor_stride=2,
            ref_step=4,
            precision="fp32",
        ),
    )
    got = _run(inp, CountingSequence(frames), masks)

    holes = [dilate_mask(m, 4) for m in masks]
    x_all = to_model_input(frames, holes, torch.device("cpu"))  # the whole clip at once
    comps: dict[int, list[np.ndarray]] = {}
    for win in official_windows(n, 2, 4):
        with torch.no_grad():
            pred, _ = model(x_all[:, list(win.ids)], win.num_local)
        pred = ((pred[:, :, :h, :w] + 1) / 2).permute(0, 2, 3, 1).numpy() * 255
        for k, i in enumerate(win.neighbor_ids):
            hole = holes[i][..., None]
            comps.setdefault(i, []).append(pred[k].astype(np.uint8) * hole + frames[i] * (1 - hole))
    for i in range(n):
        assert np.array_equal(got[i], average_predictions(comps[i])), i
    assert inp.stats.windows == len(official_windows(n, 2, 4))


def test_empty_mask_frames_are_emitted_unchanged_without_windows(model: InpaintGenerator) -> None:
    n, h, w = 30, 40, 90
    frames = CountingSequence(_clip(n, h, w))
    masks = _box_masks(n, h, w, (10, 10, 30, 30), frames={13})
    calls: list[tuple[int, int]] = []
    inp = E2FGVIInpainter(model, E2FGVIConfig(working_size=None, crop=False, ref_span=10, neighbor_stride=2))
    out = _run(inp, frames, masks, progress=lambda d, t: calls.append((d, t)))
    assert sorted(out) == list(range(n))
    assert inp.stats.windows == 2  # only the windows centred on 12 and 14 hold frame 13
    assert calls == [(0, 2), (1, 2), (2, 2)]
    for i in range(n):
        if i != 13:
            assert np.array_equal(out[i], frames.items[i])
    assert not np.array_equal(out[13], frames.items[13])
    # frames far from the mask are read once, only to be copied out
    assert frames.reads.count(29) == 1 and frames.reads.count(1) == 1


def test_nothing_to_fill_runs_no_window(model: InpaintGenerator) -> None:
    n, h, w = 7, 30, 40
    frames = _clip(n, h, w)
    inp = E2FGVIInpainter(model, E2FGVIConfig(working_size=None, crop=False))
    out = _run(inp, frames, [np.zeros((h, w), bool)] * n)
    assert inp.stats.windows == 0 and all(np.array_equal(out[i], frames[i]) for i in range(n))


def test_skip_frames_are_not_emitted_and_not_recomputed(model: InpaintGenerator) -> None:
    n, h, w = 8, 40, 90
    frames, masks = _clip(n, h, w), _box_masks(n, h, w, (10, 10, 30, 30))
    inp = E2FGVIInpainter(model, E2FGVIConfig(working_size=None, crop=False, ref_span=4, neighbor_stride=2))
    full = _run(inp, frames, masks)
    assert inp.stats.windows == 4
    part = _run(inp, frames, masks, skip=frozenset(range(0, 5)))
    assert sorted(part) == [5, 6, 7]
    assert inp.stats.windows == 2  # centres 4 and 6 touch frames 5..7; centres 0 and 2 do not
    for i in part:  # same windows for the remaining frames -> the same result
        assert np.array_equal(part[i], full[i])


def test_paste_back_is_exact_outside_the_mask_at_1080p(model: InpaintGenerator) -> None:
    n, h, w = 2, 1080, 1920
    frames = _clip(n, h, w)
    small = _box_masks(n, h, w, (900, 500, 980, 600))  # small object: native-resolution crop
    large = _box_masks(n, h, w, (300, 200, 1500, 900))  # large object: whole frame at the working size
    inp = E2FGVIInpainter(model, E2FGVIConfig(neighbor_stride=5))
    for masks in (small, large):
        out = _run(inp, frames, masks)
        for i in range(n):
            alpha = paste_alpha(masks[i], (w, h), dilate=4, feather=4)
            outside = alpha == 0
            assert out[i].shape == frames[i].shape and out[i].dtype == np.uint8
            assert np.array_equal(out[i][outside], frames[i][outside])
            assert (out[i][masks[i]] != frames[i][masks[i]]).any()
            assert outside.mean() > 0.5


def test_crop_view_for_small_objects_and_resize_for_large(model: InpaintGenerator) -> None:
    inp = E2FGVIInpainter(model)
    view = inp._view([(900, 500, 980, 600)], 1920, 1080)
    assert view.size == (432, 240) and view.box[2] - view.box[0] == 432 and view.box[3] - view.box[1] == 240
    assert view.box[0] <= 900 and view.box[2] >= 980 and view.box[1] <= 500 and view.box[3] >= 600
    view = inp._view([(300, 200, 1500, 900)], 1920, 1080)
    assert view.box == (0, 0, 1920, 1080) and view.size == (427, 240)
    view = inp._view([(10, 10, 20, 20)], 1080, 1920)  # portrait: the working size turns
    assert view.size == (240, 432)


def test_mask_covering_the_whole_frame(model: InpaintGenerator) -> None:
    n, h, w = 3, 60, 108
    frames = _clip(n, h, w)
    out = _run(E2FGVIInpainter(model), frames, [np.ones((h, w), bool)] * n)
    assert sorted(out) == list(range(n)) and all(out[i].shape == (h, w, 3) for i in range(n))


def test_single_frame_clip(model: InpaintGenerator) -> None:
    frames = _clip(1, 30, 50)
    out = _run(E2FGVIInpainter(model), frames, _box_masks(1, 30, 50, (5, 5, 20, 20)))
    assert list(out) == [0]


def test_bad_inputs_are_refused(model: InpaintGenerator) -> None:
    inp = E2FGVIInpainter(model)
    frames = _clip(3, 30, 40)
    with pytest.raises(ValueError, match="differ in length"):
        inp(frames, [np.zeros((30, 40), bool)] * 2, lambda i, f: None)
    with pytest.raises(ValueError, match="masks must match frames"):
        inp(frames, [np.ones((31, 40), bool)] * 3, lambda i, f: None)
    with pytest.raises(ValueError, match="RGB uint8"):
        inp([f.astype(np.float32) for f in frames], [np.ones((30, 40), bool)] * 3, lambda i, f: None)
    with pytest.raises(ValueError, match="precision"):
        E2FGVIInpainter(model, E2FGVIConfig(precision="fp8"))
    with pytest.raises(ValueError, match="multiples of 60, 108"):
        model(torch.zeros(1, 2, 3, 50, 108), 2)


def test_bf16_fast_path_stays_close_to_fp32(model: InpaintGenerator) -> None:
    n, h, w = 3, 60, 108
    frames, masks = _clip(n, h, w), _box_masks(n, h, w, (30, 15, 60, 45))
    ref = _run(E2FGVIInpainter(model, E2FGVIConfig(precision="fp32")), frames, masks)
    fast = _run(E2FGVIInpainter(model, E2FGVIConfig(precision="bf16")), frames, masks)
    for i in range(n):
        diff = np.abs(ref[i].astype(int) - fast[i].astype(int))[masks[i]]
        assert diff.mean() < 4.0, diff.mean()


def test_from_checkpoint_loads_strictly(model: InpaintGenerator, tmp_path: Path) -> None:
    path = tmp_path / "e2fgvi.pth"
    torch.save(model.state_dict(), path)
    inp = E2FGVIInpainter.from_checkpoint(path, device="cpu")
    assert inp.backend == "e2fgvi_hq" and inp.device == "cpu"
    for k, v in model.state_dict().items():
        assert torch.equal(inp.model.state_dict()[k], v), k
    bad = dict(model.state_dict())
    bad.pop("update_spynet.mean")
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointMismatch, match="missing keys: update_spynet.mean"):
        E2FGVIInpainter.from_checkpoint(tmp_path / "bad.pth", device="cpu")


@pytest.mark.conformance
def test_conformance_from_checkpoint_with_synthetic_weights(conformance_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "E2FGVI-HQ-CVPR22.pth"
    subprocess.run(
        [
            sys.executable,
            str(conformance_dir / "synth_weights.py"),
            str(conformance_dir / "e2fgvi_hq" / "manifest.json"),
            str(path),
            "--check",
        ],
        check=True,
        capture_output=True,
    )
    inp = E2FGVIInpainter.from_checkpoint(path, device="cpu")
    f = np.load(conformance_dir / "e2fgvi_hq" / "forward.npz")
    with torch.no_grad():
        _, (flow_f, _) = inp.model(torch.from_numpy(f["model_input"]), 5)
    np.testing.assert_allclose(flow_f.numpy(), f["pred_flows_forward"], atol=1e-4, rtol=1e-4)


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from collections.abc import Sequence
    import numpy as np, torch
    sys.path.insert(0, {root!r})
    from inpaint.e2fgvi.inpainter import E2FGVIConfig, E2FGVIInpainter
    from inpaint.e2fgvi.network import InpaintGenerator
    torch.set_num_threads(2)
    n, h, w = int(sys.argv[1]), 240, 426
    masked = {{1, n // 2 + 2}}

    class Lazy(Sequence):
        def __init__(self, make): self.make = make
        def __len__(self): return n
        def __getitem__(self, i): return self.make(i)

    def frame(i):
        rng = np.random.default_rng(i)
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)

    def mask(i):
        m = np.zeros((h, w), bool)
        if i in masked:
            m[100:140, 200:260] = True
        return m

    torch.manual_seed(0)
    inp = E2FGVIInpainter(InpaintGenerator().eval(), E2FGVIConfig(working_size=(216, 120), ref_span=30))
    count = [0]
    inp(Lazy(frame), Lazy(mask), lambda i, f: count.__setitem__(0, count[0] + 1))
    assert count[0] == n
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, inp.stats.windows)
    """
)


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_clip_length(tmp_path: Path) -> None:
    script = tmp_path / "mem.py"
    script.write_text(_MEMORY_SCRIPT.format(root=str(ROOT)))
    peaks = {}
    for n in (100, 1000):
        res = subprocess.run([sys.executable, str(script), str(n)], check=True, capture_output=True, text=True)
        peak, windows = res.stdout.split()
        peaks[n] = int(peak)
        assert int(windows) >= 4
    # 10x the frames: the peak may not grow by more than 10% (it is dominated by one window's activations)
    assert peaks[1000] < peaks[100] * 1.10, peaks
