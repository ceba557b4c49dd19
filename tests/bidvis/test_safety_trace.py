"""`bidvis safety-trace`: a campaign run tick by tick, the tool docs/safety.md's traces name, and
its refusals of what it cannot trace."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from bidvis.campaign import PlannedRun, scenario_of
from bidvis.cli import app
from bidvis.simulation.trace import HEADER, TraceRow, format_row, trace_meal
from sim.families import load_families

SHORT_MEAL = """
[[scenario]]
name = "short_plain"
bites = 1
seed = 3
max_duration_s = 3.0
"""


def trace(*args: str):
    return CliRunner().invoke(app, ["safety-trace", *args])


def test_a_row_gives_positions_in_cm_and_a_dash_for_no_stop():
    row = TraceRow(1.25, "approach", (0.3012, -0.001, 0.25), (0.3, 0.0, 0.2495), 0.048, 0.0605, 0.0, None)
    line = format_row(row)
    assert line.split()[:8] == ["1.250", "approach", "30.12", "-0.10", "25.00", "30.00", "0.00", "24.95"]
    assert line.split()[8:] == ["0.048", "0.060", "0.00", "-"]
    stopped = format_row(TraceRow(2.0, "retract", (0, 0, 0), (0, 0, 0), 0.0, -0.01, 6.5, "contact"))
    assert stopped.endswith("6.50  contact")
    assert len(HEADER.split()) >= 8


def test_a_scenario_file_is_traced_within_the_window_with_its_summary(tmp_path):
    path = tmp_path / "short.toml"
    path.write_text(SHORT_MEAL, encoding="utf-8")
    result = trace("--scenarios", str(path), "--from", "1.0", "--to", "1.5", "--every", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == HEADER
    times = [float(line.split()[0]) for line in lines[1:] if re.match(r"\s*\d+\.\d{3} ", line)]
    assert times and all(1.0 <= t <= 1.5 for t in times)
    assert len(times) <= 51  # every 2nd of the 5 ms ticks in 0.5 s
    assert any(line.startswith("short_plain: peak face force") for line in lines)


def test_the_trace_is_the_campaign_run_of_the_family_and_seed():
    family = next(f for f in load_families() if f.name == "plain_meal")
    rows: list[TraceRow] = []
    scenario = scenario_of(PlannedRun(0, family.name, 3, vision=False), family)
    short = scenario.model_copy(update={"max_duration_s": 2.0})
    summary = trace_meal(short, rows.append, start_s=0.5, end_s=1.0)
    assert summary.scenario == "plain_meal_s3"
    assert rows and all(0.5 <= r.t_s <= 1.0 for r in rows)
    assert [r.t_s for r in rows] == sorted(r.t_s for r in rows)
    assert all(r.state for r in rows)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "either --scenarios FILE or --family"),
        (["--family", "lean"], "--family needs --seed"),
        (["--family", "lean", "--seed", "1", "--scenarios", "x.toml"], "either --scenarios FILE or --family"),
        (["--family", "no_such", "--seed", "1"], "no family 'no_such'"),
        (["--family", "lean", "--seed", "1", "--from", "5", "--to", "2"], "is before --from"),
        (["--scenarios", "/nonexistent/scenarios.toml"], "error"),
    ],
)
def test_what_cannot_be_traced_is_refused_in_one_line(args, says):
    result = trace(*args)
    assert result.exit_code == 2
    assert says in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("text", ["not toml [[[", "\x00\x01", "[[scenario]]\nname = 3\n", ""])
def test_a_broken_scenario_file_is_refused_never_a_crash(tmp_path, text):
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    result = trace("--scenarios", str(path))
    assert result.exit_code == 2, result.output
    assert "error" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(("every", "start", "end"), [(0, 0.0, 1.0), (1, 2.0, 1.0)])
def test_trace_meal_refuses_an_empty_window_before_running(every, start, end):
    family = next(f for f in load_families() if f.name == "plain_meal")
    with pytest.raises(ValueError):
        trace_meal(scenario_of(PlannedRun(0, family.name, 3, vision=False), family), print, start, end, every)
