"""``tam weights``: list, download and verify the model checkpoints (the ``weights`` catalog on the command line)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from editor.cli_output import console, stage
from editor.errors import InputError

weights_app = typer.Typer(no_args_is_help=True, help="List, download and verify model checkpoints.")


@weights_app.command("list")
def weights_list() -> None:
    """The checkpoints tam knows, and which are installed."""
    import weights

    table = Table(title=f"checkpoints in {weights.weights_dir()}")
    for col in ("name", "file", "size", "installed", "licence", "for"):
        table.add_column(col)
    for name, item in weights.catalog().items():
        size = f"{item.size / 1e6:.0f} MB" if item.size else "?"
        table.add_row(name, item.filename, size, "yes" if weights.locate(name) else "no", item.licence, item.purpose)
    Console(width=max(Console().width, 160)).print(table)


@weights_app.command("download")
def weights_download(
    names: Annotated[list[str], typer.Argument(help="checkpoint names (see tam weights list)")],
    url: Annotated[str | None, typer.Option("--url", help="a mirror URL for a single checkpoint")] = None,
) -> None:
    """Download checkpoints (resumes, verifies, never leaves a half file under the final name)."""
    import weights

    if url and len(names) != 1:
        raise InputError("--url works with exactly one checkpoint name")
    for name in names:
        with stage(f"download {name}") as progress:
            path = weights.download(name, progress=progress, url=url)
        console.print(f"[green]{name}: {path}[/]")


@weights_app.command("verify")
def weights_verify(names: Annotated[list[str], typer.Argument(help="names (default: all installed)")] = []) -> None:  # noqa: B006
    """Check installed checkpoints: size and checksum, then that each loads into its network (keys, shapes)."""
    import weights
    from editor.checkpoints import network_check

    bad = 0
    for name in names or list(weights.catalog()):
        result = weights.verify(name, network=network_check(name))
        if not result.present and not names:
            continue
        bad += not result.ok
        colour = "green" if result.ok else "red"
        console.print(f"[{colour}]{name}: {result.message}[/]")
    if bad:
        raise typer.Exit(1)


__all__ = ["weights_app"]
