"""Finding, downloading and verifying checkpoints: resumable (HTTP Range on a ``.part`` file), verified, atomic.

A download lands in ``<filename>.part``; an interrupted one resumes from there. Only a file whose size and
checksum (when the catalog knows them) match is renamed to its final name, so a half or corrupt file never
sits where loaders look.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from weights.catalog import CATALOG, WeightEntry, entry

Progress = Callable[[int, int], object]
CHUNK = 1 << 20
TIMEOUT_S = 60


class WeightsError(RuntimeError):
    """Base class for checkpoint catalog/download problems; the message says what to do."""


class DownloadError(WeightsError):
    """The download failed (HTTP error, no network, interrupted); the ``.part`` file is kept to resume."""


class ChecksumMismatch(DownloadError):
    """The downloaded bytes are not the published file; the ``.part`` file is deleted."""


class UnknownCheckpoint(WeightsError, KeyError):
    """A name the catalog does not have (also a ``KeyError``, as the catalog lookup raises)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown checkpoint"


def weights_dir() -> Path:
    """``$TAM_WEIGHTS_DIR`` when set, else the ``weights/`` package folder."""
    env = os.environ.get("TAM_WEIGHTS_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parent


def catalog() -> dict[str, WeightEntry]:
    """A copy of the catalog: name → :class:`WeightEntry`."""
    return dict(CATALOG)


def _entry(name: str | WeightEntry) -> WeightEntry:
    if isinstance(name, WeightEntry):
        return name
    try:
        return entry(name)
    except KeyError as exc:
        raise UnknownCheckpoint(f"{exc.args[0]} (tam weights list shows them)") from None


def locate(name: str | WeightEntry, dest_dir: Path | None = None) -> Path | None:
    """The checkpoint's path when the file is present and its size matches the catalog (non-empty if unknown)."""
    item = _entry(name)
    path = Path(dest_dir or weights_dir()) / item.filename
    if not path.is_file():
        return None
    size = path.stat().st_size
    if item.size is not None and size != item.size:
        return None
    return path if size > 0 else None


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found."""

    name: str
    path: Path
    present: bool
    size_ok: bool | None
    checksum_ok: bool | None
    message: str

    @property
    def ok(self) -> bool:
        return self.present and self.size_ok is not False and self.checksum_ok is not False


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(item: WeightEntry, path: Path) -> tuple[bool | None, bool | None, str]:
    size = path.stat().st_size
    size_ok = None if item.size is None else size == item.size
    if size_ok is False:
        return False, None, f"{path.name} is {size} bytes, expected {item.size}"
    checksum_ok = None
    for algorithm, expected in (("sha256", item.sha256), ("md5", item.md5)):
        if expected:
            actual = file_digest(path, algorithm)
            checksum_ok = actual == expected.lower()
            if not checksum_ok:
                return size_ok, False, f"{path.name} has {algorithm} {actual}, expected {expected}"
            break
    detail = "checksum verified" if checksum_ok else "no published checksum; size/presence only"
    return size_ok, checksum_ok, f"{path.name} is fine ({detail})"


def verify(
    name: str | WeightEntry, dest_dir: Path | None = None, network: Callable[[dict], object] | None = None
) -> VerifyResult:
    """Check the downloaded file: size and checksum against the catalog, then that it loads.

    The file is opened with ``weights_only=True`` and memory-mapped (a random or truncated file fails here; the
    tensors' bytes are not read into memory); ``network``, when given, checks the state dict against the network
    the checkpoint is for (raising :class:`CheckpointMismatch` on other keys or shapes). ``weights`` imports
    nothing of tam's, so the caller (the CLI) supplies it."""
    from weights.load import CheckpointMismatch, fix_hint, load_checkpoint

    item = _entry(name)
    path = Path(dest_dir or weights_dir()) / item.filename
    if not path.is_file():
        return VerifyResult(
            item.name, path, False, None, None, f"{item.filename} not found: run `tam weights download {item.name}`"
        )
    size_ok, checksum_ok, message = _check(item, path)
    if size_ok is False or checksum_ok is False:
        message += f"; {fix_hint(item.name)}"
        return VerifyResult(item.name, path, True, size_ok, checksum_ok, message)
    try:
        state = load_checkpoint(path, mmap=True)  # keys and shapes without reading the weights
        if network is not None:
            network(state)
    except CheckpointMismatch as exc:
        first = str(exc).splitlines()[0]
        return VerifyResult(item.name, path, True, size_ok, False, first)
    checked = "loads and matches the network" if network is not None else "loads"
    detail = "checksum verified" if checksum_ok else "no published checksum"
    return VerifyResult(item.name, path, True, size_ok, checksum_ok, f"{path.name} is fine ({detail}; {checked})")


def _content_total(response, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        if total.isdigit():
            return int(total)
    length = response.headers.get("Content-Length")
    if length and length.isdigit():
        return int(length) + offset
    return None


def download(
    name: str | WeightEntry,
    dest_dir: Path | None = None,
    progress: Progress | None = None,
    url: str | None = None,
) -> Path:
    """Download a checkpoint into ``dest_dir`` (default :func:`weights_dir`) and return its verified path.

    Resumes a previous ``.part`` file with an HTTP Range request; renames it to the final name only after
    the size and checksum match. ``url`` overrides the catalog URL (a mirror).
    """
    item = _entry(name)
    dest = Path(dest_dir or weights_dir())
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the weights folder {dest}: {exc}; set TAM_WEIGHTS_DIR") from exc
    final = dest / item.filename
    if final.is_file():
        result = verify(item, dest)
        if result.ok:
            return final
    part = dest / (item.filename + ".part")
    source = url or item.url
    offset = part.stat().st_size if part.is_file() else 0
    total = item.size
    if total is None or offset < total:
        total = _fetch(item, source, part, offset, progress) or total
    size_ok, checksum_ok, message = _check(item, part)
    if size_ok is False and total is not None and part.stat().st_size < total:
        raise DownloadError(f"download of {item.name} stopped early ({message}); run the command again to resume")
    if size_ok is False or checksum_ok is False:
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"downloaded {item.name} is corrupt ({message}); the partial file was deleted, run the download again"
        )
    os.replace(part, final)
    return final


def _fetch(item: WeightEntry, source: str, part: Path, offset: int, progress: Progress | None) -> int | None:
    """Stream ``source`` into ``part`` from ``offset``; return the total size when the server says it."""
    request = urllib.request.Request(source, headers={"User-Agent": "tam-weights/1"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return offset  # the .part file is already complete
        raise DownloadError(
            f"download of {item.name} failed: HTTP {exc.code} {exc.reason} from {source}; "
            f"check the URL or fetch {item.filename} by hand into {part.parent}"
        ) from exc
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach {source} ({reason}); check the network connection, then run the download again"
        ) from exc
    with response:
        status = getattr(response, "status", 200)
        if offset and status != 206:
            offset = 0  # the server ignored Range: start over
        total = _content_total(response, offset)
        done = offset
        try:
            with open(part, "ab" if offset else "wb") as handle:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    handle.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total or 0)
        except (OSError, HTTPException) as exc:
            raise DownloadError(
                f"download of {item.name} was interrupted after {done} bytes ({type(exc).__name__}); "
                "run the command again to resume"
            ) from exc
    if total is not None and done < total:
        raise DownloadError(
            f"download of {item.name} was interrupted after {done} of {total} bytes; run the command again to resume"
        )
    return total


__all__ = [
    "ChecksumMismatch",
    "UnknownCheckpoint",
    "DownloadError",
    "VerifyResult",
    "WeightsError",
    "catalog",
    "download",
    "file_digest",
    "locate",
    "verify",
    "weights_dir",
]
