"""E2FGVI-HQ against the official code: synthetic weights and reference outputs in ../shared/conformance."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaint.e2fgvi.inpainter import E2FGVIConfig, E2FGVIInpainter, dilate_mask, to_model_input
from inpaint.e2fgvi.network import InpaintGenerator
from inpaint.e2fgvi.propagation import _deform_conv2d_torch, modulated_deform_conv2d
from weights import CheckpointMismatch, load_strict

pytestmark = pytest.mark.conformance


def _synth(conformance_dir: Path):
    sys.path.insert(0, str(conformance_dir))
    try:
        import synth_weights
    finally:
        sys.path.remove(str(conformance_dir))
    return synth_weights


@pytest.fixture(scope="module")
def manifest(conformance_dir: Path) -> dict:
    return _synth(conformance_dir).load_manifest(str(conformance_dir / "e2fgvi_hq" / "manifest.json"))


@pytest.fixture(scope="module")
def synth_sd(conformance_dir: Path, manifest: dict) -> dict[str, torch.Tensor]:
    sw = _synth(conformance_dir)
    sd = sw.synth_state_dict(manifest)
    assert sw.state_dict_digest(sd) == manifest["synth_sha256"]
    return sd


@pytest.fixture(scope="module")
def model(synth_sd: dict[str, torch.Tensor]) -> InpaintGenerator:
    net = InpaintGenerator()
    load_strict(net, synth_sd, "e2fgvi_hq")
    return net.eval()


def _close(got: torch.Tensor | np.ndarray, ref: np.ndarray, atol: float, rtol: float) -> None:
    got = got.detach().numpy() if isinstance(got, torch.Tensor) else got
    np.testing.assert_allclose(got, ref, atol=atol, rtol=rtol)


def test_conformance_state_dict_layout(manifest: dict) -> None:
    own = InpaintGenerator().state_dict()
    assert list(own) == [t[0] for t in manifest["tensors"]]
    for key, shape, dtype in manifest["tensors"]:
        assert list(own[key].shape) == shape, key
        assert str(own[key].dtype) == f"torch.{dtype}", key
    for key, values in manifest["fixed"].items():  # buffers built by the constructor match the checkpoint's
        np.testing.assert_allclose(own[key].flatten().numpy(), np.asarray(values), rtol=0, atol=1e-7, err_msg=key)


def test_conformance_strict_load(synth_sd: dict[str, torch.Tensor]) -> None:
    net = InpaintGenerator()
    result = net.load_state_dict(synth_sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_conformance_wrong_checkpoint_refused(synth_sd: dict[str, torch.Tensor]) -> None:
    bad = dict(synth_sd)
    del bad["sc.bias_conv.weight"]
    bad["module.extra.weight"] = torch.zeros(3)
    bad["decoder.6.bias"] = torch.zeros(4)
    with pytest.raises(CheckpointMismatch) as err:
        load_strict(InpaintGenerator(), bad, "e2fgvi_hq")
    msg = str(err.value)
    assert "missing keys: sc.bias_conv.weight" in msg
    assert "unexpected keys: module.extra.weight" in msg
    assert "decoder.6.bias: checkpoint (4,) vs model (3,)" in msg


def test_conformance_spynet(model: InpaintGenerator, conformance_dir: Path) -> None:
    s = np.load(conformance_dir / "e2fgvi_hq" / "spynet.npz")
    with torch.no_grad():
        for ref, supp, flow in (
            ("A_ref", "A_supp", "A_flow"),
            ("A_supp", "A_ref", "A_flow_supp_to_ref"),
            ("B_ref", "B_supp", "B_flow"),
        ):
            got = model.update_spynet(torch.from_numpy(s[ref]), torch.from_numpy(s[supp]))
            _close(got, s[flow], atol=1e-4, rtol=1e-4)


def test_conformance_model_input(conformance_dir: Path) -> None:
    f = np.load(conformance_dir / "e2fgvi_hq" / "forward.npz")
    x = to_model_input(list(f["frames_u8"]), list(f["masks_dilated"]), torch.device("cpu"))
    assert torch.equal(x, torch.from_numpy(f["model_input"]))


def test_conformance_forward(model: InpaintGenerator, conformance_dir: Path) -> None:
    f = np.load(conformance_dir / "e2fgvi_hq" / "forward.npz")
    taps: dict[str, torch.Tensor] = {}
    hooks = [
        model.encoder.register_forward_hook(lambda m, i, o: taps.__setitem__("enc", o)),
        model.feat_prop_module.register_forward_hook(lambda m, i, o: taps.__setitem__("prop", o)),
        model.transformer[-1].register_forward_hook(lambda m, i, o: taps.__setitem__("trans", o)),
    ]
    try:
        with torch.no_grad():
            pred, (flow_f, flow_b) = model(torch.from_numpy(f["model_input"]), int(f["num_local_frames"]))
    finally:
        for h in hooks:
            h.remove()
    _close(flow_f, f["pred_flows_forward"], 1e-4, 1e-4)
    _close(flow_b, f["pred_flows_backward"], 1e-4, 1e-4)
    _close(taps["enc"][0], f["enc_feat_frame0"], 1e-5, 1e-4)
    _close(taps["prop"][0, 0], f["feat_prop_out_frame0"], 1e-5, 1e-4)
    _close(taps["trans"][0, 0], f["transformer_out_frame0"], 1e-4, 1e-4)
    _close(pred, f["pred_img"], 1e-4, 1e-4)
    lt = int(f["num_local_frames"])
    with torch.no_grad():  # the inpainter decodes only the local frames: the same outputs for them
        local, _ = model(torch.from_numpy(f["model_input"]), lt, decode_reference=False)
    assert local.shape[0] == lt
    torch.testing.assert_close(local, pred[:lt], rtol=0, atol=1e-6)


def test_conformance_pure_torch_dcn_matches_torchvision() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 32, 9, 13, generator=g)
    offset = torch.randn(2, 4 * 2 * 9, 9, 13, generator=g) * 3  # 4 deform groups, some taps off the image
    mask = torch.rand(2, 4 * 9, 9, 13, generator=g)
    weight = torch.randn(16, 32, 3, 3, generator=g)
    bias = torch.randn(16, generator=g)
    ref = modulated_deform_conv2d(x, offset, mask, weight, bias)
    got = _deform_conv2d_torch(x, offset, mask, weight, bias, padding=1)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)


def test_conformance_masks_dilated_like_testpy(conformance_dir: Path) -> None:
    e = np.load(conformance_dir / "e2fgvi_hq" / "e2e_testpy.npz")
    for raw, dilated in zip(e["masks_raw"], e["masks_dilated"], strict=True):
        assert np.array_equal(dilate_mask(raw, 4), dilated)


@pytest.mark.slow
def test_conformance_e2e_testpy(model: InpaintGenerator, conformance_dir: Path) -> None:
    e = np.load(conformance_dir / "e2fgvi_hq" / "e2e_testpy.npz")
    inpainter = E2FGVIInpainter(model, E2FGVIConfig.testpy())
    n = len(e["frames_u8"])
    for k, win in enumerate(inpainter.plan(n)):
        assert list(win.ids) == e[f"w{k}_ids"].tolist()
        assert win.num_local == int(e[f"w{k}_num_local"])
    out: dict[int, np.ndarray] = {}
    inpainter(list(e["frames_u8"]), list(e["masks_raw"] > 0), out.__setitem__)
    assert sorted(out) == list(range(n))
    got = np.stack([out[i] for i in range(n)]).astype(np.int16)
    diff = np.abs(got - e["comp_frames_u8"].astype(np.int16))
    assert diff.max() <= 1
    assert (diff > 0).mean() <= 1e-3
