"""The work of `bidvis demo`: one simulated meal, journalled and synced to a local care plan.

`run_demo(options, console)` returns the summary (a dict, the `--json` object). It shows progress
while the meal runs, prints the summary, and where the meal can be seen in the care plan.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from careplan_api.schemas import UsageEventType
from controller.journal import CareplanSender, EventState, JournalError, JournalSync, UsageJournal

JOURNAL_FILE_NAME = "demo-journal.sqlite3"
SYNC_FLUSH_TIMEOUT_S = 30.0
FLUSH_ATTEMPTS = 3
FLUSH_RETRY_MAX_S = 1.0


class DemoError(RuntimeError):
    """The demo could not run (bad option, scenario file, or database)."""


@dataclass(frozen=True)
class DemoOptions:
    """What `bidvis demo` was asked to do."""

    scenario: str
    scenarios_file: Path
    seed: int | None
    bites: int | None
    speed: float
    camera: str
    camera_fps: float
    service: bool
    data_dir: Path
    database_url: str | None


class _DemoJournal(UsageJournal):
    """The usage journal, remembering which meals this run started."""

    def __init__(self, path: Path, clock: Any) -> None:
        super().__init__(path, clock=clock)
        self.meal_ids: set[str] = set()

    def start_meal(self, data: Any = None, at: datetime | None = None) -> UUID:
        meal_id = super().start_meal(data, at)
        self.meal_ids.add(str(meal_id))
        return meal_id

    def sent_of_run(self) -> int:
        """Events of this run's meals that the care plan has acknowledged."""
        return sum(
            1 for meal_id in self.meal_ids for _, state in self.events(UUID(meal_id)) if state is EventState.SENT
        )


def _load_scenario(options: DemoOptions) -> Any:
    from sim.scenario import BUILTIN_SCENARIOS, ScenarioError, load_scenarios

    try:
        candidates = load_scenarios(options.scenarios_file)
        if options.scenarios_file != BUILTIN_SCENARIOS:
            candidates += load_scenarios(BUILTIN_SCENARIOS)
    except ScenarioError as exc:
        raise DemoError(str(exc)) from exc
    by_name = {s.name: s for s in candidates}
    if options.scenario not in by_name:
        raise DemoError(f"no scenario {options.scenario!r}; choose one of {', '.join(sorted(by_name))}")
    scenario = by_name[options.scenario]
    changes: dict[str, Any] = {}
    if options.seed is not None:
        changes["seed"] = options.seed
    if options.bites is not None:
        changes["bites"] = options.bites
    return scenario.model_copy(update=changes) if changes else scenario


def _camera_mode(name: str) -> Any:
    from bidvis.simulation import CameraMode

    try:
        return CameraMode(name)
    except ValueError:
        raise DemoError(f"--camera must be one of {', '.join(m.value for m in CameraMode)}, got {name!r}") from None


def meal_time_anchor(now: datetime, max_duration_s: float, speed: float) -> datetime:
    """When the simulated meal is dated to begin, so that no event is stamped in the future.

    Events are stamped anchor + simulated time. A meal simulated faster than real time would
    otherwise run ahead of the wall clock (and the care plan refuses events from the future), so it
    is dated back by what it can gain on the clock: up to `max_duration_s` when run as fast as
    possible, nothing at real time.
    """
    gain_s = max_duration_s if speed <= 0 else max(0.0, max_duration_s * (1.0 - 1.0 / speed))
    return now - timedelta(seconds=gain_s)


def run_demo(options: DemoOptions, console: Console) -> dict[str, Any]:
    """Run the demo meal; returns the summary."""
    from bidvis.demo_service import DemoServiceError, LocalCareplan
    from bidvis.simulation import run_simulated_meal
    from bidvis.simulation.clock import meal_clock

    scenario = _load_scenario(options)
    camera_mode = _camera_mode(options.camera)
    options.data_dir.mkdir(parents=True, exist_ok=True)

    anchor = meal_time_anchor(datetime.now(UTC), scenario.max_duration_s, options.speed)
    clock = meal_clock(options.speed or None)  # the meal's one clock: the journal stamps events by it

    def journal_time() -> datetime:
        return anchor + timedelta(seconds=clock.now())

    try:
        journal = _DemoJournal(options.data_dir / JOURNAL_FILE_NAME, journal_time)
    except JournalError as exc:
        raise DemoError(f"usage journal: {exc}") from exc

    service: LocalCareplan | None = None
    sync: JournalSync | None = None
    try:
        if options.service:
            try:
                service = LocalCareplan(options.data_dir, options.database_url).__enter__()
            except DemoServiceError as exc:
                raise DemoError(str(exc)) from exc
            assert service.device is not None  # set by __enter__
            sync = JournalSync(journal, CareplanSender(service.base_url, service.device.token), idle_interval_s=0.5)
            sync.start()
        summary = _run_meal(scenario, journal, camera_mode, options, console, clock, run_simulated_meal)
        sent_before_flush = journal.sent_of_run()
        if sync is not None:
            sync.stop()
            _flush(sync, journal)
        result = _result(summary, journal, service, sent_before_flush)
    finally:
        if sync is not None:
            sync.stop()
        if service is not None:
            service.close()
        journal.close()
    _print_summary(console, result, options)
    return result


def _run_meal(scenario, journal, camera_mode, options, console, clock, run_simulated_meal) -> Any:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("bites taken", total=scenario.bites, state="")
        last = {"taken": -1, "state": ""}
        panel = _Panel(scenario.bites)

        def on_progress(meal: Any, controller: Any) -> None:
            taken = meal.journal.counts.get("bite_taken", 0)
            panel.choose_bowl(meal, taken)
            state = str(getattr(controller, "state", ""))
            if taken != last["taken"] or state != last["state"]:
                last.update(taken=taken, state=state)
                progress.update(task, completed=taken, state=f"{state}  t={meal.clock.now():6.1f} s")

        return run_simulated_meal(
            scenario,
            journal,
            profile=demo_citizen_profile(),
            on_progress=on_progress,
            camera_mode=camera_mode,
            camera_fps=options.camera_fps,
            clock=clock,
        )


# The demo citizen's widest opening is a photo of a mouth open in speech: the tracker reads it at
# 0.09-0.18 (the closed photo at 0.02-0.03), below the default gesture band (open 0.15 / close 0.10,
# docs/configuration.md), so their profile sets the band lower, as staff would for a citizen who
# cannot open wide.
DEMO_GESTURE_THRESHOLDS = {"open_threshold": 0.08, "close_threshold": 0.05}


def demo_citizen_profile() -> Any:
    """The demo citizen's profile: the embedded one, asking for bites with the mouth gesture
    (thresholds set for this citizen, `DEMO_GESTURE_THRESHOLDS`)."""
    from controller.config import CitizenProfile, TriggerKind, demo_profile

    profile = demo_profile().model_dump()
    profile["gesture"] |= DEMO_GESTURE_THRESHOLDS
    return CitizenProfile.model_validate(profile | {"trigger_kind": TriggerKind.MOUTH_GESTURE})


class _Panel:
    """The citizen's panel in the demo: halfway through the meal they choose the next bowl."""

    def __init__(self, bites: int) -> None:
        self.switch_after = bites // 2
        self.switched = False

    def choose_bowl(self, meal: Any, bites_taken: int) -> None:
        from controller.feeding import CommandKind, UserCommand

        bowls = list(meal.profile.bowls_used)
        if self.switched or len(bowls) < 2 or bites_taken < max(self.switch_after, 1):
            return
        meal.inputs.push(UserCommand(CommandKind.SELECT_BOWL, source="panel", bowl=bowls[1]))
        self.switched = True


def _flush(sync: JournalSync, journal: UsageJournal) -> None:
    """Send what is left of the backlog now, so the meal is in the care plan when the demo ends.
    A failed attempt (a slow answer on a busy machine) is tried again, `FLUSH_ATTEMPTS` in all;
    whatever is still pending then stays in the journal for the next demo."""
    deadline = time.monotonic() + SYNC_FLUSH_TIMEOUT_S
    failures = 0
    while journal.counts().pending and time.monotonic() < deadline:
        outcome = sync.sync_once()
        if outcome.failed:
            failures += 1
            if failures >= FLUSH_ATTEMPTS:
                return
            time.sleep(min(outcome.retry_in_s, FLUSH_RETRY_MAX_S, max(0.0, deadline - time.monotonic())))


def _result(summary: Any, journal: _DemoJournal, service: Any, sent_before_flush: int) -> dict[str, Any]:
    from sim.safety_report import ReportLimits

    result = summary.as_dict()
    result.pop("citizen_log", None)
    meal_ids = sorted(journal.meal_ids)
    events = [event for m in meal_ids for event, _ in journal.events(UUID(m))]
    offered_from = Counter(str(e.data.get("bowl")) for e in events if e.type is UsageEventType.BITE_OFFERED)
    result.update(
        approach_speed_limit_m_s=ReportLimits().max_approach_speed_m_s,
        meal_ids=meal_ids,
        bites_offered_by_bowl=dict(sorted(offered_from.items())),
        events_recorded=len(events),
        events_sent=journal.sent_of_run(),
        events_sent_during_meal=sent_before_flush,
        events_pending=journal.counts().pending,
        journal_path=str(journal.path),
        database_url=service.settings.database_url_masked if service else None,  # never a password
        citizen_id=service.device.citizen_id if service else None,
        events_stored=service.stored_events(set(meal_ids)) if service else 0,
        careplan_incidents=service.meal_incidents(set(meal_ids)) if service else None,
    )
    if service is not None:
        result["report_url"] = f"/reports/citizens/{service.device.citizen_id}"
        result["fhir_url"] = f"/fhir/Patient/{service.device.citizen_id}/$everything"
    return result


def _reasons(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{reason} x{n}" for reason, n in sorted(counts.items())) if counts else "none"


def _by_reason(total: int, counts: dict[str, int] | None) -> str:
    return f"{total}" + (f" ({_reasons(counts)})" if total and counts else "")


def _approach_speed(result: dict[str, Any]) -> str:
    """The judged approach speed near the mouth (docs/face-contact.md) against its limit."""
    speed, limit = result["max_approach_speed_m_s"], result["approach_speed_limit_m_s"]
    return f"{speed:.3f} m/s, limit {limit}: {'met' if speed <= limit else 'EXCEEDED'}"


def _asked_by(result: dict[str, Any]) -> str:
    gesture = result.get("gesture")
    if not gesture:
        return result.get("trigger_kind", "switch")
    return (
        f"mouth gesture: {gesture['triggers']} held openings; {gesture['speech_openings']} short openings "
        "ignored as speech"
    )


def _print_summary(console: Console, result: dict[str, Any], options: DemoOptions) -> None:
    table = Table(title=f"bidvis demo: {result['scenario']}", show_header=False)
    pace = result["bites_taken"] / (result["duration_s"] / 60) if result["duration_s"] else 0.0
    rows = [
        ("bites offered / taken", f"{result['bites_offered']} / {result['bites_taken']}"),
        ("bites offered by bowl", ", ".join(f"bowl {b}: {n}" for b, n in result["bites_offered_by_bowl"].items())),
        ("bite timeouts", str(result.get("bite_timeouts", 0))),
        ("meal duration (simulated)", f"{result['duration_s']:.1f} s, {pace:.1f} bites/min"),
        ("wall time", f"{result['wall_s']:.1f} s ({result['realtime_factor']}x real time)"),
        ("safety stops (journalled, by reason)", _by_reason(result["safety_stops"], result.get("safety_stop_reasons"))),
        ("safety reactions (speed caps, holds, stops)", _reasons(result.get("safety_reasons"))),
        ("bites asked for by", _asked_by(result)),
        ("misfires (talk etc.)", str(result["events"].get("misfire", 0))),
        ("peak spoon-to-face force", f"{result['peak_face_force_n']:.3f} N"),
        ("approach speed within 10 cm of mouth", _approach_speed(result)),
        ("spoon speed within 10 cm of mouth, any cause", f"{result['max_speed_near_mouth_m_s']:.3f} m/s"),
        ("closest approach", f"{result['closest_approach_m'] * 100:.1f} cm"),
        (
            "camera",
            result["camera_mode"]
            + (
                " (simulated detections with noise, latency and dropouts; no camera frames"
                + (f"; {result['camera_reason']}" if result.get("camera_reason") else "")
                + ")"
                if result["ground_truth_camera"]
                else ""
            ),
        ),
        (
            "events recorded / sent / stored",
            f"{result['events_recorded']} / {result['events_sent']} / {result['events_stored']}",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if result.get("aborted"):
        console.print(f"[bold red]the meal was aborted:[/] {result['aborted']}")
    if result.get("careplan_incidents") is not None:
        incidents = Counter(
            f"{i['kind']} ({i['reason']})" if i["reason"] else i["kind"] for i in result["careplan_incidents"]
        )
        console.print(
            "Incidents in the care plan's meal report: "
            + (", ".join(f"{what} x{n}" for what, n in sorted(incidents.items())) or "none")
        )
    if result["citizen_id"]:
        url = result["database_url"]
        console.print(
            f"The meal is in the care plan ({url}), citizen {result['citizen_id']}. To see it:\n"
            f"  printf '%s\\n' \"$PASSWORD\" | bidvis careplan add-user --username staff --role staff --database-url '{url}'\n"
            f"  bidvis careplan serve --database-url '{url}'\n"
            f"  then log in at http://127.0.0.1:8000/login and open http://127.0.0.1:8000{result['report_url']}\n"
            f"  (meal report); the FHIR R4 export is GET {result['fhir_url']} with a staff bearer token."
        )
    else:
        console.print(
            f"--no-service: {result['events_pending']} events wait in the journal {result['journal_path']}; "
            "the next demo with the service sends them."
        )
