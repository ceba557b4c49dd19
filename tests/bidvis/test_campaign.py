"""`bidvis safety-campaign`: runs planned by weight and seed split, run on local processes or a
Ray cluster by address, failures saved as scenario files that `bidvis safety-report` replays to
the same numbers, JSON per family and a Markdown summary."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bidvis.campaign import (
    VISION_EVERY,
    CampaignError,
    PlannedRun,
    SeedSplit,
    plan_runs,
    run_campaign,
    run_planned,
    scenario_of,
)
from bidvis.cli import app
from sim.campaign_report import FAMILY_JSON_FIELDS
from sim.families import HELD_OUT_SEEDS, Family, parse_families
from sim.safety_report import ReportLimits
from sim.scenario import CameraVision

# One bite, ground-truth camera, ended right after the bite: a few seconds of CPU per run.
QUICK = """
[common]
bites = 1
max_duration_s = 21.0
probe_host_silence = false
camera = { vision = "ground_truth", noise_px = { uniform = [1.0, 3.0] } }
citizen = { reaction_s = { uniform = [0.2, 0.5] } }

[[family]]
name = "plain"

[[family]]
name = "talking"
scenario.events = [{ kind = "talk", bite = 1, when_spoon_within_m = { uniform = [0.05, 0.15] }, duration_s = 1.0 }]
"""


def _families(tmp_path: Path) -> Path:
    path = tmp_path / "families.toml"
    path.write_text(QUICK, encoding="utf-8")
    return path


def test_runs_are_shared_by_weight_interleaved_and_one_in_five_has_vision_in_the_loop():
    families = [Family(name="a", weight=3.0), Family(name="b"), Family(name="c")]
    plan = plan_runs(families, 50, None, SeedSplit.HELD_OUT)
    names = [run.family for run in plan]
    assert (names.count("a"), names.count("b"), names.count("c")) == (30, 10, 10)
    assert set(names[:5]) == {"a", "b", "c"}  # every family early in the plan
    assert [run.seed for run in plan] == list(range(HELD_OUT_SEEDS.start, HELD_OUT_SEEDS.start + 50))
    for name in "abc":
        runs = [run for run in plan if run.family == name]
        assert sum(run.vision for run in runs) == -(-len(runs) // VISION_EVERY)
    vision = next(run for run in plan if run.vision)
    assert scenario_of(vision, families[0]).camera.vision is CameraVision.FACES


def test_tuning_and_held_out_seeds_are_never_mixed():
    families = [Family(name="a")]
    assert plan_runs(families, 3, None, SeedSplit.TUNING)[0].seed == 0
    with pytest.raises(CampaignError, match="held-out seeds"):
        plan_runs(families, 3, 999_999, SeedSplit.HELD_OUT)
    with pytest.raises(CampaignError, match="tuning seeds"):
        plan_runs(families, 3, 999_998, SeedSplit.TUNING)
    with pytest.raises(CampaignError, match="at least 1"):
        plan_runs(families, 0, None, SeedSplit.TUNING)


def test_a_failing_run_is_saved_and_safety_report_replays_it_to_the_same_numbers(tmp_path):
    families = parse_families(QUICK)
    plan = plan_runs(families, 2, None, SeedSplit.HELD_OUT)
    strict = ReportLimits(peak_face_force_n=0.5)  # the lips on the spoon (about 1-2 N) break it
    records = run_campaign(families, plan, workers=1, failures_dir=tmp_path / "failures", limits=strict)
    failed = [r for r in records if not r.passed]
    assert failed, "the strict limit must fail a run that takes a bite"
    record = failed[0]
    assert record.scenario_file == str(tmp_path / "failures" / f"{record.scenario}.toml")
    out = tmp_path / "replay.json"
    result = CliRunner().invoke(app, ["safety-report", "--scenarios", record.scenario_file, "--json", str(out)])
    assert result.exit_code == 0, result.output  # within the real limits
    (row,) = json.loads(out.read_text())
    assert row["scenario"] == record.scenario
    assert row["peak_face_force_n"] == pytest.approx(record.peak_face_force_n, abs=1e-6)
    assert row["max_approach_speed_m_s"] == pytest.approx(record.max_approach_speed_m_s, abs=1e-6)
    assert row["advances_on_stale_mouth"] == record.advances_on_stale_mouth


def test_the_command_writes_json_per_family_a_summary_and_the_runs_on_local_worker_processes(tmp_path):
    out, json_path = tmp_path / "campaign", tmp_path / "campaign.json"
    args = ["safety-campaign", "--families", str(_families(tmp_path)), "--runs", "2", "--workers", "2"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--json", str(json_path)])
    rows = json.loads(json_path.read_text())
    assert [r["family"] for r in rows] == ["plain", "talking"]
    assert all(set(FAMILY_JSON_FIELDS) <= set(r) and r["runs"] == 1 for r in rows)
    assert result.exit_code == (1 if any(r["failures"] for r in rows) else 0), result.output
    summary = (out / "summary.md").read_text()
    assert "bidvis safety-campaign --runs 2 --split held-out" in summary and "| plain | 1 |" in summary
    assert " cores; code " in summary  # the machine and the commit the campaign ran on
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["seed"] for r in runs) == [HELD_OUT_SEEDS.start, HELD_OUT_SEEDS.start + 1]  # as they ended


AT_THE_LIPS = """
[[family]]
name = "at_lips"

[family.scenario]
bites = 1
max_duration_s = 21.0
probe_host_silence = false
camera = { vision = "ground_truth" }
events = [{ kind = "sneeze", bite = 1, when_spoon_within_m = 0.012, distance_m = 0.06, speed_m_s = 1.0, duration_s = 0.4 }]
"""


def test_a_run_whose_sneeze_begins_at_the_lips_is_in_the_physically_impossible_class(tmp_path):
    """The oracle arm (50 ms after the onset, from the spoon's gap then) cannot keep it under 5 N,
    so the run is beyond physics whatever the controller did; a plain meal's bound is 0."""
    (at_lips,) = parse_families(AT_THE_LIPS)
    record = run_planned(PlannedRun(0, "at_lips", HELD_OUT_SEEDS.start, False), at_lips)
    assert record.events_started == 1
    assert record.beyond_physics and record.oracle_peak_face_force_n > 5.0
    plain = parse_families(QUICK)[0]
    assert run_planned(PlannedRun(1, "plain", HELD_OUT_SEEDS.start + 1, False), plain).oracle_peak_face_force_n == 0.0


def test_a_run_that_crashes_fails_is_saved_and_the_campaign_goes_on(tmp_path, monkeypatch):
    import bidvis.simulation

    real = bidvis.simulation.run_safety_scenario

    def crash_on_talking(scenario, **options):
        if scenario.name.startswith("talking"):
            raise RuntimeError("the controller raised")
        return real(scenario, **options)

    monkeypatch.setattr(bidvis.simulation, "run_safety_scenario", crash_on_talking)
    families = parse_families(QUICK)
    records = run_campaign(families, plan_runs(families, 2, None, SeedSplit.HELD_OUT), workers=1, failures_dir=tmp_path)
    plain, talking = records
    assert plain.passed and plain.bites_taken == 1
    assert not talking.passed and talking.aborted == "crashed: RuntimeError: the controller raised"
    assert talking.broken[0] == "run aborted: crashed: RuntimeError: the controller raised"
    assert talking.scenario_file == str(tmp_path / f"{talking.scenario}.toml")


def test_a_stopped_campaign_keeps_and_summarises_the_runs_that_ended(tmp_path, monkeypatch):
    """Ctrl-C after the first run: runs.jsonl has it, the summary says the campaign stopped early."""
    import bidvis.campaign

    real = bidvis.campaign.run_campaign

    def stopped_after_one(families, plan, *, on_record, **options):
        real(families, plan[:1], on_record=on_record, **options)
        raise KeyboardInterrupt

    monkeypatch.setattr(bidvis.campaign, "run_campaign", stopped_after_one)
    out = tmp_path / "campaign"
    args = ["safety-campaign", "--families", str(_families(tmp_path)), "--runs", "2", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 130, result.output
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [r["family"] for r in runs] == ["plain"]
    summary = (out / "summary.md").read_text()
    assert "Stopped early: 1 of the 2 planned runs ended" in summary and "| plain | 1 |" in summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs", "0"], "greater than or equal to 1"),
        (["--seed", "5"], "held-out"),
        (["--families", "/nonexistent/f.toml"], "cannot read"),
    ],
)
def test_the_command_refuses_a_campaign_it_cannot_plan(tmp_path, args, message):
    result = CliRunner().invoke(app, ["safety-campaign", *args])
    assert result.exit_code == 2
    assert message in result.output


def _start_ray():
    ray = pytest.importorskip("ray")
    try:
        context = ray.init(num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    except Exception as exc:  # Ray's node start has fixed timeouts that a loaded machine can miss
        pytest.skip(f"Ray could not start a local node on this machine now: {exc}")
    return ray, context.address_info["gcs_address"]


@pytest.mark.timeout(900)
def test_the_same_campaign_runs_on_a_ray_cluster_given_its_address(tmp_path):
    """A local Ray node on 127.0.0.1 (Ray 2.x has no `local_mode` any more); the command connects
    to it by address, as it would to a cluster, and gets the same records as local processes."""
    ray, address = _start_ray()
    try:
        json_path = tmp_path / "ray.json"
        families = _families(tmp_path)
        command = [sys.executable, "-m", "bidvis.cli", "safety-campaign", "--families", str(families)]
        ran = subprocess.run(
            [*command, "--runs", "2", "--address", address, "--json", str(json_path)],
            capture_output=True,
            text=True,
            timeout=800,
        )
    finally:
        ray.shutdown()
    assert ran.returncode in (0, 1), ran.stderr[-2000:]
    assert f"on Ray cluster {address}" in ran.stderr
    on_ray = json.loads(json_path.read_text())
    local = run_campaign(
        parse_families(QUICK), plan_runs(parse_families(QUICK), 2, None, SeedSplit.HELD_OUT), workers=1
    )
    assert [r["worst_peak_face_force_n"] for r in on_ray] == [round(r.peak_face_force_n, 4) for r in local]


def test_a_campaign_in_this_process_leaves_the_callers_logging_as_it_was():
    """One worker runs in the caller's process, quiet while it runs; afterwards the caller's warnings
    are logged again (a test after it, or the robot in the same process, would lose them)."""
    import logging

    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)
    try:
        families = parse_families(QUICK)
        assert run_campaign(families, [], workers=1) == []
        assert root.level == logging.INFO
    finally:
        root.setLevel(before)
