"""The `bidvis` command: one Typer app that gathers the commands of every part.

Each part's commands live in a module of their own (`bidvis/<part>_commands.py`) with a
`register(app)` function; heavy libraries are imported inside the commands, so `bidvis --help`
stays fast. `run()` is the installed entry point: a failure a user can meet is one line on
stderr with the cause and what to do (`bidvis.failures`), exit status 1; `bidvis --debug ...`
(or BIDVIS_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Annotated

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
    pretty_exceptions_enable=False,
)


class _Options:
    debug = False


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="BIDVIS_DEBUG", help="show the traceback when a command fails")
    ] = False,
) -> None:
    """bidvis, bite by bite."""
    _Options.debug = debug


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


def run() -> None:
    """The `bidvis` command: no traceback for a user, one line with the cause and what to do."""
    _Options.debug = False
    try:
        app()
    except KeyboardInterrupt:
        print("bidvis: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if _Options.debug:
            raise
        from bidvis.failures import explain

        print(f"bidvis: {explain(error)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    run()
