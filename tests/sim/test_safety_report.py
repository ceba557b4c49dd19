"""Safety report: limits judged right, JSON with exactly the contract's keys, table, stop timing."""

import json
import math

import pytest

from sim.safety_report import (
    JSON_FIELDS,
    ReportLimits,
    ScenarioResult,
    StaleAdvanceCounter,
    render_markdown,
    time_to_stop,
    write_json,
)

LIMITS = ReportLimits()


def _result(**changes):
    values = dict(
        scenario="s",
        peak_face_force_n=1.0,
        max_speed_near_mouth_m_s=0.05,
        max_approach_speed_m_s=0.05,
        closest_approach_m=0.02,
        advances_on_stale_mouth=0,
        stop_after_host_silence_s=0.09,
    )
    values.update(changes)
    return ScenarioResult(**values)


def test_a_result_within_every_limit_passes():
    assert _result().passed(LIMITS)
    assert _result(peak_face_force_n=5.0, max_approach_speed_m_s=0.06, stop_after_host_silence_s=0.1).passed(LIMITS)


def test_spoon_speed_from_any_cause_is_shown_but_the_approach_speed_is_judged():
    # a head that pushes the spoon back in its holder moves it fast; the arm did not carry it there
    pushed = _result(max_speed_near_mouth_m_s=0.5, max_approach_speed_m_s=0.05)
    assert pushed.passed(LIMITS)
    assert pushed.as_json(LIMITS)["max_speed_near_mouth_m_s"] == 0.5
    text = render_markdown([pushed], LIMITS, command="bidvis safety-report", generated="now")
    assert "| s | 1.00 | 0.050 | 0.500 |" in text
    assert "spoon holder" in text and "without robot-face contact" in text


def test_safety_stops_are_listed_with_their_reasons():
    result = _result(safety_stops=3, safety_stop_reasons=(("contact", 1), ("lean_in", 2)))
    text = render_markdown([result], LIMITS, command="bidvis safety-report", generated="now")
    assert "| 3 (contact, lean_in x2) |" in text


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"peak_face_force_n": 5.01}, "face force"),
        ({"max_approach_speed_m_s": 0.061}, "approach speed near mouth"),
        ({"max_approach_speed_m_s": math.nan}, "approach speed near mouth"),
        ({"advances_on_stale_mouth": 1}, "older than 0.2 s"),
        ({"stop_after_host_silence_s": 0.12}, "host silence"),
        ({"stop_after_host_silence_s": math.nan}, "host silence"),
        ({"peak_face_force_n": math.nan}, "face force"),
        ({"aborted": "physics became unstable"}, "aborted"),
    ],
)
def test_each_broken_limit_fails_and_is_named(change, words):
    result = _result(**change)
    assert not result.passed(LIMITS)
    assert any(words in b for b in result.broken_limits(LIMITS))


def test_json_rows_have_exactly_the_contract_fields(tmp_path):
    path = tmp_path / "s.json"
    write_json([_result(), _result(scenario="t", stop_after_host_silence_s=math.nan)], LIMITS, path)
    rows = json.loads(path.read_text())
    assert [tuple(row) for row in rows] == [JSON_FIELDS, JSON_FIELDS]
    assert rows[0]["passed"] is True and rows[1]["passed"] is False
    assert rows[1]["stop_after_host_silence_s"] is None  # NaN is not JSON
    assert isinstance(rows[0]["advances_on_stale_mouth"], int)


def test_markdown_table_lists_every_scenario_and_the_broken_limits():
    text = render_markdown(
        [_result(), _result(scenario="leans_in", peak_face_force_n=7.5)],
        LIMITS,
        command="bidvis safety-report",
        generated="now",
    )
    assert "| s | 1.00 |" in text
    assert "| leans_in | 7.50 |" in text and "| NO |" in text
    assert "leans_in: face force 7.50 N > 5.0 N" in text
    assert "bidvis safety-report" in text


def test_stale_advance_counts_only_unbraked_motion_toward_the_mouth():
    counter = StaleAdvanceCounter(stale_s=0.2, period_s=0.005)
    counter.update(0.1, 0.05)  # fresh: fine
    counter.update(0.204, 0.05)  # just stale: the controller gets one tick to notice
    counter.update(0.25, 0.04)  # braking: fine
    counter.update(0.30, 0.0)  # stopped
    assert counter.count == 0
    counter.update(0.35, 0.01)  # moving toward the mouth again on a stale observation
    counter.update(0.36, 0.02)
    counter.update(0.37, -0.02)  # moving away is fine
    assert counter.count == 2


def test_the_controllers_first_stale_tick_is_its_tick_to_notice_whatever_the_rounding():
    # Ages on one tick grid, as a campaign run (plain_meal, tuning seed 147) had them: the tick before
    # is just under 0.2 s, so the controller first sees the mouth stale at 0.205 s and starts to brake.
    counter = StaleAdvanceCounter(stale_s=0.2, period_s=0.005)
    counter.update(0.19999999999999930, 0.0460)
    counter.update(0.20500000000000185, 0.0461)  # the controller's first stale tick: it notices
    assert counter.count == 0
    counter.update(0.21000000000000085, 0.0462)  # still speeding up a tick later: an advance
    assert counter.count == 1
    counter.update(0.02, 0.0470)  # a fresh observation, then one just stale: one tick to notice again
    counter.update(0.21, 0.0480)
    assert counter.count == 1


def test_an_unconfident_mouth_counts_once_it_has_been_so_for_longer_than_a_tick():
    # As a campaign run had it (turn, held-out seed 1000057, vision): the controller stops advancing
    # at the first unconfident frame; the next tick is 0.0050000000000017 s later.
    counter = StaleAdvanceCounter(stale_s=0.2, period_s=0.005)
    counter.update(0.04, 0.0431, 0.0)  # confident
    counter.update(0.045, 0.0434, 0.0)  # the first unconfident tick: unconfident for 0 s
    counter.update(0.05, 0.0436, 0.0050000000000017)  # for a tick: the controller's tick to notice
    assert counter.count == 0
    counter.update(0.055, 0.0437, 0.010000000000002)  # for longer than a tick, still speeding up
    assert counter.count == 1


def test_time_to_stop_waits_until_the_spoon_stays_still():
    samples = [(0.0, 0.05), (0.05, 0.05), (0.1, 0.001), (0.12, 0.02), (0.14, 0.001), (0.2, 0.0)]
    assert time_to_stop(samples, 0.0) == pytest.approx(0.14)
    assert math.isnan(time_to_stop([(0.0, 0.1), (0.1, 0.1)], 0.0))


def test_cli_refuses_a_bad_scenario_file_naming_the_field(tmp_path):
    from typer.testing import CliRunner

    from bidvis.cli import app

    bad = tmp_path / "bad.toml"
    bad.write_text('[[scenario]]\nname = "x"\nseed = -1\n')
    result = CliRunner().invoke(app, ["safety-report", "--scenarios", str(bad)])
    assert result.exit_code == 2
    assert "scenario[0].seed" in result.output


def test_cli_writes_the_json_and_table_of_a_scenario_file(tmp_path):
    from typer.testing import CliRunner

    from bidvis.cli import app

    short = tmp_path / "short.toml"
    short.write_text('[[scenario]]\nname = "first_seconds"\nbites = 1\nmax_duration_s = 3.0\n')
    out, json_path = tmp_path / "safety.md", tmp_path / "safety.json"
    result = CliRunner().invoke(
        app, ["safety-report", "--scenarios", str(short), "--out", str(out), "--json", str(json_path)]
    )
    rows = json.loads(json_path.read_text())
    assert [row["scenario"] for row in rows] == ["first_seconds"]
    assert tuple(rows[0]) == JSON_FIELDS
    assert result.exit_code == (0 if rows[0]["passed"] else 1)
    assert "| first_seconds |" in out.read_text()
    campaign = (
        "\n## Fault table\n\n| fault | ... |\n"
        "\n## Safety campaign\n\n3000 runs, 0 failures (a section written from a campaign's summary).\n"
    )
    out.write_text(out.read_text() + campaign)
    again = CliRunner().invoke(app, ["safety-report", "--scenarios", str(short), "--out", str(out)])
    assert again.exit_code == result.exit_code
    page = out.read_text()
    assert page.count("| first_seconds |") == 1 and page.endswith(
        campaign
    )  # the scenarios rewritten, the fault table and campaign kept
