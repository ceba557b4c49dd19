"""Scenario families: distributions drawn by seed, the same scenario for the same seed, bad
values named, the common table merged, and a sampled scenario saved and read back unchanged."""

import math

import pytest

from sim.families import (
    HELD_OUT_SEEDS,
    TUNING_SEEDS,
    Family,
    load_families,
    parse_families,
    sample,
    scenario_toml,
)
from sim.flaws import default_flaws, flaws_preset
from sim.scenario import EventKind, ScenarioError, parse_scenarios

SNEEZES = """
[common]
bites = 1
max_duration_s = 27.0
face_size = { uniform = [0.9, 1.1] }
citizen = { reaction_s = { uniform = [0.2, 0.4] }, chew_s = 1.0 }

[[family]]
name = "sneeze"
weight = 2.0
scenario.citizen = { chew_s = 2.0 }
scenario.events = [{ choice = [
  { kind = "sneeze", bite = 1, when_spoon_within_m = { uniform = [0.01, 0.20] }, speed_m_s = { uniform = [0.3, 1.5] } },
  { kind = "sneeze", at_s = { normal = [10.0, 3.0], clip = [0.0, 25.0] }, speed_m_s = 1.0 },
] }]

[[family]]
name = "plain"
"""


def test_the_same_family_and_seed_give_the_same_scenario_and_other_seeds_differ():
    sneeze, _ = parse_families(SNEEZES)
    assert sample(sneeze, 7) == sample(sneeze, 7)
    drawn = {sample(sneeze, seed).face_size for seed in range(20)}
    assert len(drawn) == 20
    assert all(0.9 <= size <= 1.1 for size in drawn)


def test_each_distribution_draws_within_its_bounds_and_choice_picks_every_alternative():
    sneeze, _ = parse_families(SNEEZES)
    scenarios = [sample(sneeze, seed) for seed in range(200)]
    approach = [s.events[0] for s in scenarios if s.events[0].bite is not None]
    timed = [s.events[0] for s in scenarios if s.events[0].at_s is not None]
    assert 60 < len(approach) < 140 and len(approach) + len(timed) == 200
    assert all(0.01 <= e.when_spoon_within_m <= 0.20 and 0.3 <= e.speed_m_s <= 1.5 for e in approach)
    assert all(0.0 <= e.at_s <= 25.0 for e in timed)
    assert any(e.at_s in (0.0, 25.0) for e in timed) or max(e.at_s for e in timed) > 15.0
    assert all(e.kind is EventKind.SNEEZE for e in approach + timed)
    assert all(s.seed == seed and s.name == f"sneeze_s{seed}" for seed, s in enumerate(scenarios))


def test_common_values_apply_to_every_family_and_a_familys_own_values_win_key_by_key():
    sneeze, plain = parse_families(SNEEZES)
    assert sample(sneeze, 1).citizen.chew_s == 2.0
    assert sample(plain, 1).citizen.chew_s == 1.0
    assert 0.2 <= sample(sneeze, 1).citizen.reaction_s <= 0.4  # the common distribution kept
    assert sample(plain, 1).max_duration_s == 27.0


def test_a_sampled_scenario_saved_as_a_file_reads_back_equal():
    sneeze, _ = parse_families(SNEEZES)
    for seed in (3, 1_000_004):
        scenario = sample(sneeze, seed)
        (back,) = parse_scenarios(scenario_toml(scenario))
        assert back == scenario


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("face_size = { uniform = [1.1, 0.9] }", "face_size: uniform needs low <= high"),
        ("face_size = { uniform = [0.9] }", "face_size: uniform needs two numbers"),
        ("face_size = { normal = [1.0, -0.1] }", "face_size: normal needs sd >= 0"),
        ("face_size = { choice = [] }", "face_size: choice needs a non-empty list"),
        ("face_size = { uniform = [0.9, 1.1], choice = [1.0] }", "face_size: a distribution is one of"),
        ("face_size = { uniform = [2.0, 3.0] }", "face_size"),  # sampled out of the scenario's range
        ("bitez = 2", "bitez"),
        ('name = "x"', "set per run"),
    ],
)
def test_a_bad_family_is_refused_at_load_naming_the_field(bad, message):
    text = f'[[family]]\nname = "f"\nscenario = {{ {bad} }}\n'
    with pytest.raises(ScenarioError, match=message):
        parse_families(text, source="bad.toml")


def test_hostile_family_files_are_refused_cleanly(tmp_path):
    with pytest.raises(ScenarioError, match="not valid TOML"):
        parse_families("[[family]\nname=")
    with pytest.raises(ScenarioError, match="repeated: a"):
        parse_families('[[family]]\nname = "a"\n[[family]]\nname = "a"\n')
    with pytest.raises(ScenarioError, match="physical argument"):
        parse_families('[[family]]\nname = "a"\nbeyond_physics = true\n')
    with pytest.raises(ScenarioError, match="cannot read"):
        load_families(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_families(binary)


def test_tuning_and_held_out_seeds_never_meet():
    assert TUNING_SEEDS.stop <= HELD_OUT_SEEDS.start


def test_the_built_in_families_cover_the_head_motions_camera_and_host_faults():
    families = load_families()
    kinds = set()
    faults = set()
    for family in families:
        for seed in range(HELD_OUT_SEEDS.start, HELD_OUT_SEEDS.start + 10):
            scenario = sample(family, seed)
            kinds |= {e.kind.value for e in scenario.events}
            faults |= {f.kind.value for f in scenario.camera_faults}
            assert scenario.bites == 1 and scenario.calibration_error.camera_translation_m != (0.0, 0.0, 0.0)
    assert {"lean_in", "sneeze", "turn_away", "nod", "cough", "talk", "slump"} <= kinds
    assert {"second_face", "hand_in_view"} <= faults
    assert any(sample(f, 1_000_000).host_stalls for f in families)
    flawed = [sample(f, 1_000_000) for f in families if sample(f, 1_000_000).flaws is not None]
    assert flawed and all(s.flaws.compliant_joints and s.flaws.lost_reply_rate > 0.0 for s in flawed)


def test_a_familys_flaws_get_the_runs_seed_and_a_saved_flawed_scenario_reads_back_equal():
    (family,) = parse_families(
        '[[family]]\nname = "arm"\nscenario.flaws = { preset = "harsh", backlash_rad = { uniform = [0.0, 0.01] } }\n'
    )
    first, second = sample(family, 5), sample(family, 6)
    assert (first.flaws.seed, second.flaws.seed) == (5, 6)
    assert first.flaws.backlash_rad != second.flaws.backlash_rad
    assert first.flaws.lost_reply_rate == flaws_preset("harsh").lost_reply_rate
    for scenario in (first, sample(parse_families('[[family]]\nname = "i"\nscenario.flaws = "ideal"\n')[0], 7)):
        (back,) = parse_scenarios(scenario_toml(scenario))
        assert back == scenario  # the ideal arm stays ideal whatever the simulator's default preset


def test_a_family_without_flaws_writes_the_default_arm_with_the_runs_seed_into_the_scenario(monkeypatch):
    (family,) = parse_families('[[family]]\nname = "plain"\n')
    scenario = sample(family, 8)
    assert scenario.flaws == default_flaws().model_copy(update={"seed": 8})
    saved = scenario_toml(scenario)
    monkeypatch.setattr("sim.flaws.DEFAULT_PRESET", "ideal")  # the simulator's default changes later
    (back,) = parse_scenarios(saved)
    assert back == scenario


def test_family_weights_must_be_positive():
    with pytest.raises(ScenarioError, match="weight"):
        parse_families('[[family]]\nname = "a"\nweight = 0\n')
    assert math.isclose(Family(name="a").weight, 1.0)
