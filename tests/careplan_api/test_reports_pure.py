"""Meal summaries, the meal report, the weekly trend, languages and the SVG plot: pure functions."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplan_api.errors import InvalidInput
from careplan_api.i18n import Lang, counted, local_time, negotiate, number, texts
from careplan_api.meal_summary import AssistanceLevel, IncidentKind, summarize_meal
from careplan_api.report_plots import bar_svg, trend_svg
from careplan_api.reports import meal_rows, period_summary, weekly_trend
from careplan_api.schemas import UsageEvent, UsageEventType
from careplan_api.synthetic_meals import synthetic_meals

T0 = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # a Monday
SVG_NS = "{http://www.w3.org/2000/svg}"


def event(meal_id: UUID, seconds: float, event_type: UsageEventType, **data) -> UsageEvent:
    return UsageEvent(id=uuid4(), meal_id=meal_id, type=event_type, at=T0 + timedelta(seconds=seconds), data=data)


def two_bowl_meal(meal_id: UUID | None = None):
    meal_id = meal_id or uuid4()
    return meal_id, [
        event(meal_id, 0, UsageEventType.MEAL_STARTED),
        event(meal_id, 1, UsageEventType.BOWL_SELECTED, bowl=1),
        event(meal_id, 2, UsageEventType.TRIGGER, kind="switch"),
        event(meal_id, 3, UsageEventType.BITE_OFFERED),
        event(meal_id, 6, UsageEventType.BITE_TAKEN),
        event(meal_id, 7, UsageEventType.TRIGGER, kind="staff"),
        event(meal_id, 8, UsageEventType.BITE_OFFERED),
        event(meal_id, 20, UsageEventType.BITE_TIMEOUT),
        event(meal_id, 30, UsageEventType.BOWL_SELECTED, bowl="grød"),
        event(meal_id, 31, UsageEventType.MISFIRE, reason="talking"),
        event(meal_id, 32, UsageEventType.BITE_OFFERED),
        event(meal_id, 35, UsageEventType.SAFETY_STOP, reason="face force above limit"),
        event(meal_id, 40, UsageEventType.BITE_OFFERED, bowl=1),  # explicit bowl beats the selected one
        event(meal_id, 44, UsageEventType.BITE_TAKEN, bowl=1),
        event(meal_id, 45, UsageEventType.CALIBRATION_CHANGED),
        event(meal_id, 240, UsageEventType.MEAL_ENDED, assistance_level=2),
    ]


def test_summary_counts_bites_per_bowl_triggers_incidents_and_pace():
    meal_id, events = two_bowl_meal()
    meal = summarize_meal(meal_id, uuid4(), list(reversed(events)))  # order of arrival does not matter
    assert (meal.bites_offered, meal.bites_taken) == (4, 2)
    assert [(b.bowl, b.bites_offered, b.bites_taken) for b in meal.bowls] == [("1", 3, 2), ("grød", 1, 0)]
    assert dict(meal.triggers) == {"switch": 1, "staff": 1} and meal.staff_assists == 1
    assert hash(meal) == hash(summarize_meal(meal_id, meal.device_id, events))
    assert [i.kind for i in meal.incidents] == [
        IncidentKind.BITE_TIMEOUT,
        IncidentKind.MISFIRE,
        IncidentKind.SAFETY_STOP,
    ]
    assert meal.incidents[2].reason == "face force above limit"
    assert meal.duration_s == 240.0 and meal.pace_bites_per_min == pytest.approx(0.5)
    assert meal.assistance_level is AssistanceLevel.MODERATE and meal.complete
    assert meal.calibration_changes == 1


def test_summary_of_an_unfinished_meal_runs_to_its_last_event():
    meal_id, events = two_bowl_meal()
    meal = summarize_meal(meal_id, uuid4(), events[:-1])
    assert not meal.complete and meal.duration_s == 45.0 and meal.assistance_level is None


def test_summary_refuses_no_events_and_naive_times():
    with pytest.raises(InvalidInput, match="no events"):
        summarize_meal(uuid4(), uuid4(), [])

    class Naive:
        type, at, data = "meal_started", datetime(2026, 1, 1), {}

    with pytest.raises(InvalidInput, match="UTC offset"):
        summarize_meal(uuid4(), uuid4(), [Naive()])


def test_short_meal_has_no_pace_instead_of_a_huge_one():
    meal_id = uuid4()
    meal = summarize_meal(
        meal_id, uuid4(), [event(meal_id, 0, UsageEventType.BITE_TAKEN), event(meal_id, 0.5, UsageEventType.MEAL_ENDED)]
    )
    assert meal.pace_bites_per_min is None


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["bowl", "kind", "reason", "assistance_level", "x"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=True),
            st.text(max_size=300),
            st.lists(st.integers(), max_size=3),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        ),
    ),
    st.sampled_from(list(UsageEventType)),
)
def test_summary_never_fails_on_hostile_data(data, event_type):
    meal_id = uuid4()
    meal = summarize_meal(
        meal_id, uuid4(), [event(meal_id, 0, UsageEventType.MEAL_STARTED), event(meal_id, 1, event_type, **data)]
    )
    assert all(len(b.bowl) <= 80 for b in meal.bowls)
    assert meal.assistance_level is None or 0 <= meal.assistance_level <= 4


def test_meal_rows_are_newest_first_with_bowls_taken_and_offered():
    first_id, first = two_bowl_meal()
    second_id = uuid4()
    second = [event(second_id, 3600, UsageEventType.MEAL_STARTED), event(second_id, 3700, UsageEventType.MEAL_ENDED)]
    rows = meal_rows([summarize_meal(first_id, uuid4(), first), summarize_meal(second_id, uuid4(), second)])
    assert [r.meal_id for r in rows] == [str(second_id), str(first_id)]
    assert rows[1].bowls == (("1", 2, 3), ("grød", 0, 1))
    assert rows[1].duration_min == 4.0


def test_weekly_trend_has_every_week_including_empty_ones():
    rng = random.Random(3)
    device = uuid4()
    meals = [summarize_meal(m, device, e) for m, e in synthetic_meals(T0, 10, rng)]  # 10 days from a Monday
    points = weekly_trend(meals, weeks=4, until=date(2026, 3, 22))
    assert [p.monday for p in points] == [date(2026, 3, 2) - timedelta(weeks=1) + timedelta(weeks=i) for i in range(4)]
    assert [p.meals for p in points] == [0, 21, 9, 0]
    assert points[0].mean_bites_taken is None and points[0].mean_pace_bites_per_min is None
    assert points[1].bites_taken == sum(m.bites_taken for m in meals[:21])
    assert points[1].mean_bites_taken == pytest.approx(points[1].bites_taken / 21)
    assert points[1].week == 10 and points[1].year == 2026
    summary = period_summary(meals)
    assert summary.meals == 30 and summary.bites_taken == sum(p.bites_taken for p in points)


def test_trend_puts_a_late_evening_meal_in_its_local_week():
    meal_id = uuid4()
    sunday_night_utc = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)  # Monday 00:30 in Copenhagen
    meal = summarize_meal(
        meal_id,
        uuid4(),
        [UsageEvent(id=uuid4(), meal_id=meal_id, type=UsageEventType.MEAL_STARTED, at=sunday_night_utc)],
    )
    points = weekly_trend([meal], weeks=2, until=date(2026, 3, 9))
    assert [p.meals for p in points] == [0, 1]


@pytest.mark.parametrize("weeks", [0, -1, 261])
def test_trend_refuses_impossible_week_counts(weeks):
    with pytest.raises(InvalidInput):
        weekly_trend([], weeks=weeks, until=date(2026, 1, 1))


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, Lang.DA),
        ("en", "da", Lang.EN),
        ("EN", None, Lang.EN),
        ("de", "en-GB,en;q=0.9", Lang.EN),
        (None, "fr-FR, en;q=0.4, da;q=0.8", Lang.DA),
        (None, "en;q=0, da;q=0.1", Lang.DA),
        (None, "en-US", Lang.EN),
        (None, ";;;,q=,=en" * 200, Lang.DA),
        (None, "en;q=5", Lang.DA),
    ],
)
def test_language_negotiation(query, header, expected):
    assert negotiate(query, header) is expected


def test_both_languages_have_the_same_texts():
    assert texts(Lang.DA).keys() == texts(Lang.EN).keys()


@pytest.mark.parametrize(
    ("lang", "key", "n", "expected"),
    [
        (Lang.DA, "effect_without_time", 1, "1 måltid uden registreret madningstid er ikke talt med"),
        (Lang.DA, "effect_without_time", 0, "0 måltider uden registreret madningstid er ikke talt med"),
        (Lang.DA, "effect_without_time", 2, "2 måltider uden registreret madningstid er ikke talt med"),
        (Lang.EN, "effect_without_time", 1, "1 meal without a recorded feeding time is not counted"),
        (Lang.EN, "effect_without_time", 21, "21 meals without a recorded feeding time are not counted"),
        (Lang.DA, "period_weeks", 1, "1 uge"),
        (Lang.DA, "period_weeks", 11, "11 uger"),
        (Lang.EN, "period_weeks", 1, "1 week"),
        (Lang.EN, "period_weeks", 1000, "1\u2009000 weeks"),
        (Lang.DA, "dashboard_chart_alt", 1, "Søjlediagram over måltider pr. borger for 1 enhed."),
        (Lang.DA, "dashboard_chart_alt", 3, "Søjlediagram over måltider pr. borger for 3 enheder."),
        (Lang.EN, "dashboard_chart_alt", 1, "Bar chart of meals per citizen for 1 unit."),
        (Lang.EN, "dashboard_chart_alt", 0, "Bar chart of meals per citizen for 0 units."),
    ],
)
def test_a_count_takes_the_singular_for_exactly_one_and_the_plural_otherwise(lang, key, n, expected):
    assert counted(key, n, lang) == expected


def test_a_negative_count_or_an_unknown_counted_text_is_refused():
    with pytest.raises(ValueError, match="never negative"):
        counted("period_weeks", -1, Lang.DA)
    with pytest.raises(KeyError):
        counted("weeks", 2, Lang.DA)


def test_no_plain_text_puts_a_count_before_a_noun():
    """A count before a word belongs in the counted texts (one form for 1, one for the rest); the plain
    texts hold counts only as a bound ("højst {limit}", "færre end {min}", always at least 2) or a label."""
    for lang in Lang:
        for key, text in texts(lang).items():
            assert "{n} " not in text, f"{lang.value} {key}: {text!r} reads '1 ...' wrong for one"


def test_numbers_and_times_are_written_the_local_way():
    assert number(1234.56, Lang.DA) == "1\u2009234,6"
    assert number(1234.56, Lang.EN) == "1\u2009234.6"
    assert number(None, Lang.DA) == "–"
    assert number(7, Lang.DA) == "7"
    assert local_time(datetime(2026, 7, 1, 10, 0, tzinfo=UTC)) == "2026-07-01 12:00"  # summer time


def _parse_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    return root


@pytest.mark.parametrize("lang", list(Lang))
def test_trend_svg_is_valid_deterministic_and_titled_in_the_language(lang):
    rng = random.Random(5)
    meals = [summarize_meal(m, uuid4(), e) for m, e in synthetic_meals(T0, 21, rng)]
    points = weekly_trend(meals, weeks=6, until=date(2026, 3, 22))
    svg = trend_svg(points, lang)
    root = _parse_svg(svg)
    assert root.find(f"{SVG_NS}title").text == texts(lang)["trend_title"]
    assert svg == trend_svg(points, lang)
    assert "<image" not in svg  # numbers only, no pictures
    assert texts(lang)["mean_bites"] in svg


def test_trend_svg_of_weeks_without_meals_still_renders():
    _parse_svg(trend_svg(weekly_trend([], weeks=3, until=date(2026, 3, 22)), Lang.DA))


def test_bar_svg_escapes_hostile_labels():
    svg = bar_svg(
        ["<script>alert(1)</script>", "$\\undefinedcmd{$", "Enhed & co"],
        [1.0, 2.0, 3.0],
        Lang.DA,
        ylabel="y",
        title="t",
        description="d",
    )
    _parse_svg(svg)
    assert "<script>" not in svg


def test_bar_svg_without_groups_says_so():
    assert texts(Lang.EN)["chart_empty"] in bar_svg([], [], Lang.EN, ylabel="y", title="t", description="d")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_colour_of_pages_and_plots_has_aa_contrast_on_every_background():
    """A rule that sets both its text colour and its background (a filled button) is judged on that
    pair; every other foreground (text, outline, border, plot colours, the body's text that every
    element inherits) on every page surface (the body's and the other rules' backgrounds)."""
    import re
    from importlib.resources import files

    from careplan_api import report_plots

    css = files("careplan_api").joinpath("templates/careplan.css").read_text()
    foreground = re.compile(r"(?<![-\w])(?:color|outline|border[\w-]*):[^;#]*(#[0-9a-f]{6})")
    background = re.compile(r"background:\s*(#[0-9a-f]{6})")
    foregrounds = {report_plots.BAR_COLOUR, report_plots.LINE_COLOUR, report_plots.TEXT_COLOUR}
    surfaces: set[str] = set()
    filled: list[tuple[str, str]] = []
    for selector, declarations in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        own_text = re.findall(r"(?<![-\w])color:\s*(#[0-9a-f]{6})", declarations)
        own_background = background.findall(declarations)
        if own_text and own_background and selector.strip() != "body":
            filled.append((own_text[0], own_background[0]))
            foregrounds |= set(foreground.findall(declarations)) - set(own_text)
        else:
            foregrounds |= set(foreground.findall(declarations))
            surfaces |= set(own_background)
    assert len(foregrounds) >= 5 and "#ffffff" in surfaces and len(surfaces) >= 3 and filled
    for fg, bg in [(fg, bg) for fg in foregrounds for bg in surfaces] + filled:
        assert _contrast(fg, bg) >= 4.5, (fg, bg, _contrast(fg, bg))
