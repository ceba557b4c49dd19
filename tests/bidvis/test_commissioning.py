"""`bidvis commission` measures any faithful XM430 bus through its control table alone: it passes
the flawed simulated arm, fails an arm that breaks a limit, and refuses servos it cannot drive."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bidvis.commission_commands import REPLY_ALLOWANCE_S
from bidvis.commissioning import (
    Commissioner,
    CommissionError,
    CommissionPlan,
    moving_noise,
    standstill_time,
    step_metrics,
)
from controller.commissioning import demo_commissioning_limits
from controller.config import demo_calibration, demo_safety_limits
from firmware_bridge import DynamixelBus
from firmware_bridge.control_table import XL430_W250
from sim.flaws import FACTORY_ADAPTER, TYPICAL, ArmFlaws
from sim.servo import VirtualServo
from sim.virtual_bus import SimulatedClock, VirtualServoBus

# Shorter than the real arm's plan (a technician waits a minute; a test should not).
QUICK = CommissionPlan(round_trips=100, pings=60, rest_samples=200, step_watch_s=0.4, path_speed_rad_s=1.5)
CALIBRATION = demo_calibration()


def one_bowl_calibration():
    """The demo calibration with one bowl of two waypoints and no tool servo (a shorter tour)."""
    bowl = CALIBRATION.bowls[0]
    short = bowl.model_copy(update={"waypoints_rad": bowl.waypoints_rad[1:3]})
    return CALIBRATION.model_copy(update={"bowls": [short], "tool_servo_id": None})


def commission(bus: VirtualServoBus, calibration=None, safety=None, lines=None):
    calibration = calibration or one_bowl_calibration()
    with DynamixelBus(bus.url, baudrate=calibration.baudrate, timeout=REPLY_ALLOWANCE_S, clock=bus.clock.now) as host:
        return Commissioner(
            host,
            calibration,
            safety or demo_safety_limits(),
            demo_commissioning_limits(),
            bus.clock,
            plan=QUICK,
            report=(lines.append if lines is not None else lambda line: None),
        ).run()


@pytest.fixture
def flawed_arm():
    bus = VirtualServoBus.start(CALIBRATION.joint_servo_ids, clock=SimulatedClock(), flaws=TYPICAL)
    yield bus
    bus.close()


def test_the_typical_flawed_arm_passes_and_its_noise_is_measured(flawed_arm):
    lines: list[str] = []
    record = commission(flawed_arm, lines=lines)
    assert record.passed, record.failures
    assert set(record.joints) == set(CALIBRATION.joint_servo_ids)
    for joint in record.joints.values():
        assert joint.model_number == 1020 and joint.return_delay_time_us == 0.0
        assert joint.current_noise_rest_ma == pytest.approx(40.0, rel=0.25)  # TYPICAL's 40 mA
        assert joint.current_noise_moving_ma == pytest.approx(40.0, rel=0.3)
        assert 0.01 < joint.rise_time_s < 0.15
        watchdog_s = demo_safety_limits().watchdog_ms / 1000  # the estimate d / v + t_b / 2 is good to a few ms
        assert watchdog_s - 0.005 <= joint.stop_after_host_silence_s <= watchdog_s + 0.05
    assert record.latency_timer_source == "estimated" and record.latency_timer_ms == pytest.approx(1.0, abs=0.4)
    assert any("Return Delay Time set to 0 us" in line for line in lines)
    assert all(servo.get("return_delay_time") == 0 for servo in flawed_arm.servos)


def test_the_arm_ends_holding_its_ready_pose(flawed_arm):
    commission(flawed_arm)
    for servo_id, q in zip(CALIBRATION.joint_servo_ids, CALIBRATION.ready_pose_rad, strict=True):
        servo = flawed_arm.servo(servo_id)
        assert servo.torque_on and servo.get("bus_watchdog") == 0
        assert servo.joint.position_rad == pytest.approx(q, abs=0.02)


def test_a_factory_latency_timer_stops_commissioning_before_anything_moves():
    bus = VirtualServoBus.start(CALIBRATION.joint_servo_ids, clock=SimulatedClock(), flaws=FACTORY_ADAPTER)
    try:
        with pytest.raises(
            CommissionError, match=r"too slow to commission the arm, nothing moved: USB latency timer about 1\d"
        ):
            commission(bus)
        assert not any(servo.torque_on for servo in bus.servos)
    finally:
        bus.close()


def test_noise_beyond_the_limit_fails_the_verdict():
    bus = VirtualServoBus.start(
        CALIBRATION.joint_servo_ids,
        clock=SimulatedClock(),
        flaws=TYPICAL.model_copy(update={"current_noise_ma": 120.0}),
    )
    try:
        record = commission(bus)
    finally:
        bus.close()
    assert not record.passed
    assert "servo 11: current noise" in record.failures[0] and "above the limit 60 mA" in record.failures[0]


def test_a_servo_whose_watchdog_never_fires_fails_the_verdict(flawed_arm, monkeypatch):
    monkeypatch.setattr(flawed_arm.servo(13), "trip_watchdog", lambda: None)  # a servo that ignores the silence
    record = commission(flawed_arm)
    assert not record.passed
    assert "servo 13: stop after host silence 10 s is above the limit 0.1 s" in record.failures


def test_a_servo_that_pings_as_another_model_is_refused_by_name():
    bus = VirtualServoBus.start((11, 12, 14), clock=SimulatedClock(), flaws=ArmFlaws())
    bus.add_servo(VirtualServo(13, eeprom={"model_number": 1200, "baud_rate": 3}))
    try:
        with pytest.raises(CommissionError, match=r"id 13 is XL330-M288 \(model 1200\)"):
            commission(bus)
    finally:
        bus.close()


def test_an_xl430_is_refused_naming_the_model():
    bus = VirtualServoBus.start((11, 12, 13, 14), clock=SimulatedClock(), models={12: XL430_W250})
    try:
        with pytest.raises(CommissionError, match=r"id 12 is XL430-W250 \(model 1060\).*Present Load"):
            commission(bus)
    finally:
        bus.close()


def test_a_missing_servo_is_refused():
    bus = VirtualServoBus.start((11, 12, 13), clock=SimulatedClock())
    try:
        with pytest.raises(CommissionError, match=r"servo\(s\) \[14\] did not answer"):
            commission(bus)
    finally:
        bus.close()


def test_a_servo_whose_replies_are_all_corrupt_is_refused():
    bus = VirtualServoBus.start((11, 12, 13, 14), clock=SimulatedClock())
    bus.servo(12).reply_faults.corrupt = 10**9
    try:
        with pytest.raises(CommissionError, match=r"servo\(s\) \[12\] did not answer"):
            commission(bus)
    finally:
        bus.close()


# -- the analysis ---------------------------------------------------------------------------------


def test_step_metrics_of_a_second_order_step():
    t = np.arange(0.0, 0.6, 0.002)
    wn, zeta = 60.0, 0.5
    wd = wn * math.sqrt(1 - zeta**2)
    response = 1 - np.exp(-zeta * wn * t) * (np.cos(wd * t) + zeta / math.sqrt(1 - zeta**2) * np.sin(wd * t))
    rise, overshoot = step_metrics(t, 0.2 + 0.1 * response, start=0.2)
    assert rise == pytest.approx(1.8 / wn * 0.93, rel=0.15)  # the textbook 10-90 % rise for zeta 0.5
    assert overshoot == pytest.approx(0.1 * math.exp(-zeta * math.pi / math.sqrt(1 - zeta**2)), rel=0.05)


def test_a_step_that_never_moved_or_was_not_watched_has_no_rise_time():
    assert step_metrics([0.0, 0.01, 0.02, 0.03, 0.04, 0.05], [0.1] * 6, start=0.1) == (math.inf, 0.0)
    gap = [0.0, 0.002, 0.004, 0.1, 0.102, 0.104]  # the whole rise fell into a 96 ms gap between samples
    assert step_metrics(gap, [0.0, 0.0, 0.0, 0.1, 0.1, 0.1], start=0.0) == (math.inf, 0.0)
    with pytest.raises(CommissionError, match="too few position samples"):
        step_metrics([0.0, 0.01], [0.1, 0.1], start=0.1)


def test_standstill_after_braking():
    history = [(k * 0.002, min(k * 0.002, 0.04) * 0.5) for k in range(100)]  # moves 20 ms at 0.5 rad/s, stops at 40 ms
    assert standstill_time(history) == pytest.approx(0.03, abs=0.004)


def test_moving_noise_ignores_the_smooth_motion_and_finds_the_noise():
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 4.0, 800)
    segments = [200.0 * np.sin(t) + rng.normal(0.0, 40.0, t.size), 100.0 + rng.normal(0.0, 40.0, 400)]
    assert moving_noise(segments, 9) == pytest.approx(40.0, rel=0.08)


def test_a_joint_that_never_stands_still_has_no_standstill_time():
    assert standstill_time([(k * 0.002, k * 0.002 * 0.5) for k in range(100)]) == math.inf
    assert standstill_time([]) == math.inf
