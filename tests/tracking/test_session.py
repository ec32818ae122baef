"""TrackSession with the real classical backends on a synthetic clip built here with numpy."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracking.classical import FlowPropagator, GrabCutSegmenter
from tracking.refine import RefineConfig, Refiner
from tracking.session import SessionError, Span, TrackSession

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Clip:
    frames: list[np.ndarray]
    disc: list[np.ndarray]  # object 1: a textured red disc moving right, on every frame
    square: list[np.ndarray]  # object 2: a blue square entering from the right edge at frame ``enter``
    enter: int


def make_clip(n: int = 12, size: tuple[int, int] = (160, 120), seed: int = 0, enter: int = 5, speed: int = 4) -> Clip:
    """A panning textured background, a disc crossing it, a square sliding in from the right edge."""
    w, h = size
    rng = np.random.default_rng(seed)
    plate = cv2.GaussianBlur(rng.integers(0, 255, (h + 40, w + 80, 3), dtype=np.uint8), (0, 0), 3)
    plate = (plate.astype(np.float32) * 0.5 + np.array([40, 110, 60])).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    frames, discs, squares = [], [], []
    for t in range(n):
        frame = plate[10 : 10 + h, 2 * t : 2 * t + w].copy()
        cx, cy = 40 + speed * t, 60 + int(6 * np.sin(t / 3))
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < 22**2
        stripes = ((xx - cx) // 4 % 2).astype(np.uint8) * 40
        frame[disc] = np.stack([210 + stripes // 2, 40 + stripes, 40 * np.ones_like(stripes)], -1)[disc]
        left = w - 6 * (t - enter) - 6
        square = (xx >= left) & (xx < left + 30) & (yy >= 20) & (yy < 50) if t >= enter else np.zeros((h, w), bool)
        frame[square] = (40, 60, 220)
        frames.append(frame)
        discs.append(disc & ~square)
        squares.append(square)
    return Clip(frames, discs, squares, enter)


class FolderStore:
    """A mask store in a folder (one .npy per frame) that records which frames were written."""

    def __init__(self, folder: Path, n: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n = n
        self.writes: list[int] = []

    def __len__(self) -> int:
        return self.n

    def _path(self, i: int) -> Path:
        return self.folder / f"{i:05d}.npy"

    def __getitem__(self, i: int) -> np.ndarray | None:
        return np.load(self._path(i)) if self._path(i).exists() else None

    def __setitem__(self, i: int, value: np.ndarray) -> None:
        assert value.dtype == np.uint8 and value.ndim == 2
        np.save(self._path(i), value)
        self.writes.append(i)

    def __contains__(self, i: object) -> bool:
        return isinstance(i, int) and self._path(i).exists()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def centre(mask: np.ndarray) -> tuple[int, int]:
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def open_session(clip: Clip, tmp: Path, refiner: Refiner | None = None, factory=FlowPropagator) -> TrackSession:
    store = FolderStore(tmp / "masks", len(clip.frames))
    return TrackSession(clip.frames, store, tmp / "state", GrabCutSegmenter(), factory, refiner)


@pytest.fixture(scope="module")
def clip() -> Clip:
    return make_clip()


def test_click_segments_the_object_and_keyframes_are_respected(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object("disc")
    label = s.add_click(0, obj, *centre(clip.disc[0]))
    assert iou(label == obj, clip.disc[0]) > 0.8
    given = clip.disc[8]
    s.add_mask(8, obj, given)
    assert s.keyframes == [0, 8]
    store: FolderStore = s.masks  # type: ignore[assignment]
    store.writes.clear()
    written = [f.frame_idx for f in s.propagate()]
    assert sorted(written) == [1, 2, 3, 4, 5, 6, 7, 9, 10, 11]
    assert sorted(store.writes) == sorted(written)  # keyframes are never overwritten by propagation
    np.testing.assert_array_equal(s.frame_mask(8), given.astype(np.uint8) * obj)
    scores = [iou(s.frame_mask(i) == obj, clip.disc[i]) for i in range(len(clip.frames))]
    assert min(scores) > 0.7, scores
    assert s.is_done() and s.dirty_frames() == []
    assert list(s.propagate()) == []  # nothing left to do


def test_correction_repropagates_exactly_between_neighbouring_keyframes(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    s.add_mask(0, obj, clip.disc[0])
    s.add_mask(6, obj, clip.disc[6])
    s.run_propagation()
    store: FolderStore = s.masks  # type: ignore[assignment]
    before = {i: store[i] for i in range(len(clip.frames))}

    store.writes.clear()
    s.add_click(3, obj, *centre(clip.disc[3]))
    assert store.writes == [3] and s.keyframes == [0, 3, 6]
    assert s.dirty_frames() == [1, 2, 4, 5]
    report = s.run_propagation()
    assert sorted(report.written) == [1, 2, 4, 5]
    assert sorted(store.writes) == [1, 2, 3, 4, 5]
    for i in (0, 6, 7, 8, 9, 10, 11):  # outside the corrected range nothing changed
        np.testing.assert_array_equal(store[i], before[i])

    # a correction after the last keyframe touches only the tail
    store.writes.clear()
    s.add_click(9, obj, *centre(clip.disc[9]))
    assert sorted(s.run_propagation().written) == [7, 8, 10, 11]


def test_iterative_clicks_undo_and_clear(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    x, y = centre(clip.disc[2])
    first = s.add_click(2, obj, x, y)
    second = s.add_click(2, obj, x + 10, y, positive=False)
    assert first[y, x + 10] == obj and second[y, x + 10] == 0  # the negative click carved the object
    undone = s.undo()
    assert undone is not None and undone.positive is False and undone.frame == 2
    np.testing.assert_array_equal(s.frame_mask(2), first)
    assert json.loads((s.state_dir / "prompts.json").read_text())["prompts"][-1]["positive"] is True
    s.undo()
    assert s.keyframes == [] and s.undo() is None
    assert not (s.frame_mask(2) == obj).any()  # the frame is back to what it held before (nothing)

    s.add_click(2, obj, x, y)
    s.add_click(4, obj, *centre(clip.disc[4]))
    s.clear_frame(2)
    assert s.keyframes == [4]


def test_object_entering_mid_clip(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    disc, square = s.add_object("disc"), s.add_object("square")
    s.add_click(0, disc, *centre(clip.disc[0]))
    first_seen = clip.enter + 1
    s.add_box(first_seen, square, _box(clip.square[first_seen]))
    s.add_click(first_seen + 1, square, *centre(clip.square[first_seen + 1]))  # adjacent keyframes
    assert s.keyframes == [0, first_seen, first_seen + 1]
    assert not (s.frame_mask(0) == square).any()
    s.run_propagation()
    for i in range(len(clip.frames)):
        label = s.frame_mask(i)
        assert iou(label == disc, clip.disc[i]) > 0.6, i
        if i >= first_seen:
            assert iou(label == square, clip.square[i]) > 0.6, i
        if i < clip.enter - 1:
            assert (label == square).sum() < 0.05 * 30 * 30, i  # (next to) nothing before it entered


def test_object_leaving_gives_empty_masks(tmp_path: Path) -> None:
    clip = make_clip(n=14, speed=12)  # the disc crosses the right edge and is gone from frame 12
    gone = [i for i, m in enumerate(clip.disc) if not m.any()]
    assert gone == [12, 13]
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    s.add_mask(0, obj, clip.disc[0])
    s.run_propagation()
    areas = [int((s.frame_mask(i) == obj).sum()) for i in range(14)]
    assert all(iou(s.frame_mask(i) == obj, clip.disc[i]) > 0.6 for i in range(9)), areas
    # the user marks the object as gone on frame 12 with an empty mask: a keyframe without the object
    s.add_mask(12, obj, np.zeros((120, 160), bool))
    assert s.dirty_frames() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13]
    s.run_propagation()
    assert not (s.frame_mask(12) == obj).any() and not (s.frame_mask(13) == obj).any()
    assert all(iou(s.frame_mask(i) == obj, clip.disc[i]) > 0.6 for i in range(9))


def test_bad_inputs_say_what_is_wrong(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    with pytest.raises(SessionError, match=r"click \(900, 20\) is outside frame 3 \(160x120\)"):
        s.add_click(3, obj, 900, 20)
    with pytest.raises(SessionError, match="object 7 does not exist"):
        s.add_click(3, 7, 10, 10)
    with pytest.raises(SessionError, match=r"frame 12 is not in the clip \(frames 0..11\)"):
        s.add_click(12, obj, 10, 10)
    with pytest.raises(SessionError, match="mask for frame 1 is 159x120 but the frame is 160x120"):
        s.add_mask(1, obj, np.ones((120, 159), bool))
    with pytest.raises(SessionError, match="box .* is empty"):
        s.add_box(1, obj, (50, 50, 40, 60))
    assert s.keyframes == [] and s.state.prompts == []


def test_objects_rename_remove(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    a, b = s.add_object(), s.add_object(colour=(1, 2, 3))
    assert (a, b) == (1, 2) and s.objects[1].colour == (1, 2, 3)
    s.rename(a, "disc")
    s.add_mask(0, a, clip.disc[0])
    s.add_mask(clip.enter + 2, b, clip.square[clip.enter + 2])
    s.run_propagation()
    s.remove_object(b)
    assert s.keyframes == [0]
    assert all(not (s.frame_mask(i) == b).any() for i in range(len(clip.frames)))
    assert s.add_object() == 2  # the id is free again
    assert [o.name for o in s.objects] == ["disc", "object 2"]


class StopAt(Exception):
    pass


def test_cancel_keeps_written_frames_and_resumes_only_what_is_dirty(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    s.add_mask(0, obj, clip.disc[0])
    s.add_mask(7, obj, clip.disc[7])
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        # 15 backward steps (cached: the lead-in, keyframe 0 and frames 1..6, its prediction on keyframe 7, then 6
        # predicted and a step onto keyframe 0, for the passes' errors) + 3 written frames
        if done == 18:
            raise StopAt()

    store: FolderStore = s.masks  # type: ignore[assignment]
    store.writes.clear()
    with pytest.raises(StopAt):
        for _ in s.propagate(progress):
            pass
    # span 0..7: 7 + 1 + 6 + 1 backward, 6 written; the tail: 7 replayed from keyframe 0 (its lead-in), 4 written
    assert seen[0] == (0, 7 + 1 + 6 + 1 + 6 + 7 + 4) and store.writes == [1, 2, 3]
    assert all(iou(store[i] == obj, clip.disc[i]) > 0.7 for i in (1, 2, 3))
    assert s.dirty_frames() == [4, 5, 6, 8, 9, 10, 11]

    store.writes.clear()
    resumed = open_session(clip, tmp_path)  # a fresh object over the same state_dir
    assert resumed.dirty_frames() == [4, 5, 6, 8, 9, 10, 11]
    assert sorted(resumed.run_propagation().written) == [4, 5, 6, 8, 9, 10, 11]
    assert all(iou(resumed.frame_mask(i) == obj, clip.disc[i]) > 0.7 for i in range(len(clip.frames)))


def test_resume_in_a_new_process(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path, refiner=Refiner(GrabCutSegmenter(), RefineConfig(mode="always")))
    obj = s.add_object("disc")
    s.add_click(0, obj, *centre(clip.disc[0]))
    s.add_mask(6, obj, clip.disc[6])
    gen = s.propagate()
    for _ in range(2):
        next(gen)
    gen.close()  # the consumer stops early
    refined_before = dict(s.state.refined)
    assert sorted(refined_before) == [1, 2]

    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from tests.tracking.test_session import make_clip, open_session
        from tracking.classical import GrabCutSegmenter
        from tracking.refine import Refiner, RefineConfig
        clip = make_clip()
        s = open_session(clip, Path({str(tmp_path)!r}), Refiner(GrabCutSegmenter(), RefineConfig(mode="always")))
        out = {{"objects": [[o.id, o.name] for o in s.objects], "keyframes": s.keyframes,
               "prompts": len(s.state.prompts), "dirty": s.dirty_frames(),
               "refined": sorted(s.state.refined)}}
        out["written"] = sorted(s.run_propagation().written)
        out["refined_after"] = sorted(s.state.refined)
        print(json.dumps(out))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["objects"] == [[1, "disc"]] and out["keyframes"] == [0, 6] and out["prompts"] == 2
    assert out["dirty"] == [3, 4, 5, 7, 8, 9, 10, 11] and out["refined"] == [1, 2]
    assert out["written"] == [3, 4, 5, 7, 8, 9, 10, 11]
    assert out["refined_after"] == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
    again = open_session(clip, tmp_path)
    assert again.is_done() and again.state.refined[1] == refined_before[1]


def test_span_bookkeeping() -> None:
    assert list(Span(None, 3).frames(10)) == [0, 1, 2]
    assert list(Span(3, 7).frames(10)) == [4, 5, 6]
    assert list(Span(7, None).frames(10)) == [8, 9]
    assert Span(3, 7).touches(3) and Span(3, 7).touches(5) and not Span(3, 7).touches(8)
    assert Span.from_key(Span(None, 4).key()) == Span(None, 4)


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


class LazyFrames:
    """A clip's frames read from disk on access (RGB)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return cv2.cvtColor(cv2.imread(str(self.paths[i])), cv2.COLOR_BGR2RGB)


class MemoryStore(dict):
    """An in-memory mask store."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray | None:
        return self.get(i)


@pytest.mark.slow
def test_one_click_on_davis_clips(clips_dir: Path, tmp_path: Path) -> None:
    """One click on frame 0 of each DAVIS 2016 clip (classical backends); mean IoU vs the ground truth."""
    results: dict[str, float] = {}
    first: dict[str, float] = {}
    for clip_dir in sorted(clips_dir.glob("davis2016-*")):
        paths = sorted((clip_dir / "frames").iterdir())
        frames = LazyFrames(paths)
        gt = [cv2.imread(str(clip_dir / "masks" / f"{p.stem}.png"), cv2.IMREAD_GRAYSCALE) > 0 for p in paths]
        store = MemoryStore(len(frames))
        s = TrackSession(frames, store, tmp_path / clip_dir.name, GrabCutSegmenter(), FlowPropagator)
        obj = s.add_object(clip_dir.name)
        first[clip_dir.name] = iou(s.add_click(0, obj, *centre(gt[0])) == obj, gt[0])
        s.run_propagation()
        results[clip_dir.name] = float(np.mean([iou(store[i] == obj, gt[i]) for i in range(len(frames))]))
    lines = [f"{name}: click IoU {first[name]:.3f}, mean IoU {v:.3f}" for name, v in results.items()]
    print("\n" + "\n".join(lines) + f"\nall: mean IoU {np.mean(list(results.values())):.3f}")
    # classical one-click baseline measured at 0.32 mean IoU (GrabCut click + DIS flow); guard against regressions
    assert results and np.mean(list(results.values())) > 0.25


def test_unsure_frames_are_recorded_when_not_refined(clip: Clip, tmp_path: Path) -> None:
    """With refinement off, frames whose masks look unsure are still marked (the page shows them)."""
    session = open_session(clip, tmp_path, Refiner(None, RefineConfig(mode="off")))
    obj = session.add_object("square")
    session.add_mask(clip.enter, obj, clip.square[clip.enter])  # 6 px wide, growing as it slides in
    list(session.propagate())
    flagged = session.state.low_confidence
    assert not session.state.refined
    # the square grows five-fold as it slides in, faster than the classical mask follows it: its area
    # swings are flagged (which way depends on the propagator, so both are accepted)
    assert flagged, "a mask whose area swings within a few frames should be flagged"
    reasons = [reason for objs in flagged.values() for reason in objs.values()]
    assert all("area grew" in r or "area dropped" in r or "fragmented" in r for r in reasons), reasons
    again = open_session(clip, tmp_path)
    assert again.state.low_confidence == flagged  # persisted in session.json


def test_a_session_knows_when_another_saved_its_state_and_reloads_it(clip: Clip, tmp_path: Path) -> None:
    """Two sessions on one state folder (the page's, kept open, and a ``tam`` command's): what one saves, the
    other sees as changed elsewhere and reads again; its own saves and passes (a page job) are not."""
    mine = open_session(clip, tmp_path)
    obj = mine.add_object("disc")
    mine.add_click(0, obj, *centre(clip.disc[0]))
    list(mine.propagate())
    assert not mine.changed_elsewhere  # its own click and pass
    other = open_session(clip, tmp_path)
    square = other.add_object("square")
    other.add_mask(8, square, clip.square[8])
    assert mine.changed_elsewhere and [o.name for o in mine.objects] == ["disc"]
    mine.reload()
    assert not mine.changed_elsewhere
    assert [o.name for o in mine.objects] == ["disc", "square"] and mine.keyframes == [0, 8]
    assert mine.dirty_frames()  # the other's mask left frames to track again, and this session knows it
    mine.undo()  # the shared history: the latest prompt (the other's mask) is taken back
    assert mine.keyframes == [0]
