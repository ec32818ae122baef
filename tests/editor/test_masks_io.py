"""Reading DAVIS-layout mask folders and importing them into a project."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor import masks_io
from editor.errors import InputError
from editor.masks_io import import_masks, label_to_png, load_single_mask, match_stems, read_mask_folder
from tests.editor.test_compose import N, build_project


def _save_p(path: Path, label: np.ndarray) -> None:
    label_to_png(label).save(path)


def test_decode_palette_binary_grey_and_rgb(tmp_path):
    label = np.zeros((6, 8), np.uint8)
    label[1:3, 1:3] = 1
    label[4:, 5:] = 3
    _save_p(tmp_path / "00000.png", label)
    Image.fromarray((label > 0).astype(np.uint8) * 255).save(tmp_path / "00001.png")  # binary 0/255
    Image.fromarray(label).save(tmp_path / "00002.png")  # grey ids
    rgb = masks_io.davis_palette()[label]
    Image.fromarray(rgb).save(tmp_path / "00003.png")  # DAVIS colours as RGB
    stems, maps = read_mask_folder(tmp_path)
    assert stems == ["00000", "00001", "00002", "00003"]
    assert np.array_equal(maps[0], label)
    assert np.array_equal(maps[1], (label > 0).astype(np.uint8))
    assert np.array_equal(maps[2], label)
    assert np.array_equal(maps[3], label)
    bad = rgb.copy()
    bad[0, 0] = (1, 2, 3)
    Image.fromarray(bad).save(tmp_path / "00004.png")
    with pytest.raises(InputError, match="palette"):
        read_mask_folder(tmp_path)[1][4]


def test_any_numbering_and_lazy_sizes(tmp_path):
    for n in (2, 10, 1):
        _save_p(tmp_path / f"frame{n}.png", np.full((4, 6), n, np.uint8))
    stems, maps = read_mask_folder(tmp_path, sizes=[(6, 4)])
    assert stems == ["frame1", "frame2", "frame10"]
    assert [int(m[0, 0]) for m in maps] == [1, 2, 10]
    _save_p(tmp_path / "frame11.png", np.ones((4, 5), np.uint8))  # one pixel narrower: resized with a warning
    _save_p(tmp_path / "frame12.png", np.ones((8, 12), np.uint8))  # other size: error
    stems, maps = read_mask_folder(tmp_path, sizes=[(6, 4)])
    with pytest.warns(UserWarning, match="one pixel off"):
        assert maps[3].shape == (4, 6)
    with pytest.raises(InputError, match="12x8"):
        maps[4]
    with pytest.raises(InputError, match="does not exist"):
        read_mask_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no mask images"):
        read_mask_folder(tmp_path / "empty")


def test_match_stems_rules():
    frames = [f"{i:08d}" for i in range(693, 700)]
    assert match_stems(["00000693", "00000695"], frames) == [0, 2]
    assert match_stems(["693", "699"], frames) == [0, 6]  # same number, other padding
    assert match_stems([f"{i:05d}" for i in range(7)], frames) == list(range(7))  # by order
    with pytest.raises(InputError, match="cannot match"):
        match_stems(["00000", "00001"], frames)


def test_resize_labels_keeps_objects_apart():
    label = np.zeros((10, 10), np.uint8)
    label[:, :5] = 1
    label[:, 5:] = 2
    up = masks_io.resize_labels(label, (40, 40))
    assert set(np.unique(up).tolist()) == {1, 2}
    assert (up[:, :18] == 1).all() and (up[:, 22:] == 2).all()
    assert np.array_equal(masks_io.resize_labels(up, (10, 10)), label)
    assert np.array_equal(masks_io.resize_labels(label, (10, 10)), label)


@pytest.fixture()
def project(tmp_path):
    return build_project(tmp_path, audio=False, inpainted=False)


def test_import_full_sequence_and_sparse_rules(project, tmp_path):
    masks = tmp_path / "m"
    masks.mkdir()
    want = []
    for i, stem in enumerate(project.stems):
        label = np.zeros((32, 48), np.uint8)
        label[i : i + 5, 10:20] = 4
        want.append(label)
        _save_p(masks / f"{stem}.png", label)
    kfs = import_masks(project, masks)
    assert [k.frame for k in kfs] == list(range(N))
    for i in range(N):
        assert np.array_equal(project.masks[i], want[i])
    (masks / f"{project.stems[3]}.png").unlink()
    with pytest.raises(InputError, match="keyframes"):
        import_masks(project, masks)


class FakeSession:
    def __init__(self, ids=()):
        self._ids = list(ids)
        self.added: list[tuple[int, int, int]] = []

    @property
    def objects(self):
        return [type("O", (), {"id": k})() for k in self._ids]

    def add_object(self, name=None):
        free = next(i for i in range(1, 256) if i not in self._ids)
        self._ids.append(free)
        return free

    def add_mask(self, frame, obj_id, mask):
        assert mask.dtype == bool and mask.shape == (32, 48)
        self.added.append((frame, obj_id, int(mask.sum())))


def test_import_as_keyframes_into_a_session(project, tmp_path):
    masks = tmp_path / "k"
    masks.mkdir()
    a = np.zeros((32, 48), np.uint8)
    a[2:6, 2:6] = 3  # only id 3 on the first keyframe
    b = np.zeros((32, 48), np.uint8)
    b[2:6, 2:6] = 1
    b[10:12, 10:20] = 3
    _save_p(masks / f"{project.stems[2]}.png", a)
    _save_p(masks / f"{project.stems[7]}.png", b)
    before = [project.masks[i].copy() for i in range(N)]
    session = FakeSession()
    kfs = import_masks(project, masks, as_keyframes=True, session=session)
    assert [k.frame for k in kfs] == [2, 7]
    # the mask ids 1 and 3 become the session's objects 1 and 2 (created in id order)
    assert session.added == [(2, 2, 16), (7, 1, 16), (7, 2, 20)]
    assert kfs[1].object_ids == [1, 2]
    assert all(np.array_equal(project.masks[i], before[i]) for i in range(N))  # nothing written
    kfs = import_masks(project, masks, as_keyframes=True)
    assert kfs[0].object_ids == [3]


def test_load_single_mask(tmp_path):
    m = np.zeros((20, 30), np.uint8)
    m[5:15, 10:20] = 255
    p = tmp_path / "mask.png"
    Image.fromarray(m).save(p)
    label = load_single_mask(p, (60, 40))
    assert label.shape == (40, 60) and set(np.unique(label).tolist()) == {0, 1}
    assert label[20, 30] == 1 and label[2, 2] == 0
    assert label.sum() == pytest.approx(20 * 20, rel=0.1)
    with pytest.warns(UserWarning, match="aspect"):
        load_single_mask(m > 0, (40, 40))
    with pytest.raises(InputError, match="does not exist"):
        load_single_mask(tmp_path / "x.png", (4, 4))


# ---------------------------------------------------------------------------------------------- real clips


def test_cutie_judo_sparse_keyframes(clips_dir, tmp_path):
    from editor.store import Project

    clip = clips_dir / "cutie-judo"
    project = Project.open_or_create(tmp_path / "proj", clip / "frames")
    assert project.working_size == (854, 480)
    with pytest.raises(InputError, match="4 of 16 frames"):
        import_masks(project, clip / "masks")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kfs = import_masks(project, clip / "masks", as_keyframes=True)
    assert [k.frame for k in kfs] == [0, 5, 8, 13]
    assert [str(w.message)[:10] for w in caught if "one pixel off" in str(w.message)] == ["mask 00005"]  # 853 wide
    assert all(k.label.shape == (480, 854) for k in kfs)
    assert [k.object_ids for k in kfs] == [[1], [2], [3], [4]]  # objects appear mid-clip
    # the resized masks match the originals on every pixel they had
    with Image.open(clip / "masks" / "00005.png") as im:
        orig = np.array(im)
    assert np.array_equal(kfs[1].label[:, :853], orig)


def test_dogs_jump_three_ids_round_trip(clips_dir, tmp_path):
    from editor import export
    from editor.store import Project

    clip = clips_dir / "sttn-dogs_jump"
    project = Project.open_or_create(tmp_path / "proj", clip / "video.mp4")
    assert project.num_frames == 66 and project.working_size == project.native_size == (432, 240)
    import_masks(project, clip / "masks")
    out = export.export_davis(project, tmp_path / "davis")
    stems, labels = read_mask_folder(out)
    _, originals = read_mask_folder(clip / "masks")
    assert stems == [f"{i:05d}" for i in range(66)]
    ids = set()
    for a, b in zip(labels, originals, strict=True):
        assert np.array_equal(a, b)
        ids.update(np.unique(a).tolist())
    assert ids == {0, 1, 2, 3}
    # and back in through a copy with other numbering (1-based, unpadded): matched by order
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for i, s in enumerate(stems):
        shutil.copy(out / f"{s}.png", renamed / f"{i + 1}.png")
    kfs = import_masks(project, renamed)
    assert [k.frame for k in kfs] == list(range(66))


def test_a_mask_file_given_for_the_folder_is_named_as_a_file(tmp_path):
    """``tam import-masks VIDEO mask.png`` said "mask folder mask.png does not exist" of a file that exists."""
    from editor.errors import InputError

    (tmp_path / "mask.png").write_bytes(b"x")
    with pytest.raises(InputError, match="mask.png is a file; pass the folder"):
        read_mask_folder(tmp_path / "mask.png")
    with pytest.raises(InputError, match="does not exist"):
        read_mask_folder(tmp_path / "nowhere")


def test_import_masks_as_keyframes_checks_the_propagated_masks_like_track(tmp_path, capsys, monkeypatch):
    """``tam import-masks --keyframes`` propagated the masks and said nothing about them: no review.json (so the
    page showed no flags for the project) and no summary, where ``tam track`` checks every frame. Now the same
    check runs, is kept and is summarised."""
    import json

    from editor.sample import write_sample_video
    from tests.editor.test_cli import run_tam

    src = tmp_path / "clip.mp4"
    sample = write_sample_video(src, n_frames=10, size=(160, 96))
    masks = tmp_path / "masks"
    masks.mkdir()
    label_to_png(sample.masks[0].astype(np.uint8)).save(masks / "00000.png")
    project = tmp_path / "p"
    code, text = run_tam(["import-masks", src, masks, "--project", project, "--keyframes", "--backend", "classical"],
                         capsys, monkeypatch)
    assert code == 0, text
    assert "imported 1 keyframes and propagated" in text
    assert "checked the masks" in text or "flagged for review" in text
    # what to do about a wrong frame is what import-masks offers (a corrected mask), not track's --point clicks
    flat = " ".join(text.split())
    assert "--point" not in flat and "import again with --keyframes: it becomes a keyframe" in flat
    review = project / "review.json"
    assert review.is_file() and isinstance(json.loads(review.read_text()), dict)
