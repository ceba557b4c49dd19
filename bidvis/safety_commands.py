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


class SplitChoice(str, Enum):
    """Which seeds a campaign samples (bidvis.campaign.SeedSplit)."""

    held_out = "held-out"
    tuning = "tuning"


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `bidvis` app."""
    app.command("safety-report")(safety_report)
    app.command("safety-campaign")(safety_campaign)
    app.command("safety-trace")(safety_trace)


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
        page = render_markdown(results, limits, command=command, generated=generated)
        out.write_text(page + _kept_sections(out), encoding="utf-8")
        console.print(f"wrote {out}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(results, limits, json_path)
        console.print(f"wrote {json_path}")
    failed = [r.scenario for r in results if not r.passed(limits)]
    if failed:
        console.print(f"[red]limits broken in {len(failed)} scenario(s):[/red] {', '.join(failed)}")
        raise typer.Exit(1)


CAMPAIGN_HEADING = "## Safety campaign"
FAULT_TABLE_HEADING = "## Fault table"  # written by hand, checked by tests/bidvis/test_fault_table.py
KEPT_HEADINGS = (FAULT_TABLE_HEADING, CAMPAIGN_HEADING)


def _machine() -> str:
    """`<CPU model>, <n> cores` (Linux: /proc/cpuinfo), for a campaign's summary."""
    import os

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def _commit() -> str:
    """The git commit the code ran from (`+changes` when the tree differs), else `unknown`."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("+changes" if dirty else "")) if commit else "unknown"


def _kept_sections(page: Path) -> str:
    """The sections of an existing safety page that safety-report keeps when it rewrites the
    scenarios above them: from the first of `KEPT_HEADINGS` (the fault table, the campaign's
    summary) to the end; else nothing."""
    try:
        text = page.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    starts = [i for i in (text.find(f"\n{heading}") for heading in KEPT_HEADINGS) if i >= 0]
    return text[min(starts) :] if starts else ""


def safety_campaign(
    families_path: Path | None = typer.Option(
        None, "--families", help="Family file (docs/scenarios.md, 'Scenario families'); the built-in ones by default."
    ),
    runs: int = typer.Option(3000, "--runs", min=1, help="How many runs, shared out over the families by weight."),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="First seed (consecutive seeds follow); the split's first seed by default."
    ),
    split: SplitChoice = typer.Option(
        SplitChoice.held_out, "--split", help="held-out seeds judge; tuning seeds are for choosing parameters."
    ),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Local worker processes (all cores by default)."),
    address: str | None = typer.Option(None, "--address", help="Run on this Ray cluster (e.g. 127.0.0.1:6379)."),
    out: Path | None = typer.Option(
        None, "--out", help="Write summary.md, runs.jsonl and failures/<scenario>.toml into this folder."
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Write one JSON object per family here."),
) -> None:
    """Run scenario families (parameters as distributions, sampled by seed) with the real controller
    on all local cores or a Ray cluster, judge every run as safety-report does, and give each
    family's failures with the exact binomial upper bound; runs in the physically impossible class
    (docs/safety.md) on their own lines. Exit status 1 when any other run fails."""
    import json
    import os
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bidvis.campaign import CampaignError, SeedSplit, plan_runs, run_campaign
    from sim.campaign_report import family_stats, render_markdown, write_json
    from sim.families import load_families
    from sim.scenario import ScenarioError

    console = Console(stderr=True)
    try:
        families = load_families(families_path) if families_path is not None else load_families()
        plan = plan_runs(families, runs, seed, SeedSplit(split.value))
    except (ScenarioError, CampaignError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    failures_dir = None if out is None else out / "failures"
    where = f"Ray cluster {address}" if address else f"{workers or os.cpu_count()} local worker(s)"
    console.print(f"{len(plan)} runs of {len(families)} families, seeds {plan[0].seed}..{plan[-1].seed}, on {where}")
    failed = 0
    done: list = []
    started = time.monotonic()
    stream = None if out is None else (out / "runs.jsonl").open("w", encoding="utf-8")
    interrupted = False
    with Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("runs", total=len(plan), failed="0 failed")

        def on_record(record) -> None:
            nonlocal failed
            failed += not record.passed
            done.append(record)
            if stream is not None:  # each run as it ends: a stopped campaign keeps what it ran
                stream.write(json.dumps(record.as_json()) + "\n")
                stream.flush()
            progress.update(task, advance=1, failed=f"{failed} failed ({record.family} s{record.seed})")

        try:
            records = run_campaign(
                families, plan, workers=workers, address=address, failures_dir=failures_dir, on_record=on_record
            )
        except KeyboardInterrupt:  # stopped: summarise the runs that ended, in plan order
            interrupted = True
            order = {(run.family, run.seed): run.index for run in plan}
            records = sorted(done, key=lambda r: order[(r.family, r.seed)])
        finally:
            if stream is not None:
                stream.close()
    wall_s = time.monotonic() - started
    stats = family_stats(records, {f.name: f.argument for f in families if f.beyond_physics})
    parts = ["bidvis", "safety-campaign", "--runs", str(runs), "--split", split.value]
    for flag, value in (
        ("--families", families_path),
        ("--seed", seed),
        ("--workers", workers),
        ("--address", address),
        ("--out", out),
        ("--json", json_path),
    ):
        if value is not None:
            parts += [flag, str(value)]
    command = shlex.join(parts)
    load = os.getloadavg()
    stopped = (
        [f"**Stopped early: {len(records)} of the {len(plan)} planned runs ended** (the others did not run)."]
        if interrupted
        else []
    )
    header = [
        *stopped,
        f"Generated on {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; seeds {plan[0].seed}..{plan[-1].seed} "
        f"({split.value}); {where}; {_machine()}; code {_commit()}; wall {wall_s:.0f} s; "
        f"CPU {sum(r.cpu_s for r in records):.0f} s; load average at the end {load[0]:.1f}.",
        "Each run is one sampled scenario (docs/scenarios.md) with the real controller, judged as "
        "`bidvis safety-report` judges (docs/safety.md); what a run simulates: docs/simulator.md.",
    ]
    if out is not None:
        (out / "summary.md").write_text(render_markdown(stats, command=command, header=header), encoding="utf-8")
        console.print(f"wrote {out / 'summary.md'}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(stats, json_path)
        console.print(f"wrote {json_path}")
    for s in stats:
        line = f"{s.family}: {s.failures}/{s.runs} failed, upper 95 % {100 * s.upper_95:.3f} %"
        console.print(f"[red]{line}[/red]" if s.failures else line)
    if interrupted:
        console.print(f"[yellow]stopped early: {len(records)} of {len(plan)} runs ended[/yellow]")
        raise typer.Exit(130)
    if any(s.failures for s in stats if not s.beyond_physics):
        raise typer.Exit(1)


def safety_trace(
    scenarios: Path | None = typer.Option(
        None, "--scenarios", help="Trace the first scenario of this TOML file (e.g. a campaign's failures/<run>.toml)."
    ),
    family: str | None = typer.Option(
        None, "--family", help="Trace this family's run (with --seed), as the campaign samples it."
    ),
    seed: int | None = typer.Option(None, "--seed", min=0, help="The run's seed (with --family)."),
    vision: bool = typer.Option(
        False, "--vision", help="The run with the vision pipeline in the loop (with --family)."
    ),
    families_path: Path | None = typer.Option(
        None, "--families", help="Family file (docs/scenarios.md); the built-in ones by default."
    ),
    start_s: float = typer.Option(0.0, "--from", min=0.0, help="First simulated second to print."),
    end_s: float = typer.Option(float("inf"), "--to", min=0.0, help="Last simulated second to print."),
    every: int = typer.Option(1, "--every", min=1, help="Print every n-th tick of the window."),
) -> None:
    """Run one campaign run or scenario with the real controller and print it tick by tick: the
    state, the commanded and the measured spoon, the commanded speed, the holder tip's speed toward
    the mouth (what the judge measures), the face force and the stop's reason; then the summary."""
    from rich.console import Console

    from bidvis.campaign import PlannedRun, scenario_of
    from bidvis.simulation.trace import HEADER, format_row, trace_meal
    from sim.families import load_families
    from sim.scenario import ScenarioError, load_scenarios

    console = Console(stderr=True)

    def refuse(message: str) -> typer.Exit:
        console.print(f"[red]error:[/red] {message}")
        return typer.Exit(2)

    if (scenarios is None) == (family is None):
        raise refuse("give either --scenarios FILE or --family NAME --seed N")
    if family is not None and seed is None:
        raise refuse("--family needs --seed")
    if end_s < start_s:
        raise refuse(f"--to ({end_s} s) is before --from ({start_s} s)")
    try:
        if scenarios is not None:
            scenario = load_scenarios(scenarios)[0]
        else:
            known = {f.name: f for f in (load_families(families_path) if families_path else load_families())}
            if family not in known:
                raise refuse(f"no family {family!r}; the file has {', '.join(sorted(known))}")
            assert seed is not None
            scenario = scenario_of(PlannedRun(0, known[family].name, seed, vision=vision), known[family])
    except ScenarioError as exc:
        raise refuse(str(exc)) from exc
    typer.echo(HEADER)
    summary = trace_meal(scenario, lambda row: typer.echo(format_row(row)), start_s, end_s, every)
    typer.echo(
        f"{summary.scenario}: peak face force {summary.peak_face_force_n:.2f} N, "
        f"max approach speed {summary.max_approach_speed_m_s:.4f} m/s, "
        f"bites {summary.bites_taken}/{summary.bites_offered}, safety stops {summary.safety_stop_reasons or 0}"
    )
    for at_s, what in summary.citizen_log:
        typer.echo(f"citizen at {at_s:.3f} s: {what}")
    if summary.aborted:
        typer.echo(f"aborted: {summary.aborted}")
