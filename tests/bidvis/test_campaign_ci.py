"""The small safety campaign CI runs on every change: 60 runs of the built-in families on two
worker processes, with held-out seeds from their own stretch (`CI_FIRST_SEED`, apart from the
full campaign's seeds of docs/safety.md, so that the seeds people look at every day are not the
ones the safety case is judged on), one run in five with the vision pipeline in the loop.

The machinery must hold whatever the controller does (every run ends and is judged, each failing
run is saved as a scenario file that replays to the same numbers); the safety claim itself, no
failure among the runs physics allows to make safe, is its own test.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bidvis.campaign import VISION_EVERY, SeedSplit, plan_runs, run_campaign
from bidvis.cli import app
from sim.camera import default_faces_dir
from sim.campaign_report import family_stats
from sim.families import HELD_OUT_SEEDS, load_families

CI_RUNS = 60
CI_FIRST_SEED = HELD_OUT_SEEDS.start + 1_000_000

# One run in five renders the shared face photographs for the vision pipeline, and such a run
# stops with the reason rather than fall back to ground truth: without the photos, skip.
pytestmark = pytest.mark.skipif(
    not (default_faces_dir() / "labels.csv").is_file(),
    reason=f"the campaign's vision runs need the shared face photos, not found at {default_faces_dir()}",
)


@pytest.fixture(scope="module")
def ci_campaign(tmp_path_factory):
    families = load_families()
    plan = plan_runs(families, CI_RUNS, CI_FIRST_SEED, SeedSplit.HELD_OUT)
    failures_dir = tmp_path_factory.mktemp("campaign") / "failures"
    records = run_campaign(families, plan, workers=2, failures_dir=failures_dir)
    return families, plan, records


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_every_run_of_the_ci_campaign_ends_judged_and_a_failure_replays(ci_campaign):
    families, plan, records = ci_campaign
    assert [(r.family, r.seed) for r in records] == [(run.family, run.seed) for run in plan]
    assert {r.family for r in records} == {f.name for f in families}
    crashed = [f"{r.scenario}: {r.aborted}" for r in records if r.aborted and r.aborted.startswith("crashed")]
    assert not crashed, crashed
    for family in families:
        runs = [r for r in records if r.family == family.name]
        assert sum(r.vision for r in runs) * VISION_EVERY >= len(runs)
        assert all(r.duration_s > 0.0 for r in runs)
    failing = [r for r in records if not r.passed]
    assert all(r.broken and r.scenario_file for r in failing)
    if failing:  # the first failure, replayed by safety-report from its file alone
        record = failing[0]
        out = Path(record.scenario_file).with_suffix(".json")
        CliRunner().invoke(app, ["safety-report", "--scenarios", record.scenario_file, "--json", str(out)])
        (row,) = json.loads(out.read_text(encoding="utf-8"))
        assert row["passed"] is False
        assert row["peak_face_force_n"] == pytest.approx(record.peak_face_force_n, abs=1e-6)
        assert row["max_approach_speed_m_s"] == pytest.approx(record.max_approach_speed_m_s, abs=1e-6)
        assert row["advances_on_stale_mouth"] == record.advances_on_stale_mouth


@pytest.mark.slow
@pytest.mark.xfail(
    reason="the controller still fails held-out runs (docs/safety.md, 'Campaign'); remove once a full campaign passes",
    strict=False,
)
def test_no_run_of_the_ci_campaign_breaks_a_limit(ci_campaign):
    families, _, records = ci_campaign
    stats = family_stats(records, {f.name: f.argument for f in families if f.beyond_physics})
    judged = [s for s in stats if not s.beyond_physics]
    failures = [f"{r.scenario}: {'; '.join(r.broken)}" for s in judged for r in s.failing]
    assert not failures, "\n".join(failures)
