"""The errors tam shows to users: one line that says what was wrong and what to do next.

Every error the CLI or the web page may show derives from :class:`TamError`; they print ``str(error)``
as is. Subclasses also derive from the matching built-in (``ValueError``, ``OSError``...) so generic
``except`` clauses keep working.
"""

from __future__ import annotations


class TamError(Exception):
    """Base class: the message is a complete, user-facing sentence."""


class InputError(TamError, ValueError):
    """An argument or an input file is wrong (bad path, bad size, unknown name...)."""


class VideoError(TamError, ValueError):
    """A video cannot be read: not a video, no frames, truncated or corrupt, unsupported codec."""


class FrameFolderError(InputError):
    """A folder of numbered frames is empty, mixes sizes, or holds unreadable images."""


class OutputError(TamError, OSError):
    """A result cannot be written: unwritable folder, unsupported container/codec, disk full."""


class ProjectError(TamError, ValueError):
    """A project folder is inconsistent: missing meta.json, other source, other working size."""


class CancelledError(TamError):
    """A long step was cancelled by its progress callback."""


__all__ = [
    "CancelledError",
    "FrameFolderError",
    "InputError",
    "OutputError",
    "ProjectError",
    "TamError",
    "VideoError",
]
