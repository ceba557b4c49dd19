"""Hostile conditions around the meal loop, each on the real virtual servos and simulated time:
a bus that goes silent, servo alerts, a jumping mouth, NaN and unreachable mouths, triggers
while moving, a push on the spoon, and a clock that jumps."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from careplan_api.schemas import UsageEventType
from controller.feeding import CommandKind, FeedingState, UserCommand
from controller.loop import run_meal
from controller.safety import SafetyReason
from firmware_bridge.protocol import HardwareError
from sim.safety_report import StaleAdvanceCounter
from tests.controller.contact_trials import joint_torques_nm
from vision.observation import MouthStatus


def run(table, on_tick=None, **kwargs):
    def tick(controller):
        table.on_tick(controller)
        if on_tick is not None:
            on_tick(controller)

    return run_meal(
        table.bus,
        table.mouth,
        table.commands,
        table.clock,
        table.journal,
        table.profile,
        table.calibration,
        table.limits,
        on_tick=tick,
        max_duration_s=kwargs.pop("max_duration_s", 60.0),
        **kwargs,
    )


def journalled(table, kind: UsageEventType) -> list[dict]:
    return [event.data for event, _ in table.journal.events() if event.type is kind]


class Once:
    """Run `action(controller)` once, the first tick `when(controller)` holds."""

    def __init__(self, when, action):
        self.when, self.action, self.done_at = when, action, None

    def __call__(self, controller):
        if self.done_at is None and self.when(controller):
            self.done_at = controller.machine  # marks done
            self.action(controller)


def speed_toward_mouth(table, spoon, before) -> float:
    """The commanded spoon's speed (m/s) toward the citizen's mouth over the tick that took it from
    `before` to `spoon` (the loop's 5 ms period)."""
    to_mouth = table.citizen.mouth_now() - spoon
    return float((spoon - before) @ to_mouth) / float(np.linalg.norm(to_mouth)) / 0.005


def approaching_for(seconds: float, table):
    start = {}

    def when(controller):
        if controller.state is not FeedingState.APPROACH:
            return False
        start.setdefault("t", table.clock.now())
        return table.clock.now() - start["t"] >= seconds

    return when


def test_bus_that_stops_answering_mid_approach_is_a_safe_stop_and_the_servos_stop_themselves(table):
    def silence(_):
        for servo in table.servos.servos:
            servo.reply_faults.silent = True

    report = run(table, Once(approaching_for(0.3, table), silence))
    assert report.final_state is FeedingState.FAULT
    assert report.controller.reasons.get(SafetyReason.BUS_ERRORS) == 1
    assert report.controller.bus_errors >= table.limits.max_consecutive_bus_errors
    assert journalled(table, UsageEventType.SAFETY_STOP)[0]["reason"] == "bus_errors"
    # The host has stopped talking: the servos' own Bus Watchdog (100 ms) stops them.
    table.clock.sleep(0.15)
    table.servos.advance_to(table.clock.now())
    assert all(servo.get("bus_watchdog") in (-1, 255) for servo in table.servos.servos)


def test_servo_alert_mid_approach_is_a_safe_stop_naming_the_hardware_error(table):
    report = run(
        table,
        Once(
            approaching_for(0.2, table), lambda _: table.servos.servo(13).inject_hardware_error(HardwareError.OVERLOAD)
        ),
    )
    assert report.final_state is FeedingState.FAULT
    stop = journalled(table, UsageEventType.SAFETY_STOP)[0]
    assert stop["reason"] == "servo_hardware_error" and "13" in stop["detail"]
    assert journalled(table, UsageEventType.FAULT)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (lambda servo: servo.set_temperature(75.0), "overheating"),
        (lambda servo: servo.set_input_voltage(9.8), "low_voltage"),
    ],
    ids=["hot", "low_supply"],
)
def test_hot_or_undersupplied_servo_is_a_safe_stop_before_its_own_shutdown(table, fault, reason):
    report = run(table, Once(approaching_for(0.2, table), lambda _: fault(table.servos.servo(12))))
    assert report.final_state is FeedingState.FAULT
    assert journalled(table, UsageEventType.SAFETY_STOP)[0]["reason"] == reason


def test_mouth_jumping_30_cm_in_one_frame_is_not_followed(table):
    spoon_y = []

    def jump(_):
        table.citizen.offset_m = np.array([0.0, 0.30, 0.0])

    def watch(controller):
        if controller.state in (FeedingState.APPROACH, FeedingState.AT_MOUTH, FeedingState.RETRACT):
            spoon_y.append(controller.motion.spoon_pose[1])

    once = Once(approaching_for(0.2, table), jump)
    report = run(table, lambda c: (once(c), watch(c)))
    assert report.controller.rejected_mouth_jumps >= 1
    assert SafetyReason.MOUTH_JUMP in report.controller.reasons
    assert max(abs(y) for y in spoon_y) < 0.01  # never turned toward the jumped position
    # Every later frame jumps too: the mouth counts as lost and the spoon goes back to ready.
    assert SafetyReason.MOUTH_LOST in report.controller.reasons
    assert report.final_state is FeedingState.ENDED


def test_nan_mouth_position_is_never_a_target(table):
    commanded = []
    once = Once(approaching_for(0.2, table), lambda _: setattr(table.citizen, "offset_m", np.array([math.nan, 0, 0])))
    report = run(table, lambda c: (once(c), commanded.append(c.motion.q.copy())))
    assert np.all(np.isfinite(commanded))
    assert SafetyReason.INVALID_TARGET in report.controller.reasons
    assert report.final_state is FeedingState.ENDED


def test_frames_whose_time_is_not_a_number_stop_the_approach_and_the_mouth_goes_lost(table):
    # The camera goes on seeing the mouth, but its clock breaks: every frame's time is NaN. None may
    # refresh the trusted mouth (a NaN time would never grow stale), so the arm holds, then retracts.
    distances = []  # the commanded spoon's distance to the mouth, from the tick the clock broke

    def watch(controller):
        if math.isnan(table.citizen.time_error_s):
            distances.append(float(np.linalg.norm(controller.motion.spoon_pose[:3] - table.citizen.mouth_now())))

    once = Once(approaching_for(0.2, table), lambda _: setattr(table.citizen, "time_error_s", math.nan))
    report = run(table, lambda c: (once(c), watch(c)))
    assert SafetyReason.CLOCK_JUMP in report.controller.reasons
    assert SafetyReason.MOUTH_LOST in report.controller.reasons
    nearest = int(np.argmin(distances))
    assert nearest <= 30 and distances[0] - distances[nearest] < 0.006  # a stop: within 0.15 s and 6 mm
    assert report.feeding.bites_taken == 0
    assert report.final_state is FeedingState.ENDED


def test_mouth_out_of_reach_retracts_with_the_reason(table):
    table.citizen.mouth_m = np.array([0.60, 0.0, 0.25])
    table.citizen.takes_bites = False
    report = run(table)
    assert report.feeding.bites_offered == 1 and report.feeding.bites_taken == 0
    assert journalled(table, UsageEventType.SAFETY_STOP)[0]["reason"] == "unreachable"
    assert report.final_state is FeedingState.ENDED


def test_triggers_while_moving_are_ignored_counted_and_journalled(table):
    def press(controller):
        if controller.state in (FeedingState.APPROACH, FeedingState.RETRACT, FeedingState.SCOOP):
            table.commands.push(UserCommand(CommandKind.NEXT_BITE, source="switch"))

    report = run(table, press)
    assert report.final_state is FeedingState.ENDED
    assert report.feeding.bites_offered == 1
    assert report.feeding.triggers_ignored > 100
    ignored = [d for d in journalled(table, UsageEventType.TRIGGER) if not d["accepted"]]
    assert len(ignored) == report.feeding.triggers_ignored
    assert {d["state"] for d in ignored} >= {"approach", "retract"}


def test_push_on_the_spoon_near_the_face_stops_within_20_ms_then_retracts(table, arm_noise):
    """A 5 N push of the face against the spoon, on the flawed arm with its commissioned noise."""
    pushed, detected, stopped = [], [], []

    def watch(controller):
        now = table.clock.now()
        spoon = controller.motion.spoon_pose[:3]
        near = np.linalg.norm(spoon - table.citizen.mouth_now()) < 0.06
        if not pushed and controller.state is FeedingState.APPROACH and near:
            pushed.append(now)
        if pushed and not detected and SafetyReason.CONTACT in controller.stats.reasons:
            detected.append(now)
        if detected and not stopped and controller.motion.stopping:
            stopped.append(now)
        push = pushed and (not detected or now - detected[0] < 0.1)  # the face pulls back as the spoon stops
        force = np.array((-5.0, 0.0, 0.0)) if push else np.zeros(3)
        torques = joint_torques_nm(controller.motion.q, table.calibration.spoon, force)
        table.plant.external_nm.update(zip(table.calibration.joint_servo_ids, torques.tolist(), strict=True))

    report = run(table, watch, contact_noise=arm_noise)
    assert detected, report
    assert detected[0] - pushed[0] <= 0.020
    assert stopped[0] == detected[0]  # the stop is this tick's target
    stop = journalled(table, UsageEventType.SAFETY_STOP)[0]
    assert stop["reason"] == "contact" and stop["state"] == "approach"
    assert report.final_state is FeedingState.ENDED


def test_clock_jumping_forward_mid_approach_skips_slots_without_a_burst(table, jumping_clock):
    start = {}

    def jump(controller):
        if controller.state is FeedingState.APPROACH and "t" not in start:
            start["t"] = jumping_clock.inner.now()
            jumping_clock.jumps[start["t"] + 0.2] = 10.0

    report = run(table, jump, max_duration_s=80.0)
    assert report.loop.overruns >= 1
    assert report.loop.slots_skipped >= 1900  # ten seconds of slots skipped, not made up
    assert report.loop.ticks < (report.duration_s - 10.0) * 200 + 50
    # Frames stamped before the jump look 10 s old after it: the arm may hold or retract (then
    # the reason is journalled), but it never advances on them.
    assert report.controller.advances_on_stale_mouth == 0
    assert report.final_state is FeedingState.ENDED
    stops = journalled(table, UsageEventType.SAFETY_STOP)
    assert report.feeding.bites_taken == 1 or stops[0]["reason"] == "mouth_lost"


def test_clock_jumping_backward_mid_approach_keeps_the_loop_running(table, jumping_clock):
    start = {}

    def jump(controller):
        if controller.state is FeedingState.APPROACH and "t" not in start:
            start["t"] = jumping_clock.inner.now()
            jumping_clock.jumps[start["t"] + 0.2] = -5.0

    report = run(table, jump)
    assert report.loop.clock_jumps_back == 1
    assert report.controller.clock_jumps_back == 1
    assert report.final_state is FeedingState.ENDED
    assert report.feeding.bites_taken == 1


def test_sudden_lean_in_toward_the_spoon_stops_and_retracts(table):
    lean = {}

    def lean_in(controller):
        now = table.clock.now()
        spoon = controller.motion.spoon_pose[:3]
        near = np.linalg.norm(spoon - table.citizen.mouth_now()) < 0.07  # the spoon is slow here
        if controller.state is FeedingState.APPROACH and near and "t" not in lean:
            lean["t"] = now
        if "t" in lean and lean["t"] <= now < lean["t"] + 0.1:
            table.citizen.mouth_m = table.citizen.mouth_m - np.array([0.5 * 0.005, 0.0, 0.0])  # 0.5 m/s

    report = run(table, lean_in)
    stop = journalled(table, UsageEventType.SAFETY_STOP)[0]
    assert stop["reason"] == "lean_in" and stop["state"] == "approach"
    assert report.feeding.bites_taken == 0
    assert report.final_state is FeedingState.ENDED


def test_mouth_coming_close_to_a_moving_spoon_stops_and_retracts(table):
    # The approach from the ready pose is at the near-mouth cap (x 0.8) already: the ready pose is
    # within the near-mouth radius plus braking distance plus `unseen_mouth_approach_m`.
    moved = {}

    def come_closer(controller):
        now = table.clock.now()
        if controller.state is FeedingState.APPROACH and controller.motion.spoon_speed_m_s > 0.04 and "t" not in moved:
            moved["t"] = now
        if "t" in moved and now < moved["t"] + 0.1:
            table.citizen.mouth_m = table.citizen.mouth_m - np.array([0.5 * 0.005, 0.0, 0.0])

    report = run(table, come_closer)
    stop = journalled(table, UsageEventType.SAFETY_STOP)[0]
    assert stop["reason"] in ("speed_limit", "lean_in") and stop["reaction"] == "retract"
    assert report.final_state is FeedingState.ENDED


def test_frozen_camera_mid_approach_holds_then_retracts(table):
    def freeze(controller):
        table.citizen.noise_m = 0.0  # the same frame again and again, under fresh timestamps
        table.citizen.takes_bites = False

    report = run(table, Once(approaching_for(0.2, table), freeze))
    assert SafetyReason.STALE_VISION in report.controller.reasons
    assert journalled(table, UsageEventType.SAFETY_STOP)[0]["reason"] == "mouth_lost"
    assert report.feeding.bites_taken == 0
    assert report.final_state is FeedingState.ENDED


@pytest.mark.parametrize(
    ("confidence", "status"),
    [
        (0.3, MouthStatus.TRACKED),
        (0.49, MouthStatus.OCCLUDED),
        (0.0, MouthStatus.TOO_SMALL),
        (0.9, MouthStatus.OFF_CENTER),
    ],
)
def test_low_confidence_mid_approach_is_a_stale_mouth_hold_then_retract(table, confidence, status):
    doubted: dict = {}

    def doubt(controller):
        table.citizen.confidence, table.citizen.status = confidence, status
        table.citizen.takes_bites = False
        doubted["t"] = table.clock.now()

    advances = []

    def watch(controller):
        # Once the stale-vision hold has begun (stale_after_s) and the stop is done (0.15 s), the
        # spoon never goes on toward the mouth.
        if not doubted or controller.state is not FeedingState.APPROACH:
            return
        if table.clock.now() < doubted["t"] + table.limits.stale_after_s + 0.15:
            doubted["spoon"] = controller.motion.spoon_pose[:3].copy()
            return
        toward = table.citizen.mouth_now() - doubted["spoon"]
        toward /= np.linalg.norm(toward)
        advances.append(float((controller.motion.spoon_pose[:3] - doubted["spoon"]) @ toward))

    once = Once(approaching_for(0.2, table), doubt)
    report = run(table, lambda controller: (once(controller), watch(controller)))
    assert report.controller.low_confidence_mouths > 0
    assert SafetyReason.STALE_VISION in report.controller.reasons
    assert journalled(table, UsageEventType.SAFETY_STOP)[0]["reason"] == "mouth_lost"
    assert advances and max(advances) < 0.001  # m
    assert report.feeding.bites_taken == 0
    assert report.final_state is FeedingState.ENDED


class TurnsAway:
    """From the first tick `when(controller)` holds, for `for_s` (None: for good), every new frame
    is what vision gives of a face turned away: not usable, no mouth position, confidence 0 (as in
    the campaign's `turn` runs with the vision pipeline). Records how far the commanded spoon
    advances toward the mouth from where it was when the first such frame came."""

    def __init__(self, table, when, for_s=None):
        self.table, self.when, self.for_s = table, when, for_s
        self.since_s = None
        self.spoon_m = None
        self.advances_m: list[float] = []

    def __call__(self, controller):
        table, now = self.table, self.table.clock.now()
        if self.since_s is None:
            if not self.when(controller):
                return
            self.since_s = now
        if self.for_s is None or now < self.since_s + self.for_s:
            seen = table.mouth.latest()
            if seen is not None and seen.position_m is not None and seen.t >= self.since_s:  # a new frame
                table.mouth.put(replace(seen, position_m=None, confidence=0.0, status=MouthStatus.TURNED_AWAY))
                if self.spoon_m is None:  # the first such frame: the loop sees it next tick
                    self.spoon_m = controller.motion.spoon_pose[:3].copy()
            if self.spoon_m is not None and controller.state is FeedingState.APPROACH:
                toward = table.citizen.mouth_now() - self.spoon_m
                toward /= np.linalg.norm(toward)
                self.advances_m.append(float((controller.motion.spoon_pose[:3] - self.spoon_m) @ toward))


def test_a_face_turning_away_mid_approach_stops_the_advance_at_once(table):
    """turn_s4 and turn_s1000057 (campaign, vision): a turned-away frame has no mouth position,
    and the loop used to skip it as if no frame had come (not even counted as low confidence), so
    the spoon went on toward the last trusted mouth until it was 0.2 s old, 9-10 mm. A frame that
    says the face turned away is news, not a gap: the spoon stops advancing the next tick."""
    table.citizen.takes_bites = False
    turns = TurnsAway(table, approaching_for(0.2, table))
    report = run(table, turns)
    steps = np.diff(turns.advances_m)
    assert np.all(np.diff(steps) <= 1e-9)  # from the tick that saw the frame on, the spoon only brakes
    assert max(turns.advances_m) < 0.003  # m: one tick at 0.048 m/s and the stop's braking (about 2 mm)
    assert report.controller.low_confidence_mouths > 0
    assert journalled(table, UsageEventType.SAFETY_STOP)[0]["reason"] == "mouth_lost"  # after 0.5 s, as before
    assert report.feeding.bites_taken == 0
    assert report.final_state is FeedingState.ENDED


def test_a_glance_away_shorter_than_stale_after_s_pauses_the_approach_and_the_bite_still_comes(table):
    glance = TurnsAway(table, approaching_for(0.2, table), for_s=0.1)
    report = run(table, glance)
    assert glance.advances_m and max(glance.advances_m) < 0.003  # m, while the face was turned away
    assert report.controller.low_confidence_mouths > 0
    assert journalled(table, UsageEventType.SAFETY_STOP) == []  # a pause of the approach, not a safety stop
    assert report.feeding.bites_taken == 1
    assert report.final_state is FeedingState.ENDED


def test_confidence_at_the_threshold_feeds(table):
    table.citizen.confidence = table.limits.min_mouth_confidence
    report = run(table)
    assert report.controller.low_confidence_mouths == 0
    assert report.feeding.bites_taken == 1


def test_arm_that_does_not_answer_at_start_is_a_clear_error_before_any_motion(table):
    import threading

    from firmware_bridge import BusTimeout

    for servo in table.servos.servos:
        servo.reply_faults.silent = True
    threads_before = threading.active_count()
    with pytest.raises(BusTimeout, match="no answer"):
        run(table)
    assert threading.active_count() == threads_before  # no journal writer left behind
    assert table.journal.events() == []


@pytest.mark.parametrize("frame_period_s", [0.15 + k * 0.005 for k in range(10)])
def test_no_speed_is_gained_toward_a_mouth_gone_stale_while_the_approach_accelerates(table, frame_period_s):
    # A slow camera (a frame every `frame_period_s`, never stale while it sees the face): the face
    # disappears as the approach begins, on a frame already up to `frame_period_s` old, so the
    # mouth goes stale (stale_after_s) while the jerk-limited approach still gains speed. Judged as
    # the safety report judges it, the spoon is never driven toward the stale mouth without
    # slowing (drowsy_slump_s207 of the tuning campaign was, for a tick).
    table.citizen.frame_period_s = frame_period_s
    judge = StaleAdvanceCounter(table.limits.stale_after_s, 0.005)
    seen: dict = {}

    def hide(controller):
        table.citizen.visible = table.citizen.takes_bites = False

    def watch(controller):
        spoon = controller.motion.spoon_pose[:3].copy()
        if "spoon" in seen and controller.supervisor.trusted_mouth_t_s is not None:
            speed = speed_toward_mouth(table, spoon, seen["spoon"])
            judge.update(table.clock.now() - controller.supervisor.trusted_mouth_t_s, speed)
        seen["spoon"] = spoon

    once = Once(lambda controller: controller.state is FeedingState.APPROACH, hide)
    report = run(table, lambda controller: (once(controller), watch(controller)), max_duration_s=30.0)
    assert SafetyReason.STALE_VISION in report.controller.reasons
    assert judge.count == 0


@pytest.mark.parametrize("after_s", [k * 0.01 for k in range(16)])
def test_no_speed_is_gained_toward_a_mouth_gone_unsure_while_the_approach_accelerates(table, after_s):
    # bystander_s1001489, s1002025 and s1002539 (held-out campaign, vision): the newest frame turns unconfident while the
    # approach still gains speed. The stop must take the approach's acceleration off within the
    # tick the judge allows (`StaleAdvanceCounter`): one tick to notice, then the spoon brakes.
    judge = StaleAdvanceCounter(table.limits.stale_after_s, 0.005)
    seen: dict = {"frame": None, "unsure_since": None}

    def doubt(controller):
        table.citizen.confidence, table.citizen.takes_bites = 0.3, False

    def watch(controller):
        now, newest = table.clock.now(), seen["frame"]  # the frame this tick's controller had
        if newest is not None and newest.confidence < table.limits.min_mouth_confidence:
            seen["unsure_since"] = seen["unsure_since"] if seen["unsure_since"] is not None else now
        else:
            seen["unsure_since"] = None
        spoon = controller.motion.spoon_pose[:3].copy()
        if "spoon" in seen and controller.state is FeedingState.APPROACH:
            speed = speed_toward_mouth(table, spoon, seen["spoon"])
            unsure_for = 0.0 if seen["unsure_since"] is None else now - seen["unsure_since"]
            judge.update(0.0, speed, unsure_for)
        seen["spoon"], seen["frame"] = spoon, table.mouth.latest()

    once = Once(approaching_for(after_s, table), doubt)
    report = run(table, lambda controller: (once(controller), watch(controller)), max_duration_s=30.0)
    assert report.controller.low_confidence_mouths > 0
    assert judge.count == 0


@pytest.mark.parametrize("glance_s", [0.005, 0.01, 0.015, 0.02, 0.03])
def test_an_approach_paused_for_a_few_ticks_goes_on_neither_backwards_nor_faster(table, glance_s):
    # drowsy_slump_s39 (tuning): a HOLD of a few ticks, then the approach went on from the stop's
    # braking (1.5 m/s^2), which the move's own jerk took 0.3 s to undo: the spoon was driven
    # backwards at 0.07 m/s and stopped for `speed_limit`. A stop runs to rest before the next move
    # (`controller.motion.Motion`).
    table.citizen.frame_period_s = 0.005
    glance = TurnsAway(table, approaching_for(0.3, table), for_s=glance_s)
    toward: list[float] = []
    speeds: list[float] = []
    seen: dict = {}

    def watch(controller):
        spoon = controller.motion.spoon_pose[:3].copy()
        if glance.since_s is not None and controller.state is FeedingState.APPROACH and "spoon" in seen:
            toward.append(speed_toward_mouth(table, spoon, seen["spoon"]))
            speeds.append(controller.motion.spoon_speed_m_s)
        seen["spoon"] = spoon

    report = run(table, lambda controller: (glance(controller), watch(controller)))
    assert report.controller.low_confidence_mouths > 0
    assert toward and min(toward) > -0.002  # m/s: never driven back from the mouth while approaching
    assert max(speeds) <= table.profile.speed_near_mouth_m_s
    assert SafetyReason.SPEED_LIMIT not in report.controller.reasons
    assert report.feeding.bites_taken == 1
