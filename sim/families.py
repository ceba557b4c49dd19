"""Scenario families: scenarios whose values are distributions, sampled by seed (Scenic's idea:
a scenario as a probabilistic program; here as data).

A family file is TOML with one `[[family]]` table per family (format: docs/scenarios.md), and
optionally a `[common]` table of scenario values under every family's own. Each family has a
`scenario` table written like a scenario of a scenario file, except that any value
may be a distribution, a table with exactly one of these keys:

    { uniform = [low, high] }                 a float drawn uniformly from [low, high]
    { normal = [mean, sd] }                   a float drawn from N(mean, sd) ...
    { normal = [mean, sd], clip = [lo, hi] }  ... clipped to [lo, hi]
    { choice = [a, b, ...] }                  one of the values (which may be distributions too)

`sample(family, seed)` draws every distribution with a generator seeded by the family's name and
the seed, and validates the result as a `sim.scenario.Scenario` named `<family>_s<seed>` with that
seed (the arm's flaws get it too; a family without flaws gets the default preset's, written into the
scenario), so the same (family, seed) always gives the same scenario, and the scenario alone (saved to
a file) reruns the same meal. Seeds are split: `TUNING_SEEDS` for choosing parameters and
`HELD_OUT_SEEDS` for judging them; the two ranges never meet.
"""

from __future__ import annotations

import tomllib
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.scenario import Scenario, ScenarioError

BUILTIN_FAMILIES = Path(__file__).resolve().parent / "assets" / "families.toml"
TUNING_SEEDS = range(0, 1_000_000)
HELD_OUT_SEEDS = range(1_000_000, 2**31)
DISTRIBUTIONS = ("uniform", "normal", "choice")


class Family(BaseModel):
    """One family: a name, a weight (its share of a campaign's runs) and a scenario template.

    `beyond_physics` marks a class of events that no arm can make safe (say, a head moving into a
    spoon faster than any arm retreats); `argument` then gives the physical reasoning and the
    design's answer. Such a family is reported on its own line, never counted as passing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=48)
    description: str = ""
    weight: float = Field(default=1.0, gt=0.0, le=1000.0)
    beyond_physics: bool = False
    argument: str = ""
    scenario: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _argued(self) -> Family:
        if self.beyond_physics and not self.argument.strip():
            raise ValueError("a beyond_physics family needs its physical argument (argument = ...)")
        if "name" in self.scenario or "seed" in self.scenario:
            raise ValueError("scenario.name and scenario.seed are set per run by the campaign")
        return self


class FamilyFile(BaseModel):
    """A family file: `common` scenario values (distributions too) under every family's own, and
    the families."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    common: dict[str, Any] = Field(default_factory=dict)
    family: tuple[Family, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> FamilyFile:
        names = [f.name for f in self.family]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"family names must be distinct; repeated: {', '.join(repeated)}")
        return self


def _draw(value: Any, rng: np.random.Generator, where: str) -> Any:
    """`value` with every distribution in it replaced by a draw."""
    if isinstance(value, list):
        return [_draw(v, rng, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    kinds = [k for k in DISTRIBUTIONS if k in value]
    if not kinds:
        return {k: _draw(v, rng, f"{where}.{k}" if where else k) for k, v in value.items()}
    extra = set(value) - {kinds[0], "clip"}
    if len(kinds) > 1 or extra or ("clip" in value and kinds[0] != "normal"):
        raise ScenarioError(f"{where}: a distribution is one of {', '.join(DISTRIBUTIONS)} (normal may add clip)")
    kind, args = kinds[0], value[kinds[0]]
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ScenarioError(f"{where}: choice needs a non-empty list of values")
        return _draw(args[int(rng.integers(len(args)))], rng, where)
    if not (isinstance(args, list) and len(args) == 2 and all(isinstance(a, int | float) for a in args)):
        raise ScenarioError(f"{where}: {kind} needs two numbers, got {args!r}")
    a, b = float(args[0]), float(args[1])
    if kind == "uniform":
        if b < a:
            raise ScenarioError(f"{where}: uniform needs low <= high, got {args!r}")
        return float(rng.uniform(a, b))
    if b < 0:
        raise ScenarioError(f"{where}: normal needs sd >= 0, got {args!r}")
    drawn = float(rng.normal(a, b))
    if "clip" in value:
        clip = value["clip"]
        if not (isinstance(clip, list) and len(clip) == 2 and clip[0] <= clip[1]):
            raise ScenarioError(f"{where}: clip needs [low, high], got {clip!r}")
        drawn = min(max(drawn, float(clip[0])), float(clip[1]))
    return drawn


def sample(family: Family, seed: int) -> Scenario:
    """The scenario of `family` for `seed` (raises `ScenarioError` naming a bad field)."""
    rng = np.random.default_rng([zlib.crc32(family.name.encode()), seed])
    raw = _draw(dict(family.scenario), rng, "")
    raw |= {"name": f"{family.name}_s{seed}", "seed": seed}
    # The arm's flaws written into the scenario (the default preset when the family gives none), so
    # that a saved run keeps them whatever the simulator's default later is, with the arm's own
    # randomness (lost replies, noise, stalls) from the run's seed too.
    flaws = raw.get("flaws", {})
    if isinstance(flaws, str):
        flaws = {"preset": flaws}
    if isinstance(flaws, dict):
        raw["flaws"] = {"seed": seed} | flaws
    raw.setdefault("description", family.description)
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ScenarioError(f"family {family.name}, seed {seed}: sampled an invalid scenario: {problems}") from exc


def _merged(common: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """`own` over `common`, table by table (a distribution or a list is replaced whole)."""
    merged = dict(common)
    for key, value in own.items():
        base = merged.get(key)
        is_table = isinstance(value, dict) and not any(k in value for k in DISTRIBUTIONS)
        if is_table and isinstance(base, dict) and not any(k in base for k in DISTRIBUTIONS):
            merged[key] = _merged(base, value)
        else:
            merged[key] = value
    return merged


def parse_families(text: str, source: str = "<text>") -> list[Family]:
    """Parse and validate family TOML, and sample each family once, so that a bad template is
    refused before any run starts (`ScenarioError` naming the field)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from exc
    try:
        parsed = FamilyFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ScenarioError(f"{source}: invalid family file: {problems}") from exc
    families = [
        f.model_copy(update={"scenario": _merged(parsed.common, f.scenario)}) if parsed.common else f
        for f in parsed.family
    ]
    for family in families:
        try:
            sample(family, TUNING_SEEDS.start)
        except ScenarioError as exc:
            raise ScenarioError(f"{source}: {exc}") from exc
    return families


def load_families(path: Path | str = BUILTIN_FAMILIES) -> list[Family]:
    """The families of a file (the built-in ones by default)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read family file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"family file {path} is not UTF-8 text: {exc}") from exc
    return parse_families(text, source=str(path))


def scenario_toml(scenario: Scenario) -> str:
    """`scenario` as a one-scenario file that `load_scenarios` reads back to an equal scenario."""
    data = scenario.model_dump(mode="json", exclude_defaults=True)
    data["name"] = scenario.name
    if scenario.flaws is not None:  # every field over the ideal arm: none may read back as the default preset's
        data["flaws"] = {"preset": "ideal", **scenario.flaws.model_dump(mode="json", exclude_none=True)}
    return tomli_w.dumps({"scenario": [data]})
