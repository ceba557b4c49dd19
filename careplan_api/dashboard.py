"""The municipality dashboard: aggregates over groups of citizens, never one person.

A group with fewer than `min_group_size` citizens (5 by default) is suppressed: its figures are
not shown. When exactly one group of a breakdown is suppressed, the next smallest is suppressed too
(complementary suppression), because otherwise the hidden one is the total minus the shown ones.
The total itself is suppressed when the whole population is smaller than the limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from careplan_api.errors import InvalidInput

MIN_GROUP_SIZE = 5


@dataclass(frozen=True, slots=True)
class CitizenStats:
    """One citizen's meals in the period (input only; never shown on its own)."""

    unit: str
    assessed_level: int | None
    meals: int
    bites_taken: int
    duration_s: float
    safety_stops: int


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """Figures of one group; all None (and `suppressed`) when the group is too small to show."""

    label: str
    suppressed: bool
    citizens: int | None
    meals: int | None
    meals_per_citizen: float | None
    bites_per_meal: float | None
    minutes_per_meal: float | None
    safety_stops_per_100_meals: float | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Breakdowns by unit and by assessed FSIII level, and the total."""

    min_group_size: int
    total: GroupFigures
    by_unit: tuple[GroupFigures, ...]
    by_level: tuple[GroupFigures, ...]


def _figures(label: str, members: Sequence[CitizenStats]) -> GroupFigures:
    citizens = len(members)
    meals = sum(m.meals for m in members)
    return GroupFigures(
        label=label,
        suppressed=False,
        citizens=citizens,
        meals=meals,
        meals_per_citizen=meals / citizens if citizens else None,
        bites_per_meal=sum(m.bites_taken for m in members) / meals if meals else None,
        minutes_per_meal=sum(m.duration_s for m in members) / 60.0 / meals if meals else None,
        safety_stops_per_100_meals=100.0 * sum(m.safety_stops for m in members) / meals if meals else None,
    )


def _suppressed(label: str) -> GroupFigures:
    return GroupFigures(label, True, None, None, None, None, None, None)


def _breakdown(
    stats: Sequence[CitizenStats], key: Callable[[CitizenStats], str], min_group_size: int
) -> tuple[GroupFigures, ...]:
    groups: dict[str, list[CitizenStats]] = defaultdict(list)
    for citizen in stats:
        groups[key(citizen)].append(citizen)
    small = {label for label, members in groups.items() if len(members) < min_group_size}
    if len(small) == 1 and len(groups) > 1:
        # complementary suppression: hide the smallest shown group as well
        smallest = min((g for g in groups if g not in small), key=lambda g: (len(groups[g]), g))
        small.add(smallest)
    return tuple(_suppressed(label) if label in small else _figures(label, groups[label]) for label in sorted(groups))


def build_dashboard(
    stats: Sequence[CitizenStats], *, min_group_size: int = MIN_GROUP_SIZE, no_level_label: str = "-"
) -> Dashboard:
    """Aggregate per-citizen stats into the dashboard, suppressing small groups."""
    if min_group_size < 2:
        raise InvalidInput(f"min_group_size must be at least 2, not {min_group_size}")
    if len(stats) < min_group_size:
        return Dashboard(min_group_size, _suppressed("total"), (), ())
    return Dashboard(
        min_group_size=min_group_size,
        total=_figures("total", stats),
        by_unit=_breakdown(stats, lambda s: s.unit, min_group_size),
        by_level=_breakdown(
            stats, lambda s: str(s.assessed_level) if s.assessed_level is not None else no_level_label, min_group_size
        ),
    )


__all__ = ["MIN_GROUP_SIZE", "CitizenStats", "Dashboard", "GroupFigures", "build_dashboard"]
