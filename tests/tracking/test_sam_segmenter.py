"""SamSegmenter plumbing: coordinate transforms, mask choice, embedding cache, prompts from a mask, errors.

These tests need no ../shared: the networks are seeded random MobileSAM models (our TinyViT with random
attention biases), so outputs are arbitrary but deterministic; what is checked is that our adapter gives
exactly what segment_anything's own ``SamPredictor`` gives on the same ``Sam``, and the cache behaviour.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor

from tracking.backend import SegmentResult
from tracking.sam import EmbeddingCache, SamSegmenter, TinyViTConfig, build_mobile_sam, prompts_from_mask
from tracking.sam.build import resolve_variant

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_sam(img_size: int = 1024, seed: int = 0):
    """A seeded random MobileSAM; ``img_size`` < 1024 gives a cheaper encoder with the same code paths."""
    torch.manual_seed(seed)
    sam = build_mobile_sam(TinyViTConfig(img_size=img_size))
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if name.endswith("attention_biases"):
                p.uniform_(-1, 1)
    return sam.eval()


@pytest.fixture(scope="module")
def full_sam():
    return _random_sam(1024)


@pytest.fixture(scope="module")
def small_sam():
    """A 256-px TinyViT (16x cheaper) for the cache and policy tests; low-res logits are 64 x 64."""
    return _random_sam(256, seed=1)


def _frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], axis=-1)
    noise = rng.integers(0, 40, size=(h, w, 3))
    img = (base + noise).clip(0, 255).astype(np.uint8)
    img[h // 3 : 2 * h // 3, w // 4 : w // 2] = (220, 30, 40)
    return img


def _count_encoder_calls(seg: SamSegmenter) -> list[int]:
    calls = [0]
    seg.sam.image_encoder.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("size", [(333, 517), (481, 271), (97, 97)])
def test_odd_frame_sizes_match_sam_predictor(small_sam, size: tuple[int, int]) -> None:
    h, w = size
    image = _frame(h, w, seed=h)
    seg = SamSegmenter(small_sam, "mobile_sam")
    seg.set_image(image)
    ref = SamPredictor(small_sam)
    ref.set_image(image)
    assert torch.equal(seg._current.features, ref.features)
    assert seg.image_size == (h, w)

    points = np.array([[w * 0.37, h * 0.51], [w - 1.0, h - 1.0], [3.0, 5.0]], dtype=np.float32)
    labels = np.array([1, 0, 1])
    box = np.array([w * 0.2, h * 0.3, w * 0.6, h * 0.9], dtype=np.float32)
    for kwargs in (
        dict(points=points[:1], labels=labels[:1], multimask=True),
        dict(points=points, labels=labels, multimask=True),
        dict(box=box, multimask=False),
        dict(points=points[:2], labels=labels[:2], box=box, multimask=False),
    ):
        mine = seg.predict_all(kwargs.get("points"), kwargs.get("labels"), kwargs.get("box"), None, kwargs["multimask"])
        theirs = ref.predict(kwargs.get("points"), kwargs.get("labels"), kwargs.get("box"), None, kwargs["multimask"])
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
        assert mine[0].shape[1:] == (h, w)


def test_clicked_point_moves_the_mask(small_sam) -> None:
    """A click is mapped to the place clicked: the decoder output depends on where, at odd sizes too."""
    image = _frame(301, 457)
    seg = SamSegmenter(small_sam, "mobile_sam")
    seg.set_image(image)
    left = seg.predict(np.array([[40.0, 150.0]]), np.array([1]))
    right = seg.predict(np.array([[420.0, 150.0]]), np.array([1]))
    assert left.mask.shape == (301, 457) and left.mask.dtype == bool
    assert not np.array_equal(left.logits, right.logits)


def test_logits_feedback_shape_and_refinement(full_sam) -> None:
    image = _frame(240, 427)
    seg = SamSegmenter(full_sam, "mobile_sam")
    seg.set_image(image, key=7)
    first = seg.predict(np.array([[200.0, 120.0]]), np.array([1]))
    assert isinstance(first, SegmentResult)
    assert first.logits.shape == (1, 256, 256) and first.logits.dtype == np.float32
    pts, lab = np.array([[200.0, 120.0], [50.0, 60.0]]), np.array([1, 0])
    second = seg.predict(pts, lab, mask_input=first.logits)
    masks, scores, logits = seg.predict_all(pts, lab, None, first.logits, multimask_output=False)
    np.testing.assert_array_equal(second.mask, masks[0])
    np.testing.assert_array_equal(second.logits, logits)
    assert second.score == pytest.approx(float(scores[0]))
    without = seg.predict(pts, lab)
    assert not np.array_equal(without.logits, second.logits)  # the previous mask really was used


def test_multimask_picks_argmax_score(small_sam) -> None:
    seg = SamSegmenter(small_sam, "mobile_sam")
    seg.set_image(_frame(120, 200))
    for x, y in [(30, 40), (150, 90), (100, 60)]:
        point, label = np.array([[x, y]], dtype=np.float32), np.array([1])
        masks, scores, logits = seg.predict_all(point, label, multimask_output=True)
        assert masks.shape == (3, 120, 200) and scores.shape == (3,)
        result = seg.predict(point, label)
        best = int(np.argmax(scores))
        assert result.score == pytest.approx(float(scores.max()))
        np.testing.assert_array_equal(result.mask, masks[best])
        np.testing.assert_array_equal(result.logits, logits[best : best + 1])
    single = seg.predict(point, label, multimask=False)
    np.testing.assert_array_equal(single.logits, seg.predict_all(point, label, multimask_output=False)[2])


def test_cache_hit_skips_the_encoder(small_sam) -> None:
    seg = SamSegmenter(small_sam, "mobile_sam")
    calls = _count_encoder_calls(seg)
    a, b = _frame(100, 150, seed=1), _frame(100, 150, seed=2)
    click = (np.array([[70.0, 50.0]]), np.array([1]))
    seg.set_image(a, key=0)
    first = seg.predict(*click)
    seg.set_image(b, key=1)
    seg.set_image(a, key=0)  # back to frame 0: cached
    again = seg.predict(*click)
    assert calls[0] == seg.embeddings_computed == 2
    np.testing.assert_array_equal(first.mask, again.mask)
    seg.set_image(b, key=0)  # the same key with other pixels is not trusted
    assert calls[0] == 3
    seg.set_image(a)  # no key: always computed, never cached
    seg.set_image(a)
    assert calls[0] == 5 and len(seg.cache) == 2


def test_cache_is_bounded_lru(small_sam) -> None:
    seg = SamSegmenter(small_sam, "mobile_sam", cache_size=2)
    calls = _count_encoder_calls(seg)
    frames = [_frame(64, 96, seed=s) for s in range(4)]
    seg.set_image(frames[0], key=0)
    seg.set_image(frames[1], key=1)
    seg.set_image(frames[0], key=0)  # hit: 0 becomes most recent
    seg.set_image(frames[2], key=2)  # evicts 1, the least recently used
    assert calls[0] == 3 and seg.cache.keys() == [0, 2]
    seg.set_image(frames[1], key=1)  # was evicted: recomputed, evicts 0
    assert calls[0] == 4 and seg.cache.keys() == [2, 1]
    assert len(seg.cache) == 2


def test_embedding_cache_capacity_zero_and_errors() -> None:
    cache = EmbeddingCache(0)
    cache.put(1, object())  # type: ignore[arg-type]
    assert len(cache) == 0 and 1 not in cache
    with pytest.raises(ValueError, match="capacity"):
        EmbeddingCache(-1)


def test_prompts_from_mask_points_inside_box_around() -> None:
    mask = np.zeros((90, 140), dtype=bool)
    mask[20:70, 30:60] = True
    mask[40:60, 60:120] = True  # an L shape: the box covers background at the top right
    points, labels, box = prompts_from_mask(mask, n_positive=3, n_negative=2)
    np.testing.assert_array_equal(box, [30, 20, 119, 69])
    pos, neg = points[labels == 1].astype(int), points[labels == 0].astype(int)
    assert 1 <= len(pos) <= 3 and len(neg) >= 1
    assert mask[pos[:, 1], pos[:, 0]].all()
    assert not mask[neg[:, 1], neg[:, 0]].any()
    assert ((neg[:, 0] >= 30) & (neg[:, 0] <= 119) & (neg[:, 1] >= 20) & (neg[:, 1] <= 69)).all()
    # the deepest interior point comes first
    x, y = pos[0]
    assert 35 <= x <= 55 and 25 <= y <= 65
    with pytest.raises(ValueError, match="empty"):
        prompts_from_mask(np.zeros((10, 10), bool))


def test_predict_from_mask_uses_box_points_and_logits(small_sam) -> None:
    seg = SamSegmenter(small_sam, "mobile_sam")
    seg.set_image(_frame(120, 160))
    mask = np.zeros((120, 160), dtype=bool)
    mask[30:90, 40:110] = True
    result = seg.predict_from_mask(mask)
    points, labels, box = prompts_from_mask(mask)
    expected = seg.predict_all(points, labels, box, None, multimask_output=False)
    np.testing.assert_array_equal(result.mask, expected[0][0])
    refined = seg.predict_from_mask(mask, logits=result.logits)
    assert refined.logits.shape == result.logits.shape
    assert not np.array_equal(refined.logits, result.logits)
    with pytest.raises(ValueError, match="shape"):
        seg.predict_from_mask(mask[:100])


def test_bad_inputs_raise_clear_errors(small_sam) -> None:
    seg = SamSegmenter(small_sam, "mobile_sam")
    with pytest.raises(RuntimeError, match="set_image"):
        seg.predict(np.array([[1.0, 1.0]]), np.array([1]))
    with pytest.raises(ValueError, match="uint8"):
        seg.set_image(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="H x W x 3"):
        seg.set_image(np.zeros((10, 10), np.uint8))
    seg.set_image(_frame(50, 80))
    with pytest.raises(ValueError, match="at least one click"):
        seg.predict()
    with pytest.raises(ValueError, match="labels"):
        seg.predict(np.array([[1.0, 1.0]]))
    with pytest.raises(ValueError, match="outside"):
        seg.predict(np.array([[81.0, 10.0]]), np.array([1]))
    with pytest.raises(ValueError, match="1 .positive. or 0"):
        seg.predict(np.array([[1.0, 1.0]]), np.array([2]))
    with pytest.raises(ValueError, match="x0 <= x1"):
        seg.predict(box=np.array([40.0, 10.0, 20.0, 30.0]))
    with pytest.raises(ValueError, match="mask_input"):
        seg.predict(np.array([[1.0, 1.0]]), np.array([1]), mask_input=np.zeros((1, 256, 256), np.float32))
    with pytest.raises(ValueError, match="unknown SAM variant"):
        resolve_variant("vit_x")


def test_backend_and_device_strings(small_sam) -> None:
    seg = SamSegmenter(small_sam, "mobile_sam")
    assert seg.backend == "mobile_sam" and seg.device == "cpu"
    assert resolve_variant("sam_vit_b").backend == "sam-vit_b"
    assert resolve_variant("mobile_sam").arch == "vit_t"


@pytest.mark.slow
def test_vit_b_random_init_plumbing() -> None:
    """The full SAM ViT-B path (segment_anything's encoder) through our adapter: ~8 s per frame on CPU."""
    from tracking.sam import build_sam

    torch.manual_seed(0)
    seg = SamSegmenter(build_sam("vit_b"), "sam-vit_b")
    image = _frame(270, 480)
    seg.set_image(image, key=0)
    result = seg.predict(np.array([[240.0, 135.0]]), np.array([1]))
    assert result.mask.shape == (270, 480) and result.logits.shape == (1, 256, 256)
    assert seg.sam.image_encoder.img_size == 1024
