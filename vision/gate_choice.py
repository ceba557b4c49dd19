"""Choose the confidence and age limits that gate the approach, on a tuning split; judge them on held-out data.

The controller lets an observation steer the spoon only when vision calls it usable and its
`confidence` is at least `min_mouth_confidence`, and holds when the newest such observation is
older than `stale_after_s` (`controller.safety.confident_mouth`, `check_vision`). This module
finds both from tracked video:

- `collect_samples`: the tracker runs over each clip placed in a 640x480 frame, 10 clean frames,
  then 50 frames under one `Stress` (spoon, hand, blur, light, noise, the head moving under a
  still spoon, a jump, a second face),
  then 15 clean frames; every frame gives a `GateSample` (what was reported, how far from the
  true mouth).
- A *wrong mouth* is a reported centre more than `WRONG_MOUTH_WIDTHS` (0.5) mouth widths from the
  truth, as `vision.video_evaluation` counts it: the mouth is somewhere else (where it was before
  a jump, another person's). Trusted reports 0.25-0.5 widths off are counted as imprecise.
- `confidence_bounds` and `choose_min_confidence` (the rule for confidence): the threshold must be
  at least the lowest threshold of `CONFIDENCE_GRID` from which on no wrong mouth passes the gate
  on the tuning samples, raised by `CONFIDENCE_MARGIN` (so that a wrong mouth up to that much more
  confident than any seen in tuning is still refused), and at most the highest threshold that
  still trusts every clean tuning frame; the configured value is kept when it lies between the
  two, else the nearer bound is taken.
- `age_bounds` and `choose_stale_after_s` (the rule for age, alike): the limit must be longer than
  a healthy stream needs between two trusted observations (longest gap on clean frames, plus the
  camera-to-observation latency and one frame of margin), and no longer than the mouth takes to
  move `WRONG_MOUTH_WIDTHS` in the labelled clips.
- `judge`: what a choice does on a split: wrong mouths let through, share of clean and of
  stressed frames trusted, per stress.

The gate itself is passed in (`Gate`), so the rule judged is the controller's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.errors import VisionError
from vision.observation import MouthObservation
from vision.stresses import Stress, apply_stress
from vision.tracker import MouthTracker
from vision.video_evaluation import (
    FOUND_WITHIN_WIDTHS,
    FrameLabel,
    PlacedMouth,
    Placement,
    Stage,
    jump_target,
    load_clip_labels,
    read_clip,
)

WRONG_MOUTH_WIDTHS = FOUND_WITHIN_WIDTHS  # 0.5: the mouth is elsewhere (an old place, another face)
IMPRECISE_WIDTHS = 0.25  # the spoon's centre off the mouth opening: counted and shown, not a wrong mouth
CONFIDENCE_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 ... 0.95
CONFIDENCE_MARGIN = 0.1
FRAME_PERIOD_S = 1.0 / 25.0  # the shared clips' frame rate
STRESS_FROM, STRESS_UNTIL, SEQUENCE_FRAMES = 10, 60, 75
PLACEMENTS = (Placement((0.5, 0.6), 0.4), Placement((0.38, 0.5), 0.25, 15.0))
FRAME_SIZE = (640, 480)

Gate = Callable[[bool, float, float], bool]
"""(usable, confidence, threshold) -> may the observation steer the spoon (`controller.safety.confident_mouth`)."""


class GateChoiceError(VisionError):
    """No limit satisfies the rule on the tuning data, or the data cannot support a choice."""


@dataclass(frozen=True, slots=True)
class GateSample:
    """One frame of a stressed sequence: what the tracker reported and how far from the true mouth.

    `error_widths` is None when nothing was reported; `stressed` is False on the clean frames
    before and after the stress (and on every frame of a `Stress.NONE` sequence)."""

    split: str
    clip: str
    stress: Stress
    frame: int
    stressed: bool
    usable: bool
    confidence: float
    error_widths: float | None

    @property
    def wrong(self) -> bool:
        return self.error_widths is not None and self.error_widths > WRONG_MOUTH_WIDTHS


def _as_dict(record: object) -> dict[str, object]:
    """A result dataclass as plain JSON-ready values (nested results too)."""
    values = {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]
    return {name: value.as_dict() if hasattr(value, "as_dict") else value for name, value in values.items()}


# -- running the tracker through stresses --------------------------------------------------------


def stress_sequence(
    tracker: MouthTracker,
    user: tuple[Sequence[np.ndarray], Sequence[FrameLabel]],
    other: tuple[Sequence[np.ndarray], Sequence[FrameLabel]],
    stress: Stress,
    placement: Placement,
    seed: int,
) -> list[GateSample]:
    """The user's clip at `placement` for `SEQUENCE_FRAMES` frames, `stress` on frames
    `STRESS_FROM`..`STRESS_UNTIL` - 1; `other` is the second face (`Stress.SECOND_FACE`)."""
    frames, labels = user
    if len(frames) < SEQUENCE_FRAMES or len(other[0]) < SEQUENCE_FRAMES:
        raise GateChoiceError(f"clip {labels[0].clip}: a sequence needs {SEQUENCE_FRAMES} frames")
    tracker.reset()
    stage, rng = Stage(FRAME_SIZE, seed=seed), np.random.default_rng(seed)
    away = 0.0 if placement.mouth_at[0] < 0.5 else 180.0  # toward the middle of the frame
    jumped = jump_target(placement, 0.6, away, FRAME_SIZE)
    drifted = jump_target(placement, 0.6, away + 30.0, FRAME_SIZE)
    beside = jump_target(placement, 1.0, 180.0 - away, FRAME_SIZE)
    beside = Placement(beside.mouth_at, beside.face_height, 0.0, head_only=True)
    spoon_at: PlacedMouth | None = None
    samples = []
    for i in range(SEQUENCE_FRAMES):
        stressed = stress is not Stress.NONE and STRESS_FROM <= i < STRESS_UNTIL
        where = placement
        if stressed and stress is Stress.JUMP:
            where = jumped
        elif stressed and stress is Stress.SPOON_HEAD_MOVES:
            where = _between(placement, drifted, i)
        faces = [(frames[i], labels[i], where)]
        if stressed and stress is Stress.SECOND_FACE:
            faces.append((other[0][i], other[1][i], beside))
        frame, mouths = stage.frame(faces)
        if stressed and stress.drawn:
            spoon_at = spoon_at or mouths[0]  # a spoon held still where the mouth was
            frame = apply_stress(frame, spoon_at if stress is Stress.SPOON_HEAD_MOVES else mouths[0], stress, rng)
        observation = tracker.update(frame, i * FRAME_PERIOD_S)
        samples.append(_sample(labels[i], stress, i, stressed, observation, mouths[0]))
    return samples


def _between(start: Placement, end: Placement, i: int) -> Placement:
    """Out from `start` to `end` over the first half of the stressed frames, and back over the second."""
    half = (STRESS_UNTIL - STRESS_FROM) / 2.0
    f = 1.0 - abs(i - STRESS_FROM - half) / half
    x = start.mouth_at[0] + f * (end.mouth_at[0] - start.mouth_at[0])
    y = start.mouth_at[1] + f * (end.mouth_at[1] - start.mouth_at[1])
    return Placement((x, y), start.face_height, start.roll_deg)


def _sample(
    label: FrameLabel, stress: Stress, i: int, stressed: bool, observation: MouthObservation | None, mouth: PlacedMouth
) -> GateSample:
    if observation is None:
        return GateSample(label.split, label.clip, stress, i, stressed, False, 0.0, None)
    error = math.dist(observation.center_px, mouth.center_px) / mouth.width_px
    return GateSample(
        label.split, label.clip, stress, i, stressed, observation.usable, float(observation.confidence), error
    )


def collect_samples(
    folder: Path,
    make_tracker: Callable[[], MouthTracker],
    clips: Sequence[str] | None = None,
    stresses: Sequence[Stress] = tuple(Stress),
) -> list[GateSample]:
    """Every stress on every clip of `folder` (the format of ../shared/data/video); the second face
    is the next clip of the same split, so held-out faces stay held out. The placement alternates
    between `PLACEMENTS` by clip and stress; seeds are fixed, so a run repeats exactly."""
    labels = load_clip_labels(folder)
    names = sorted(labels) if clips is None else list(clips)
    unknown = [name for name in names if name not in labels]
    if unknown:
        raise GateChoiceError(f"no labels for clip(s) {unknown} in {folder}")
    decoded: dict[str, list[np.ndarray]] = {}

    def clip(name: str) -> tuple[list[np.ndarray], list[FrameLabel]]:
        if name not in decoded:
            decoded[name] = read_clip(folder, name, len(labels[name]))
        return decoded[name], labels[name]

    tracker = make_tracker()
    samples: list[GateSample] = []
    for c, name in enumerate(names):
        split = labels[name][0].split
        same_split = sorted(n for n in labels if labels[n][0].split == split)
        other = same_split[(same_split.index(name) + 1) % len(same_split)]
        for s, stress in enumerate(stresses):
            placement = PLACEMENTS[(c + s) % len(PLACEMENTS)]
            samples += stress_sequence(tracker, clip(name), clip(other), stress, placement, seed=100 * c + s)
    return samples


# -- the confidence threshold --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateJudgement:
    """One confidence threshold on one split's samples."""

    split: str
    threshold: float
    frames: int
    wrong_reported: int  # frames with a wrong mouth reported, trusted or not
    wrong_trusted: int  # ... of which the gate let through: must be 0
    imprecise_trusted: int  # trusted frames more than `IMPRECISE_WIDTHS` off (wrong ones included)
    highest_wrong_confidence: float  # of a usable wrong report (0 when there is none)
    clean_frames: int
    clean_trusted: int
    stressed_frames: int
    stressed_trusted: int
    trusted_error_p95: float  # centre error (mouth widths) of trusted frames, 95th percentile
    by_stress: dict[str, tuple[int, int, int]]  # stress -> (stressed frames, trusted, wrong trusted)

    def as_dict(self) -> dict[str, object]:
        return _as_dict(self)


def judge(samples: Iterable[GateSample], gate: Gate, threshold: float, split: str) -> GateJudgement:
    """What the gate at `threshold` lets through on the samples of `split`."""
    rows = [s for s in samples if s.split == split]
    if not rows:
        raise GateChoiceError(f"no samples of split {split!r}")
    trusted = [gate(s.usable, s.confidence, threshold) for s in rows]
    clean = [t for s, t in zip(rows, trusted, strict=True) if not s.stressed]
    stressed = [t for s, t in zip(rows, trusted, strict=True) if s.stressed]
    errors = [s.error_widths for s, t in zip(rows, trusted, strict=True) if t and s.error_widths is not None]
    wrong_usable = [s.confidence for s in rows if s.wrong and s.usable]
    by_stress: dict[str, tuple[int, int, int]] = {}
    for s, t in zip(rows, trusted, strict=True):
        if s.stressed:
            n, ok, bad = by_stress.get(s.stress.value, (0, 0, 0))
            by_stress[s.stress.value] = (n + 1, ok + t, bad + (t and s.wrong))
    return GateJudgement(
        split,
        threshold,
        len(rows),
        sum(s.wrong for s in rows),
        sum(1 for s, t in zip(rows, trusted, strict=True) if t and s.wrong),
        sum(1 for e in errors if e > IMPRECISE_WIDTHS),
        max(wrong_usable, default=0.0),
        len(clean),
        sum(clean),
        len(stressed),
        sum(stressed),
        float(np.percentile(errors, 95)) if errors else math.nan,
        by_stress,
    )


@dataclass(frozen=True, slots=True)
class ConfidenceBounds:
    """`lowest_safe`: the lowest threshold of the grid from which on no wrong mouth is trusted;
    `lower`: that plus the margin; `upper`: the highest threshold that still trusts every clean frame with a right mouth
    (above it the arm would hold on a face in plain view); `highest_wrong`: the confidence of the
    most confident wrong mouth the gate could have trusted (0 when there is none)."""

    split: str
    lowest_safe: float
    lower: float
    upper: float
    highest_wrong: float

    def as_dict(self) -> dict[str, object]:
        return _as_dict(self)


def confidence_bounds(
    samples: Iterable[GateSample],
    gate: Gate,
    split: str,
    grid: Sequence[float] = CONFIDENCE_GRID,
    margin: float = CONFIDENCE_MARGIN,
) -> ConfidenceBounds:
    """The thresholds of `grid` that `split` supports; `GateChoiceError` says why there are none
    (even the highest threshold trusts a wrong mouth, the margin passes 1, or no threshold both
    refuses every wrong mouth and trusts every clean frame)."""
    rows = [s for s in samples if s.split == split]
    if not rows:
        raise GateChoiceError(f"no samples of split {split!r} to choose on")
    clean = [s for s in rows if not s.stressed and s.error_widths is not None and not s.wrong]
    if not clean:
        raise GateChoiceError(f"split {split!r} has no clean frame with the mouth found: nothing to choose on")
    wrong = [s for s in rows if s.wrong]
    lowest = None
    for threshold in sorted(grid, reverse=True):
        if any(gate(s.usable, s.confidence, threshold) for s in wrong):
            break
        lowest = threshold
    if lowest is None:
        raise GateChoiceError(
            f"even a confidence threshold of {max(grid)} trusts a wrong mouth on {split!r}: "
            "the tracker, not the threshold, must change"
        )
    lower = round(lowest + margin, 2)
    if lower > 1.0:
        raise GateChoiceError(f"{lowest} + margin {margin} is above 1: no observation could pass")
    upper = max((t for t in grid if all(gate(s.usable, s.confidence, t) for s in clean)), default=None)
    if upper is None or upper < lower:
        raise GateChoiceError(
            f"on {split!r} no threshold both refuses every wrong mouth (from {lower}) and trusts every clean "
            f"frame (up to {upper}): the tracker's confidence must change"
        )
    highest_wrong = max((s.confidence for s in wrong if gate(s.usable, s.confidence, 0.0)), default=0.0)
    return ConfidenceBounds(split, lowest, lower, upper, highest_wrong)


def choose_min_confidence(bounds: ConfidenceBounds, configured: float) -> float:
    """The configured threshold when it lies within `bounds`, else the nearer bound."""
    return min(max(configured, bounds.lower), bounds.upper)


# -- the age limit -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgeBounds:
    """`lower_s`: the longest a healthy stream leaves between trusted observations (plus latency and
    one frame); `upper_s`: the shortest time in which a labelled mouth moved `WRONG_MOUTH_WIDTHS`
    (None: never within `horizon_s`); `longest_clean_gap_frames` behind `lower_s`."""

    split: str
    lower_s: float
    upper_s: float | None
    longest_clean_gap_frames: int
    motion_at_s: dict[float, float]  # age -> largest mouth move in that time (mouth widths)

    def as_dict(self) -> dict[str, object]:
        return _as_dict(self)


def age_bounds(
    samples: Iterable[GateSample],
    labels: dict[str, list[FrameLabel]],
    gate: Gate,
    threshold: float,
    split: str,
    latency_s: float,
    horizon_s: float = 1.0,
    ages_s: Sequence[float] = (0.1, 0.2, 0.3, 0.5),
) -> AgeBounds:
    """Bounds of the age limit on `split`: the gaps of `Stress.NONE` sequences after their first
    trusted frame, and the motion of the labelled mouths (real head motion, in mouth widths)."""
    gap = 0
    sequences: dict[str, list[GateSample]] = {}
    for s in samples:
        if s.split == split and s.stress is Stress.NONE:
            sequences.setdefault(s.clip, []).append(s)
    if not sequences:
        raise GateChoiceError(f"no clean ({Stress.NONE.value}) sequences of split {split!r}")
    for rows in sequences.values():
        trusted = [gate(s.usable, s.confidence, threshold) for s in sorted(rows, key=lambda s: s.frame)]
        if True not in trusted:
            raise GateChoiceError(f"clip {rows[0].clip}: no clean frame trusted at confidence {threshold}")
        run = 0
        for ok in trusted[trusted.index(True) :]:
            run = 0 if ok else run + 1
            gap = max(gap, run)
    clips = [rows for rows in labels.values() if rows and rows[0].split == split]
    lags = range(1, round(horizon_s / FRAME_PERIOD_S) + 1)
    motion = {lag: max((_largest_move(rows, lag) for rows in clips), default=0.0) for lag in lags}
    upper = next((lag * FRAME_PERIOD_S for lag in lags if motion[lag] > WRONG_MOUTH_WIDTHS), None)
    return AgeBounds(
        split,
        round((gap + 2) * FRAME_PERIOD_S + latency_s, 3),
        upper,
        gap,
        {age: motion[round(age / FRAME_PERIOD_S)] for age in ages_s if round(age / FRAME_PERIOD_S) in motion},
    )


def _largest_move(rows: Sequence[FrameLabel], lag: int) -> float:
    return max(
        (math.dist(a.center_px, b.center_px) / b.width_px for a, b in zip(rows, rows[lag:], strict=False)),
        default=0.0,
    )


def choose_stale_after_s(bounds: AgeBounds, configured_s: float) -> float:
    """The configured age limit when it lies within `bounds`, else the nearer bound."""
    if bounds.upper_s is not None and bounds.upper_s < bounds.lower_s:
        raise GateChoiceError(
            f"on {bounds.split!r} the mouth moves a wrong-mouth distance in {bounds.upper_s} s, sooner than a "
            f"healthy stream delivers ({bounds.lower_s} s): no age limit is both safe and workable"
        )
    if configured_s < bounds.lower_s:
        return bounds.lower_s
    if bounds.upper_s is not None and configured_s > bounds.upper_s:
        return bounds.upper_s
    return configured_s


# -- the whole choice ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateChoice:
    """Both limits chosen on `tuning` and what the chosen and the configured threshold do on `held_out`."""

    min_confidence: float
    stale_after_s: float
    tuning: GateJudgement
    held_out: GateJudgement
    held_out_configured: GateJudgement
    tuning_confidence: ConfidenceBounds
    tuning_ages: AgeBounds
    held_out_ages: AgeBounds

    def as_dict(self) -> dict[str, object]:
        return _as_dict(self)


def choose_gate(
    samples: Sequence[GateSample],
    labels: dict[str, list[FrameLabel]],
    gate: Gate,
    configured_min_confidence: float,
    configured_stale_after_s: float,
    latency_s: float,
    tuning: str = "dev",
    held_out: str = "holdout",
) -> GateChoice:
    """`choose_min_confidence` and `choose_stale_after_s` on `tuning`; `judge` on both splits."""
    bounds = confidence_bounds(samples, gate, tuning)
    threshold = choose_min_confidence(bounds, configured_min_confidence)
    tuning_ages = age_bounds(samples, labels, gate, threshold, tuning, latency_s)
    return GateChoice(
        threshold,
        choose_stale_after_s(tuning_ages, configured_stale_after_s),
        judge(samples, gate, threshold, tuning),
        judge(samples, gate, threshold, held_out),
        judge(samples, gate, configured_min_confidence, held_out),
        bounds,
        tuning_ages,
        age_bounds(samples, labels, gate, threshold, held_out, latency_s),
    )
