"""`bidvis commission`: measure the arm against what the simulator and the safety limits assume.

`Commissioner(bus, ...).run()` measures, on the robot's servos, with nothing but what a real
XM430-W350 offers (its control table over Protocol 2.0; no simulator hooks, so it works on the real
arm, on `bidvis sim-bus` and on any faithful emulator):

1. who is there: PING of every servo of the calibration (model and firmware; a model bidvis cannot
   drive is refused by name), and each one's Return Delay Time, set to 0 where it is not (DESIGN.md);
2. the bus round trip: the control loop's sync read, timed many times (median and 99th percentile);
3. the USB latency timer: from Linux (sysfs) when the port is an FTDI adapter, else estimated
   from the spread of ping round trips over their wire time;
4. current noise at rest: Present Current sampled at the loop's rate at the ready pose, its
   standard deviation about a straight-line trend;
5. each servo's step response at the configured Position P/D Gain: a 0.1 rad step with no
   servo-side profile, sampled as fast as the bus allows (10-90 % rise time, overshoot);
6. the stop after host silence: each servo moving at `silence_speed_rad_s` with the Bus Watchdog
   armed as the safety limits say; the host falls silent; once the watchdog must have tripped the
   host checks that it did (Bus Watchdog reads -1) and how far the joint went (d). The same move is
   then stopped by a goal at the present position, sampled until still: its braking time t_b.
   Stop time = d / v + t_b / 2 (constant speed until the trip, then uniform braking);
7. current noise along the taught paths: the ready pose to each bowl's waypoints and back, at
   `path_speed_rad_s`, Present Current sampled at the loop's rate, its standard deviation about a
   centred moving average (corrected for the average's own share of the noise).

The arm moves by at most `max(step_rad, silence_travel_rad)` from the ready pose (toward the middle
of each joint's range) and along the taught paths, slowly; it ends holding the ready pose.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from controller.commissioning import CommissioningLimits, CommissioningRecord, LatencySource, judge
from controller.config import RobotCalibration, SafetyLimits
from controller.kinematics import JOINT_LIMITS_RAD
from firmware_bridge import BridgeError, DynamixelBus
from firmware_bridge.control_table import (
    XM430_W350,
    ControlTable,
    OperatingMode,
    Register,
    driven_models,
    table_for_model,
    unsupported_reason,
)
from firmware_bridge.latency import read_latency_timer_ms

TOOL_RANGE_RAD = 0.5  # the tool servo is commissioned within this of where it stands
TRIES = 5  # a transaction that fails this often in a row is an error (a lost reply is ordinary) ...
RETRY_PAUSE_S = 0.02  # ... after pauses of this, then twice, four, eight times as long (0.3 s in all:
# an emulator short of CPU catches up meanwhile; a pulled cable is still reported within half a second)
_PING_BYTES = 10 + 14  # PING instruction and its status packet
_BITS_PER_BYTE = 10


class Clock(Protocol):
    """Where commissioning's time comes from: the wall clock on a real bus."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class CommissionError(Exception):
    """Commissioning cannot go on: the message says what is wrong and what to do."""


@dataclass(frozen=True)
class CommissionPlan:
    """How much to measure, and how the arm moves meanwhile (defaults: the real arm's)."""

    round_trips: int = 300
    pings: int = 100
    sample_period_s: float = 0.005  # the control loop's 200 Hz
    rest_samples: int = 400  # 2 s at the loop's rate
    step_rad: float = 0.1
    step_watch_s: float = 0.6
    silence_speed_rad_s: float = 0.5
    silence_travel_rad: float = 0.3
    brake_watch_s: float = 0.5
    path_speed_rad_s: float = 0.8  # the meal's joints may go up to 2 rad/s
    move_acceleration_rad_s2: float = 4.0
    moving_average_samples: int = 9
    settle_timeout_s: float = 10.0
    arrived_rad: float = 0.02


@dataclass
class _Servo:
    servo_id: int
    table: ControlTable
    firmware: int
    rest_rad: float  # the ready pose (joints) or where it stood (tool servo)
    low_rad: float
    high_rad: float
    return_delay_us: float = 0.0
    rise_time_s: float = math.nan
    overshoot_rad: float = math.nan
    noise_rest_ma: float = math.nan
    noise_moving_ma: float = math.nan
    stop_s: float = math.nan

    @property
    def toward_middle(self) -> float:
        """+1 or -1: the direction from the rest pose toward the middle of the range."""
        return 1.0 if (self.low_rad + self.high_rad) / 2.0 >= self.rest_rad else -1.0


def _reg(name: Register):
    return XM430_W350[name]


class Commissioner:
    """Measures the servos on `bus` (see the module docstring); `report` gets a line per step."""

    def __init__(
        self,
        bus: DynamixelBus,
        calibration: RobotCalibration,
        safety: SafetyLimits,
        limits: CommissioningLimits,
        clock: Clock,
        *,
        plan: CommissionPlan = CommissionPlan(),
        report: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.bus = bus
        self.calibration = calibration
        self.safety = safety
        self.limits = limits
        self.clock = clock
        self.plan = plan
        self.report = report
        self.servos: list[_Servo] = []
        self._max_sample_gap_s = 0.01

    # -- the whole procedure ---------------------------------------------------------------------

    def run(self) -> CommissioningRecord:
        """Measure everything and return the judged record (raises `CommissionError`)."""
        self._identify()
        self._fix_return_delay()
        round_trips = self._bus_round_trip()
        # a step is sampled at the pace the bus allows: no finer than two of its slowest round trips
        self._max_sample_gap_s = max(0.01, 2.0 * round_trips[1] / 1000.0)
        latency_ms, latency_source = self._latency_timer()
        self._check_bus_before_moving(round_trips[1], latency_ms)
        self._prepare()
        try:
            self._move_to(self._rest_pose())
            self._noise_at_rest()
            for servo in self.servos:
                self._step_response(servo)
            for servo in self.servos:
                self._stop_after_silence(servo)
            self._noise_along_paths()
            self._move_to(self._rest_pose())
        finally:
            self._disarm_watchdog()
        median_ms, p99_ms = round_trips
        return judge(
            {
                "commissioned_at": datetime.now(UTC),
                "port": self.bus.port,
                "baudrate": self.bus.baudrate,
                "joints": {servo.servo_id: self._measurement(servo) for servo in self.servos},
                "stop_after_host_silence_s": max(servo.stop_s for servo in self.servos),
                "bus_round_trip_ms": p99_ms,
                "bus_round_trip_median_ms": median_ms,
                "latency_timer_ms": latency_ms,
                "latency_timer_source": latency_source,
                "position_p_gain": self.safety.position_p_gain,
                "position_d_gain": self.safety.position_d_gain,
                "watchdog_ms": self.safety.watchdog_ms,
                "limits": self.limits,
            }
        )

    @staticmethod
    def _measurement(servo: _Servo) -> dict[str, object]:
        return {
            "model_number": servo.table.model_number,
            "model_name": servo.table.model_name,
            "firmware_version": servo.firmware,
            "rise_time_s": round(servo.rise_time_s, 5),
            "overshoot_rad": round(servo.overshoot_rad, 5),
            "current_noise_rest_ma": round(servo.noise_rest_ma, 2),
            "current_noise_moving_ma": round(servo.noise_moving_ma, 2),
            "current_noise_ma": round(max(servo.noise_rest_ma, servo.noise_moving_ma), 2),
            "stop_after_host_silence_s": round(servo.stop_s, 4),
            "return_delay_time_us": servo.return_delay_us,
        }

    # -- 1. who is there -------------------------------------------------------------------------

    def _identify(self) -> None:
        ids = self.calibration.servo_ids
        found, missing, wrong = [], [], []
        joints = dict(zip(self.calibration.joint_servo_ids, range(4), strict=True))
        for servo_id in ids:
            try:
                model, firmware = self._retry(lambda servo_id=servo_id: self.bus.ping_details(servo_id))
            except BridgeError:
                missing.append(servo_id)
                continue
            problem = unsupported_reason(model)
            if problem is not None:
                wrong.append(f"id {servo_id} is {problem}")
                continue
            if servo_id in joints:
                index = joints[servo_id]
                rest = self.calibration.ready_pose_rad[index]
                low, high = JOINT_LIMITS_RAD[index]
            else:  # the tool servo: commissioned around where it stands
                rest = self._read_si(servo_id, Register.PRESENT_POSITION)
                low, high = rest - TOOL_RANGE_RAD, rest + TOOL_RANGE_RAD
            found.append(_Servo(servo_id, table_for_model(model), firmware, rest, low, high))
        if missing:
            raise CommissionError(
                f"servo(s) {missing} did not answer on {self.bus.port} at {self.bus.baudrate} baud (answered: "
                f"{[s.servo_id for s in found]}); check power and cables, or find them with `bidvis bus scan`"
            )
        if wrong:
            raise CommissionError(f"wrong servo model: {'; '.join(wrong)}; bidvis drives {driven_models()}")
        self.servos = found
        self.report(
            "servos: " + ", ".join(f"{s.servo_id} {s.table.model_name} (firmware {s.firmware})" for s in self.servos)
        )

    def _fix_return_delay(self) -> None:
        field = _reg(Register.RETURN_DELAY_TIME)
        changed = []
        for servo in self.servos:
            raw = self._read_raw(servo.servo_id, Register.RETURN_DELAY_TIME)
            if raw != 0:
                self._write_raw(servo.servo_id, Register.TORQUE_ENABLE, 0)  # EEPROM: writable with torque off
                self._write_raw(servo.servo_id, Register.RETURN_DELAY_TIME, 0)
                changed.append(f"{servo.servo_id} ({field.to_si(raw) * 1e6:.0f} us)")
                raw = self._read_raw(servo.servo_id, Register.RETURN_DELAY_TIME)
            servo.return_delay_us = field.to_si(raw) * 1e6
        if changed:
            self.report(f"Return Delay Time set to 0 us on servo(s) {', '.join(changed)}, as DESIGN.md fixes it")

    # -- 2, 3. the bus ---------------------------------------------------------------------------

    def _bus_round_trip(self) -> tuple[float, float]:
        block = XM430_W350.block(
            Register.PRESENT_CURRENT,
            Register.PRESENT_VELOCITY,
            Register.PRESENT_POSITION,
            Register.PRESENT_INPUT_VOLTAGE,
            Register.PRESENT_TEMPERATURE,
        )
        ids = tuple(self.calibration.joint_servo_ids)
        times, failed = [], 0
        for _ in range(self.plan.round_trips):
            start = self.clock.now()
            try:
                self.bus.sync_read(block.address, block.length, ids)
            except BridgeError:
                failed += 1
                continue
            times.append((self.clock.now() - start) * 1000.0)
        if not times:
            raise CommissionError("no sync read of the joint servos came back; check the cable and `bidvis bus scan`")
        median, p99 = float(np.percentile(times, 50)), float(np.percentile(times, 99))
        self.report(
            f"bus round trip (sync read of {len(ids)} servos): median {median:.2f} ms, 99th percentile {p99:.2f} ms"
            + (f"; {failed} of {self.plan.round_trips} reads failed" if failed else "")
        )
        return round(median, 3), round(p99, 3)

    def _latency_timer(self) -> tuple[float, LatencySource]:
        value = read_latency_timer_ms(self.bus.port)
        if value is not None:
            self.report(f"USB latency timer: {value} ms (Linux)")
            return float(value), LatencySource.SYSFS
        wire_s = _PING_BYTES * _BITS_PER_BYTE / self.bus.baudrate
        servo = self.servos[0]
        excess = []
        for k in range(self.plan.pings):
            # pause 0..20 ms, spread evenly (golden ratio), so the pings meet the timer at every phase
            self.clock.sleep(0.020 * ((k * 0.6180339887) % 1.0))
            start = self.clock.now()
            try:
                self.bus.ping(servo.servo_id)
            except BridgeError:
                continue
            excess.append((self.clock.now() - start - wire_s - servo.return_delay_us * 1e-6) * 1000.0)
        if len(excess) < 10:
            raise CommissionError(f"servo {servo.servo_id} answered too few pings to time the bus")
        p10, p90 = np.percentile(excess, [10, 90])
        estimate = round(max(float(p90 - p10) / 0.8, 0.0), 2)
        self.report(f"USB latency timer: about {estimate} ms (estimated from {len(excess)} ping round trips)")
        return estimate, LatencySource.ESTIMATED

    def _check_bus_before_moving(self, round_trip_ms: float, latency_ms: float) -> None:
        """A bus too slow for the control loop is too slow to watch the arm move: stop here."""
        problems = []
        if latency_ms > self.limits.max_latency_timer_ms:
            problems.append(
                f"USB latency timer about {latency_ms:g} ms (limit {self.limits.max_latency_timer_ms:g} ms): set it to "
                "1 ms (docs/commissioning.md)"
            )
        if round_trip_ms > self.limits.max_bus_round_trip_ms:
            problems.append(f"bus round trip {round_trip_ms:g} ms (limit {self.limits.max_bus_round_trip_ms:g} ms)")
        if problems:
            raise CommissionError(
                "the bus is too slow to commission the arm, nothing moved: "
                + "; ".join(problems)
                + "; fix it and commission again"
            )

    # -- moving the arm --------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Position mode at the configured gains, goal = present position, then torque on."""
        gains = (
            (Register.POSITION_P_GAIN, self.safety.position_p_gain),
            (Register.POSITION_D_GAIN, self.safety.position_d_gain),
        )
        for servo in self.servos:
            sid = servo.servo_id
            self._write_raw(sid, Register.BUS_WATCHDOG, 0)
            if self._read_raw(sid, Register.OPERATING_MODE) != OperatingMode.POSITION:
                self._write_raw(sid, Register.TORQUE_ENABLE, 0)
                self._write_raw(sid, Register.OPERATING_MODE, int(OperatingMode.POSITION))
            for register, raw in gains:
                self._write_raw(sid, register, raw)
            self._write_raw(sid, Register.GOAL_POSITION, self._read_raw(sid, Register.PRESENT_POSITION))
            self._write_raw(sid, Register.TORQUE_ENABLE, 1)
        self.report(
            f"torque on at Position P/D Gain {self.safety.position_p_gain}/{self.safety.position_d_gain}; "
            "keep clear of the arm"
        )

    def _rest_pose(self) -> dict[int, float]:
        return {servo.servo_id: servo.rest_rad for servo in self.servos}

    def _set_profile(self, servo_id: int, speed_rad_s: float) -> None:
        velocity, acceleration = _reg(Register.PROFILE_VELOCITY), _reg(Register.PROFILE_ACCELERATION)
        v = max(1, min(velocity.maximum, velocity.from_si(speed_rad_s))) if speed_rad_s > 0 else 0
        a = max(1, acceleration.from_si(self.plan.move_acceleration_rad_s2)) if speed_rad_s > 0 else 0
        self._write_raw(servo_id, Register.PROFILE_ACCELERATION, a)
        self._write_raw(servo_id, Register.PROFILE_VELOCITY, v)

    def _move_to(self, goals: Mapping[int, float], sample: Callable[[], None] | None = None) -> None:
        """Move every servo to `goals` together at `path_speed_rad_s` (servo-side profiles);
        `sample` runs every sample period on the way."""
        present = self._positions()
        longest = max(abs(goals[i] - present[i]) for i in goals)
        duration = max(longest / self.plan.path_speed_rad_s, 0.05)
        for servo_id, goal in goals.items():
            self._set_profile(servo_id, max(abs(goal - present[servo_id]) / duration, 0.01))
        goal_field = _reg(Register.GOAL_POSITION)
        self._retry(
            lambda: self.bus.sync_write(
                goal_field.address, {i: goal_field.encode_raw(goal_field.from_si(q)) for i, q in goals.items()}
            )
        )
        deadline = self.clock.now() + duration + self.plan.settle_timeout_s
        while True:
            if sample is not None:
                sample()
            self.clock.sleep(self.plan.sample_period_s)
            present = self._positions()
            if all(abs(goals[i] - present[i]) <= self.plan.arrived_rad for i in goals):
                return
            if self.clock.now() > deadline:
                late = {i: round(present[i], 3) for i in goals if abs(goals[i] - present[i]) > self.plan.arrived_rad}
                raise CommissionError(
                    f"servo(s) {sorted(late)} did not reach their goal within {duration + self.plan.settle_timeout_s:.0f} s "
                    f"(at {late} rad); check that nothing blocks the arm and that the taught poses are reachable"
                )

    def _disarm_watchdog(self) -> None:
        for servo in self.servos:
            try:
                self._write_raw(servo.servo_id, Register.BUS_WATCHDOG, 0)
            except BridgeError:
                pass  # commissioning is ending anyway; the arm holds where it is

    # -- 4. noise at rest ------------------------------------------------------------------------

    def _currents(self) -> dict[int, float]:
        field = _reg(Register.PRESENT_CURRENT)
        raw = self._retry(lambda: self.bus.sync_read(field.address, field.size, [s.servo_id for s in self.servos]))
        return {servo_id: field.to_si(field.decode_raw(data)) * 1000.0 for servo_id, data in raw.items()}

    def _noise_at_rest(self) -> None:
        self.clock.sleep(0.5)  # let the arm settle
        samples: dict[int, list[float]] = {s.servo_id: [] for s in self.servos}
        for _ in range(self.plan.rest_samples):
            for servo_id, ma in self._currents().items():
                samples[servo_id].append(ma)
            self.clock.sleep(self.plan.sample_period_s)
        for servo in self.servos:
            values = np.asarray(samples[servo.servo_id])
            trend = np.polyval(np.polyfit(np.arange(len(values)), values, 1), np.arange(len(values)))
            servo.noise_rest_ma = float(np.std(values - trend))
        self.report(
            "current noise at rest: " + ", ".join(f"{s.servo_id} {s.noise_rest_ma:.1f} mA" for s in self.servos)
        )

    # -- 5. step response ------------------------------------------------------------------------

    def _step_response(self, servo: _Servo) -> None:
        sid = servo.servo_id
        for _ in range(TRIES):
            rise, overshoot = self._step(servo)
            if math.isfinite(rise):
                break
        else:
            raise CommissionError(
                f"servo {sid} did not follow a {self.plan.step_rad} rad step within {self.plan.step_watch_s} s "
                "(or too many of its replies were lost); check that nothing blocks the arm"
            )
        servo.rise_time_s, servo.overshoot_rad = rise, overshoot
        self.report(f"servo {sid}: step response rise {rise * 1000:.0f} ms, overshoot {overshoot:.4f} rad")

    def _step(self, servo: _Servo) -> tuple[float, float]:
        sid = servo.servo_id
        start = self._read_si(sid, Register.PRESENT_POSITION)
        target = servo.rest_rad + servo.toward_middle * self.plan.step_rad
        self._set_profile(sid, 0.0)  # no servo-side profile: a step
        t0 = self.clock.now()
        self._write_si(sid, Register.GOAL_POSITION, target)
        times, positions = [], []
        while self.clock.now() - t0 < self.plan.step_watch_s:
            try:
                positions.append(self._read_si(sid, Register.PRESENT_POSITION, tries=1))
            except BridgeError:
                continue
            times.append(self.clock.now() - t0)
        self._move_to({**self._positions(), sid: servo.rest_rad})
        if len(positions) < 5:
            return math.inf, 0.0
        return step_metrics([0.0, *times], [start, *positions], start, self._max_sample_gap_s)

    # -- 6. stop after host silence --------------------------------------------------------------

    def _arm_watchdogs(self, last: _Servo) -> None:
        """Arm every servo's Bus Watchdog in one pass without pauses, `last` last. A lost reply
        is not retried in place: a retry's pause would be host silence that trips the servos
        already armed; every watchdog is cleared and the pass made again instead."""
        steps = self.safety.watchdog_steps
        order = [s for s in self.servos if s is not last] + [last]
        for _ in range(TRIES):
            try:
                for servo in order:
                    self.bus.write(servo.servo_id, _reg(Register.BUS_WATCHDOG).address, bytes((steps,)))
                return
            except BridgeError:
                for servo in self.servos:
                    self._write_raw(servo.servo_id, Register.BUS_WATCHDOG, 0)  # clears a trip
        raise CommissionError(
            f"the servos' Bus Watchdog could not be armed in {TRIES} tries: too many replies were lost"
        )

    def _stop_after_silence(self, servo: _Servo) -> None:
        sid = servo.servo_id
        watchdog_s = self.safety.watchdog_ms / 1000.0
        speed = self._run_toward_middle(servo)
        self._arm_watchdogs(servo)
        p0 = self._read_si(sid, Register.PRESENT_POSITION)  # the host's last word
        self.clock.sleep(watchdog_s + 0.3)  # silent: the watchdog must trip, and the joint stop
        tripped = self._read_raw(sid, Register.BUS_WATCHDOG) == -1
        travelled = abs(self._read_si(sid, Register.PRESENT_POSITION) - p0)
        for other in self.servos:
            self._write_raw(other.servo_id, Register.BUS_WATCHDOG, 0)  # clears a trip; goals accepted again
        self._move_to({**self._positions(), sid: servo.rest_rad})
        braking_s = self._braking_time(servo)
        self._move_to({**self._positions(), sid: servo.rest_rad})
        if not tripped:
            servo.stop_s = 10.0  # never stopped by the watchdog: fails the verdict
            self.report(f"servo {sid}: the Bus Watchdog did NOT stop it after {watchdog_s * 1000:.0f} ms of silence")
            return
        servo.stop_s = min(travelled / speed + braking_s / 2.0, 10.0)
        self.report(
            f"servo {sid}: stopped {servo.stop_s * 1000:.0f} ms after the host fell silent "
            f"({travelled * 1000:.1f} mrad at {speed:.2f} rad/s, braking {braking_s * 1000:.0f} ms)"
        )

    def _run_toward_middle(self, servo: _Servo) -> float:
        """Start `servo` moving at the silence test's speed; return its measured speed (rad/s)."""
        sid = servo.servo_id
        self._set_profile(sid, self.plan.silence_speed_rad_s)
        self._write_si(sid, Register.GOAL_POSITION, servo.rest_rad + servo.toward_middle * self.plan.silence_travel_rad)
        ramp_s = self.plan.silence_speed_rad_s / self.plan.move_acceleration_rad_s2
        self.clock.sleep(ramp_s + 0.05)
        t1, p1 = self.clock.now(), self._read_si(sid, Register.PRESENT_POSITION)
        self.clock.sleep(0.03)
        t2, p2 = self.clock.now(), self._read_si(sid, Register.PRESENT_POSITION)
        speed = abs(p2 - p1) / max(t2 - t1, 1e-6)
        if speed < 0.3 * self.plan.silence_speed_rad_s:
            raise CommissionError(
                f"servo {sid} did not move ({speed:.3f} rad/s where {self.plan.silence_speed_rad_s} rad/s was asked); "
                "check that nothing blocks the arm"
            )
        return speed

    def _braking_time(self, servo: _Servo) -> float:
        """The same move, stopped as the watchdog stops it (goal at the present position, no
        profile); seconds until the joint stands still."""
        sid = servo.servo_id
        for _ in range(TRIES):
            self._run_toward_middle(servo)
            self._set_profile(sid, 0.0)
            t0 = self.clock.now()
            self._write_si(sid, Register.GOAL_POSITION, self._read_si(sid, Register.PRESENT_POSITION))
            history: list[tuple[float, float]] = []
            while self.clock.now() - t0 < self.plan.brake_watch_s:
                try:
                    history.append((self.clock.now() - t0, self._read_si(sid, Register.PRESENT_POSITION, tries=1)))
                except BridgeError:
                    continue
            braking_s = standstill_time(history)
            if math.isfinite(braking_s):
                return braking_s
            self._move_to({**self._positions(), sid: servo.rest_rad})
        raise CommissionError(f"servo {sid} could not be watched braking: too many of its replies were lost")

    # -- 7. noise along the taught paths ---------------------------------------------------------

    def _noise_along_paths(self) -> None:
        samples: dict[int, list[list[float]]] = {s.servo_id: [] for s in self.servos}
        joints = tuple(self.calibration.joint_servo_ids)
        for bowl in self.calibration.bowls:
            for waypoint in (*bowl.waypoints_rad, self.calibration.ready_pose_rad):
                segment: dict[int, list[float]] = {s.servo_id: [] for s in self.servos}

                def sample(segment: dict[int, list[float]] = segment) -> None:
                    for servo_id, ma in self._currents().items():
                        segment[servo_id].append(ma)

                self._move_to({**self._rest_pose(), **dict(zip(joints, waypoint, strict=True))}, sample)
                for servo_id, values in segment.items():
                    samples[servo_id].append(values)
        for servo in self.servos:
            servo.noise_moving_ma = moving_noise(samples[servo.servo_id], self.plan.moving_average_samples)
        self.report(
            "current noise along the taught paths: "
            + ", ".join(f"{s.servo_id} {s.noise_moving_ma:.1f} mA" for s in self.servos)
        )

    # -- reads and writes ------------------------------------------------------------------------

    def _retry(self, call, tries: int = TRIES):
        for attempt in range(tries):
            try:
                return call()
            except BridgeError:
                if attempt == tries - 1:
                    raise
                self.clock.sleep(RETRY_PAUSE_S * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_raw(self, servo_id: int, register: Register, tries: int = TRIES) -> int:
        field = _reg(register)
        return field.decode_raw(self._retry(lambda: self.bus.read(servo_id, field.address, field.size), tries))

    def _read_si(self, servo_id: int, register: Register, tries: int = TRIES) -> float:
        return _reg(register).to_si(self._read_raw(servo_id, register, tries))

    def _write_raw(self, servo_id: int, register: Register, raw: int) -> None:
        field = _reg(register)
        self._retry(lambda: self.bus.write(servo_id, field.address, field.encode_raw(raw)))

    def _write_si(self, servo_id: int, register: Register, value: float) -> None:
        self._write_raw(servo_id, register, _reg(register).from_si(value))

    def _positions(self) -> dict[int, float]:
        field = _reg(Register.PRESENT_POSITION)
        raw = self._retry(lambda: self.bus.sync_read(field.address, field.size, [s.servo_id for s in self.servos]))
        return {servo_id: field.to_si(field.decode_raw(data)) for servo_id, data in raw.items()}


# -- pure analysis --------------------------------------------------------------------------------


def step_metrics(
    times: Sequence[float], positions: Sequence[float], start: float, max_gap_s: float = 0.01
) -> tuple[float, float]:
    """(10-90 % rise time s, overshoot rad) of a step from `start`, sampled at `times` after the
    goal was written; the step's size is where the joint settled (the mean of the last fifth).
    The crossings are interpolated between samples; a rise with a gap of more than `max_gap_s`
    between two samples is not measured (inf), nor one that never got there."""
    if len(positions) < 5:
        raise CommissionError("too few position samples of a step response: the bus is too slow or too lossy")
    p = np.asarray(positions, dtype=float)
    t = np.asarray(times, dtype=float)
    final = float(np.mean(p[-max(len(p) // 5, 1) :]))
    size = final - start
    if abs(size) < 1e-6:
        return math.inf, 0.0  # it did not move
    progress = (p - start) / size
    crossings = []
    for level in (0.1, 0.9):
        after = np.flatnonzero(progress >= level)
        if not len(after) or after[0] == 0:
            return math.inf, 0.0
        k = after[0]
        if t[k] - t[k - 1] > max_gap_s:
            return math.inf, 0.0
        share = (level - progress[k - 1]) / (progress[k] - progress[k - 1])
        crossings.append(t[k - 1] + share * (t[k] - t[k - 1]))
    overshoot = max(0.0, float(np.max((p - final) * math.copysign(1.0, size))))
    return float(crossings[1] - crossings[0]), overshoot


def standstill_time(history: Sequence[tuple[float, float]], window_s: float = 0.03, still_rad: float = 0.005) -> float:
    """The first time after which the position moves less than `still_rad` over `window_s`
    (inf when the samples never show that: too few, or it kept moving)."""
    for i, (t, _) in enumerate(history):
        later = [q for s, q in history[i:] if s - t <= window_s]
        if history[-1][0] - t >= window_s and len(later) >= 2 and max(later) - min(later) < still_rad:
            return t
    return math.inf


def moving_noise(segments: Sequence[Sequence[float]], window: int) -> float:
    """Standard deviation (same unit) of samples about their centred moving average over
    `window` samples, corrected for the average's own share of white noise."""
    residuals: list[float] = []
    half = window // 2
    kernel = np.ones(window) / window
    for segment in segments:
        values = np.asarray(segment, dtype=float)
        if len(values) < window:
            continue
        smooth = np.convolve(values, kernel, mode="valid")
        residuals.extend(values[half : half + len(smooth)] - smooth)
    if len(residuals) < 2:
        raise CommissionError("the arm moved too little along the taught paths to measure its current noise")
    return statistics.pstdev(residuals) / math.sqrt(1.0 - 1.0 / window)


__all__ = ["CommissionError", "CommissionPlan", "Commissioner", "moving_noise", "standstill_time", "step_metrics"]
