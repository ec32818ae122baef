"""A batch manifest: one line per clip (JSONL or CSV), checked in full before any work starts.

Each line says which clip, what to select in it, what to do and where the result goes::

    {"input": "clips/a.mp4", "points": [[320, 180]], "op": "remove", "output": "a_clean.mp4"}
    {"input": "clips/b", "masks": "clips/b_masks", "op": "track", "format": "coco", "output": "b.json"}
    {"input": "c.mp4", "box": [10, 10, 90, 120], "frame": 4, "op": "edit", "effect": "blur", "output": "c.mp4",
     "backend": "classical", "working_size": 240}

CSV takes the same keys as column names; a list is a quoted cell: ``"320,180;410,200"`` (points) or
``"10,10,90,120"`` (a box). Inputs and mask folders are relative to the manifest's folder, outputs to the
batch's ``--out`` folder. :func:`read_manifest` returns the good lines as :class:`ClipSpec` s and every bad line as a
:class:`LineProblem` with its line number, so a batch reports them all up front and still runs the rest.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from editor.errors import InputError

OPS = ("remove", "track", "edit")
EFFECTS = ("blur", "pixelate", "splash", "background", "replace", "remove")
FORMATS = ("davis", "coco", "alpha", "rgba", "overlay")
BACKENDS = ("auto", "classical", "neural", "sam2")
REFINE = ("auto", "off", "always")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
KEYS = {
    "name", "input", "op", "output", "frame", "points", "negatives", "box", "masks", "format", "effect",
    "strength", "background", "replace", "fit", "backend", "refine", "working_size",
}


@dataclass(frozen=True)
class ClipSpec:
    """One valid manifest line: paths are absolute, every value checked."""

    line: int
    name: str  # unique in the manifest; names the clip's project folder and its row in the report
    input: Path
    op: str  # remove | track | edit
    output: Path
    frame: int = 0
    points: tuple[tuple[float, float], ...] = ()
    negatives: tuple[tuple[float, float], ...] = ()
    box: tuple[float, float, float, float] | None = None
    masks: Path | None = None
    format: str = "davis"  # track: how the masks are exported
    effect: str = "remove"  # edit: what is done to the objects
    options: dict[str, Any] = field(default_factory=dict)  # edit: strength, background, replace, fit
    backend: str = "auto"
    refine: str = "auto"
    working_size: int = 480

    @property
    def needs_fill(self) -> bool:
        """Whether the clip is inpainted (removal, or a replacement drawn over the removed object)."""
        return self.op == "remove" or (self.op == "edit" and self.effect in ("remove", "replace"))

    def describe(self) -> dict[str, Any]:
        """The line as JSON values (for hashes and the report)."""
        out = {k: v for k, v in self.__dict__.items() if k != "line"}
        return json.loads(json.dumps(out, default=str))


@dataclass(frozen=True)
class LineProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Manifest:
    path: Path
    clips: tuple[ClipSpec, ...]
    problems: tuple[LineProblem, ...]

    @property
    def lines(self) -> int:
        return len(self.clips) + len(self.problems)


class _Bad(ValueError):
    """One line's problem (becomes a :class:`LineProblem`)."""


# ------------------------------------------------------------------------------------------------ reading


def read_manifest(path: str | Path, out_dir: str | Path) -> Manifest:
    """Parse and check every line of a JSONL (``.jsonl``/``.json``) or ``.csv`` manifest.

    Raises :class:`InputError` only when the file itself cannot be used (missing, unknown type, no lines).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"manifest {path} not found: give a .jsonl or .csv file with one line per clip")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".ndjson", ".csv"):
        raise InputError(f"manifest {path.name}: use a .jsonl (one JSON object per line) or a .csv file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read manifest {path}: {exc}") from exc
    rows = _csv_rows(text) if suffix == ".csv" else _jsonl_rows(text)
    base, out = path.resolve().parent, Path(out_dir).resolve()
    clips: list[ClipSpec] = []
    problems: list[LineProblem] = []
    names: dict[str, int] = {}
    outputs: dict[Path, int] = {}
    for line, row in rows:
        try:
            if isinstance(row, str):
                raise _Bad(row)
            spec = _clip(line, row, base, out)
            for key, seen, what in ((spec.name, names, "name"), (spec.output, outputs, "output")):
                if key in seen:
                    raise _Bad(f"{what} {str(key)!r} is already used by line {seen[key]}; each clip needs its own")
            names[spec.name], outputs[spec.output] = line, line
            clips.append(spec)
        except _Bad as exc:
            problems.append(LineProblem(line, str(exc)))
    if not clips and not problems:
        raise InputError(f"manifest {path} has no clips: write one line per clip")
    return Manifest(path, tuple(clips), tuple(problems))


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON ({exc.msg} at column {exc.colno}); write one JSON object per line"
            continue
        yield number, row if isinstance(row, dict) else f"expected a JSON object {{...}}, got {type(row).__name__}"


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    lines = [(n, raw) for n, raw in enumerate(text.splitlines(), 1) if raw.strip() and not raw.startswith("#")]
    if not lines:
        return
    reader = csv.reader([raw for _, raw in lines])
    header = [h.strip() for h in next(reader)]
    unknown = [h for h in header if h not in KEYS]
    for (number, _), cells in zip(lines[1:], reader, strict=True):
        if unknown:
            yield number, f"unknown column(s) {', '.join(map(repr, unknown))}; columns are {', '.join(sorted(KEYS))}"
        elif len(cells) != len(header):
            yield number, f"{len(cells)} cells but the header has {len(header)} columns"
        else:
            yield number, {k: v.strip() for k, v in zip(header, cells, strict=True) if v.strip()}


# ---------------------------------------------------------------------------------------------- checking


def _clip(line: int, row: dict[str, Any], base: Path, out: Path) -> ClipSpec:
    unknown = sorted(set(row) - KEYS)
    if unknown:
        raise _Bad(f"unknown key(s) {', '.join(map(repr, unknown))}; keys are {', '.join(sorted(KEYS))}")
    for key in ("input", "op", "output"):
        if key not in row or row[key] in ("", None):
            raise _Bad(f"missing {key!r}")
    source = _path(row["input"], base, "input")
    if not source.exists():
        raise _Bad(f"input {row['input']!r} not found (looked at {source}); paths are relative to the manifest")
    op = _choice(row["op"], OPS, "op")
    points = _points(row.get("points"), "points")
    negatives = _points(row.get("negatives"), "negatives")
    box = _box(row.get("box"))
    masks = _path(row["masks"], base, "masks") if row.get("masks") not in (None, "") else None
    if masks is not None and (points or negatives or box is not None):
        raise _Bad("give either masks or clicks (points/box), not both")
    if masks is None and not points and box is None:
        raise _Bad("say what to select: points ([[x, y], ...]), a box ([x0, y0, x1, y1]) or a masks folder")
    if masks is not None and not masks.is_dir():
        raise _Bad(f"masks folder {row['masks']!r} not found (looked at {masks})")
    fmt = _choice(row.get("format", "davis"), FORMATS, "format")
    if "format" in row and op != "track":
        raise _Bad("format is for op 'track' (the mask export); remove it or use op 'track'")
    effect = _choice(row.get("effect", "remove"), EFFECTS, "effect")
    if op == "edit" and "effect" not in row:
        raise _Bad(f"op 'edit' needs an effect: one of {', '.join(EFFECTS)}")
    if op != "edit" and "effect" in row:
        raise _Bad("effect is for op 'edit'; remove it or use op 'edit'")
    options = _edit_options(row, effect if op == "edit" else None, base)
    output = _path(row["output"], out, "output")
    _check_output(output, op, fmt)
    return ClipSpec(
        line=line,
        name=_name(row, source),
        input=source,
        op=op,
        output=output,
        frame=_integer(row.get("frame", 0), "frame", 0),
        points=points,
        negatives=negatives,
        box=box,
        masks=masks,
        format=fmt,
        effect=effect,
        options=options,
        backend=_choice(row.get("backend", "auto"), BACKENDS, "backend"),
        refine=_choice(row.get("refine", "auto"), REFINE, "refine"),
        working_size=_integer(row.get("working_size", 480), "working_size", 16),
    )


def _name(row: dict[str, Any], source: Path) -> str:
    if row.get("name") not in (None, ""):
        name = str(row["name"])
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or name.startswith("."):
            raise _Bad(f"name {name!r}: use letters, digits, '-', '_' and '.' (it names the clip's project folder)")
        return name
    key = json.dumps({k: row[k] for k in sorted(row)}, sort_keys=True, default=str)
    stem = source.parent.name if source.is_dir() and source.name == "frames" else source.stem
    return f"{stem or 'clip'}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def _path(value: Any, base: Path, what: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{what} must be a path (a string), got {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise _Bad(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value


def _integer(value: Any, what: str, minimum: int) -> int:
    try:
        number = int(value) if not isinstance(value, bool) and float(value) == int(float(value)) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        raise _Bad(f"{what} must be a whole number >= {minimum}, got {value!r}")
    return number


def _numbers(value: Any, what: str) -> list[float]:
    if isinstance(value, str):
        value = [v for v in value.replace(";", ",").split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        raise _Bad(f"{what} must be a list of numbers, got {value!r}")
    flat: list[Any] = []
    for v in value:
        flat.extend(v if isinstance(v, list | tuple) else [v])
    try:
        if any(isinstance(v, bool) for v in flat):
            raise ValueError
        return [float(v) for v in flat]
    except (TypeError, ValueError):
        raise _Bad(f"{what} must hold numbers only, got {value!r}") from None


def _points(value: Any, what: str) -> tuple[tuple[float, float], ...]:
    if value in (None, "", []):
        return ()
    flat = _numbers(value, what)
    if len(flat) % 2 or any(v != v or v < 0 for v in flat):
        raise _Bad(f"{what} must be x,y pairs of pixels >= 0, e.g. [[320, 180]] or \"320,180;410,200\"; got {value!r}")
    return tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if value in (None, "", []):
        return None
    flat = _numbers(value, "box")
    if len(flat) != 4 or any(v != v for v in flat) or flat[2] <= flat[0] or flat[3] <= flat[1]:
        raise _Bad(f"box must be x0,y0,x1,y1 with x1 > x0 and y1 > y0, got {value!r}")
    return flat[0], flat[1], flat[2], flat[3]


def _edit_options(row: dict[str, Any], effect: str | None, base: Path) -> dict[str, Any]:
    given = {k: row[k] for k in ("strength", "background", "replace", "fit") if k in row}
    wanted = {"blur": {"strength"}, "pixelate": {"strength"}, "background": {"background"},
              "replace": {"replace", "fit"}}.get(effect or "", set())
    extra = sorted(set(given) - wanted)
    if extra:
        raise _Bad(f"{', '.join(extra)} does not apply to {'effect ' + repr(effect) if effect else 'this op'}")
    options: dict[str, Any] = {}
    if "strength" in given:
        try:
            options["strength"] = float(given["strength"])
        except (TypeError, ValueError):
            raise _Bad(f"strength must be a number, got {given['strength']!r}") from None
        if not options["strength"] > 0:
            raise _Bad(f"strength must be > 0, got {given['strength']!r}")
    if effect == "background":
        if "background" not in given:
            raise _Bad("effect 'background' needs background: an image, a clip, '#RRGGBB' or 'blur'")
        value = str(given["background"])
        if value != "blur" and not value.startswith("#"):
            path = _path(value, base, "background")
            if not path.is_file():
                raise _Bad(f"background {value!r} not found (looked at {path})")
            value = str(path)
        options["background"] = value
    if effect == "replace":
        if "replace" not in given:
            raise _Bad("effect 'replace' needs replace: an image or a clip put in the object's place")
        path = _path(given["replace"], base, "replace")
        if not path.is_file():
            raise _Bad(f"replace {given['replace']!r} not found (looked at {path})")
        options["replace"] = str(path)
        options["fit"] = _choice(given.get("fit", "contain"), ("contain", "cover", "stretch"), "fit")
    return options


def _check_output(output: Path, op: str, fmt: str) -> None:
    suffix = output.suffix.lower()
    if op != "track" or fmt == "overlay":
        if suffix not in VIDEO_SUFFIXES:
            raise _Bad(f"output {output.name!r} must be a video: {', '.join(VIDEO_SUFFIXES)}")
    elif fmt == "coco" and suffix != ".json":
        raise _Bad(f"output {output.name!r}: the coco format writes a .json file")
    elif fmt == "alpha" and suffix not in ("", ".mp4"):
        raise _Bad(f"output {output.name!r}: the alpha format writes a folder (one matte per object) or one .mp4")
    elif fmt in ("davis", "rgba") and suffix:
        raise _Bad(f"output {output.name!r}: the {fmt} format writes a folder; give a name without an extension")


__all__ = ["ClipSpec", "LineProblem", "Manifest", "read_manifest"]
