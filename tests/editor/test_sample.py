"""The synthetic sample clip and its video file."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from editor.errors import InputError
from editor.sample import make_sample, write_sample_video


def test_sample_is_consistent():
    s = make_sample(n_frames=12, size=(320, 180), seed=3)
    assert len(s.frames) == len(s.background) == len(s.masks) == 12
    assert s.size == (320, 180)
    assert s.fps == Fraction(24)
    for f, bg, m in zip(s.frames, s.background, s.masks, strict=True):
        assert f.dtype == np.uint8 and f.shape == (180, 320, 3) and m.dtype == bool
        assert 0.05 < m.mean() < 0.4
        assert np.array_equal(f[~m], bg[~m])  # outside the object the frame IS the background
        assert np.abs(f[m].astype(int) - bg[m].astype(int)).mean() > 20  # the object is visible
    x, y = s.click
    assert s.masks[0][y, x]
    # the background pans and the object moves
    assert not np.array_equal(s.background[0], s.background[5])
    c0 = np.argwhere(s.masks[0]).mean(0)
    c1 = np.argwhere(s.masks[-1]).mean(0)
    assert np.linalg.norm(c1 - c0) > 30


def test_sample_is_deterministic():
    a = make_sample(n_frames=2, seed=1)
    b = make_sample(n_frames=2, seed=1)
    assert np.array_equal(a.frames[1], b.frames[1])


def test_bad_arguments():
    with pytest.raises(InputError, match="n_frames"):
        make_sample(n_frames=0)
    with pytest.raises(InputError, match="size"):
        make_sample(size=(10, 10))


def test_write_sample_video_has_video_and_audio(tmp_path):
    path = tmp_path / "sample.mp4"
    s = write_sample_video(path, n_frames=24, size=(320, 180))
    assert path.exists() and not list(tmp_path.glob(".*tmp*"))
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0]
        assert (v.codec_context.width, v.codec_context.height) == (320, 180)
        assert a.codec_context.name == "aac"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 24
    err = np.abs(frames[0].astype(int) - s.frames[0].astype(int)).mean()
    assert err < 6  # encoded near-losslessly
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert audio.size > 48000 * 0.9 and np.abs(audio).max() > 0.1  # about one second of a real tone


def test_write_sample_video_rejects_bad_suffix(tmp_path):
    with pytest.raises(InputError, match="mp4"):
        write_sample_video(tmp_path / "x.gif")
