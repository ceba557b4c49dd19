"""Mouth gesture and auto-pace triggers, table-tested on synthetic open_ratio sequences at 30 fps:
speech-like bursts never trigger, deliberate holds do, and misfires are counted and journalled."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplan_api.schemas import UsageEventType
from controller.config import GestureSettings, TriggerKind
from controller.feeding import CommandKind
from controller.triggers import AutoPace, GesturePhase, MouthGesture
from vision.observation import MouthObservation

FPS = 30.0
OPEN, WIDE, BAND, SHUT = 0.3, 0.5, 0.12, 0.04  # open_ratio levels; BAND is between the thresholds
LOW_CONFIDENCE = "low-confidence"
SETTINGS = GestureSettings()  # open 0.15, close 0.10, dwell 1.0 s, misfire from 0.5 s, debounce 0.1 s


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[UsageEventType, dict]] = []

    def put(self, event_type: UsageEventType, data: dict) -> None:
        self.events.append((event_type, data))


def frames(segments, fps: float = FPS, t0: float = 10.0) -> list[MouthObservation | None]:
    """Observations for segments of (open_ratio | None | LOW_CONFIDENCE, seconds)."""
    result: list[MouthObservation | None] = []
    t = t0
    for level, seconds in segments:
        for _ in range(round(seconds * fps)):
            if level is None:
                result.append(None)
            else:
                confidence = 0.1 if level == LOW_CONFIDENCE else 0.95
                ratio = SHUT if level == LOW_CONFIDENCE else level
                result.append(MouthObservation((320.0, 240.0), 60.0, ratio, ratio > 0.091, confidence, t))
            t += 1.0 / fps
    return result


def run(gesture: MouthGesture, observations, polls_per_frame: int = 1) -> list:
    commands = []
    t = 10.0
    for observation in observations:
        for k in range(polls_per_frame):
            now = (observation.t if observation is not None else t) + k / (FPS * polls_per_frame)
            commands += gesture.poll(now, observation)
        t += 1.0 / FPS
    return commands


def speech(seconds: float, syllable_s: float = 0.2, gap_s: float = 0.12, level: float = OPEN):
    segments = []
    for n in range(int(seconds / (syllable_s + gap_s))):
        segments += [(level, syllable_s + 0.05 * (n % 3)), (SHUT, gap_s)]
    return segments


CASES = [
    # name, segments, triggers, misfires, reasons
    ("deliberate hold", [(SHUT, 0.5), (WIDE, 1.3), (SHUT, 0.5)], 1, 0, []),
    ("hold just past dwell", [(SHUT, 0.5), (OPEN, 1.05), (SHUT, 0.5)], 1, 0, []),
    ("hold just short of dwell", [(SHUT, 0.5), (OPEN, 0.9), (SHUT, 0.5)], 0, 1, ["released_before_dwell"]),
    ("speech, 10 s", [(SHUT, 0.3), *speech(10.0), (SHUT, 0.5)], 0, 0, []),
    ("fast speech, closures shorter than debounce", [(SHUT, 0.3), *speech(6.0, 0.15, 0.05), (SHUT, 0.5)], 0, 0, []),
    ("loud speech, wide syllables", [(SHUT, 0.3), *speech(6.0, 0.3, 0.1, WIDE), (SHUT, 0.5)], 0, 0, []),
    ("yawn-length opening released", [(SHUT, 0.3), (WIDE, 0.7), (SHUT, 0.5)], 0, 1, ["released_before_dwell"]),
    ("hold sagging into the band stays open", [(SHUT, 0.3), (OPEN, 0.3), (BAND, 0.9), (SHUT, 0.5)], 1, 0, []),
    ("hovering in the band never opens", [(SHUT, 0.3), (BAND, 3.0), (SHUT, 0.3)], 0, 0, []),
    (
        "one-frame close breaks the hold",
        [(SHUT, 0.3), (OPEN, 0.6), (SHUT, 1 / FPS), (OPEN, 0.6), (SHUT, 0.5)],
        0,
        1,
        ["released_before_dwell"],
    ),
    (
        "re-open right after a trigger",
        [(SHUT, 0.3), (OPEN, 1.2), (SHUT, 0.2), (OPEN, 1.5), (SHUT, 0.5)],
        1,
        1,
        ["reopen_after_trigger"],
    ),
    (
        "second hold after the refractory time",
        [(SHUT, 0.3), (OPEN, 1.2), (SHUT, 1.5), (OPEN, 1.2), (SHUT, 0.5)],
        2,
        0,
        [],
    ),
    ("short face loss is bridged", [(SHUT, 0.3), (OPEN, 0.5), (None, 0.07), (OPEN, 0.6), (SHUT, 0.5)], 1, 0, []),
    ("low confidence frames are bridged", [(SHUT, 0.3), (OPEN, 0.5), (LOW_CONFIDENCE, 0.07), (OPEN, 0.6)], 1, 0, []),
    (
        "long face loss resets without misfire",
        [(SHUT, 0.3), (OPEN, 0.7), (None, 0.5), (OPEN, 0.5), (SHUT, 0.5)],
        0,
        0,
        [],
    ),
    ("open at start must close first", [(WIDE, 2.0), (SHUT, 0.5)], 0, 0, []),
    ("open at start, then a real hold", [(WIDE, 2.0), (SHUT, 0.5), (WIDE, 1.2), (SHUT, 0.3)], 1, 0, []),
    ("nan ratios are gaps", [(SHUT, 0.3), (OPEN, 0.5), (math.nan, 0.05), (OPEN, 0.6), (SHUT, 0.3)], 1, 0, []),
]


@pytest.mark.parametrize("name, segments, triggers, misfires, reasons", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("polls_per_frame", [1, 7], ids=["per-frame", "200Hz-loop"])
def test_gesture_table(name, segments, triggers, misfires, reasons, polls_per_frame):
    sink = Sink()
    gesture = MouthGesture(SETTINGS, events=sink)
    commands = run(gesture, frames(segments), polls_per_frame)
    assert len(commands) == triggers
    assert all(c.kind is CommandKind.NEXT_BITE and c.source == TriggerKind.MOUTH_GESTURE.value for c in commands)
    assert gesture.misfires == misfires
    assert [data["reason"] for kind, data in sink.events] == reasons
    assert all(kind is UsageEventType.MISFIRE and data["kind"] == "mouth_gesture" for kind, data in sink.events)


def test_speech_openings_are_counted_but_not_misfires():
    gesture = MouthGesture(SETTINGS)
    run(gesture, frames([(SHUT, 0.3), *speech(5.0, 0.2, 0.2), (SHUT, 0.5)]))
    assert gesture.speech_openings >= 10
    assert (gesture.triggers, gesture.misfires) == (0, 0)


def test_misfire_reports_how_long_the_mouth_was_open():
    sink = Sink()
    run(MouthGesture(SETTINGS, events=sink), frames([(SHUT, 0.3), (OPEN, 0.8), (SHUT, 0.5)]))
    ((_, data),) = sink.events
    assert data["open_s"] == pytest.approx(0.8, abs=1.5 / FPS)


def test_a_frozen_camera_frame_never_completes_a_hold():
    gesture = MouthGesture(SETTINGS)
    run(gesture, frames([(SHUT, 0.5)]))
    (still,) = frames([(WIDE, 1 / FPS)], t0=11.0)
    commands = [c for k in range(600) for c in gesture.poll(11.0 + k * 0.005, still)]
    assert commands == []


def test_not_armed_means_eating_not_asking():
    armed = [False]
    gesture = MouthGesture(SETTINGS, armed=lambda: armed[0])
    assert run(gesture, frames([(SHUT, 0.3), (WIDE, 2.0)])) == []  # taking the bite, spoon at the mouth
    armed[0] = True  # spoon back at ready while the mouth is still open: no trigger until it closes
    assert run(gesture, frames([(WIDE, 1.5)], t0=12.4)) == []
    assert gesture.phase is GesturePhase.HELD
    commands = run(gesture, frames([(SHUT, 0.4), (WIDE, 1.2)], t0=14.0))
    assert len(commands) == 1 and gesture.misfires == 0


def test_a_longer_dwell_from_the_profile_is_respected():
    slow = GestureSettings(dwell_s=2.0, misfire_min_s=0.8)
    assert run(MouthGesture(slow), frames([(SHUT, 0.3), (OPEN, 1.5), (SHUT, 0.5)])) == []
    assert len(run(MouthGesture(slow), frames([(SHUT, 0.3), (OPEN, 2.2), (SHUT, 0.5)]))) == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.03, max_value=0.45),  # open syllable shorter than misfire_min_s
            st.floats(min_value=0.16, max_value=0.9),  # its open_ratio
            st.floats(min_value=0.04, max_value=0.5),  # the closure after it (at least one frame)
        ),
        min_size=1,
        max_size=40,
    )
)
def test_speech_like_bursts_never_trigger(bursts):
    segments = [(SHUT, 0.3)]
    for open_s, ratio, closed_s in bursts:
        segments += [(ratio, open_s), (SHUT, closed_s)]
    segments.append((SHUT, 0.3))
    gesture = MouthGesture(SETTINGS)
    commands = run(gesture, frames(segments))
    assert commands == []
    assert gesture.misfires == 0  # every unbroken run is shorter than misfire_min_s: speech


# ---- auto-pace ----------------------------------------------------------------------------------


def observation(t: float, is_open: bool = False, confidence: float = 0.9) -> MouthObservation:
    ratio = 0.5 if is_open else 0.05
    return MouthObservation((320.0, 240.0), 60.0, ratio, is_open, confidence, t)


def pace(trigger: AutoPace, seconds: float, t0: float, **kwargs) -> list[float]:
    """Run at 200 Hz with a fresh observation each tick; return the times of the commands."""
    times = []
    for k in range(round(seconds * 200)):
        t = t0 + k / 200
        for command in trigger.poll(t, observation(t, **kwargs)):
            assert (command.kind, command.source) == (CommandKind.NEXT_BITE, "auto_pace")
            times.append(t)
    return times


def test_auto_pace_offers_the_next_bite_after_n_seconds_of_a_free_mouth():
    times = pace(AutoPace(5.0), 12.0, t0=100.0)
    assert times == pytest.approx([105.0, 110.0], abs=0.01)


def test_auto_pace_waits_while_the_mouth_is_open_or_a_bite_is_in_progress():
    armed = [False]
    trigger = AutoPace(4.0, armed=lambda: armed[0])
    assert pace(trigger, 10.0, t0=0.0) == []  # bite in progress
    armed[0] = True
    assert pace(trigger, 3.0, t0=10.0) == []
    assert pace(trigger, 3.0, t0=13.0, is_open=True) == []  # chewing with the mouth open: count restarts
    assert pace(trigger, 4.5, t0=16.0) == pytest.approx([20.0], abs=0.01)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: None,
        lambda t: observation(t - 1.0),  # stale: vision stopped
        lambda t: observation(t, confidence=0.1),
    ],
    ids=["no-face", "stale", "low-confidence"],
)
def test_auto_pace_needs_to_see_the_mouth(make):
    trigger = AutoPace(2.0)
    assert [c for k in range(1000) for c in trigger.poll(k / 200, make(k / 200))] == []


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_auto_pace_rejects_a_nonsense_pace(bad):
    with pytest.raises(ValueError, match="pace_s"):
        AutoPace(bad)


def test_hold_seen_by_a_slow_late_camera_with_a_dropped_frame_still_triggers():
    """15 fps, 60 ms latency, one frame lost mid-hold, polled by a 200 Hz loop: no gap."""
    gesture = MouthGesture(SETTINGS)
    captures = [10.0 + k / 15.0 for k in range(40)]
    levels = [SHUT if t < 10.5 or t > 11.9 else WIDE for t in captures]
    delivered = [
        (t + 0.06, MouthObservation((320.0, 240.0), 60.0, r, r > 0.091, 0.95, t))
        for k, (t, r) in enumerate(zip(captures, levels, strict=True))
        if k != 15
    ]
    commands, latest = [], None
    for tick in range(int(2.8 * 200)):
        now = 10.0 + tick / 200
        while delivered and delivered[0][0] <= now:
            latest = delivered.pop(0)[1]
        commands += gesture.poll(now, latest)
    assert [c.kind for c in commands] == [CommandKind.NEXT_BITE]


def test_a_camera_that_stops_delivering_ends_the_episode_without_trigger():
    gesture = MouthGesture(SETTINGS)
    (last,) = frames([(WIDE, 1 / FPS)], t0=10.6)
    run(gesture, frames([(SHUT, 0.5)]))
    commands = []
    for tick in range(400):  # the last frame, open, is all the loop gets for 2 s
        commands += gesture.poll(10.6 + tick / 200, last)
    assert commands == [] and gesture.phase is GesturePhase.CLOSED
