"""The dependency direction of DESIGN.md, checked on the source: UI -> editor -> tracking, inpaint -> weights."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Top-level package names a module imports (absolute imports only: the project uses no relative ones)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _offenders(package: str, forbidden: tuple[str, ...], skip: str | None = None) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if skip and rel.startswith(skip):
            continue
        bad = sorted(n for n in _imports(path) if n.split(".")[0] in forbidden or n.startswith(forbidden))
        found += [f"{rel}: {n}" for n in bad]
    return found


def test_models_never_import_the_editor_or_the_ui():
    for package in ("tracking", "inpaint"):
        assert _offenders(package, ("editor", "streamlit", "streamlit_app")) == []


def test_weights_is_a_leaf():
    assert _offenders("weights", ("editor", "tracking", "inpaint", "streamlit")) == []


def test_only_the_page_package_imports_streamlit_inside_the_editor():
    assert _offenders("editor", ("streamlit", "editor.page"), skip="editor/page/") == []
