"""Commands of this part; filled in as the part lands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `bidvis` app."""
