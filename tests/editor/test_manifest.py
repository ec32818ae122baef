"""The batch manifest: good lines become clip specs, every bad line is reported with its number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from editor.errors import InputError
from editor.manifest import read_manifest


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    (tmp_path / "a.mp4").write_bytes(b"not read while checking")
    (tmp_path / "frames").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "logo.png").write_bytes(b"png")
    return tmp_path


def write_jsonl(folder: Path, rows: list[object]) -> Path:
    path = folder / "clips.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_good_lines_of_every_op(inputs: Path) -> None:
    path = write_jsonl(inputs, [
        {"input": "a.mp4", "points": [[320, 180], [10, 20]], "negatives": "5,6", "op": "remove", "output": "a.mp4"},
        "# a comment, then a blank line",
        "",
        {"input": "frames", "masks": "masks", "op": "track", "format": "coco", "output": "sub/b.json",
         "working_size": 240, "backend": "classical"},
        {"input": "a.mp4", "box": [1, 2, 30, 40], "frame": 3, "op": "edit", "effect": "replace",
         "replace": "logo.png", "fit": "cover", "output": "c.mov", "name": "logo-c"},
    ])
    m = read_manifest(path, inputs / "out")
    assert m.problems == ()
    a, b, c = m.clips
    assert (a.line, b.line, c.line) == (1, 4, 5)
    assert a.points == ((320.0, 180.0), (10.0, 20.0)) and a.negatives == ((5.0, 6.0),)
    assert a.input == inputs / "a.mp4" and a.output == (inputs / "out" / "a.mp4").resolve()
    assert a.needs_fill and not b.needs_fill and c.needs_fill
    assert b.masks == inputs / "masks" and b.format == "coco" and b.working_size == 240 and b.backend == "classical"
    assert c.name == "logo-c" and c.frame == 3 and c.box == (1.0, 2.0, 30.0, 40.0)
    assert c.options == {"replace": str(inputs / "logo.png"), "fit": "cover"}
    assert len({a.name, b.name, c.name}) == 3


def test_every_bad_line_is_reported_with_its_number_and_the_rest_kept(inputs: Path) -> None:
    good = {"input": "a.mp4", "points": [[1, 1]], "op": "remove", "output": "ok.mp4"}
    path = write_jsonl(inputs, [
        good,
        "{not json",
        {"input": "missing.mp4", "points": [[1, 1]], "op": "remove", "output": "m.mp4"},
        {"input": "a.mp4", "op": "remove", "output": "n.mp4"},
        {"input": "a.mp4", "points": [[1, 1]], "op": "explode", "output": "o.mp4"},
        {"input": "a.mp4", "points": [[1, 1]], "op": "remove", "output": "ok.mp4"},
        {"input": "a.mp4", "points": [[1]], "op": "remove", "output": "p.mp4"},
        {"input": "a.mp4", "box": [5, 5, 1, 1], "op": "remove", "output": "q.mp4"},
        {"input": "a.mp4", "points": [[1, 1]], "op": "track", "format": "coco", "output": "r.mp4"},
        {"input": "a.mp4", "points": [[1, 1]], "op": "edit", "output": "s.mp4"},
        {"input": "a.mp4", "points": [[1, 1]], "op": "remove", "output": "t.mp4", "colour": "red"},
        {"input": "a.mp4", "points": [[1, 1]], "op": "remove", "output": "u.mp4", "working_size": 8},
        {"input": "a.mp4", "masks": "nope", "op": "remove", "output": "v.mp4"},
        {"input": "a.mp4", "masks": "masks", "points": [[1, 1]], "op": "remove", "output": "w.mp4"},
        {"input": "a.mp4", "points": [[1, 1]], "op": "edit", "effect": "background", "output": "x.mp4"},
        {"input": "a.mp4", "points": [[1, 1]], "op": "remove", "output": "y.txt"},
        "[1, 2]",
    ])
    m = read_manifest(path, inputs / "out")
    assert [c.line for c in m.clips] == [1]
    found = {p.line: p.message for p in m.problems}
    assert sorted(found) == list(range(2, 18))
    expected = {
        2: "not valid JSON", 3: "not found", 4: "say what to select", 5: "op 'explode'", 6: "already used by line 1",
        7: "x,y pairs", 8: "x1 > x0", 9: ".json", 10: "needs an effect", 11: "unknown key(s) 'colour'",
        12: "working_size", 13: "masks folder 'nope' not found", 14: "not both", 15: "needs background",
        16: "must be a video", 17: "JSON object",
    }
    for line, needle in expected.items():
        assert needle in found[line], (line, found[line])
    assert str(m.problems[0]).startswith("line 2: ")


def test_csv_with_the_same_keys(inputs: Path) -> None:
    path = inputs / "clips.csv"
    path.write_text(
        "input,op,output,points,box,masks,format,working_size\n"
        'a.mp4,remove,a.mp4,"320,180;400,200",,,,\n'
        "frames,track,b,,,masks,davis,240\n"
        "a.mp4,remove,c.mp4,,,,,\n"
        "a.mp4,remove\n"
    )
    m = read_manifest(path, inputs / "out")
    assert [c.line for c in m.clips] == [2, 3]
    assert m.clips[0].points == ((320.0, 180.0), (400.0, 200.0))
    assert m.clips[1].masks == inputs / "masks" and m.clips[1].working_size == 240
    assert {p.line for p in m.problems} == {4, 5}
    assert "cells" in str(m.problems[1])


def test_csv_with_an_unknown_column_reports_each_line(inputs: Path) -> None:
    path = inputs / "clips.csv"
    path.write_text("input,op,output,speed\na.mp4,remove,a.mp4,3\n")
    m = read_manifest(path, inputs / "out")
    assert m.clips == () and "unknown column(s) 'speed'" in m.problems[0].message


@pytest.mark.parametrize("name, text, needle", [
    ("nope.jsonl", None, "not found"),
    ("clips.txt", "x", ".jsonl"),
    ("empty.jsonl", "\n# only a comment\n", "no clips"),
])
def test_an_unusable_manifest_file_is_one_clear_error(inputs: Path, name: str, text: str | None, needle: str) -> None:
    path = inputs / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError, match=needle.replace(".", r"\.")):
        read_manifest(path, inputs / "out")
