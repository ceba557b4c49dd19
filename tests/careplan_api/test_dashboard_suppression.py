"""The dashboard's aggregates never show a group of fewer than five citizens, nor let one be
worked out from the total minus the others."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplan_api.dashboard import MIN_GROUP_SIZE, CitizenStats, build_dashboard
from careplan_api.errors import InvalidInput


def citizens(unit: str, n: int, level: int | None = 2, meals: int = 10) -> list[CitizenStats]:
    return [CitizenStats(unit, level, meals, meals * 15, meals * 600.0, 1) for _ in range(n)]


def test_groups_of_five_or_more_show_their_figures():
    dashboard = build_dashboard(citizens("A", 5) + citizens("B", 7))
    a, _b = dashboard.by_unit
    assert (a.label, a.suppressed, a.citizens, a.meals) == ("A", False, 5, 50)
    assert a.meals_per_citizen == 10 and a.bites_per_meal == 15 and a.minutes_per_meal == 10
    assert a.safety_stops_per_100_meals == 10
    assert dashboard.total.citizens == 12


def test_a_group_of_four_is_suppressed_and_so_is_its_complement():
    dashboard = build_dashboard(citizens("A", 10) + citizens("B", 6) + citizens("C", 4))
    shown = {g.label: g for g in dashboard.by_unit}
    assert shown["C"].suppressed and shown["C"].citizens is None and shown["C"].meals is None
    # with only C hidden, C = total - A - B; so the smallest shown group (B) is hidden too
    assert shown["B"].suppressed
    assert not shown["A"].suppressed


def test_two_small_groups_hide_each_other_without_more_suppression():
    dashboard = build_dashboard(citizens("A", 10) + citizens("B", 6) + citizens("C", 4) + citizens("D", 2))
    assert [g.suppressed for g in dashboard.by_unit] == [False, False, True, True]


def test_fewer_than_five_citizens_in_all_shows_nothing():
    dashboard = build_dashboard(citizens("A", 4))
    assert dashboard.total.suppressed and dashboard.by_unit == () and dashboard.by_level == ()


def test_levels_are_a_breakdown_of_their_own():
    stats = citizens("A", 6, level=1) + citizens("A", 3, level=4) + citizens("B", 5, level=None)
    levels = {g.label: g for g in build_dashboard(stats, no_level_label="ikke vurderet").by_level}
    assert levels["4"].suppressed
    assert levels["1"].suppressed or levels["ikke vurderet"].suppressed  # complement
    assert sum(not g.suppressed for g in levels.values()) == 1


def test_the_limit_cannot_be_set_below_two():
    with pytest.raises(InvalidInput):
        build_dashboard([], min_group_size=1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ABCDEFG"), st.one_of(st.none(), st.integers(0, 4)), st.integers(0, 40)), max_size=60
    )
)
def test_no_shown_group_is_small_and_no_hidden_group_can_be_derived(rows):
    stats = [CitizenStats(unit, level, meals, meals * 12, meals * 900.0, meals % 3) for unit, level, meals in rows]
    dashboard = build_dashboard(stats)
    for breakdown in (dashboard.by_unit, dashboard.by_level):
        for group in breakdown:
            if not group.suppressed:
                assert group.citizens >= MIN_GROUP_SIZE
            else:
                assert group.citizens is None and group.meals is None
        # a single hidden group would be total minus the shown ones
        assert sum(g.suppressed for g in breakdown) != 1
    if len(stats) < MIN_GROUP_SIZE:
        assert dashboard.total.suppressed
    else:
        assert dashboard.total.citizens == len(stats)
