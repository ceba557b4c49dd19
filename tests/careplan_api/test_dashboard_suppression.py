"""No group of fewer than five citizens can be worked out from the dashboard: not from one table, not
by subtracting one figure from another (groups of one breakdown from groups of the other, unions from
the total), and not by comparing queries over time. The adversary here knows who is in which group
(the strongest assumption) and tries every difference of derivable sets."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplan_api.dashboard import MIN_GROUP_SIZE, CitizenStats, Dashboard, build_dashboard
from careplan_api.errors import InvalidInput


def citizens(unit: str, n: int, level: int | None = 2, meals: int = 10, start: int = 0) -> list[CitizenStats]:
    return [
        CitizenStats(
            f"{unit}{start + i}", unit, level, meals, meals * 15, meals * 600.0, 1, 20.0 * meals, 15 * meals, 12 * meals
        )
        for i in range(n)
    ]


def derivable_sets(stats: list[CitizenStats], dashboard: Dashboard) -> list[frozenset]:
    """Every set of citizens whose figures a reader can add up or subtract from what is shown: the
    unions of shown groups of each breakdown, the total, and the total minus any such union."""
    members = {("unit", s.unit): set() for s in stats} | {
        ("level", str(s.assessed_level) if s.assessed_level is not None else "-"): set() for s in stats
    }
    for s in stats:
        members[("unit", s.unit)].add(s.citizen)
        members[("level", str(s.assessed_level) if s.assessed_level is not None else "-")].add(s.citizen)
    total = frozenset(s.citizen for s in stats)
    sets = {total}
    for kind, breakdown in (("unit", dashboard.by_unit), ("level", dashboard.by_level)):
        shown = [frozenset(members[(kind, g.label)]) for g in breakdown if not g.suppressed]
        for size in range(1, len(shown) + 1):
            for chosen in combinations(shown, size):
                union = frozenset().union(*chosen)
                sets |= {union, total - union}
    return [s for s in sets if s]


def smallest_derivable_difference(stats: list[CitizenStats], dashboard: Dashboard) -> int | None:
    """The fewest citizens any difference of two nested derivable sets singles out (None: none do)."""
    sets = derivable_sets(stats, dashboard)
    sizes = [len(a - b) for a in sets for b in sets if b < a] + [len(s) for s in sets]
    return min(sizes, default=None)


def test_groups_of_five_or_more_show_their_figures():
    dashboard = build_dashboard(citizens("A", 5) + citizens("B", 7, level=3))
    a, _b = dashboard.by_unit
    assert (a.label, a.suppressed, a.citizens, a.meals) == ("A", False, 5, 50)
    assert a.meals_per_citizen == 10 and a.bites_per_meal == 15 and a.minutes_per_meal == 10
    assert a.safety_stops_per_100_meals == 10 and a.staff_minutes_freed == 1000 and a.self_started_share == 0.8
    assert dashboard.total.citizens == 12


def test_a_group_of_four_is_suppressed_and_so_is_its_complement():
    dashboard = build_dashboard(citizens("A", 10) + citizens("B", 6) + citizens("C", 4))
    shown = {g.label: g for g in dashboard.by_unit}
    assert shown["C"].suppressed and shown["C"].citizens is None and shown["C"].meals is None
    assert shown["B"].suppressed  # with only C hidden, C = total - A - B
    assert not shown["A"].suppressed


def test_two_small_groups_that_are_together_still_small_hide_a_third():
    dashboard = build_dashboard(citizens("A", 10) + citizens("B", 6) + citizens("C", 2) + citizens("D", 2))
    assert [g.suppressed for g in dashboard.by_unit] == [False, True, True, True]  # C + D = 4 = total - A - B


def test_the_pair_the_issue_found_cannot_be_derived_across_the_breakdowns():
    # unit A: 10 citizens at level 1 and 2 at level 3; unit B: 6 at level 3. Level 1 (10) shown and
    # unit A (12) shown would give the pair "A at level 3" by subtraction.
    stats = citizens("A", 10, level=1) + citizens("A", 2, level=3, start=10) + citizens("B", 6, level=3)
    dashboard = build_dashboard(stats)
    assert smallest_derivable_difference(stats, dashboard) >= MIN_GROUP_SIZE


def test_fewer_than_five_citizens_in_all_shows_nothing():
    dashboard = build_dashboard(citizens("A", 4))
    assert dashboard.total.suppressed and dashboard.by_unit == () and dashboard.by_level == ()


def test_the_limit_cannot_be_set_below_two_and_a_citizen_counts_once():
    with pytest.raises(InvalidInput):
        build_dashboard([], min_group_size=1)
    with pytest.raises(InvalidInput, match="once"):
        build_dashboard(citizens("A", 5) + citizens("A", 1))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ABCDEFG"), st.one_of(st.none(), st.integers(0, 4)), st.integers(1, 40)), max_size=70
    )
)
def test_no_difference_of_anything_shown_singles_out_fewer_than_five(rows):
    stats = [
        CitizenStats(i, unit, level, meals, meals * 12, meals * 900.0, meals % 3, 15.0 * meals, 10 * meals, 7 * meals)
        for i, (unit, level, meals) in enumerate(rows)
    ]
    dashboard = build_dashboard(stats)
    for breakdown in (dashboard.by_unit, dashboard.by_level):
        for group in breakdown:
            if group.suppressed:
                assert group.citizens is None and group.meals is None and group.staff_minutes_freed is None
            else:
                assert group.citizens >= MIN_GROUP_SIZE
    if len(stats) < MIN_GROUP_SIZE:
        assert dashboard.total.suppressed
    else:
        assert dashboard.total.citizens == len(stats)
        smallest = smallest_derivable_difference(stats, dashboard)
        assert smallest is None or smallest >= MIN_GROUP_SIZE
