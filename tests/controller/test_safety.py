"""Safety supervisor: each pure check, its reaction and its named reason."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.config import demo_safety_limits
from controller.safety import (
    OK,
    ContactDetector,
    CurrentModel,
    JointNoise,
    Reaction,
    SafetyReason,
    SafetySupervisor,
    Verdict,
    Workspace,
    check_bus_silence,
    check_following_error,
    check_joint_command,
    check_joint_speeds,
    check_servo_health,
    check_servo_state,
    check_spoon_speed,
    check_vision,
    check_workspace,
    classify_hardware_error,
    confident_mouth,
    contact_thresholds_a,
    following_error_bound_rad,
    lean_in_speed_m_s,
    resting_on_stops,
    speed_cap_m_s,
    worst,
)
from firmware_bridge.protocol import HardwareError

LIMITS = demo_safety_limits()
PERIOD_S = 0.005


def supervisor() -> SafetySupervisor:
    return SafetySupervisor(
        max_consecutive_bus_errors=LIMITS.max_consecutive_bus_errors,
        max_mouth_jump_m=LIMITS.max_mouth_jump_m,
        contact=ContactDetector(JointNoise.uniform(0.04), LIMITS.contact_noise_sigmas, PERIOD_S),
    )


@pytest.mark.parametrize(
    ("q", "reason"),
    [
        ((0.0, 0.0, 0.0, 0.0), None),
        ((0.0, 1.6, 0.0, 0.0), SafetyReason.JOINT_LIMIT),
        ((0.0, 0.0, -1.6, 0.0), SafetyReason.JOINT_LIMIT),
        ((math.nan, 0.0, 0.0, 0.0), SafetyReason.INVALID_TARGET),
        ((0.0, 0.0, 0.0, math.inf), SafetyReason.INVALID_TARGET),
    ],
)
def test_joint_command_limits(q, reason):
    verdict = check_joint_command(q)
    assert verdict.reason is reason
    assert verdict.reaction is (Reaction.NONE if reason is None else Reaction.SAFE_STOP)


@pytest.mark.parametrize(
    ("xyz", "ok"),
    [((0.3, 0.0, 0.2), True), ((0.3, 0.0, -0.01), False), ((0.3, 0.0, 0.6), False), ((0.5, 0.3, 0.2), False)],
)
def test_workspace_keeps_the_spoon_above_the_table_and_in_reach(xyz, ok):
    verdict = check_workspace(xyz, Workspace())
    assert bool(verdict) is not ok
    if not ok:
        assert verdict.reason is SafetyReason.WORKSPACE


def test_joint_speed_over_the_limit_is_a_safe_stop():
    assert check_joint_speeds([0.5] * 4, 2.0) == OK
    verdict = check_joint_speeds([2.5, 0, 0, 0], 2.0)
    assert verdict.reason is SafetyReason.SPEED_LIMIT and verdict.reaction is Reaction.SAFE_STOP


def test_spoon_too_fast_for_where_it_is_stops_and_retracts_unless_already_stopping():
    assert check_spoon_speed(0.06, 0.06, stopping=False) == OK
    verdict = check_spoon_speed(0.08, 0.06, stopping=False)
    assert verdict.reason is SafetyReason.SPEED_LIMIT and verdict.reaction is Reaction.RETRACT
    assert check_spoon_speed(0.08, 0.06, stopping=True) == OK


def test_speed_cap_is_slow_near_the_mouth_and_before_it():
    cap = lambda d: speed_cap_m_s(d, 0.15, 0.06, 0.10, 0.03)  # noqa: E731
    assert cap(0.30) == 0.15
    assert cap(0.12) == 0.06  # inside radius + braking distance
    assert cap(0.05) == 0.06
    assert cap(None) == 0.06  # unknown distance: slow


@pytest.mark.parametrize(
    ("age_s", "since_trusted_s", "reaction", "reason"),
    [
        (0.05, 0.05, Reaction.NONE, None),
        (0.25, 0.25, Reaction.HOLD, SafetyReason.STALE_VISION),
        (0.45, 0.45, Reaction.HOLD, SafetyReason.STALE_VISION),
        (0.60, 0.60, Reaction.RETRACT, SafetyReason.MOUTH_LOST),
        (-1.0, 0.0, Reaction.HOLD, SafetyReason.CLOCK_JUMP),
    ],
)
def test_vision_watchdog(age_s, since_trusted_s, reaction, reason):
    now = 100.0
    verdict = check_vision(now, now - age_s, now - since_trusted_s, 0.2, 0.5)
    assert (verdict.reaction, verdict.reason) == (reaction, reason)


@pytest.mark.parametrize(
    ("usable", "confidence", "trusted"),
    [
        (True, 0.5, True),
        (True, 0.95, True),
        (True, 0.4999, False),
        (False, 0.95, False),  # a face vision reports but must not use (too small, off centre, turned away)
        (True, math.nan, False),
        (True, -math.inf, False),
    ],
)
def test_only_a_usable_observation_at_the_minimum_confidence_is_trusted(usable, confidence, trusted):
    assert confident_mouth(usable, confidence, 0.5) is trusted


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_time_that_is_not_a_number_never_keeps_the_vision_watchdog_quiet(bad):
    now = 100.0
    assert check_vision(now, now, bad, 0.2, 0.5).reaction is Reaction.RETRACT  # no trusted mouth
    verdict = check_vision(now, bad, now, 0.2, 0.5)  # fresh trusted mouth, the newest frame's time broken
    assert verdict.reaction is (Reaction.NONE if bad == -math.inf else Reaction.HOLD)
    assert check_vision(math.nan, now, now, 0.2, 0.5).reaction is Reaction.RETRACT  # the loop's own clock


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_mouth_with_a_time_that_is_not_finite_is_not_trusted(bad):
    sup = supervisor()
    assert sup.trust_mouth(np.array([0.40, 0.0, 0.20]), 1.0) == OK
    verdict = sup.trust_mouth(np.array([0.41, 0.0, 0.20]), bad)
    assert (verdict.reaction, verdict.reason) == (Reaction.HOLD, SafetyReason.CLOCK_JUMP)
    assert sup.trusted_mouth_t_s == 1.0 and sup.trusted_mouth_m.tolist() == [0.40, 0.0, 0.20]
    assert check_vision(1.6, bad, sup.trusted_mouth_t_s, 0.2, 0.5).reaction is Reaction.RETRACT


def test_never_seen_mouth_is_lost():
    assert check_vision(1.0, None, None, 0.2, 0.5).reason is SafetyReason.MOUTH_LOST


def test_mouth_jumping_30_cm_in_one_frame_is_rejected_and_the_old_position_kept():
    sup = supervisor()
    assert sup.trust_mouth(np.array([0.40, 0.0, 0.20]), 1.0) == OK
    verdict = sup.trust_mouth(np.array([0.40, 0.30, 0.20]), 1.03)
    assert verdict.reason is SafetyReason.MOUTH_JUMP and verdict.reaction is Reaction.HOLD
    np.testing.assert_allclose(sup.trusted_mouth_m, [0.40, 0.0, 0.20])
    assert sup.trusted_mouth_t_s == 1.0
    assert sup.rejected_mouth_jumps == 1
    assert sup.trust_mouth(np.array([0.41, 0.0, 0.20]), 1.06) == OK


def test_non_finite_mouth_is_not_trusted():
    sup = supervisor()
    assert sup.trust_mouth(np.array([math.nan, 0.0, 0.2]), 1.0).reason is SafetyReason.INVALID_TARGET
    assert sup.trusted_mouth_m is None


def _history(speed_m_s, noise_m=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (t, np.array([0.45 - speed_m_s * t, 0.0, 0.2]) + rng.normal(0.0, noise_m, 3))
        for t in np.arange(0.0, 0.4, 1 / 30)
    ]


def test_lean_in_speed_over_a_window():
    spoon = np.array([0.10, 0.0, 0.2])
    assert lean_in_speed_m_s(_history(0.5), spoon) == pytest.approx(0.5)
    assert lean_in_speed_m_s(_history(0.0), spoon) == 0.0
    assert lean_in_speed_m_s(_history(0.5)[:2], spoon) == 0.0  # too short a window to judge


def test_lean_in_needs_the_configured_closing_distance():
    spoon = np.array([0.10, 0.0, 0.2])
    slow_short = _history(0.12)  # 1.2-3.6 cm closer over the 0.1-0.3 s window
    assert lean_in_speed_m_s(slow_short, spoon, min_closing_m=0.04) == 0.0
    assert lean_in_speed_m_s(slow_short, spoon, min_closing_m=0.01) == pytest.approx(0.12)


def test_lean_in_limits_come_from_the_safety_limits():
    from controller.config import demo_calibration, demo_profile
    from controller.loop import MealController

    calibration = demo_calibration()
    stricter = LIMITS.model_copy(update={"max_lean_in_speed_m_s": 0.15, "lean_in_min_closing_m": 0.01})
    controller = MealController(demo_profile(), calibration, stricter, calibration.ready_pose_rad, period_s=PERIOD_S)
    assert controller.supervisor.lean_in_limit_m_s == 0.15
    assert controller.supervisor.lean_in_min_closing_m == 0.01
    controller = MealController(demo_profile(), calibration, LIMITS, calibration.ready_pose_rad, period_s=PERIOD_S)
    assert controller.supervisor.lean_in_limit_m_s == LIMITS.max_lean_in_speed_m_s == 0.25
    assert controller.supervisor.lean_in_min_closing_m == LIMITS.lean_in_min_closing_m == 0.02


def test_detection_noise_is_not_a_lean_in():
    spoon = np.array([0.35, 0.0, 0.2])
    for seed in range(20):
        assert lean_in_speed_m_s(_history(0.0, noise_m=0.004, seed=seed), spoon) < 0.25


def test_lean_in_from_a_spoon_position_that_is_not_finite_is_a_stop():
    for broken in (math.nan, math.inf, -math.inf):
        assert lean_in_speed_m_s(_history(0.0), np.array([0.35, broken, 0.2])) == math.inf


def test_lean_in_from_hostile_histories_is_no_speed_and_no_crash():
    spoon = np.array([0.10, 0.0, 0.2])
    assert lean_in_speed_m_s([], spoon) == 0.0
    backwards = [(-t, p) for t, p in _history(0.5)]  # times running backwards: no pair to judge
    assert lean_in_speed_m_s(backwards, spoon) == 0.0
    assert lean_in_speed_m_s([(t, np.full(3, math.nan)) for t, _ in _history(0.5)], spoon) == 0.0


def test_bus_errors_in_a_row_make_a_safe_stop_and_a_good_exchange_resets_the_count():
    sup = supervisor()
    n = LIMITS.max_consecutive_bus_errors
    for _ in range(n - 1):
        assert sup.bus_failed(TimeoutError("silent")) == OK
    sup.bus_ok()
    for _ in range(n - 1):
        assert sup.bus_failed(TimeoutError("silent")) == OK
    verdict = sup.bus_failed(TimeoutError("silent"))
    assert verdict.reaction is Reaction.SAFE_STOP and verdict.reason is SafetyReason.BUS_ERRORS


def test_a_bus_unheard_for_the_watchdog_time_is_a_safe_stop_whatever_the_error_count():
    # From the Bus Watchdog's time after the servos last answered they may have stopped by
    # themselves; tick times are sums of floats, so 60 ms that reads 59.999... counts too.
    watchdog_s = LIMITS.watchdog_ms / 1e3
    assert check_bus_silence(0.0, watchdog_s) == OK
    assert check_bus_silence(watchdog_s - 0.001, watchdog_s) == OK
    for unheard_s in (0.7414 - 0.6814, watchdog_s, watchdog_s + 0.0113, 10.0):
        verdict = check_bus_silence(unheard_s, watchdog_s)
        assert verdict.reaction is Reaction.SAFE_STOP and verdict.reason is SafetyReason.BUS_ERRORS
        assert "Bus Watchdog (60 ms)" in verdict.detail


@pytest.mark.parametrize(
    ("temps", "volts", "reason"),
    [
        ((40, 41, 42, 43), (12.0,) * 4, None),
        ((40, 75, 42, 43), (12.0,) * 4, SafetyReason.OVERHEATING),
        ((40, 41, 42, 43), (12.0, 9.8, 12.0, 12.0), SafetyReason.LOW_VOLTAGE),
        ((40, 41, 42, 43), (12.0, 15.0, 12.0, 12.0), SafetyReason.HIGH_VOLTAGE),
    ],
)
def test_servo_health(temps, volts, reason):
    verdict = check_servo_health(temps, volts, LIMITS.max_temperature_c, LIMITS.min_voltage_v, LIMITS.max_voltage_v)
    assert verdict.reason is reason


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (HardwareError.OVERHEATING, SafetyReason.OVERHEATING),
        (HardwareError.INPUT_VOLTAGE, SafetyReason.LOW_VOLTAGE),
        (HardwareError.OVERLOAD, SafetyReason.SERVO_HARDWARE_ERROR),
        (None, SafetyReason.SERVO_HARDWARE_ERROR),
    ],
)
def test_servo_alert_is_a_safe_stop_with_the_specific_reason(flags, reason):
    verdict = classify_hardware_error(12, flags)
    assert verdict.reaction is Reaction.SAFE_STOP and verdict.reason is reason
    assert "servo 12" in verdict.detail


def test_worst_verdict_wins():
    hold = Verdict(Reaction.HOLD, SafetyReason.STALE_VISION)
    stop = Verdict(Reaction.SAFE_STOP, SafetyReason.ESTOP)
    assert worst([OK, hold, stop, hold]) is stop
    assert worst([]) == OK


NOISE = JointNoise(rest_a=(0.02, 0.03, 0.025, 0.02), moving_a=(0.03, 0.04, 0.035, 0.03))  # as commissioned


def _contact_run(extra_current_a, noise=NOISE, sigmas=5.0):
    """Feed the detector a slow approach; extra_current_a(tick) is what a contact would add."""
    model = CurrentModel()
    detector = ContactDetector(noise, sigmas, PERIOD_S)
    q = np.array([0.0, -0.18, -0.67, 0.85])
    qd = np.array([0.0, 0.08, 0.04, -0.12])  # slow, steady motion
    bias = np.array([0.02, 0.05, -0.03, 0.01])  # model error
    for tick in range(700):
        q = q + qd * PERIOD_S
        measured = model.expected_a(q, np.zeros(4), qd) * 1.1 + bias
        measured[1] += extra_current_a(tick)
        verdict = detector.update(measured, model.expected_a(q, np.zeros(4), qd), qd)
        if verdict:
            return tick, verdict
    return None, OK


def test_no_contact_on_free_motion_with_model_error():
    assert _contact_run(lambda tick: 0.0) == (None, OK)


def test_no_contact_on_a_slow_load_drift():
    assert _contact_run(lambda tick: 0.1 * tick / 600)[0] is None


def test_push_on_the_spoon_is_contact_within_two_ticks():
    tick, verdict = _contact_run(lambda tick: 0.3 if tick >= 400 else 0.0)
    assert tick == 401  # two ticks in a row: 10 ms at 200 Hz
    assert verdict.reaction is Reaction.RETRACT and verdict.reason is SafetyReason.CONTACT
    # 5 x its 40 mA moving noise, and 0.15 A per rad/s of its commanded 0.08 rad/s
    assert "joint2" in verdict.detail and "threshold 212 mA" in verdict.detail


def test_thresholds_follow_each_joints_commissioned_noise():
    # The same push is contact on a quiet arm and not on a noisy one: the threshold is the arm's.
    assert _contact_run(lambda tick: 0.25 if tick >= 400 else 0.0)[0] == 401
    noisy = JointNoise.uniform(0.06)
    assert _contact_run(lambda tick: 0.25 if tick >= 400 else 0.0, noise=noisy)[0] is None
    qd = np.array([0.05, 0.0, -0.5, 0.005])  # joints 1 and 3 moving, 4 slower than 0.01 rad/s: at rest
    assert contact_thresholds_a(NOISE, qd, 5.0, 0.03, 0.01).tolist() == pytest.approx([0.15, 0.15, 0.175, 0.1])
    assert contact_thresholds_a(JointNoise.uniform(0.001), qd, 5.0, 0.03, 0.01).tolist() == [0.03] * 4  # the floor


def test_thresholds_widen_with_commanded_joint_speed():
    # A fast joint's current swings after each goal step and its friction and damping are modelled
    # roughly: the margin grows with the commanded speed, in either direction, on top of the noise.
    qd = np.array([0.05, 0.0, -0.5, 2.0])
    widened = contact_thresholds_a(NOISE, qd, 5.0, 0.03, 0.01, speed_margin_a_per_rad_s=0.2)
    assert widened.tolist() == pytest.approx([0.15 + 0.01, 0.15, 0.175 + 0.1, 0.15 + 0.4])


def test_joint_noise_refuses_what_is_not_a_noise():
    with pytest.raises(ValueError, match="finite"):
        JointNoise((0.04, float("nan"), 0.04, 0.04), (0.04,) * 4)
    with pytest.raises(ValueError, match="not negative"):
        JointNoise.uniform(-0.01)


def test_no_contact_while_the_servos_settle_after_a_reset():
    detector = ContactDetector(JointNoise.uniform(0.03), 5.0, PERIOD_S)
    expected = np.zeros(4)
    detector.update(expected, expected)
    for tick in range(20):  # the warm-up (0.1 s) of a decaying 0.6 A transient as torque comes on
        measured = np.array([0.0, 0.6 * np.exp(-tick / 5), 0.0, 0.0])
        assert detector.update(measured, expected) == OK
    for tick in range(20, 60):  # what is left of it is within the threshold
        assert detector.update(np.array([0.0, 0.6 * np.exp(-tick / 5), 0.0, 0.0]), expected) == OK
    for _ in range(2):
        verdict = detector.update(np.array([0.0, 0.5, 0.0, 0.0]), expected)
    assert verdict.reason is SafetyReason.CONTACT


def test_expected_current_includes_friction_and_damping_against_the_commanded_motion():
    model = CurrentModel()
    q, still = np.zeros(4), np.zeros(4)
    up = model.expected_a(q, still, np.array([0.0, 0.5, 0.0, 0.0]))
    down = model.expected_a(q, still, np.array([0.0, -0.5, 0.0, 0.0]))
    against = model.friction_nm + model.viscous_nm_s_per_rad * 0.5
    assert up[1] - down[1] == pytest.approx(2 * against / model.torque_constant_nm_a)
    fast = model.expected_a(q, still, np.array([0.0, 1.0, 0.0, 0.0]))
    assert fast[1] - up[1] == pytest.approx(model.viscous_nm_s_per_rad * 0.5 / model.torque_constant_nm_a)
    assert model.expected_a(q, still, still).tolist() == model.expected_a(q, still).tolist()


def test_expected_current_grows_with_the_arm_stretched_out():
    model = CurrentModel()
    folded = model.expected_a(np.array([0, -1.0, 1.2, 0.0]), np.zeros(4))
    stretched = model.expected_a(np.array([0, 1.2, -1.2, 0.0]), np.zeros(4))
    assert abs(stretched[1]) > abs(folded[1])
    assert model.expected_a(np.zeros(4), np.array([0, 10.0, 0, 0]))[1] > model.expected_a(np.zeros(4), np.zeros(4))[1]


def test_frozen_camera_repeating_a_position_does_not_refresh_the_mouth():
    sup = supervisor()
    position = np.array([0.36, 0.0, 0.25])
    assert sup.trust_mouth(position, 1.0) == OK
    for i in range(1, 20):
        assert sup.trust_mouth(position.copy(), 1.0 + i / 30) == OK
    assert sup.trusted_mouth_t_s == 1.0 and sup.frozen_observations == 19
    assert check_vision(1.0 + 19 / 30, 1.0 + 19 / 30, sup.trusted_mouth_t_s, 0.2, 0.5).reason is SafetyReason.MOUTH_LOST


# -- the measured arm ---------------------------------------------------------------------------


def test_following_error_bound_grows_with_the_commanded_speed():
    assert following_error_bound_rad(0.0, 0.08, 0.06) == pytest.approx(0.08)
    assert following_error_bound_rad(-1.0, 0.08, 0.06) == pytest.approx(0.14)
    assert following_error_bound_rad(2.0, 0.08, 0.0) == pytest.approx(0.08)


@pytest.mark.parametrize(
    ("measured", "ok"),
    [
        ((0.0, 0.0, 0.0, 0.0), True),
        ((0.0, 0.079, 0.0, 0.0), True),
        ((0.0, 0.0, -0.081, 0.0), False),
        ((0.0, 0.0, 0.0, math.nan), False),  # a broken reading never passes
        ((0.0, 0.0, 0.0, math.inf), False),
    ],
)
def test_following_error_beyond_the_bound_is_a_safe_stop_naming_the_joint(measured, ok):
    verdict = check_following_error(measured, (0.0,) * 4, (0.0,) * 4, 0.08, 0.06)
    assert bool(verdict) is not ok
    if not ok:
        assert verdict.reaction is Reaction.SAFE_STOP and verdict.reason is SafetyReason.FOLLOWING_ERROR
        assert "joint" in verdict.detail and "bound 0.080 rad" in verdict.detail


def test_a_moving_command_may_lead_the_measured_joint_by_its_lag():
    assert not check_following_error((0.0,) * 4, (0.0, 0.13, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), 0.08, 0.06)
    assert check_following_error((0.0,) * 4, (0.0, 0.15, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), 0.08, 0.06)


def test_one_glitching_reading_is_not_a_following_error_two_in_a_row_are():
    supervisor = SafetySupervisor(3, 0.1, ContactDetector(JointNoise.uniform(0.03), 5.0, 0.005))
    zero, off = np.zeros(4), np.array([0.0, 0.5, 0.0, 0.0])
    assert not supervisor.following(off, zero, zero, 0.08, 0.06)
    assert not supervisor.following(zero, zero, zero, 0.08, 0.06)
    assert not supervisor.following(off, zero, zero, 0.08, 0.06)
    assert supervisor.following(off, zero, zero, 0.08, 0.06).reason is SafetyReason.FOLLOWING_ERROR


@pytest.mark.parametrize(
    ("torque", "error", "tripped", "reason", "servo"),
    [
        ((True,) * 4, (0,) * 4, (False,) * 4, None, None),
        ((True, False, True, True), (0,) * 4, (False,) * 4, SafetyReason.TORQUE_OFF, "12"),
        ((True,) * 4, (0,) * 4, (False, False, True, False), SafetyReason.WATCHDOG_TRIPPED, "13"),
        ((True,) * 4, (0, 0, 0, int(HardwareError.OVERLOAD)), (False,) * 4, SafetyReason.SERVO_HARDWARE_ERROR, "14"),
        ((False,) * 4, (int(HardwareError.OVERHEATING), 0, 0, 0), (True,) * 4, SafetyReason.OVERHEATING, "11"),
    ],
)
def test_the_servos_own_state_torque_watchdog_and_errors_is_a_safe_stop(torque, error, tripped, reason, servo):
    verdict = check_servo_state((11, 12, 13, 14), torque, error, tripped)
    assert verdict.reason is reason
    if reason is not None:
        assert verdict.reaction is Reaction.SAFE_STOP and servo in verdict.detail


def _lift_off_run(tell_stops: bool, push_a: float = 0.0):
    """An arm parked on joint 2's stop, held by torque, then lifted off at 0.3 rad/s: while it lies
    there the stop carries 0.4 A of the joint's load, which the motor takes over at lift-off.
    `push_a` is a push on joint 2 from 0.5 s on. The tick of the first contact, else None."""
    model, detector = CurrentModel(), ContactDetector(JointNoise.uniform(0.04), 5.0, PERIOD_S)
    rng = np.random.default_rng(3)
    q = np.array([0.0, -1.503, 1.35, -1.65])  # joint 2 a little into its stop at -1.5
    for tick in range(400):
        moving = tick >= 100
        qd = np.array([0.0, 0.3, 0.0, 0.0]) if moving else np.zeros(4)
        lifted = q[1] > -1.5 and moving
        q = q + qd * PERIOD_S
        expected = model.expected_a(q, np.zeros(4), qd)
        measured = expected + rng.normal(0.0, 0.04, 4)
        if not lifted:
            measured[1] -= min(0.4, 0.4 * (110 - tick) / 10) if tick < 110 else 0.0  # the motor takes it over
        if tick >= 200:
            measured[1] += push_a
        on_stop = resting_on_stops(q) if tell_stops else None
        if detector.update(measured, expected, qd, on_stop):
            return tick
    return None


def test_an_arm_lifted_off_its_stop_is_not_contact_but_a_push_after_is():
    assert _lift_off_run(tell_stops=False) is not None  # what set-up did: the stop's share read as contact
    assert _lift_off_run(tell_stops=True) is None
    assert _lift_off_run(tell_stops=True, push_a=0.35) in (200, 201)


def test_resting_on_stops_is_within_the_band_of_a_limit_or_beyond():
    on = resting_on_stops([0.0, -1.495, 1.5, float("nan")])
    assert on.tolist() == [False, True, True, False]  # joint 3 beyond its 1.4 limit; NaN is no stop
    assert resting_on_stops([0.0, -1.48, 1.38, 1.96], band_rad=0.01).tolist() == [False, False, False, True]


def test_a_joint_on_its_stop_is_not_judged_and_learns_afresh_when_it_leaves():
    detector = ContactDetector(JointNoise.uniform(0.03), 5.0, PERIOD_S)
    zero, on_stop, off = np.zeros(4), np.array([False, True, False, False]), np.zeros(4, dtype=bool)
    for _ in range(40):
        detector.update(zero, zero, None, off)
    for _ in range(40):  # on the stop: 1 A off the model is the stop's, not contact
        assert detector.update(np.array([0.0, -1.0, 0.0, 0.0]), zero, None, on_stop) == OK
    for _ in range(20):  # lifted off: the motor carries it; learnt fast for the warm-up
        assert detector.update(zero, zero, None, off) == OK
    verdicts = [detector.update(np.array([0.0, 0.0, 0.5, 0.0]), zero, None, off) for _ in range(2)]
    assert verdicts[-1].reason is SafetyReason.CONTACT and "joint3" in verdicts[-1].detail
