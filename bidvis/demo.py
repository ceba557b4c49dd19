"""`bidvis demo`: a whole simulated meal on embedded defaults, with no hardware.

It joins every part: the MuJoCo world with virtual servos on a simulated bus, the simulated
citizen and camera (face photos through the real vision pipeline when `../shared/data/faces` is
there, else the ground-truth fallback, said in the output), the real controller loop, the usage
journal, and the care-plan service on a local SQLite file, to which the journal syncs as the meal
goes. The meal stays in the care plan afterwards; the summary says where to look.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEMO_SCENARIO = Path(__file__).resolve().parent / "assets" / "demo_meal.toml"


def register(app: typer.Typer) -> None:
    """Add `demo` to the `bidvis` app."""
    app.command("demo")(demo)


def demo(
    scenario: Annotated[
        str, typer.Option(help="scenario name: the demo meal, or any built-in safety scenario")
    ] = "demo_meal",
    scenarios_file: Annotated[
        Path | None, typer.Option("--scenarios", help="scenario file (docs/scenarios.md)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (default: the scenario's)")] = None,
    bites: Annotated[int | None, typer.Option(min=1, max=200, help="number of bites (default: the scenario's)")] = None,
    speed: Annotated[float, typer.Option(min=0.0, help="times real time; 0 runs as fast as the machine can")] = 0.0,
    camera: Annotated[
        str, typer.Option(help="auto, faces (photos through the vision pipeline) or ground_truth")
    ] = "auto",
    camera_fps: Annotated[float, typer.Option(min=1.0, max=120.0, help="simulated camera frame rate")] = 15.0,
    no_service: Annotated[bool, typer.Option("--no-service", help="keep events in the local journal only")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="where the demo's database and journal live")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="care-plan database (default: SQLite file in data dir)")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the summary as JSON here")] = None,
    svg_path: Annotated[
        Path | None, typer.Option("--svg", help="also save what the demo printed as an SVG picture")
    ] = None,
) -> None:
    """Run a simulated meal end to end and leave it in the care plan."""
    from rich.console import Console

    from bidvis.demo_run import DemoError, DemoOptions, run_demo
    from careplan_api.settings import default_data_dir

    console = Console(record=svg_path is not None)
    options = DemoOptions(
        scenario=scenario,
        scenarios_file=scenarios_file or DEMO_SCENARIO,
        seed=seed,
        bites=bites,
        speed=speed,
        camera=camera,
        camera_fps=camera_fps,
        service=not no_service,
        data_dir=(data_dir or default_data_dir() / "demo").resolve(),
        database_url=database_url,
    )
    try:
        summary = run_demo(options, console)
    except DemoError as exc:
        console.print(f"[bold red]demo stopped:[/] {exc}")
        raise typer.Exit(1) from None
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if svg_path is not None:
        svg_path.parent.mkdir(parents=True, exist_ok=True)
        console.save_svg(str(svg_path), title="bidvis demo")
    if summary.get("aborted"):
        raise typer.Exit(1)
