"""MobileSAM (vit_t) conformance: our TinyViT + segment_anything's decoder vs the reference fixtures.

Spec and tolerances: ../shared/conformance/mobile_sam/README.md. Weights come from ../shared's
``synth_weights.py`` (imported through sys.path, never copied).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor
from segment_anything.utils.transforms import ResizeLongestSide

from tracking.sam import SamSegmenter, build_mobile_sam, build_sam, load_sam
from weights import CheckpointMismatch, load_strict

pytestmark = [pytest.mark.conformance, pytest.mark.usefixtures("one_torch_thread")]

EMB_TOL = 1e-4
LOGIT_TOL = 1e-4
IOU_TOL = 1e-5
MARGIN = 1e-4  # masks must agree wherever |reference hi-res logit| > MARGIN




@pytest.fixture(scope="module")
def mobile_dir(conformance_dir: Path) -> Path:
    path = conformance_dir / "mobile_sam"
    if not (path / "manifest.json").is_file():
        pytest.skip(f"MobileSAM fixtures not found in {path}")
    return path


@pytest.fixture(scope="module")
def synth(conformance_dir: Path):
    sys.path.insert(0, str(conformance_dir))
    try:
        return importlib.import_module("synth_weights")
    finally:
        sys.path.remove(str(conformance_dir))


@pytest.fixture(scope="module")
def manifest(synth, mobile_dir: Path) -> dict:
    return synth.load_manifest(str(mobile_dir / "manifest.json"))


@pytest.fixture(scope="module")
def state_dict(synth, manifest: dict) -> dict[str, torch.Tensor]:
    sd = synth.synth_state_dict(manifest)
    assert synth.state_dict_digest(sd) == manifest["synth_sha256"]
    return dict(sd)


@pytest.fixture(scope="module")
def sam(state_dict):
    model = build_mobile_sam()
    load_strict(model, state_dict, "mobile_sam")
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(state_dict, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mobile_sam") / "mobile_sam.pt"
    torch.save(state_dict, path)
    return path


def test_conformance_key_order_matches_manifest(manifest: dict) -> None:
    own = build_mobile_sam().state_dict()
    expected = [(k, tuple(shape), dtype) for k, shape, dtype in manifest["tensors"]]
    got = [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in own.items()]
    assert got == expected
    assert len(got) == manifest["num_tensors"] == 439


def test_conformance_neck_layernorm_eps() -> None:
    # pitfall 11 of the README: a wrong neck eps stays inside the embedding tolerance, so check it directly
    encoder = build_mobile_sam().image_encoder
    assert encoder.neck[1].eps == encoder.neck[3].eps == 1e-6
    assert encoder.img_size == 1024
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.LayerNorm | torch.nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-5 for m in norms)


def test_conformance_wrong_checkpoint_refused_with_keys(state_dict, checkpoint: Path, tmp_path: Path) -> None:
    broken = dict(state_dict)
    del broken["image_encoder.layers.2.blocks.3.attn.attention_biases"]
    broken["image_encoder.layers.9.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatch) as err:
        load_strict(build_mobile_sam(), broken, "mobile_sam")
    assert "image_encoder.layers.2.blocks.3.attn.attention_biases" in str(err.value)
    assert "image_encoder.layers.9.extra.weight" in str(err.value)

    with pytest.raises(CheckpointMismatch) as err:  # a MobileSAM file given as SAM ViT-B
        load_sam("vit_b", checkpoint, device="cpu")
    message = str(err.value)
    assert "sam_vit_b" in message and "image_encoder.pos_embed" in message
    assert "image_encoder.patch_embed.seq.0.c.weight" in message


def test_conformance_preprocessing_exact(sam, mobile_dir: Path) -> None:
    fixture = np.load(mobile_dir / "encoder_fixture.npz")
    resized = ResizeLongestSide(1024).apply_image(fixture["image"])
    np.testing.assert_array_equal(resized, fixture["resized_image"])
    x = sam.preprocess(torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None])
    np.testing.assert_array_equal(x.numpy(), fixture["input"])


def test_conformance_encoder_embeddings_and_probes(sam, mobile_dir: Path) -> None:
    fixture = np.load(mobile_dir / "encoder_fixture.npz")
    encoder = sam.image_encoder
    outputs: dict[str, torch.Tensor] = {}
    hooks = [encoder.patch_embed.register_forward_hook(lambda m, i, o: outputs.__setitem__("patch_embed", o))]
    for n, layer in enumerate(encoder.layers):
        hooks.append(layer.register_forward_hook(lambda m, i, o, n=n: outputs.__setitem__(f"layers{n}", o)))
    with torch.inference_mode():
        emb = encoder(torch.from_numpy(fixture["input"]))
    for h in hooks:
        h.remove()
    assert np.abs(emb.numpy() - fixture["image_embeddings"]).max() <= EMB_TOL
    for name, out in outputs.items():
        assert tuple(out.shape) == tuple(fixture[f"probe_{name}_shape"]), name
        values = out.reshape(-1)[:: int(fixture[f"probe_{name}_stride"])][:8192].numpy()
        assert np.abs(values - fixture[f"probe_{name}_values"]).max() <= EMB_TOL, name


def _check_call(sam, ref: np.lib.npyio.NpzFile, tag: str, masks, iou, low_res) -> None:
    assert np.abs(low_res - ref[f"{tag}_low_res_logits"]).max() <= LOGIT_TOL, tag
    assert np.abs(iou - ref[f"{tag}_iou_predictions"]).max() <= IOU_TOL, tag
    hires = sam.postprocess_masks(
        torch.from_numpy(ref[f"{tag}_low_res_logits"])[None], tuple(ref["input_size"]), tuple(ref["original_size"])
    )[0].numpy()
    sure = np.abs(hires) > MARGIN
    assert masks.shape == ref[f"{tag}_masks"].shape, tag
    assert np.array_equal(masks[sure], ref[f"{tag}_masks"][sure]), tag


def _run_fixture(sam, ref, predict) -> None:
    """The README's four calls a-d through ``predict(coords, labels, box, mask_input, multimask)``."""
    a = predict(ref["a_point_coords"], ref["a_point_labels"], None, None, True)
    _check_call(sam, ref, "a", *a)
    _check_call(sam, ref, "b", *predict(ref["b_point_coords"], ref["b_point_labels"], None, None, True))
    _check_call(sam, ref, "c", *predict(None, None, ref["c_box"], None, True))
    best = int(np.argmax(a[1]))
    assert best == int(ref["d_mask_input_index"]) == 2
    d = predict(ref["d_point_coords"], ref["d_point_labels"], None, a[2][best][None], False)
    _check_call(sam, ref, "d", *d)


def test_conformance_predictor_reference_path(sam, mobile_dir: Path) -> None:
    """segment_anything's own SamPredictor on our Sam reproduces fixture (2)."""
    ref = np.load(mobile_dir / "predictor_fixture.npz")
    enc = np.load(mobile_dir / "encoder_fixture.npz")
    predictor = SamPredictor(sam)
    predictor.set_image(ref["image"])
    assert np.abs(predictor.features.numpy() - enc["image_embeddings"]).max() <= EMB_TOL

    def predict(coords, labels, box, mask_input, multimask):
        return predictor.predict(coords, labels, box, mask_input, multimask_output=multimask)

    _run_fixture(sam, ref, predict)


def test_conformance_segmenter_from_checkpoint(checkpoint: Path, mobile_dir: Path) -> None:
    """Our loader (weights_only, strict) and SamSegmenter reproduce fixture (2) end to end."""
    ref = np.load(mobile_dir / "predictor_fixture.npz")
    enc = np.load(mobile_dir / "encoder_fixture.npz")
    seg = SamSegmenter.from_checkpoint("mobile_sam", checkpoint, device="cpu")
    assert (seg.backend, seg.device) == ("mobile_sam", "cpu")
    seg.set_image(ref["image"], key=0)
    assert np.abs(seg._current.features.numpy() - enc["image_embeddings"]).max() <= EMB_TOL

    def predict(coords, labels, box, mask_input, multimask):
        return seg.predict_all(coords, labels, box, mask_input, multimask_output=multimask)

    _run_fixture(seg.sam, ref, predict)
    # the product call: a single click keeps the multimask output with the best predicted IoU
    result = seg.predict(ref["a_point_coords"], ref["a_point_labels"])
    assert result.score == pytest.approx(float(ref["a_iou_predictions"].max()), abs=IOU_TOL)
    assert result.logits.shape == (1, 256, 256)
    assert np.abs(result.logits[0] - ref["a_low_res_logits"][2]).max() <= LOGIT_TOL


def test_conformance_builders_give_sam_layouts() -> None:
    """vit_b builds with segment_anything's layout (the official sam_vit_b keys) without reading a file."""
    sam = build_sam("sam_vit_b")
    keys = list(sam.state_dict())
    assert keys[0] == "image_encoder.pos_embed" and "image_encoder.blocks.11.attn.rel_pos_h" in keys
    assert sum(p.numel() for p in sam.parameters()) == 93_735_472
