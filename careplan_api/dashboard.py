"""The municipality dashboard: aggregates over groups of citizens, never one person, and no group of
fewer than five that can be worked out by differencing.

The figures of one period are broken down two ways (by unit, by FSIII level) plus the total. What a
reader can compute from them is any union of the shown groups of a breakdown, the total, and the
total minus such a union. `build_dashboard` hides groups until no two such sets, one inside the
other, differ by fewer than `min_group_size` citizens (and none is smaller than it):

1. a group of fewer than `min_group_size` citizens is hidden (primary suppression);
2. the hidden groups of a breakdown together form one block (the total minus the shown ones); while
   that block is smaller than the limit, or is a single group, the smallest shown group joins it;
3. across the two breakdowns: while a union of shown groups of one breakdown lies inside a union of
   the other (the server knows who is in which group) and the two differ by 1 to 4 citizens, the
   smallest shown group involved is hidden too, and 2. applies again.

Periods are closed calendar months whose figures are computed once and stored
(`dashboard_releases`), so no later query (another period, a re-assessment, a late meal) can be
differenced against them either. The guarantee and its limits are in docs/reports.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import cast

from careplan_api.errors import InvalidInput

MIN_GROUP_SIZE = 5
Atom = tuple[int, tuple[str, ...]]  # citizens as a bit set, and the shown groups it is made of
MAX_UNION_ATOMS = 12  # the smaller breakdown's 2^12 unions are checked; beyond, its smallest groups are merged


@dataclass(frozen=True, slots=True)
class CitizenStats:
    """One citizen's meals in the period (input only; never shown on its own)."""

    citizen: Hashable
    unit: str
    assessed_level: int | None
    meals: int
    bites_taken: int
    duration_s: float
    safety_stops: int
    staff_minutes_freed: float = 0.0
    bites_offered: int = 0
    citizen_started_bites: int = 0


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """Figures of one group; all None (and `suppressed`) when the group may not be shown."""

    label: str
    suppressed: bool
    citizens: int | None
    meals: int | None
    meals_per_citizen: float | None
    bites_per_meal: float | None
    minutes_per_meal: float | None
    safety_stops_per_100_meals: float | None
    staff_minutes_freed: float | None
    self_started_share: float | None


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
    offered = sum(m.bites_offered for m in members)
    return GroupFigures(
        label=label,
        suppressed=False,
        citizens=citizens,
        meals=meals,
        meals_per_citizen=meals / citizens if citizens else None,
        bites_per_meal=sum(m.bites_taken for m in members) / meals if meals else None,
        minutes_per_meal=sum(m.duration_s for m in members) / 60.0 / meals if meals else None,
        safety_stops_per_100_meals=100.0 * sum(m.safety_stops for m in members) / meals if meals else None,
        staff_minutes_freed=sum(m.staff_minutes_freed for m in members),
        self_started_share=sum(m.citizen_started_bites for m in members) / offered if offered else None,
    )


def _suppressed(label: str) -> GroupFigures:
    return GroupFigures(label, True, None, None, None, None, None, None, None, None)


class _Breakdown:
    """One breakdown's groups as bit sets of citizens, and which of them are hidden."""

    def __init__(self, groups: dict[str, int], min_size: int) -> None:
        self.groups = groups
        self.min_size = min_size
        self.hidden = {label for label, members in groups.items() if members.bit_count() < min_size}
        self.close_block()

    def shown(self) -> list[str]:
        return sorted((g for g in self.groups if g not in self.hidden), key=lambda g: (self.groups[g].bit_count(), g))

    def hide(self, label: str) -> None:
        self.hidden.add(label)
        self.close_block()

    def close_block(self) -> None:
        """Step 2: the hidden block is empty, or at least two groups and at least `min_size` citizens."""
        while self.hidden and len(self.hidden) < len(self.groups):
            block = self.block()
            if len(self.hidden) >= 2 and block.bit_count() >= self.min_size:
                return
            self.hidden.add(self.shown()[0])

    def block(self) -> int:
        members = 0
        for label in self.hidden:
            members |= self.groups[label]
        return members

    def atoms(self) -> list[Atom]:
        """What a reader can add up: each shown group, and the hidden block as one piece."""
        atoms: list[Atom] = [(self.groups[g], (g,)) for g in self.shown()]
        if self.hidden:
            atoms.append((self.block(), ()))
        return atoms


def _unions(atoms: list[Atom]) -> list[Atom]:
    """Every union of the atoms (with the shown groups in it), the empty set left out."""
    out = []
    for size in range(1, len(atoms) + 1):
        for chosen in combinations(atoms, size):
            out.append(_union(chosen))
    return out


def _union(atoms: Sequence[Atom]) -> Atom:
    members, labels = 0, cast(tuple[str, ...], ())
    for atom_members, atom_labels in atoms:
        members |= atom_members
        labels += atom_labels
    return members, labels


def differencing_leak(first: _Breakdown, second: _Breakdown, min_size: int) -> tuple[str, ...] | None:
    """Shown groups of a pair of derivable sets, one inside the other, that differ by 1 to
    `min_size - 1` citizens (None when there is no such pair).

    For each union S of the breakdown with fewer atoms, only the largest union of the other inside S
    and the smallest union of the other around S need checking: any other union inside (around) it
    differs by whole atoms more, and every atom holds at least `min_size` citizens."""
    few, many = sorted((first, second), key=lambda b: len(b.atoms()))
    many_atoms = many.atoms()
    for members, labels in _unions(few.atoms()):
        inside = _union([atom for atom in many_atoms if atom[0] & ~members == 0])
        around = _union([atom for atom in many_atoms if atom[0] & members])
        for smaller, larger, other_labels in ((inside[0], members, inside[1]), (members, around[0], around[1])):
            if smaller and 0 < (larger & ~smaller).bit_count() < min_size:
                return labels + other_labels
    return None


def _protect(first: _Breakdown, second: _Breakdown, min_size: int) -> None:
    """Step 3: hide groups until no cross-breakdown differencing reveals a small group."""
    while True:
        few = min((first, second), key=lambda b: len(b.atoms()))
        while len(few.atoms()) > MAX_UNION_ATOMS:  # too many unions to check: merge the smallest away
            few.hide(few.shown()[0])
        leak = differencing_leak(first, second, min_size)
        if leak is None:
            return
        candidates = [
            (b.groups[g].bit_count(), g, b)
            for b in (first, second)
            for g in leak
            if g in b.groups and g not in b.hidden
        ]
        if not candidates:  # only the hidden blocks are involved: merge a shown group into one
            candidates = [(b.groups[g].bit_count(), g, b) for b in (first, second) for g in b.shown()]
        _size, label, breakdown = min(candidates, key=lambda item: (item[0], item[1]))
        breakdown.hide(label)


def _bitsets(stats: Sequence[CitizenStats], key: Callable[[CitizenStats], str]) -> dict[str, int]:
    groups: dict[str, int] = defaultdict(int)
    for index, citizen in enumerate(stats):
        groups[key(citizen)] |= 1 << index
    return dict(groups)


def build_dashboard(
    stats: Sequence[CitizenStats], *, min_group_size: int = MIN_GROUP_SIZE, no_level_label: str = "-"
) -> Dashboard:
    """Aggregate per-citizen stats into the dashboard, hiding groups as the module docstring says."""
    if min_group_size < 2:
        raise InvalidInput(f"min_group_size must be at least 2, not {min_group_size}")
    if len({s.citizen for s in stats}) != len(stats):
        raise InvalidInput("each citizen appears once in the dashboard's input")
    if len(stats) < min_group_size:
        return Dashboard(min_group_size, _suppressed("total"), (), ())
    units = _Breakdown(_bitsets(stats, lambda s: s.unit), min_group_size)
    levels = _Breakdown(
        _bitsets(stats, lambda s: str(s.assessed_level) if s.assessed_level is not None else no_level_label),
        min_group_size,
    )
    _protect(units, levels, min_group_size)

    def figures(breakdown: _Breakdown) -> tuple[GroupFigures, ...]:
        return tuple(
            _suppressed(label)
            if label in breakdown.hidden
            else _figures(label, [s for i, s in enumerate(stats) if breakdown.groups[label] >> i & 1])
            for label in sorted(breakdown.groups)
        )

    return Dashboard(min_group_size, _figures("total", stats), figures(units), figures(levels))


__all__ = ["MIN_GROUP_SIZE", "CitizenStats", "Dashboard", "GroupFigures", "build_dashboard", "differencing_leak"]
