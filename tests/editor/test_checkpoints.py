"""editor.checkpoints: ``tam weights verify`` checks a checkpoint's keys and shapes against its network without
loading it (the file memory-mapped, the network built on the meta device)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from editor.checkpoints import network_check
from weights import CheckpointMismatch, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _save_random(name: str, path: Path) -> Path:
    from tracking.sam.build import build_sam, resolve_variant

    torch.save(build_sam(resolve_variant(name).arch).state_dict(), path)
    return path


def test_a_checkpoint_of_the_network_passes_and_another_shape_is_named(tmp_path: Path) -> None:
    path = _save_random("mobile_sam", tmp_path / "mobile_sam.pt")
    state = load_checkpoint(path, mmap=True)
    model = network_check("mobile_sam")(state)
    assert next(model.parameters()).device.type == "meta"  # nothing of the weights was loaded
    key = next(k for k, v in state.items() if v.ndim == 2)
    state[key] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatch, match=rf"{key}: checkpoint \(3, 3\)"):
        network_check("mobile_sam")(state)
    del state[key]
    with pytest.raises(CheckpointMismatch, match="missing keys"):
        network_check("mobile_sam")(state)


def test_the_networks_built_for_checking_have_the_real_keys_and_shapes() -> None:
    from tracking.sam.build import build_sam
    from tracking.xmem.network import XMem

    real = build_sam("vit_t").state_dict()
    network_check("mobile_sam")(real)
    network_check("xmem")(XMem().state_dict())


@pytest.mark.slow
def test_verifying_sam_vit_b_does_not_hold_its_weights_in_memory(tmp_path: Path) -> None:
    """The check of a 375 MB checkpoint peaks at a few MB over the process (it read and loaded 721 MB before)."""
    path = _save_random("sam_vit_b", tmp_path / "sam_vit_b.pth")
    script = textwrap.dedent(f"""
        from pathlib import Path
        import torch
        from editor.checkpoints import network_check
        from weights import load_checkpoint
        import tracking.sam.build  # imported before the peak is reset

        def rss(field):
            line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field))
            return int(line.split()[1]) * 1024

        Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident size
        before = rss("VmRSS:")
        network_check("sam_vit_b")(load_checkpoint({str(path)!r}, mmap=True))
        print(rss("VmHWM:") - before)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    peak = int(out.stdout.strip().splitlines()[-1])
    assert peak < 0.1 * path.stat().st_size, f"{peak / 2**20:.0f} MB over the process for a 375 MB checkpoint"
