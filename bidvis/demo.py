"""`bidvis demo`: the main job on embedded defaults, with no hardware."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `demo` to the `bidvis` app."""
    app.command("demo")(demo)


def demo() -> None:
    """Run a simulated meal (not built yet: the parts are landing)."""
    typer.echo("bidvis demo: the meal is not built yet.")
