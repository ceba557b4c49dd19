"""The `bidvis` command: one Typer app that gathers the commands of every part.

Each part's commands live in a module of their own (`bidvis/<part>_commands.py`) with a
`register(app)` function; heavy libraries are imported inside the commands, so `bidvis --help`
stays fast.
"""

from __future__ import annotations

import typer

from bidvis import (
    bus_commands,
    careplan_commands,
    commission_commands,
    demo,
    safety_commands,
    ui_commands,
    vision_commands,
)

app = typer.Typer(
    name="bidvis",
    help="bidvis, bite by bite: an eating-assistance robot arm and its care-plan service.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """bidvis, bite by bite."""


for _module in (
    demo,
    bus_commands,
    commission_commands,
    careplan_commands,
    vision_commands,
    safety_commands,
    ui_commands,
):
    _module.register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
