"""The benchmark scripts' core functions on a tiny synthetic clip, so they keep working as the code changes."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks import common, compare, one_click, removal_holes, removal_quality, speed, tracking_quality
from editor.files import write_label_png, write_png
from editor.sample import make_sample


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip folder in the ../shared/clips layout: frames/NNNNN.png and masks/NNNNN.png (object 1)."""
    root = tmp_path_factory.mktemp("clips") / "tiny"
    (root / "frames").mkdir(parents=True)
    (root / "masks").mkdir()
    sample = make_sample(6, (96, 64), seed=3)
    for i, (frame, mask) in enumerate(zip(sample.frames, sample.masks, strict=True)):
        write_png(root / "frames" / f"{i:05d}.png", frame)
        write_label_png(root / "masks" / f"{i:05d}.png", mask.astype(np.uint8))
    return root


def test_clip_loading(tiny_clip: Path) -> None:
    clip = common.load_clip(tiny_clip)
    assert clip is not None and clip.num_frames == 6 and clip.annotated == list(range(6))
    assert clip.size == (96, 64) and clip.object_ids() == [1]
    assert clip.gt(2, (48, 32)).shape == (32, 48)
    assert [c.name for c in common.gt_clips(tiny_clip.parent)] == ["tiny"]


def test_tables_and_memory() -> None:
    table = common.markdown_table(["a", "b"], [[1, "x|y"]])
    assert table.splitlines()[0] == "| a | b |" and "x\\|y" in table
    assert common.peak_rss_mb() > 1
    assert common.fmt(float("nan")) == "n/a" and common.fmt(1.23456, 2) == "1.23"


def test_emit_writes_into_a_new_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a table is written where --out says even when its folder does not exist yet (it used to fail with
    # FileNotFoundError after the whole benchmark had run)
    out = tmp_path / "not" / "yet" / "table.md"
    common.emit("| a |", str(out))
    assert out.read_text() == "| a |\n" and "| a |" in capsys.readouterr().out
    assert [f.name for f in out.parent.iterdir()] == ["table.md"]


def test_click_robot() -> None:
    gt = np.zeros((40, 60), bool)
    gt[10:30, 10:40] = True
    x, y = tracking_quality.centre_point(gt)
    assert gt[y, x] and 15 <= x <= 35 and 18 <= y <= 21  # on the ridge, 10 px from the edges
    pred = gt.copy()
    pred[10:30, 25:40] = False  # missed the right half
    assert tracking_quality.correction_click(gt, pred)[2] is True
    pred = gt.copy()
    pred[0:40, 40:55] = True  # spilled to the right
    cx, cy, positive = tracking_quality.correction_click(gt, pred)
    assert not positive and cx >= 40
    assert tracking_quality.correction_click(gt, gt) is None


@pytest.mark.parametrize("mode", ["mask", "clicks"])
def test_tracking_quality(tiny_clip: Path, tmp_path: Path, mode: str) -> None:
    clip = common.load_clip(tiny_clip)
    score = tracking_quality.evaluate_clip(clip, tmp_path, "classical", mode, corrections=1)
    assert score.evaluated == 5 and score.objects == 1 and score.frames == 5
    assert 0 <= score.J <= 1 and 0 <= score.F <= 1
    assert (score.clicks >= 1) == (mode == "clicks")
    assert "J&F" in tracking_quality.tables([score], ["a note"])


def test_one_click(tiny_clip: Path) -> None:
    clip = common.load_clip(tiny_clip)
    (score,) = one_click.evaluate_clip(clip)
    assert (score.object_id, score.start, len(score.ious), len(score.coverage)) == (1, 0, 6, 6)
    assert score.click_iou > 0.8 and min(score.ious) > 0.5 and score.tracked == 1.0  # the sample is easy
    assert all(c >= i for c, i in zip(score.coverage, score.ious, strict=True))  # dilated: covers at least as much
    text = one_click.table([score], 4)
    assert "coverage (4 px)" in text and "**mean**" in text


def test_one_click_with_corrections(tiny_clip: Path) -> None:
    clip = common.load_clip(tiny_clip)
    (plain,) = one_click.evaluate_clip(clip, dilate=0)
    assert plain.corrections == 0 and plain.rounds == 1
    # every pixel wanted (no dilation, target 1.0): the simulated user corrects the worst frames, up to twice
    (score,) = one_click.evaluate_clip(clip, dilate=0, corrections=2, target=1.0)
    assert min(plain.coverage) < 1.0  # the sample's mask misses a few pixels somewhere: a correction is due
    assert 1 <= score.corrections <= 2 and score.rounds >= score.corrections + 1
    assert len(score.ious) == len(plain.ious) == 6
    text = one_click.table([score], 0)
    assert "| corrections |" in text.splitlines()[0]
    # each correction is logged: the first starts from the plain run's mean, each from the one before it
    assert len(score.steps) == score.corrections
    assert score.steps[0].mean_before == pytest.approx(np.mean(plain.ious))
    assert all(a.mean_after == b.mean_before for a, b in zip(score.steps, score.steps[1:], strict=False))
    assert score.steps[-1].mean_after == pytest.approx(np.mean(score.ious))
    assert len(one_click.corrections_table([score]).splitlines()) == 2 + score.corrections
    with pytest.raises(ValueError, match="corrections"):
        one_click.evaluate_clip(clip, start_from="mask", corrections=1)
    with pytest.raises(ValueError, match="target"):
        one_click.evaluate_clip(clip, corrections=1, target=1.5)


def test_one_click_from_the_true_mask(tiny_clip: Path) -> None:
    clip = common.load_clip(tiny_clip)
    (score,) = one_click.evaluate_clip(clip, start_from="mask")
    assert score.click_iou == 1.0 and len(score.ious) == 6  # the tracker starts from the truth itself
    assert min(score.ious) > 0.5
    with pytest.raises(ValueError, match="start_from"):
        one_click.evaluate_clip(clip, start_from="box")


def test_removal_quality(tiny_clip: Path) -> None:
    objects = [np.zeros((64, 96), bool) for _ in range(4)]
    objects[0][:, :30] = True
    donor = [np.pad(np.ones((10, 6), bool), 5) for _ in range(4)]
    holes = removal_holes.place_masks(donor, objects, (96, 64), scale=0.3)
    assert all(h.any() and not (h & objects[0]).any() for h in holes[:1])
    moved = removal_holes.path_masks(donor, objects, (96, 64), scale=0.3, guard=3)
    assert len(moved) == 4 and all(m.any() for m in moved) and not (moved[0] & objects[0]).any()
    assert _centre_x(moved[-1]) > _centre_x(moved[0]) + 20  # it travels along the path
    assert abs(removal_holes.grid_mask((854, 480)).mean() - 0.11) < 0.01
    assert abs(removal_holes.logo_mask((854, 480)).mean() - 0.05) < 0.01
    text = removal_holes.text_mask((854, 480))  # a thin caption: 1-2 % of the frame, strokes ~4 px wide
    depth = cv2.distanceTransform(np.pad(text.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1][text]
    assert 0.01 < text.mean() < 0.02 and np.median(depth) <= 2.0 and np.percentile(depth, 95) <= 4.0
    kinds = [c.kind for c in removal_quality.CASES]
    assert kinds.count("text") == kinds.count("softtext") == kinds.count("grid") + kinds.count("logo") == 10
    case, truth = removal_quality.sample_case(5, (96, 64))
    blank = removal_quality.blank_holes(case.frames, case.holes)
    assert (blank[0][case.holes[0]] == 128).all()  # the inpainter never sees the truth in the hole
    fillers, _ = removal_quality.make_backends(["classical", "telea"])
    scores = []
    for name, filler in fillers.items():
        s = removal_quality.score(case, name, filler, truth)
        assert math.isfinite(s.psnr) and s.psnr > 5 and -1 <= s.ssim <= 1 and s.outside_change == 0
        assert s.worst_psnr <= min(s.frame_psnr) + 1e-9 and len(s.frame_psnr) == 5 and s.fps > 0
        scores.append(s)
    text = removal_quality.tables(scores, [])
    assert "pooled PSNR" in text and "Targets against Telea" in text


def test_spatial_fill_benchmark_runs_the_named_fills_on_several_frames(tmp_path: Path) -> None:
    """``benchmarks.spatial_fill --frames A B --fills ...`` (no real clips here: the synthetic sample alone)."""
    from benchmarks import spatial_fill

    out = tmp_path / "sf.md"
    spatial_fill.main(["--frames", "1", "3", "--fills", "telea", "membrane", "--clips-dir", str(tmp_path),
                       "--out", str(out)])
    text = out.read_text()
    assert "frame 1, 3 of each case" in text and "patch" not in text
    rows = [r for r in text.splitlines() if r.startswith("| synthetic sample")]
    assert len(rows) == 2 and all(float(r.split("|")[4]) > 10 for r in rows)
    assert "mean over 1 cases" in text


def test_soft_edged_layers_leave_a_halo_the_score_counts() -> None:
    """``softlogo`` / ``halo`` cases: the mask given is the layer's outline, the pixels scored reach the soft
    edge beyond it (a fill that keeps the halo is scored down), and nothing farther away changes."""
    rng = np.random.default_rng(0)
    host = [rng.integers(60, 120, (64, 96, 3), dtype=np.uint8) for _ in range(2)]
    hard = [np.zeros((64, 96), bool) for _ in range(2)]
    hard[0][20:40, 30:60] = hard[1][22:42, 34:64] = True
    white = [np.full((64, 96, 3), 255, np.uint8)] * 2
    frames, masks, scored = removal_holes.lay_soft(host, hard, white)
    for f, h, m, s, t in zip(frames, hard, masks, scored, host, strict=True):
        assert np.array_equal(m, h) and (s & ~m).any() and (s | ~m).all()  # the halo lies beyond the mask
        outside = ~(cv2.dilate(h.astype(np.uint8), np.ones((11, 11), np.uint8)) > 0)
        assert np.array_equal(f[outside], t[outside])
        halo = s & ~m
        assert (f[halo].astype(int) - t[halo].astype(int)).max() > 20  # a visible fringe, not rounding
    case = removal_quality.Case("soft", frames, masks, truth=host, scored=scored)

    def keep_the_halo(given, holes, sink):  # fills the mask with the truth, leaves the fringe
        for i, (g, h) in enumerate(zip(given, holes, strict=True)):
            out = g.copy()
            out[h] = host[i][h]
            sink(i, out)

    def fill_it_all(given, holes, sink):
        for i in range(len(given)):
            sink(i, host[i].copy())

    kept = removal_quality.score(case, "kept", keep_the_halo)
    assert math.isfinite(kept.psnr) and kept.psnr < 30
    assert math.isinf(removal_quality.score(case, "all", fill_it_all).psnr)


def test_a_coded_caption_rings_beyond_its_mask_and_the_score_counts_the_ringing() -> None:
    """``codedtext`` cases: the caption is burnt in and the clip coded with H.264, so the pixels next to its
    outline carry the codec's ringing; the pixels scored are the mask and what the caption changed within
    ``CODED_REACH`` px of it (against the host coded alike), never the codec's noise farther away."""
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(40, 200, (96, 128, 3), dtype=np.uint8), (0, 0), 3)
    host = [np.roll(base, 2 * i, axis=1) for i in range(4)]
    hard = removal_holes.text_mask((128, 96), "TAM")
    frames, masks, scored = removal_holes.lay_coded(host, [hard] * 4)
    assert len(frames) == 4 and frames[0].shape == host[0].shape
    reach = cv2.dilate(hard.astype(np.uint8), np.ones((2 * removal_holes.CODED_REACH + 1,) * 2, np.uint8)) > 0
    for f, m, s, t in zip(frames, masks, scored, host, strict=True):
        assert np.array_equal(m, hard) and (s & ~m).any() and not (s & ~reach).any()
        assert f[hard].mean() > 200  # the caption is there, white after coding
        ring = s & ~m
        assert np.abs(f[ring].astype(int) - t[ring].astype(int)).max() > 10  # ringing a fill must remove


def _centre_x(mask: np.ndarray) -> float:
    return float(np.nonzero(mask)[1].mean())


def test_speed_in_a_subprocess(tiny_clip: Path, tmp_path: Path) -> None:
    point = speed.click_point(str(tiny_clip))
    result = common.run_isolated(
        "benchmarks.speed:measure",
        {"source": str(tiny_clip / "frames"), "work_dir": str(tmp_path), "point": point},
        timeout=300,
        threads=1,
    )
    assert set(result["times"]) == set(speed.STAGES) and result["frames"] == 6
    assert result["peak_rss_mb"] > 10
    assert "peak RSS" in speed.tables([("tiny", result)], [])


def test_loop_frames(tiny_clip: Path, tmp_path: Path) -> None:
    out = common.loop_frames(tiny_clip / "frames", tmp_path / "long", 15)
    assert len(list(out.iterdir())) == 15


def test_compare_interleaves(tiny_clip: Path) -> None:
    a, b = compare.Setting.parse("backend=classical working=64"), compare.Setting.parse("backend=classical working=48")
    result = compare.compare(a, b, "propagate", tiny_clip, frames=4, rounds=2, warmup=0)
    assert len(result["a"]) == len(result["b"]) == 2 and result["median_ratio"] > 0
    result = compare.compare(a, a, "inpaint", tiny_clip, frames=3, rounds=1, warmup=0)
    assert "ratio" in compare.table(a, a, result)


def test_real_clips_layout(clips_dir: Path) -> None:
    clips = {c.name: c for c in common.gt_clips(clips_dir)}
    assert "davis2016-blackswan" in clips and "e2fgvi-tennis" in clips
    dogs = clips["sttn-dogs_jump"]  # frames from video.mp4, masks by frame number
    assert dogs.source.suffix == ".mp4" and dogs.num_frames == 66 and dogs.object_ids() == [1, 2, 3]
    judo = clips["cutie-judo"]  # sparse, some masks one pixel narrower than the frames
    assert judo.annotated == [0, 5, 8, 13] and judo.gt(5).shape == (480, 854)


def test_roofline_counts_macs_like_by_hand() -> None:
    import torch
    import torch.nn.functional as F

    from benchmarks.roofline import count_macs, xmem_work

    conv = torch.nn.Conv2d(8, 16, 3, padding=1)
    x = torch.empty(1, 8, 10, 12)
    assert count_macs(lambda: conv(x))["conv"] == 10 * 12 * 8 * 16 * 9
    q, k = torch.rand(2, 4, 5, 16), torch.rand(2, 4, 7, 16)
    assert count_macs(lambda: F.scaled_dot_product_attention(q, k, k))["attention"] == 2 * 2 * 4 * 5 * 7 * 16
    one, three = xmem_work(1, (64, 96)), xmem_work(3, (64, 96))
    assert 1.5 * one["conv"] < three["conv"] < 3 * one["conv"]  # the key encoder is shared by the objects
    assert abs(xmem_work(1, (128, 192))["conv"] / one["conv"] - 4) < 0.05  # linear in the pixel count


def test_batch_benchmark_core(tiny_clip: Path, tmp_path: Path) -> None:
    from benchmarks import batch

    manifest = batch.build_manifest(tiny_clip.parent, tmp_path / "work", frames=4, working=64, quick=True)
    lines = manifest.read_text().splitlines()
    assert len(lines) == 1 and '"masks": "tiny/masks"' in lines[0]
    assert len(list((tmp_path / "work" / "tiny" / "masks").iterdir())) == 1  # the first mask only
    run = batch.run_one_process(manifest, tmp_path / "one", span=3)
    (result,) = run["results"]
    assert result.status == "done" and result.frames == 4 and batch.tasks_of(run["results"], 3) == 4
    assert batch.same_frames(tmp_path / "one", tmp_path / "one")
    assert [row[0] for row in batch.stage_rows(run["results"])] == ["prepare", "fill", "finish", "all"]
    kib = batch.storage_per_frame(tmp_path / "one")
    assert kib["frames"] > 0 and kib["masks"] > 0 and kib["inpainted"] > 0 and kib["output"] > 0


def test_flags_benchmark(tiny_clip: Path, tmp_path: Path) -> None:
    from benchmarks import flags

    clip = common.load_clip(tiny_clip)
    result = flags.score_clip(clip, *flags.track(clip, tmp_path, "mask"), "mask")
    assert result.pairs and all(0.0 <= p.iou <= 1.0 for p in result.pairs)
    bad, bad_hit, good, good_hit = result.counts()
    assert bad + good <= len(result.pairs) and bad_hit <= bad and good_hit <= good
    text, recall, good_rate = flags.table([result])
    assert "recall" in text and 0.0 <= good_rate <= 1.0


def test_flags_benchmark_after_one_correction(tiny_clip: Path, tmp_path: Path) -> None:
    from benchmarks import flags

    clip = common.load_clip(tiny_clip)
    project, session, start, sid = flags.track(clip, tmp_path, "mask")
    before = flags.score_clip(clip, project, session, start, sid, "mask")
    t, k = flags.correct_once(clip, project, session, sid, before, "mask")
    assert t in session.keyframes and (project.state_dir / "review.json").is_file()
    after = flags.score_clip(clip, project, session, start, sid, "mask", corrected=(t, k))
    assert (t, k) not in {(p.frame, p.obj) for p in after.pairs} and len(after.pairs) == len(before.pairs) - 1
    assert all(p.flagged or not p.fresh for p in after.pairs)  # the page's flags include the rules' own
    text, _, _ = flags.table([after])
    assert "rules alone" in text and "corrected frame" in text


def test_click_benchmark_scoring_on_hand_made_cases() -> None:
    from benchmarks import clicks

    assert clicks.noc([0.5, 0.86, 0.91], 0.85, 20) == 2 and clicks.noc([0.5, 0.86, 0.91], 0.90, 20) == 3
    assert clicks.noc([0.5, 0.6], 0.85, 20) == 20  # never reached: the maximum
    assert clicks.noc([0.5, 0.95], 0.85, 1) == 1  # only the first max_clicks count
    assert clicks.iou_after([0.4, 0.7, 0.92], 1) == 0.4 and clicks.iou_after([0.4, 0.7, 0.92], 5) == 0.92
    a = np.zeros((10, 10), bool)
    a[:5] = True
    b = np.zeros((10, 10), bool)
    b[:, :5] = True
    assert clicks.iou(a, b) == 25 / 75 and clicks.iou(a, a) == 1.0 and clicks.iou(a & ~a, a & ~a) == 1.0
    runs = [clicks.FrameRun("c", 0, [0.9, 0.95], [True, False], [0.1, 0.3]),
            clicks.FrameRun("c", 10, [0.2] * 20, [True] * 20, [0.2] * 20)]
    row = clicks.summary_row("x", runs, 20)
    assert row[2] == "10.5" and row[3] == "10.5"  # (1 + 20) / 2 and (1 + 20) / 2
    assert row[4] == "0.550" and row[5] == "0.200"  # mIoU@1, worst IoU@1
    assert row[8] == "95.5 % of 22"  # one click of 22 not honoured
    assert row[10] == "-"  # no stability measured
    runs[0].stability, runs[1].stability = 0.04, 0.56  # 1 and 14 of 25 grid clicks below half the centre's IoU
    assert clicks.summary_row("x", runs, 20)[10] == "30.0 % (worst 56 %)"


def test_click_benchmark_user_on_a_synthetic_frame(tmp_path: Path) -> None:
    """The simulated user with the classical segmenter: clicks add up, every click is honoured, IoU grows."""
    from benchmarks import clicks
    from tracking.classical import GrabCutSegmenter

    sample = make_sample(1, (160, 96), seed=5)
    ious, honoured, seconds = clicks.click_frame(
        sample.frames[0], sample.masks[0] > 0, GrabCutSegmenter(), tmp_path, max_clicks=6
    )
    assert 1 <= len(ious) <= 6 and len(honoured) == len(ious) == len(seconds)
    assert all(honoured) and max(ious) >= ious[0] and max(ious) > 0.5


def test_click_benchmark_box_first_counts_the_box_as_two_clicks(tmp_path: Path) -> None:
    """``--first box``: the object's tight box (pixel edges), listed as two clicks, then corrections by clicks."""
    from benchmarks import clicks
    from tracking.classical import GrabCutSegmenter

    truth = np.zeros((20, 30), bool)
    truth[4:9, 10:17] = True
    assert clicks.truth_box(truth) == (10.0, 4.0, 17.0, 9.0)
    sample = make_sample(1, (160, 96), seed=5)
    ious, honoured, seconds = clicks.click_frame(
        sample.frames[0], sample.masks[0] > 0, GrabCutSegmenter(), tmp_path, max_clicks=6, first="box"
    )
    assert len(ious) >= 2 and ious[0] == ious[1] > 0.5 and len(seconds) == len(ious)
    assert len(honoured) == len(ious) - 2 and all(honoured)  # the box is no click to honour
    with pytest.raises(ValueError, match="first must be"):
        clicks.click_frame(sample.frames[0], sample.masks[0] > 0, GrabCutSegmenter(), tmp_path / "x", first="lasso")


def test_click_benchmark_stability_on_a_synthetic_frame(tmp_path: Path) -> None:
    """25 first clicks on a 2 px grid around a clean object's centre all find it: nothing unstable."""
    from benchmarks import clicks
    from tracking.classical import GrabCutSegmenter

    sample = make_sample(1, (160, 96), seed=5)
    share = clicks.stability(sample.frames[0], sample.masks[0] > 0, GrabCutSegmenter(), tmp_path)
    assert share == 0.0
    assert np.isnan(clicks.stability(sample.frames[0], np.zeros((96, 160), bool), GrabCutSegmenter(), tmp_path))


def test_cut_joins_counts_joins_misses_and_false_cuts() -> None:
    from benchmarks import cut_joins
    from editor.shots import ShotConfig
    from tests.editor.test_shots import scene

    clips = {"a": scene(1, 30, 2), "b": scene(2, 30, 2), "c": scene(3, 30, 2), "short": scene(4, 10, 2)}
    result = cut_joins.sweep(clips, ShotConfig())
    assert result["clips"] == 4 and result["joins"] == 3 * 2 * 9  # the short clip joins nothing
    assert result["missed"] == 0 and result["false"] == 0 and result["single_false"] == []
    blind = cut_joins.sweep(clips, ShotConfig(min_content=255))  # a detector that finds nothing misses every join
    assert blind["missed"] == blind["joins"] == 54


def test_verify_memory_benchmark_measures_both_ways(tmp_path: Path) -> None:
    from benchmarks import verify_memory

    path = str(tmp_path / "mobile_sam.pth")
    assert verify_memory.save_random("mobile_sam", path)["bytes"] > 30 * 2**20
    for way in ("before", "now"):
        result = verify_memory.check(way, "mobile_sam", path)
        assert result["seconds"] > 0 and result["extra_mb"] >= 0


def test_halo_check_reads_the_fills_own_judgement() -> None:
    """``benchmarks.halo_check.judge`` summarises ``inpaint.halo.judge_edges``: an exact hole in texture keeps
    little of its outline 3 px away, the same hole under a soft white layer all of it."""
    from benchmarks import halo_check, removal_holes

    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3)).astype(np.uint8), (0, 0), 1.2)
    hole = np.zeros((120, 160), bool)
    hole[30:90, 40:120] = True
    median, largest, busy, wide = halo_check.judge(frame, hole)
    assert median < 1.5 and wide < 0.3
    soft, _, _ = removal_holes.lay_soft([frame], [hole], [np.full_like(frame, 255)])
    median, largest, busy, wide = halo_check.judge(soft[0], hole)
    assert median >= 1.5 and wide == 1.0
    assert np.isnan(halo_check.judge(frame, np.zeros_like(hole))[0])
