"""The flawed simulated arm: each flaw of `sim.flaws.ArmFlaws` shows up as a real arm would show it."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from firmware_bridge import BusTimeout, CRCError, DynamixelBus
from firmware_bridge import protocol as p
from firmware_bridge.control_table import XL430_W250, Register
from firmware_bridge.protocol import HardwareError, StatusParser
from sim.flaws import FLAW_PRESETS, IDEAL, TYPICAL, ArmFlaws, FlawsError, load_flaws
from sim.scenario import ScenarioError, parse_scenarios
from sim.servo_plant import HARD_STOPS_RAD, CompliantPlant, IdealPlant, JointLoad
from sim.virtual_bus import SimulatedClock, VirtualServoBus

CURRENT_UNIT_MA = 2.69


def exchange(bus: VirtualServoBus, packet: bytes, wait_s: float = 0.02) -> list[p.StatusPacket]:
    bus.transmit(packet)
    bus.clock.sleep(wait_s)
    return StatusParser().feed(bus.pop_ready())


def flawed_bus(ids=(11,), *, plant=None, **flaws) -> VirtualServoBus:
    return VirtualServoBus(ids, clock=SimulatedClock(), plant=plant or IdealPlant(loads={}), flaws=ArmFlaws(**flaws))


def torque_on(bus: VirtualServoBus, servo_id: int) -> None:
    (status,) = exchange(bus, p.write(servo_id, 64, b"\x01"))
    assert status.error == 0


def read_int(bus: VirtualServoBus, servo_id: int, address: int, size: int) -> int:
    (status,) = exchange(bus, p.read(servo_id, address, size), wait_s=0.005)
    return int.from_bytes(status.params, "little", signed=True)


# -- what the servos report ------------------------------------------------------------------------


def test_present_current_carries_the_configured_noise():
    bus = flawed_bus(current_noise_ma=40.0)
    torque_on(bus, 11)
    samples = [read_int(bus, 11, 126, 2) * CURRENT_UNIT_MA for _ in range(2000)]
    assert statistics.fmean(samples) == pytest.approx(0.0, abs=3.0)
    assert statistics.pstdev(samples) == pytest.approx(40.0, rel=0.08)


def test_an_xl430_reports_the_current_noise_in_load_units():
    bus = VirtualServoBus((12,), clock=SimulatedClock(), models={12: XL430_W250}, flaws=ArmFlaws(current_noise_ma=40))
    torque_on(bus, 12)
    samples = [read_int(bus, 12, 126, 2) for _ in range(2000)]
    # 40 mA in the XL430's motor is 40e-3 A x 1.5 N m / 1.4 A = 43 mN m; in 0.1 % of its 1.5 N m: 28.6 units
    assert statistics.pstdev(samples) == pytest.approx(0.040 * 1.5 / 1.4 / 1.5e-3, rel=0.08)


def test_present_position_is_noisy_and_counted_in_steps():
    bus = flawed_bus(encoder_noise_ticks=2.0, position_step_ticks=4)
    samples = [read_int(bus, 11, 132, 4) for _ in range(2000)]
    assert all(sample % 4 == 0 for sample in samples)
    assert statistics.fmean(samples) == pytest.approx(2048, abs=0.5)
    assert 1.5 < statistics.pstdev(samples) < 3.0  # 2 ticks of noise, plus the 4-tick steps


def test_readings_through_indirect_data_carry_the_same_noise():
    """The controller reads Present Current and Position through Indirect Data every tick: the
    noise must reach it there too, not only on direct reads."""
    bus = flawed_bus(current_noise_ma=40.0, encoder_noise_ticks=2.0)
    torque_on(bus, 11)
    pointers = b"".join(a.to_bytes(2, "little") for a in (126, 127, 132, 133, 134, 135))
    (status,) = exchange(bus, p.write(11, 168, pointers))  # Indirect Address 1..6
    assert status.error == 0
    samples = []
    for _ in range(2000):
        (status,) = exchange(bus, p.read(11, 224, 6), wait_s=0.005)  # Indirect Data 1..6
        samples.append(
            (int.from_bytes(status.params[:2], "little", signed=True), int.from_bytes(status.params[2:], "little"))
        )
    currents, positions = zip(*samples, strict=True)
    assert statistics.pstdev(c * CURRENT_UNIT_MA for c in currents) == pytest.approx(40.0, rel=0.08)
    assert statistics.fmean(positions) == pytest.approx(2048, abs=2)  # held where torque came on
    assert 1.5 < statistics.pstdev(positions) < 2.5


@pytest.mark.parametrize("stop", ["torque on", "watchdog trip"])
def test_a_servo_holds_where_its_joint_is_not_where_a_noisy_reading_said(stop):
    holds = set()
    for seed in range(20):
        servo = flawed_bus(encoder_noise_ticks=4.0, seed=seed).servo(11)
        assert servo.read(132, 4).error == 0  # a noisy Present Position just before
        if stop == "torque on":
            assert servo.write(64, b"\x01").error == 0
        else:
            servo.trip_watchdog()
        holds.add(servo.get("goal_position"))
    assert holds == {2048}


def test_the_same_seed_gives_the_same_noise_and_another_seed_other_noise():
    def noise(seed: int) -> list[int]:
        bus = flawed_bus(current_noise_ma=40.0, seed=seed)
        torque_on(bus, 11)
        return [read_int(bus, 11, 126, 2) for _ in range(50)]

    assert noise(1) == noise(1)
    assert noise(1) != noise(2)


def test_the_ideal_preset_reports_exact_values():
    bus = flawed_bus()
    torque_on(bus, 11)
    assert {read_int(bus, 11, 126, 2) for _ in range(100)} == {0}
    assert {read_int(bus, 11, 132, 4) for _ in range(100)} == {2048}


# -- the wire and the USB adapter -------------------------------------------------------------------


def test_replies_are_lost_and_corrupted_at_the_configured_rates():
    bus = VirtualServoBus.start(
        (11,), clock=SimulatedClock(), flaws=ArmFlaws(lost_reply_rate=0.1, corrupt_reply_rate=0.05)
    )
    outcomes = {"ok": 0, "lost": 0, "corrupt": 0}
    try:
        with DynamixelBus(bus.url) as host:
            for _ in range(2000):
                try:
                    host.ping(11)
                    outcomes["ok"] += 1
                except BusTimeout:
                    outcomes["lost"] += 1
                except CRCError:
                    outcomes["corrupt"] += 1
    finally:
        bus.close()
    assert outcomes["lost"] / 2000 == pytest.approx(0.10, abs=0.02)
    assert outcomes["corrupt"] / 2000 == pytest.approx(0.9 * 0.05, abs=0.015)  # of the replies not lost


@pytest.mark.parametrize(("timer_ms", "low_ms", "high_ms"), [(16.0, 6.0, 10.0), (1.0, 0.3, 0.9)])
def test_the_usb_latency_timer_holds_replies_back(timer_ms, low_ms, high_ms):
    """A reply waits for the adapter's latency timer: on average half of it, never more."""
    bus = flawed_bus(usb_latency_timer_ms=timer_ms)
    phases = random.Random(0)
    waits = []
    for _ in range(400):
        bus.clock.sleep(phases.uniform(0.0, timer_ms / 1000))  # ask at every phase of the timer
        sent = bus.clock.now()
        bus.transmit(p.ping(11))
        wire_done = bus.line_free_s
        ready = bus.next_ready_s()
        assert ready is not None
        waits.append((ready - wire_done) * 1000)
        bus.clock.sleep(ready - sent + 0.001)
        bus.pop_ready()
    assert low_ms < statistics.fmean(waits) < high_ms
    assert max(waits) <= timer_ms + 1e-6


def run_200_hz(bus: VirtualServoBus, seconds: float) -> None:
    """A host that reads servo 11 every 5 ms, after arming its 20 ms Bus Watchdog."""
    torque_on(bus, 11)
    bus.transmit(p.write(11, 98, bytes((1,))))
    for _ in range(round(seconds / 0.005)):
        bus.clock.sleep(0.005)
        bus.transmit(p.read(11, 132, 4))
        bus.pop_ready()
    bus.advance_to(bus.clock.now())


def test_a_usb_stall_longer_than_the_bus_watchdog_trips_it():
    """The host sends every 5 ms, but a 60 ms stall holds its packets: the servo's watchdog trips."""
    bus = flawed_bus(usb_stalls_per_hour=3600.0, usb_stall_ms=60.0)  # a stall about every second
    run_200_hz(bus, 5.0)
    assert bus.servo(11).get("bus_watchdog") == -1


def test_without_stalls_the_same_loop_never_trips_the_watchdog():
    bus = flawed_bus(usb_stalls_per_hour=3600.0, usb_stall_ms=15.0)  # shorter than the watchdog
    run_200_hz(bus, 5.0)
    assert bus.servo(11).get("bus_watchdog") == 1


# -- heat ------------------------------------------------------------------------------------------


def test_the_overheating_servo_climbs_past_its_limit_and_shuts_down():
    bus = flawed_bus((11, 12), overheating_servo_id=12, overheating_from_s=10.0, overheating_c_per_s=2.0)
    for servo_id in (11, 12):
        torque_on(bus, servo_id)
    bus.advance_to(10.0)
    assert bus.servo(12).torque_on and bus.servo(12).get("present_temperature") == 30
    bus.advance_to(10.0 + (80 - 30) / 2.0 + 1.0)  # Temperature Limit 80 degC, from 30 degC at 2 degC/s
    assert bus.servo(12).hardware_errors == HardwareError.OVERHEATING
    assert not bus.servo(12).torque_on
    assert bus.servo(11).torque_on and bus.servo(11).get("present_temperature") == 30


def test_holding_a_load_warms_a_servo_toward_its_steady_temperature():
    load = JointLoad(inertia_kg_m2=0.0, gravity_nm=1.0, coulomb_nm=0.0, viscous_nm_s=0.0)
    bus = flawed_bus((12,), plant=IdealPlant(loads={12: load}), heating_c_per_w=20.0, heating_time_constant_s=60.0)
    torque_on(bus, 12)
    bus.advance_to(600.0)  # ten time constants
    amperes = 1.0 / (4.1 / 2.3)
    steady = 30.0 + 20.0 * amperes**2 * (12.0 / 2.3)
    assert bus.servo(12).get("present_temperature") == round(steady)


# -- mechanics -------------------------------------------------------------------------------------


def settle(plant: CompliantPlant, servo_id: int, command: float | None, seconds: float = 1.0):
    reading = None
    for _ in range(round(seconds / 0.001)):
        reading = plant.step({servo_id: command}, 0.001)[servo_id]
    return reading


def test_a_compliant_joint_sags_under_its_load():
    load = JointLoad(inertia_kg_m2=0.01, gravity_nm=0.55, coulomb_nm=0.0, viscous_nm_s=0.0)
    plant = CompliantPlant({12: load})
    reading = settle(plant, 12, 0.0)
    assert reading.position_rad == pytest.approx(-(0.55 - 0.02) / 100.0, abs=1e-3)  # (gravity - friction) / kp
    assert reading.torque_nm == pytest.approx(0.53, abs=0.02)


def test_stiffer_gains_sag_less():
    load = JointLoad(inertia_kg_m2=0.01, gravity_nm=0.55, coulomb_nm=0.0, viscous_nm_s=0.0)
    plant = CompliantPlant({12: load})
    plant.set_position_gains(12, 1600, 0, 0)
    assert settle(plant, 12, 0.0).position_rad == pytest.approx(-(0.55 - 0.02) / 200.0, abs=5e-4)


def test_backlash_swallows_a_reversal_smaller_than_the_play():
    play = math.radians(0.5)
    plant = CompliantPlant({11: JointLoad(coulomb_nm=0.0)}, backlash_rad=play)
    settle(plant, 11, 0.1)
    before = settle(plant, 11, 0.1).position_rad
    after = settle(plant, 11, 0.1 - 0.8 * play).position_rad  # back by less than the play
    assert after == pytest.approx(before, abs=1e-5)
    assert settle(plant, 11, 0.1 - 2 * play).position_rad < before - 0.5 * play  # beyond it, the joint follows


def test_friction_keeps_a_joint_from_following_a_tiny_step():
    plant = CompliantPlant({11: JointLoad(coulomb_nm=0.0)}, friction_nm=0.2)
    start = settle(plant, 11, 0.0).position_rad
    assert settle(plant, 11, 0.001).position_rad == pytest.approx(start, abs=1e-9)  # 0.1 N m < 0.22 N m
    assert settle(plant, 11, 0.01).position_rad > start + 0.005


def test_a_joint_with_torque_off_falls_under_gravity():
    load = JointLoad(inertia_kg_m2=0.01, gravity_nm=0.55)
    plant = CompliantPlant({12: load})
    settle(plant, 12, 0.0)
    assert settle(plant, 12, None, seconds=0.5).position_rad < -0.2


READY_POSE = (0.0, -0.638, -0.1327, 0.7707)  # the demo calibration's


def holding_torques(plant, q, seconds: float = 1.0) -> list[float]:
    readings = None
    for _ in range(round(seconds / 0.001)):
        readings = plant.step({11 + i: float(v) for i, v in enumerate(q)}, 0.001)
    return [readings[servo_id].torque_nm for servo_id in (12, 13, 14)]


@pytest.mark.parametrize(
    "offset", [(0, 0, 0, 0), (0, 0.3, 0, 0), (0, -0.3, 0, 0), (0, 0, 0.3, 0), (0, 0, -0.3, 0), (0, 0.3, -0.3, 0.2)]
)
def test_the_virtual_bus_arm_needs_the_torques_the_mujoco_arm_needs_about_the_ready_pose(offset):
    from sim.world import World
    from sim.world_plant import MujocoPlant

    q = tuple(a + b for a, b in zip(READY_POSE, offset, strict=True))
    world = World()
    world.set_arm_pose(q)
    physics = holding_torques(MujocoPlant(world), q)
    plant = CompliantPlant()
    for servo_id, angle in zip((11, 12, 13, 14), q, strict=True):
        plant.set_position(servo_id, angle)
    assert holding_torques(plant, q) == pytest.approx(physics, abs=0.15)


def test_the_free_virtual_arm_falls_spoon_down_onto_the_stops_the_mujoco_arm_has():
    from sim.world import World

    plant = CompliantPlant()
    for servo_id, angle in zip((11, 12, 13, 14), READY_POSE, strict=True):
        plant.set_position(servo_id, angle)
    readings = None
    for _ in range(3000):
        readings = plant.step(dict.fromkeys((11, 12, 13, 14)), 0.001)
    model = World().model
    for servo_id in (12, 13):
        high = float(model.jnt_range[model.joint(f"joint{servo_id - 10}").id][1])
        assert readings[servo_id].position_rad == pytest.approx(high)  # fell positive, onto the stop
        assert HARD_STOPS_RAD[servo_id] == pytest.approx(
            tuple(model.jnt_range[model.joint(f"joint{servo_id - 10}").id])
        )


def test_the_virtual_bus_holds_the_flawed_arm_where_it_stands_until_torque_goes_off():
    bus = VirtualServoBus((11, 12, 13, 14), clock=SimulatedClock(), flaws=TYPICAL)
    for servo_id, angle in zip((11, 12, 13, 14), READY_POSE, strict=True):
        bus.plant.set_position(servo_id, angle)
    bus.clock.sleep(0.001)
    bus.advance_to(bus.clock.now())  # one tick: the servos read where the joints stand
    bus.hold()
    assert all(servo.torque_on for servo in bus.servos)
    bus.clock.sleep(1.0)
    bus.advance_to(bus.clock.now())
    held = bus.joint_states()
    assert [held[servo_id].position_rad for servo_id in (11, 12, 13, 14)] == pytest.approx(READY_POSE, abs=0.02)
    torque_off = bus.servo(13).model[Register.TORQUE_ENABLE].address
    (status,) = exchange(bus, p.write(13, torque_off, b"\x00"))
    assert status.error == 0
    bus.clock.sleep(0.5)
    bus.advance_to(bus.clock.now())
    assert bus.joint_states()[13].position_rad > READY_POSE[2] + 0.3  # the elbow falls, spoon down


def test_the_flawed_bus_builds_a_compliant_plant_and_the_ideal_one_an_ideal_plant():
    assert isinstance(VirtualServoBus((11,), clock=SimulatedClock(), flaws=TYPICAL).plant, CompliantPlant)
    assert isinstance(VirtualServoBus((11,), clock=SimulatedClock(), flaws=IDEAL).plant, IdealPlant)


# -- the configuration -----------------------------------------------------------------------------


def test_presets_are_named_and_typical_is_as_documented():
    assert set(FLAW_PRESETS) == {"typical", "harsh", "factory_adapter", "ideal"}
    assert TYPICAL.current_noise_ma == 40.0 and TYPICAL.usb_latency_timer_ms == 1.0
    assert FLAW_PRESETS["factory_adapter"].usb_latency_timer_ms == 16.0
    assert FLAW_PRESETS["ideal"].summary() == "ideal"


def test_a_flaws_file_overrides_a_preset(tmp_path):
    path = tmp_path / "flaws.toml"
    path.write_text('preset = "harsh"\ncurrent_noise_ma = 80.0\nseed = 7\n')
    flaws = load_flaws(str(path))
    assert (flaws.current_noise_ma, flaws.seed, flaws.backlash_rad) == (80.0, 7, FLAW_PRESETS["harsh"].backlash_rad)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ('preset = "nope"\n', "no flaw preset 'nope'"),
        ("current_noise_ma = -3\n", "current_noise_ma: Input should be greater than or equal to 0"),
        ("lost_reply_rate = 2\n", "lost_reply_rate: Input should be less than or equal to 1"),
        ("wobble = 1\n", "wobble: Extra inputs are not permitted"),
        ("current_noise_ma = [unclosed\n", "cannot read flaws file"),
    ],
)
def test_a_bad_flaws_file_is_one_clear_error(tmp_path, content, phrase):
    path = tmp_path / "flaws.toml"
    path.write_text(content)
    with pytest.raises(FlawsError, match=phrase.replace("(", r"\(")):
        load_flaws(str(path))


def test_an_unknown_preset_lists_the_presets():
    with pytest.raises(FlawsError, match="choose one of typical, harsh, factory_adapter, ideal"):
        load_flaws("perfect")


def test_a_scenario_chooses_its_flaws():
    text = (
        '[[scenario]]\nname = "noisy"\n[scenario.flaws]\npreset = "typical"\ncurrent_noise_ma = 80.0\n'
        '[[scenario]]\nname = "ideal"\nflaws = "ideal"\n[[scenario]]\nname = "default"\n'
    )
    noisy, ideal, default = parse_scenarios(text)
    assert noisy.flaws is not None and noisy.flaws.current_noise_ma == 80.0 and noisy.flaws.compliant_joints
    assert ideal.flaws == IDEAL
    assert default.flaws is None


def test_a_scenario_with_bad_flaws_names_the_field():
    with pytest.raises(ScenarioError, match=r"scenario\[0\]\.flaws\.current_noise_ma"):
        parse_scenarios('[[scenario]]\nname = "x"\nflaws = {current_noise_ma = -1.0}\n')
