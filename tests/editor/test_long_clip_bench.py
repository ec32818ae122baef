"""benchmarks.long_clip on two tiny synthetic "clips": the joined clip cuts where they join, the stages run."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks import long_clip
from tests.editor.test_shots import scene


def test_joined_clip_opens_with_a_cut_at_every_joint(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    for k, name in enumerate(long_clip.PARTS[:2]):
        (clips / name / "frames").mkdir(parents=True)
        (clips / name / "masks").mkdir()
        for i, frame in enumerate(scene(k + 1, 12, 2, size=(90, 160))):
            cv2.imwrite(str(clips / name / "frames" / f"{i:05d}.jpg"), frame)
            mask = np.zeros((90, 160), np.uint8)
            mask[30:60, 40:90] = 255
            cv2.imwrite(str(clips / name / "masks" / f"{i:05d}.png"), mask)
    clip = long_clip.build_clip(tmp_path / "long.mp4", 40 / 60 / long_clip.FPS, clips)  # 40 frames
    assert clip == {"frames": 40, "joints": [12, 24, 36]}
    opened = long_clip.stage_open(str(tmp_path / "long.mp4"), str(tmp_path / "proj"), "jpeg", 90)
    assert opened["frames"] == 40 and opened["frame_bytes"] > 0
    assert long_clip._cut_scores(opened["cuts"], clip["joints"]) == (3, 0)
    box = long_clip.first_object_box(clips)
    assert abs(box[0] - 36 * 12) < 1 and abs(box[3] - 63 * 12) < 1  # 160x90 -> 1920x1080: x12, 4 px margin
