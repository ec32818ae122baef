"""The opt-in int8 CPU path: folded, quantised convolutions stay close to float32, and the network runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.tracking.test_xmem_conformance import synth_net
from tracking.backend import probs_to_labels
from tracking.xmem.config import XMemConfig
from tracking.xmem.int8 import Int8Conv2d, Int8GConv2d, cpu_has_vnni, fold_batch_norm, quantize_network
from tracking.xmem.modules import GConv2D
from tracking.xmem.propagator import XMemPropagator, resolve_precision

pytestmark = pytest.mark.skipif(not cpu_has_vnni(), reason="the int8 path needs a CPU with AVX-512 VNNI")


def rel_rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).pow(2).mean() / b.pow(2).mean()).sqrt())


def test_batch_norm_folds_into_the_convolution() -> None:
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16).eval()
    bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)
    x = torch.randn(1, 8, 10, 12)
    w, b = fold_batch_norm(conv, bn)
    torch.testing.assert_close(nn.functional.conv2d(x, w, b, padding=1), bn(conv(x)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
def test_int8_conv_matches_float32_within_quantisation_error(channels_last: bool, stride: int) -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(64, 32, 3, stride=stride, padding=1)
    x = torch.randn(2, 64, 33, 47) - 0.3
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ref, out = conv(x), Int8Conv2d(conv)(x)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert rel_rms(out, ref) < 0.02


def test_int8_group_conv_keeps_the_object_axis() -> None:
    torch.manual_seed(2)
    conv = GConv2D(16, 8, 1)
    g = torch.relu(torch.randn(1, 3, 16, 20, 24))
    with torch.inference_mode():
        ref, out = conv(g), Int8GConv2d(conv)(g)
    assert out.shape == (1, 3, 8, 20, 24)
    assert rel_rms(out, ref) < 0.02


def test_quantize_network_converts_a_copy(conformance_dir: Path) -> None:
    net = synth_net(conformance_dir)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    q = quantize_network(net)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # the original is untouched
    int8 = [n for n, m in q.named_modules() if isinstance(m, Int8Conv2d)]
    assert len(int8) > 25
    assert any(n.startswith("value_encoder.layer3") for n in int8) and any(n.startswith("decoder.up_8_4") for n in int8)
    assert not any(n.startswith("key_encoder") for n in int8)  # keys drive every later match: float32
    assert isinstance(q.key_proj.key_proj, nn.Conv2d) and isinstance(q.decoder.pred, nn.Conv2d)
    assert isinstance(q.value_encoder.layer2[0].bn1, nn.Identity)  # folded
    image, f16 = torch.randn(1, 3, 64, 96), torch.randn(1, 1024, 4, 6)
    hidden, masks = torch.zeros(1, 2, 64, 4, 6), (torch.rand(1, 2, 64, 96) > 0.5).float()
    with torch.inference_mode():
        ref, out = net.encode_value(image, f16, hidden, masks), q.encode_value(image, f16, hidden, masks)
    assert rel_rms(out[0], ref[0]) < 0.05  # the value after ~20 int8 layers
    assert quantize_network(q) is q  # propagators built over a converted network share it


def test_int8_propagator_tracks_close_to_float32(conformance_dir: Path) -> None:
    data = np.load(conformance_dir / "xmem" / "clip.npz")
    frames, masks = data["frames"], data["gt_masks"]
    assert resolve_precision("int8", torch.device("cpu")) == "int8"
    props = {}
    for precision in ("fp32", "int8"):
        props[precision] = XMemPropagator(synth_net(conformance_dir), XMemConfig(precision=precision), device="cpu")
        props[precision].reset([1, 2])
    assert props["int8"].path == "int8"
    for t in range(4):
        lm = masks[0] if t == 0 else None
        ref, out = (p.step(frames[t], lm) for p in (props["fp32"], props["int8"]))
        assert np.abs(out - ref).max() < 0.1
        # the synthetic weights leave a third of the pixels within 0.05 of a tie: compare where fp32 is sure
        top2 = np.sort(ref, 0)[-2:]
        sure = top2[1] - top2[0] > 0.1
        a, b = probs_to_labels(ref, [1, 2]), probs_to_labels(out, [1, 2])
        assert sure.mean() > 0.3 and (a == b)[sure].mean() > 0.99
