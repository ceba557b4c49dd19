"""A campaign run and its replay are the same meal: the run on a campaign worker process and
`bidvis safety-report --scenarios FILE` on its saved file give the same numbers, to the last digit.

The meal is one where timing shows: a sneeze into the spoon, on an arm whose wire garbles and
loses many replies (each garbled reply makes the host wait out a deadline, which must be kept on
the meal's simulated clock, not the machine's), in two different processes.
"""

import json

import pytest
from typer.testing import CliRunner

from bidvis.campaign import SeedSplit, plan_runs, run_campaign
from bidvis.cli import app
from sim.families import parse_families
from sim.safety_report import ReportLimits
from sim.scenario import load_scenarios

NOISY_WIRE_SNEEZE = """
[[family]]
name = "sneeze_on_a_noisy_wire"

[family.scenario]
bites = 1
max_duration_s = 21.0
probe_host_silence = false
camera = { vision = "ground_truth" }
flaws = { preset = "typical", corrupt_reply_rate = 0.03, lost_reply_rate = 0.02 }
events = [{ kind = "sneeze", bite = 1, when_spoon_within_m = { uniform = [0.04, 0.08] }, distance_m = 0.05, speed_m_s = 0.8, duration_s = 0.4 }]
"""


@pytest.mark.timeout(900)
def test_a_run_on_a_campaign_worker_and_its_replay_by_safety_report_give_the_same_numbers(tmp_path):
    families = parse_families(NOISY_WIRE_SNEEZE)
    # Three seeds: a run whose scoop stops on a (false) contact takes no bite and breaks nothing.
    plan = plan_runs(families, 3, None, SeedSplit.HELD_OUT)
    strict = ReportLimits(peak_face_force_n=0.5)  # the lips on the spoon (about 1-2 N) break it: saved
    # two workers: the runs go to spawned worker processes, as in a campaign
    records = run_campaign(families, plan, workers=2, failures_dir=tmp_path / "failures", limits=strict)
    saved_runs = [r for r in records if r.scenario_file]
    assert saved_runs, f"the strict limit must fail a run that takes a bite: {records}"
    record = saved_runs[0]
    (saved,) = load_scenarios(record.scenario_file)
    assert saved.flaws is not None and saved.flaws.corrupt_reply_rate == 0.03

    out = tmp_path / "replay.json"
    result = CliRunner().invoke(app, ["safety-report", "--scenarios", record.scenario_file, "--json", str(out)])
    assert result.exit_code in (0, 1), result.output
    (row,) = json.loads(out.read_text(encoding="utf-8"))
    replayed = (row["peak_face_force_n"], row["max_approach_speed_m_s"], row["advances_on_stale_mouth"])
    assert replayed == (record.peak_face_force_n, record.max_approach_speed_m_s, record.advances_on_stale_mouth)
    assert row["unnoticed_arm_stops"] == record.unnoticed_arm_stops
