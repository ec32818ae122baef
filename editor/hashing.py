"""What identifies a stage's inputs: stable hashes of settings and data, of tam's own code, of a source file.

A stage records the hash of its inputs in ``meta.json`` (``editor.store.Project.set_stage``) and is skipped when
the same hash comes again; the code digest makes an upgrade of tracking or inpainting redo their stages, and the
source fingerprint keeps a project from being reopened on another video.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from editor.frames import FrameFolder

_MB = 1 << 20


def hash_inputs(*parts: Any) -> str:
    """A stable sha256 over settings and inputs: dicts, lists, str, numbers, bytes, paths, numpy arrays."""
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, np.ndarray):
            digest.update(f"nd{value.dtype.str}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        elif isinstance(value, bytes | bytearray):
            digest.update(b"b" + bytes(value))
        elif isinstance(value, dict):
            digest.update(b"{")
            for key in sorted(value, key=str):
                feed(str(key))
                feed(value[key])
            digest.update(b"}")
        elif isinstance(value, list | tuple):
            digest.update(b"[")
            for item in value:
                feed(item)
            digest.update(b"]")
        elif isinstance(value, Path):
            digest.update(b"p" + str(value).encode())
        elif isinstance(value, Fraction):
            digest.update(f"q{value.numerator}/{value.denominator}".encode())
        else:
            digest.update(f"{type(value).__name__}:{value!r};".encode())

    for part in parts:
        feed(part)
    return digest.hexdigest()


@functools.cache
def source_digest(package: str) -> str:
    """A hash of an installed package's Python source (file names and bytes).

    Part of a stage's inputs: masks or fills a project cached with older tracking or inpainting code are redone
    after an upgrade instead of being reused as if they were current."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ValueError(f"package {package!r} is not importable")
    root = Path(spec.origin).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def fingerprint(source: Path) -> dict[str, Any]:
    """Size, mtime and a hash of the first and last MB of a file (or of every frame name for a folder)."""
    if source.is_dir():
        folder = FrameFolder(source, check_sizes=False)
        digest = hashlib.sha256()
        total = 0
        for path in folder.files:
            stat = path.stat()
            total += stat.st_size
            digest.update(f"{path.name}:{stat.st_size};".encode())
        for path in (folder.files[0], folder.files[-1]):
            with open(path, "rb") as handle:
                digest.update(handle.read(_MB))
        return {"kind": "frames", "size": total, "count": len(folder), "hash": digest.hexdigest()}
    stat = source.stat()
    digest = hashlib.sha256()
    with open(source, "rb") as handle:
        digest.update(handle.read(_MB))
        if stat.st_size > _MB:
            handle.seek(max(_MB, stat.st_size - _MB))
            digest.update(handle.read(_MB))
    return {"kind": "video", "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "hash": digest.hexdigest()}


def same_source(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Same content: mtime alone may change (a copy), size and hash may not."""
    keys = ("kind", "size", "hash", "count")
    return all(old.get(k) == new.get(k) for k in keys)


__all__ = ["fingerprint", "hash_inputs", "same_source", "source_digest"]
