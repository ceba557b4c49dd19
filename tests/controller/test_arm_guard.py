"""The measured-state checks every motion shares (`controller.arm_guard.ArmGuard`), pure: no bus, no clock."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.arm_guard import ArmGuard, Check
from controller.config import demo_safety_limits
from controller.safety import ContactDetector, JointNoise, Reaction, SafetyReason, SafetySupervisor
from controller.servos import JointReading
from firmware_bridge.errors import BusTimeout, CRCError, ServoError
from firmware_bridge.protocol import HardwareError, StatusError

LIMITS = demo_safety_limits()
IDS = (11, 12, 13, 14)
WATCHDOG_S = 0.06
HOME = np.array([0.0, -0.5, 0.8, 0.2])
STILL = np.zeros(4)
NOTHING = BusTimeout(0x82, IDS, 0.005)  # nobody answered
GARBLED = CRCError(0x82, IDS, 1)  # an answer came, corrupt


def make_guard(max_bus_errors: int = 8) -> ArmGuard:
    supervisor = SafetySupervisor(
        max_consecutive_bus_errors=max_bus_errors,
        max_mouth_jump_m=LIMITS.max_mouth_jump_m,
        contact=ContactDetector(JointNoise.uniform(0.06), 6.0, 0.005),
    )
    guard = ArmGuard(IDS, supervisor, LIMITS, WATCHDOG_S)
    guard.restart(0.0)
    return guard


def reading(q=HOME, *, temperature=40.0, voltage=12.0, torque_on=(True,) * 4, error=(0,) * 4, tripped=(False,) * 4):
    return JointReading(
        np.asarray(q, dtype=float),
        STILL,
        STILL,
        np.full(4, voltage),
        np.full(4, temperature),
        torque_on,
        error,
        tripped,
    )


def test_a_good_reading_at_its_command_passes():
    check, verdict = make_guard().check(0.005, reading(), None, HOME, STILL)
    assert check is None and not verdict and verdict.reaction is Reaction.NONE


def test_a_bus_unheard_for_the_watchdog_time_is_a_safe_stop_before_the_failed_reads_add_up():
    guard = make_guard(max_bus_errors=100)
    for k in range(1, 12):
        check, verdict = guard.check(k * 0.005, None, NOTHING, HOME, STILL)
        assert check is None and not verdict  # 55 ms unheard: the watchdog (60 ms) may still hold
    check, verdict = guard.check(0.060, None, NOTHING, HOME, STILL)
    assert check is Check.BUS_SILENCE and verdict.reason is SafetyReason.BUS_ERRORS
    assert verdict.reaction is Reaction.SAFE_STOP


def test_garbled_answers_show_the_servos_heard_and_end_only_by_their_count():
    guard = make_guard(max_bus_errors=20)
    verdicts = [guard.check(k * 0.005, None, GARBLED, HOME, STILL) for k in range(1, 21)]
    assert [check for check, _ in verdicts[:-1]] == [None] * 19  # 100 ms of garbled answers: heard all along
    assert verdicts[-1][0] is Check.BUS_ERRORS


def test_an_answer_after_failed_reads_as_long_as_the_watchdog_is_the_same_silence():
    """The servos may have stopped by themselves while nothing could tell; a reading that comes only
    after that is not trusted, even when it says their watchdog held (a slow clock, a lost trip)."""
    guard = make_guard(max_bus_errors=100)
    guard.check(0.005, None, NOTHING, HOME, STILL)
    check, verdict = guard.check(0.065, reading(), None, HOME, STILL)  # a late tick: 65 ms unheard
    assert check is Check.BUS_SILENCE and verdict.reaction is Reaction.SAFE_STOP
    short = make_guard(max_bus_errors=100)
    short.check(0.005, None, NOTHING, HOME, STILL)
    assert short.check(0.010, reading(), None, HOME, STILL)[0] is None  # a lost reply, ridden out


def test_what_the_servos_say_of_themselves_wins_over_the_silence():
    guard = make_guard(max_bus_errors=100)
    guard.check(0.005, None, NOTHING, HOME, STILL)
    check, verdict = guard.check(0.1, reading(tripped=(False, True, False, False)), None, HOME, STILL)
    assert check is Check.SERVO_STATE and verdict.reason is SafetyReason.WATCHDOG_TRIPPED


def test_a_servo_alert_on_a_failed_read_names_its_hardware_error():
    alert = ServoError(12, 0x82, StatusError.NONE, True, HardwareError.OVERLOAD)
    check, verdict = make_guard().check(0.005, None, alert, HOME, STILL)
    assert check is Check.SERVO_ALERT and verdict.reaction is Reaction.SAFE_STOP


def test_a_following_error_needs_two_readings_in_a_row_and_grows_with_the_commanded_speed():
    bound = LIMITS.max_following_error_rad
    off = HOME + np.array([bound * 1.5, 0.0, 0.0, 0.0])
    guard = make_guard()
    assert guard.check(0.005, reading(off), None, HOME, STILL)[0] is None  # one glitching reading
    assert guard.check(0.010, reading(HOME), None, HOME, STILL)[0] is None
    assert guard.check(0.015, reading(off), None, HOME, STILL)[0] is None
    check, verdict = guard.check(0.020, reading(off), None, HOME, STILL)
    assert check is Check.FOLLOWING and verdict.reason is SafetyReason.FOLLOWING_ERROR
    moving = np.array([bound / LIMITS.following_lag_s, 0.0, 0.0, 0.0])  # the lag allows another bound
    guard = make_guard()
    assert [guard.check(t, reading(off), None, HOME, moving)[0] for t in (0.005, 0.010, 0.015)] == [None] * 3


@pytest.mark.parametrize(
    ("hurt", "reason"),
    [
        ({"temperature": LIMITS.max_temperature_c + 1.0}, SafetyReason.OVERHEATING),
        ({"voltage": LIMITS.min_voltage_v - 0.5}, SafetyReason.LOW_VOLTAGE),
        ({"voltage": LIMITS.max_voltage_v + 0.5}, SafetyReason.HIGH_VOLTAGE),
    ],
)
def test_temperature_and_supply_outside_the_limits_are_a_safe_stop(hurt, reason):
    check, verdict = make_guard().check(0.005, reading(**hurt), None, HOME, STILL)
    assert check is Check.HEALTH and verdict.reason is reason


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_reading_is_never_passed(bad):
    q = HOME.copy()
    q[2] = bad
    guard = make_guard()
    guard.check(0.005, reading(q), None, HOME, STILL)
    check, verdict = guard.check(0.010, reading(q), None, HOME, STILL)
    assert check is Check.FOLLOWING and verdict.reaction is Reaction.SAFE_STOP


def test_a_clock_gone_back_restarts_the_silence_instead_of_stopping_or_hiding_it():
    assert make_guard(max_bus_errors=100).check(0.5, None, NOTHING, HOME, STILL)[0] is Check.BUS_SILENCE
    guard = make_guard(max_bus_errors=100)
    guard.restart(1.0)
    assert guard.check(0.2, None, NOTHING, HOME, STILL)[0] is None  # the clock went back: counted from now
    assert guard.check(0.27, None, NOTHING, HOME, STILL)[0] is Check.BUS_SILENCE
