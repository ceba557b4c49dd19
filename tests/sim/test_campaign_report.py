"""Campaign statistics: the exact binomial upper bound, the per-family JSON, and the summary
with the total and each beyond-physics family on its own line."""

import json
import math

import pytest
from scipy.stats import binom

from sim.campaign_report import (
    FAMILY_JSON_FIELDS,
    RunRecord,
    clopper_pearson_upper,
    family_stats,
    render_markdown,
    write_json,
)


def _record(family: str, seed: int, passed: bool = True, force: float = 1.0, head: float = 0.0) -> RunRecord:
    return RunRecord(
        family=family,
        seed=seed,
        scenario=f"{family}_s{seed}",
        passed=passed,
        broken=() if passed else (f"face force {force:.2f} N > 5.0 N",),
        peak_face_force_n=force,
        max_approach_speed_m_s=0.05,
        advances_on_stale_mouth=0,
        unnoticed_arm_stops=0,
        bites_offered=1,
        bites_taken=1,
        safety_stops=0,
        vision=seed % 5 == 0,
        duration_s=25.0,
        cpu_s=1.0,
        contact_head_speed_m_s=head,
    )


def test_no_failures_in_3000_runs_bounds_the_rate_below_a_tenth_of_a_percent():
    assert clopper_pearson_upper(0, 3000) == pytest.approx(1 - 0.05 ** (1 / 3000), rel=1e-9)
    assert clopper_pearson_upper(0, 3000) < 0.001
    assert clopper_pearson_upper(0, 2900) > 0.001  # fewer runs do not make the claim


@pytest.mark.parametrize(("failures", "runs"), [(1, 10), (5, 100), (0, 1), (17, 3000)])
def test_the_upper_bound_is_the_rate_at_which_so_few_failures_have_5_percent_chance(failures, runs):
    upper = clopper_pearson_upper(failures, runs)
    assert binom.cdf(failures, runs, upper) == pytest.approx(0.05, abs=1e-9)
    assert clopper_pearson_upper(1, 10) == pytest.approx(0.3941633, abs=1e-6)  # tables of the exact interval


def test_bounds_at_the_edges_and_impossible_counts():
    assert clopper_pearson_upper(0, 0) == 1.0
    assert clopper_pearson_upper(4, 4) == 1.0
    with pytest.raises(ValueError, match="failures"):
        clopper_pearson_upper(5, 4)


def test_family_json_has_the_contract_keys_and_counts(tmp_path):
    records = [_record("sneeze", s, passed=s != 3, force=7.5 if s == 3 else 2.0) for s in range(10)]
    records += [_record("lean", s) for s in range(10, 14)]
    stats = family_stats(records, {})
    write_json(stats, tmp_path / "c.json")
    rows = json.loads((tmp_path / "c.json").read_text())
    assert [r["family"] for r in rows] == ["sneeze", "lean"]
    assert all(set(FAMILY_JSON_FIELDS) <= set(r) for r in rows)
    sneeze = rows[0]
    assert (sneeze["runs"], sneeze["failures"], sneeze["worst_peak_face_force_n"]) == (10, 1, 7.5)
    assert sneeze["failure_rate_upper_95"] == pytest.approx(0.3941633, abs=1e-6)
    assert sneeze["vision_runs"] == 2 and sneeze["failing_scenarios"] == ["sneeze_s3"]


def test_summary_counts_a_beyond_physics_family_on_its_own_line_with_its_argument():
    records = [_record("lean", s) for s in range(100)]
    records += [_record("head_into_spoon", s, passed=False, force=30.0, head=1.4) for s in range(100, 103)]
    stats = family_stats(records, {"head_into_spoon": "No arm retreats at 1.4 m/s; the holder limits the force."})
    text = render_markdown(stats, command="bidvis safety-campaign --runs 103", header=["machine"])
    assert "All runs physics allows to make safe: 0 failures in 100 runs" in text
    assert "head_into_spoon, beyond physics: 3 of 3 runs broke a limit" in text
    energy = 0.5 * 4.5 * 1.4**2
    assert f"{energy:.2f} J" in text and "No arm retreats" in text
    assert "head_into_spoon_s100" in text and not math.isnan(stats[1].upper_95)


def test_runs_whose_oracle_bound_breaks_the_limit_are_their_familys_own_beyond_physics_line():
    """Membership comes from the oracle arm (sim.reaction_bound), not from the run's outcome: a
    beyond-physics run that passed stays on that line, and the judged total has only the others."""
    from dataclasses import replace

    records = [_record("sneeze", s) for s in range(20)]
    records[3] = replace(
        _record("sneeze", 3, passed=False, force=11.5, head=0.5), oracle_peak_face_force_n=10.1, beyond_physics=True
    )
    records[4] = replace(_record("sneeze", 4), oracle_peak_face_force_n=7.8, beyond_physics=True)
    records[5] = replace(_record("sneeze", 5, passed=False, force=6.0), oracle_peak_face_force_n=0.0)
    stats = family_stats(records, {})
    assert [(s.family, s.runs, s.failures, s.beyond_physics) for s in stats] == [
        ("sneeze", 18, 1, False),
        ("sneeze:beyond_physics", 2, 1, True),
    ]
    text = render_markdown(stats, command="c", header=[])
    assert "All runs physics allows to make safe: 1 failures in 18 runs" in text
    assert "| sneeze (beyond physics) | 2 |" in text
    assert "sneeze:beyond_physics, beyond physics: 1 of 2 runs broke a limit" in text
    assert "largest such bound 10.1 N" in text


def test_runs_that_fed_nobody_and_their_safety_stop_reasons_are_counted_per_family(tmp_path):
    """A run that passes the face judgement but stops again and again and feeds nobody is a product
    failure: each family says how many such runs it had and why its stops came."""
    from dataclasses import replace

    records = [_record("plain_meal", s) for s in range(5)]
    records[1] = replace(
        records[1], bites_offered=3, bites_taken=0, safety_stops=4, safety_stop_reasons=(("unreachable", 4),)
    )
    records[2] = replace(records[2], safety_stops=1, safety_stop_reasons=(("lean_in", 1),))
    assert records[1].fed_nobody and not records[2].fed_nobody
    assert records[1].as_json()["safety_stop_reasons"] == {"unreachable": 4}
    stats = family_stats(records, {})
    write_json(stats, tmp_path / "c.json")
    (row,) = json.loads((tmp_path / "c.json").read_text())
    assert (row["fed_nobody"], row["safety_stops"]) == (1, 5)
    assert row["safety_stop_reasons"] == {"lean_in": 1, "unreachable": 4}
    text = render_markdown(stats, command="c", header=[])
    assert "| fed nobody | safety stops (by reason) |" in text
    assert "| 1 | 5 (unreachable 4, lean_in 1) |" in text
