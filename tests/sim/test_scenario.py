"""Scenario files: the built-in ones load; bad files give errors that name the field."""

import pytest

from sim.families import HELD_OUT_SEEDS, load_families, sample
from sim.scenario import EventKind, ScenarioError, load_scenarios, parse_scenarios

REQUIRED_BEHAVIOURS = {
    "normal_eater",
    "slow_eater",
    "talks_during_approach",
    "turns_away",
    "leans_in",
    "sneezes",
    "falls_asleep",
    "leaves_table",
}


def test_builtin_scenarios_and_campaign_families_cover_every_behaviour_of_the_issues():
    scenarios = load_scenarios()
    assert {s.name for s in scenarios} >= REQUIRED_BEHAVIOURS
    kinds = {e.kind for s in scenarios for e in s.events}
    # the campaign's families (issue 14) add the head motions that have no scenario of their own
    families = load_families()
    kinds |= {e.kind for f in families for seed in range(20) for e in sample(f, HELD_OUT_SEEDS.start + seed).events}
    assert kinds >= set(EventKind) - {EventKind.KEEP_MOUTH_CLOSED}


def test_a_minimal_scenario_gets_defaults():
    (scenario,) = parse_scenarios('[[scenario]]\nname = "quiet"\n')
    assert scenario.bites == 3 and scenario.events == () and scenario.citizen.chew_s == 3.0


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[[scenario]]\nname = "a"\nbites = 0\n', "scenario[0].bites"),
        ('[[scenario]]\nname = "a"\n[[scenario]]\nname = "b"\nbites = -2\n', "scenario[1].bites"),
        (
            '[[scenario]]\nname = "a"\nevents = [{ kind = "talk", at_s = 1.0, duration_s = -1.0 }]\n',
            "scenario[0].events[0].duration_s",
        ),
        (
            '[[scenario]]\nname = "a"\nevents = [{ kind = "dance", at_s = 1.0 }]\n',
            "scenario[0].events[0].kind",
        ),
        ('[[scenario]]\nname = "a"\ncitizen = { chew_s = "long" }\n', "scenario[0].citizen.chew_s"),
        ('[[scenario]]\nname = "a"\nbitez = 3\n', "scenario[0].bitez"),
        ('[[scenario]]\nname = "Bad Name"\n', "scenario[0].name"),
        (
            '[[scenario]]\nname = "a"\ncamera_faults = [{ kind = "black_frame", at_s = 1.0 }]\n',
            "scenario[0].camera_faults[0].duration_s",
        ),
        ('[[scenario]]\nname = "a"\ncamera = { depth_noise_time_s = -0.5 }\n', "scenario[0].camera.depth_noise_time_s"),
        ('[[scenario]]\nname = "a"\ncamera = { depth_noise_time_s = nan }\n', "scenario[0].camera.depth_noise_time_s"),
        ('[[scenario]]\nname = "a"\ncamera = { depth_noise_time_s = inf }\n', "scenario[0].camera.depth_noise_time_s"),
    ],
)
def test_bad_value_names_the_field(text, field):
    with pytest.raises(ScenarioError) as caught:
        parse_scenarios(text, source="bad.toml")
    assert field in str(caught.value)
    assert "bad.toml" in str(caught.value)


def test_event_needs_exactly_one_trigger():
    both = '[[scenario]]\nname = "a"\nevents = [{ kind = "talk", at_s = 1.0, bite = 1, when_spoon_within_m = 0.1 }]\n'
    half = '[[scenario]]\nname = "a"\nevents = [{ kind = "talk", bite = 1 }]\n'
    for text in (both, half):
        with pytest.raises(ScenarioError, match=r"scenario\[0\]\.events\[0\]"):
            parse_scenarios(text)


def test_duplicate_names_are_refused():
    with pytest.raises(ScenarioError, match="repeated: a"):
        parse_scenarios('[[scenario]]\nname = "a"\n[[scenario]]\nname = "a"\n')


def test_empty_file_is_refused():
    with pytest.raises(ScenarioError, match="scenario"):
        parse_scenarios("")


def test_not_toml_is_refused_with_the_reason():
    with pytest.raises(ScenarioError, match="not valid TOML"):
        parse_scenarios("[[scenario]\nname = ")


def test_missing_and_binary_files_are_refused(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenarios(tmp_path / "nope.toml")
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenarios(binary)


def test_the_example_of_docs_scenarios_md_is_valid():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    example = text.split("```toml", 1)[1].split("```", 1)[0]
    (scenario,) = parse_scenarios(example, source="docs/scenarios.md")
    assert scenario.name == "hungry_and_chatty" and len(scenario.events) == 2
