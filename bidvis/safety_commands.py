"""`bidvis safety-report`: run the simulator's safety scenarios with the real controller."""

from __future__ import annotations

import datetime as dt
import shlex
from enum import Enum
from pathlib import Path

import typer


class CameraChoice(str, Enum):
    """Camera of the safety runs (see bidvis.simulation.CameraMode)."""

    ground_truth = "ground_truth"
    faces = "faces"
    auto = "auto"


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `bidvis` app."""
    app.command("safety-report")(safety_report)


def safety_report(
    out: Path | None = typer.Option(None, "--out", help="Write the Markdown table here (e.g. docs/safety.md)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the results as a JSON list."),
    scenarios: Path | None = typer.Option(
        None,
        "--scenarios",
        help="Run the scenarios of this TOML file (docs/scenarios.md) instead of the built-in ones.",
    ),
    camera: CameraChoice = typer.Option(
        CameraChoice.ground_truth,
        help="ground_truth: projected mouth with noise/latency/dropouts (fast, deterministic); "
        "faces: face photos through the vision pipeline; auto: faces when available.",
    ),
) -> None:
    """Run every safety scenario with the real controller against the MuJoCo simulator, measure
    face force, speed near the mouth, stale-mouth advances and the stop after host silence, and
    print (or write) the table. Exit status 1 when any scenario breaks a limit."""
    from rich.console import Console
    from rich.table import Table

    from bidvis.simulation import CameraMode, run_safety_scenario
    from sim.safety_report import ReportLimits, render_markdown, write_json
    from sim.scenario import ScenarioError, load_scenarios

    console = Console(stderr=True)
    try:
        chosen = load_scenarios(scenarios) if scenarios is not None else load_scenarios()
    except ScenarioError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    limits = ReportLimits()
    results = []
    for scenario in chosen:
        console.print(f"running scenario [bold]{scenario.name}[/bold] ...")
        results.append(run_safety_scenario(scenario, report_limits=limits, camera_mode=CameraMode(camera.value)))

    table = Table(title="bidvis safety scenarios")
    for column in (
        "scenario",
        "peak force N",
        "approach speed m/s",
        "speed any cause m/s",
        "closest m",
        "stale advances",
        "stop after silence s",
        "passed",
    ):
        table.add_column(column)
    for r in results:
        row = r.as_json(limits)
        table.add_row(
            r.scenario,
            f"{r.peak_face_force_n:.2f}",
            f"{r.max_approach_speed_m_s:.3f}",
            f"{r.max_speed_near_mouth_m_s:.3f}",
            f"{r.closest_approach_m:.3f}",
            str(r.advances_on_stale_mouth),
            f"{r.stop_after_host_silence_s:.3f}",
            "yes" if row["passed"] else "[red]NO[/red]",
        )
    Console().print(table)
    parts = ["bidvis", "safety-report"]
    for flag, value in (("--out", out), ("--json", json_path), ("--scenarios", scenarios)):
        if value is not None:
            parts += [flag, str(value)]
    if camera is not CameraChoice.ground_truth:
        parts += ["--camera", camera.value]
    command = shlex.join(parts)
    if out is not None:
        generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_markdown(results, limits, command=command, generated=generated), encoding="utf-8")
        console.print(f"wrote {out}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(results, limits, json_path)
        console.print(f"wrote {json_path}")
    failed = [r.scenario for r in results if not r.passed(limits)]
    if failed:
        console.print(f"[red]limits broken in {len(failed)} scenario(s):[/red] {', '.join(failed)}")
        raise typer.Exit(1)
