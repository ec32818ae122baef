"""Mask exports: DAVIS round trip, COCO RLE, alpha mattes, RGBA cut-outs, overlay preview."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from editor import export
from editor.compose import source_frames
from editor.errors import InputError
from editor.masks_io import import_masks, read_mask_folder
from tests.editor.test_compose import FPS, NATIVE, N, build_project, scene


@pytest.fixture(scope="module")
def native_project(tmp_path_factory):
    """Working size == native size: every export is the stored mask exactly."""
    return build_project(tmp_path_factory.mktemp("exp_native"), short_side=64)


@pytest.fixture(scope="module")
def small_project(tmp_path_factory):
    """Working size is half the native size."""
    return build_project(tmp_path_factory.mktemp("exp_small"))


def test_davis_round_trip_exact(native_project, tmp_path):
    out = export.export_davis(native_project, tmp_path / "davis")
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"{s}.png" for s in native_project.stems]
    with Image.open(out / files[0]) as im:
        assert im.mode == "P" and im.size == NATIVE
    stems, labels = read_mask_folder(out)
    for i, label in enumerate(labels):
        assert np.array_equal(label, native_project.masks[i])
    # import into a fresh project from the same source: identical masks
    from editor.store import Project

    other = Project.open_or_create(tmp_path / "other", native_project.source, working_short_side=64)
    import_masks(other, out)
    for i in range(N):
        assert np.array_equal(other.masks[i], native_project.masks[i])


def test_davis_upsampling_is_smooth_and_round_trips(small_project, tmp_path):
    out = export.export_davis(small_project, tmp_path / "davis")
    _, labels = read_mask_folder(out)
    for i, label in enumerate(labels):
        assert label.shape == (NATIVE[1], NATIVE[0])
        truth = scene(i)[1]
        for k in (1, 2):
            inter = ((label == k) & (truth == k)).sum()
            union = ((label == k) | (truth == k)).sum()
            assert inter / union > 0.85
    from editor.store import Project

    other = Project.open_or_create(tmp_path / "other", small_project.source, working_short_side=32)
    import_masks(other, out)  # native-size masks are scaled back to the working size
    for i in range(N):
        a, b = other.masks[i], small_project.masks[i]
        assert (a != b).mean() < 0.02


def test_davis_zip(small_project, tmp_path):
    z = export.export_davis_zip(small_project, tmp_path / "masks.zip")
    with zipfile.ZipFile(z) as f:
        names = sorted(f.namelist())
        assert names == [f"Annotations/{s}.png" for s in small_project.stems]
        with f.open(names[3]) as fh, Image.open(fh) as im:
            assert im.mode == "P" and im.size == NATIVE
            assert np.array_equal(np.array(im), export.native_label(small_project, 3))
    assert [p.name for p in tmp_path.iterdir()] == ["masks.zip"]  # no temp file left


def test_coco_rle_decodes_to_the_masks(small_project, tmp_path):
    from pycocotools import mask as mask_utils

    path = export.export_coco(small_project, tmp_path / "coco.json")
    doc = json.loads(path.read_text())
    assert len(doc["images"]) == N and doc["videos"][0]["length"] == N
    assert {c["id"] for c in doc["categories"]} == {1, 2}
    assert doc["images"][0] == {
        "id": 1,
        "file_name": "00000.png",
        "width": NATIVE[0],
        "height": NATIVE[1],
        "frame_index": 0,
        "video_id": 1,
    }
    assert len(doc["annotations"]) == 2 * N
    for ann in doc["annotations"]:
        assert isinstance(ann["segmentation"]["counts"], str) and ann["iscrowd"] == 0
        assert ann["track_id"] == ann["category_id"]
        i = ann["image_id"] - 1
        truth = export.native_label(small_project, i) == ann["track_id"]
        rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
        decoded = mask_utils.decode(rle).astype(bool)
        assert np.array_equal(decoded, truth)
        assert ann["area"] == truth.sum()
        ys, xs = np.nonzero(truth)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def _frames(path: Path) -> list[np.ndarray]:
    from editor.video import iter_frames

    return list(iter_frames(path))


def test_alpha_mattes(native_project, tmp_path):
    folder = export.export_alpha(native_project, tmp_path / "alpha")
    paths = sorted(folder.iterdir())
    assert [p.name for p in paths] == ["alpha_1.mp4", "alpha_2.mp4"]
    for k, p in zip((1, 2), paths, strict=True):
        frames = _frames(p)
        assert len(frames) == N
        for i, f in enumerate(frames):
            truth = scene(i)[1] == k
            assert np.abs(f[..., 0].astype(int) - truth * 255).mean() < 3
            assert (f[..., 0][truth] > 200).mean() > 0.97 and (f[..., 0][~truth] < 50).mean() > 0.97
    # one file: the chosen objects together
    one = export.export_alpha(native_project, tmp_path / "both.mp4")
    assert one == tmp_path / "both.mp4"
    f = _frames(one)[5]
    truth = scene(5)[1] > 0
    assert np.abs(f[..., 0].astype(int) - truth * 255).mean() < 3
    with pytest.raises(InputError, match=".mp4"):
        export.export_alpha(native_project, tmp_path / "two.webm", [1, 2])


@pytest.mark.parametrize("video", [".webm", ".mov"])
def test_rgba_cutout(native_project, tmp_path, video):
    pngs, vid = export.export_rgba(native_project, tmp_path / "cut", [1], video=video)
    src = list(source_frames(native_project))
    files = sorted(pngs.iterdir())
    assert len(files) == N
    for i, f in enumerate(files):
        with Image.open(f) as im:
            assert im.mode == "RGBA"
            rgba = np.array(im)
        truth = native_project.masks[i] == 1
        assert np.array_equal(rgba[..., 3], truth.astype(np.uint8) * 255)  # exact
        assert np.array_equal(rgba[..., :3][truth], src[i][truth])
        assert (rgba[..., :3][~truth] == 0).all()
    # the video holds the alpha channel (decode with libvpx for VP9 alpha)
    alphas = _decode_alpha(vid)
    assert len(alphas) == N
    for i, a in enumerate(alphas):
        truth = native_project.masks[i] == 1
        assert np.abs(a.astype(int) - truth * 255).mean() < 4


def _decode_alpha(path: Path) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        if s.codec_context.name == "vp9":
            ctx = av.codec.CodecContext.create("libvpx-vp9", "r")
            for packet in c.demux(s):
                if packet.size == 0:
                    continue
                for fr in ctx.decode(packet):
                    out.append(fr.to_ndarray(format="rgba")[..., 3])
            for fr in ctx.decode(None):
                out.append(fr.to_ndarray(format="rgba")[..., 3])
        else:
            for fr in c.decode(s):
                out.append(fr.to_ndarray(format="rgba")[..., 3])
    return out


def test_overlay_preview(small_project, tmp_path):
    p = export.export_overlay(small_project, tmp_path / "overlay.mp4")
    from editor.video import probe

    info = probe(p)
    assert info.num_frames == N and info.fps == FPS and info.has_audio
    frames = _frames(p)
    src = list(source_frames(small_project))
    label = export.native_label(small_project, 0)
    far = cv2.dilate((label > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    assert np.abs(frames[0][far].astype(int) - src[0][far]).mean() < 3
    # object 2 (blue) is tinted with the DAVIS colour 2 (green)
    inner = cv2.erode((label == 2).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert frames[0][inner][:, 1].mean() > src[0][inner][:, 1].mean() + 40


def test_overlay_frame_pure():
    frame = np.zeros((20, 20, 3), np.uint8)
    label = np.zeros((20, 20), np.uint8)
    label[5:15, 5:15] = 3
    out = export.overlay_frame(frame, label, {3: (200, 100, 0)}, opacity=0.5, thickness=1)
    assert tuple(out[10, 10]) == (100, 50, 0)
    assert (out[0:3, 0:3] == 0).all()
    assert out[5, 10].any()  # the outline


def test_export_errors(tmp_path):
    p = build_project(tmp_path, audio=False, inpainted=False)
    for i in range(N):
        del p.masks[i]
    with pytest.raises(InputError, match="no masks"):
        export.export_davis(p, tmp_path / "d")
    with pytest.raises(InputError, match="no masks"):
        export.export_coco(p, tmp_path / "c.json")
    p.masks[0] = np.zeros((32, 48), np.uint8)
    with pytest.raises(InputError, match="no object"):
        export.export_alpha(p, tmp_path / "a")
    with pytest.raises(InputError, match=".webm"):
        export.export_rgba(p, tmp_path / "r", [1], video=".mp4")
