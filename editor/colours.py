"""Default colours for the objects a user adds: far apart in hue, so two objects never look alike."""

from __future__ import annotations

from collections.abc import Iterable

# Red, blue, green, yellow, magenta, cyan, orange, violet, brown, teal: the first ones far apart from each other.
DISTINCT: tuple[str, ...] = (
    "#e6194b", "#4363d8", "#3cb44b", "#ffe119", "#f032e6",
    "#42d4f4", "#f58231", "#911eb4", "#9a6324", "#469990",
)


def hex_colour(rgb: Iterable[int]) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def next_colour(used: Iterable[Iterable[int]]) -> str:
    """The first colour of :data:`DISTINCT` no object uses yet (cycling when all are taken)."""
    taken = {hex_colour(c) for c in used}
    free = [c for c in DISTINCT if c not in taken]
    return free[0] if free else DISTINCT[len(taken) % len(DISTINCT)]
