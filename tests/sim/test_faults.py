"""Fault injection: every fault of the safety fault table reaches the host as a real arm's would."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from firmware_bridge import BusTimeout, CRCError, DynamixelBus, PortError, ServoError
from firmware_bridge.control_table import XL430_W250, XM430_W350, Register, encode
from firmware_bridge.protocol import HardwareError, StatusError
from sim.faults import FaultError, FaultInjector, FaultKind, ServoFault, inject, xl430_models
from sim.flaws import IDEAL
from sim.scenario import ScenarioError, parse_scenarios
from sim.virtual_bus import SimulatedClock, VirtualServoBus

IDS = (11, 12, 13, 14)
WATCHDOG = XM430_W350[Register.BUS_WATCHDOG].address
GOAL = XM430_W350[Register.GOAL_POSITION]


@pytest.fixture
def arm():
    """Four servos with torque on, a 20 ms Bus Watchdog and every hardware error enabled in Shutdown
    (the factory value, 52, leaves encoder and input voltage errors unreported), and their host."""
    bus = VirtualServoBus.start(IDS, clock=SimulatedClock(), flaws=IDEAL)
    host = DynamixelBus(bus.url)
    for servo_id in IDS:
        host.write(servo_id, XM430_W350[Register.SHUTDOWN].address, bytes((0x3D,)))
        host.write(servo_id, 64, b"\x01")
        host.write(servo_id, WATCHDOG, bytes((1,)))
    yield bus, host
    host.close()
    bus.close()


def tick(bus: VirtualServoBus, host: DynamixelBus, seconds: float = 0.005) -> None:
    """The host's next 5 ms tick: time passes, one sync read (whatever it brings)."""
    bus.clock.sleep(seconds)
    try:
        host.sync_read(132, 4, IDS)
    except (BusTimeout, CRCError, ServoError):
        pass


def test_a_watchdog_trip_stops_the_servo_and_locks_its_goals(arm):
    bus, host = arm
    inject(bus, FaultKind.WATCHDOG_TRIP, servo_id=12)
    assert host.read(12, WATCHDOG, 1) == b"\xff"  # -1: tripped
    with pytest.raises(ServoError) as refused:
        host.write(12, GOAL.address, encode(GOAL, 0.1))
    assert refused.value.error_number is StatusError.DATA_RANGE_ERROR
    assert host.read(11, WATCHDOG, 1) == b"\x01"  # only servo 12


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (FaultKind.OVERLOAD, HardwareError.OVERLOAD),
        (FaultKind.ENCODER_ERROR, HardwareError.MOTOR_ENCODER),
        (FaultKind.ELECTRICAL_SHOCK, HardwareError.ELECTRICAL_SHOCK),
        (FaultKind.OVERHEATING, HardwareError.OVERHEATING),
    ],
)
def test_hardware_errors_turn_torque_off_and_raise_the_alert(arm, kind, error):
    bus, host = arm
    inject(bus, kind, servo_id=13)
    with pytest.raises(ServoError) as alert:
        host.read(13, 64, 1)
    assert alert.value.hardware_error == error
    assert not bus.servo(13).torque_on and bus.servo(12).torque_on


def test_a_sagging_supply_is_an_input_voltage_error_on_every_servo(arm):
    bus, _ = arm
    undo = inject(bus, FaultKind.INPUT_VOLTAGE, value=8.5)
    for servo_id in IDS:
        assert bus.servo(servo_id).hardware_errors == HardwareError.INPUT_VOLTAGE
    undo()
    assert bus.servo(11).get("present_input_voltage") == 120
    assert bus.servo(11).hardware_errors == HardwareError.INPUT_VOLTAGE  # latched until a reboot, as on a real servo


def test_a_silent_servo_times_out_until_it_answers_again(arm):
    bus, host = arm
    undo = inject(bus, FaultKind.SILENT_SERVO, servo_id=14)
    with pytest.raises(BusTimeout):
        host.sync_read(132, 4, IDS)
    undo()
    assert set(host.sync_read(132, 4, IDS)) == set(IDS)


def test_corrupt_replies_fail_their_crc(arm):
    bus, host = arm
    undo = inject(bus, FaultKind.CORRUPT_REPLIES, servo_id=11)
    with pytest.raises(CRCError):
        host.read(11, 132, 4)
    undo()
    assert len(host.read(11, 132, 4)) == 4


def test_a_pulled_cable_silences_the_bus_and_trips_every_watchdog(arm):
    bus, host = arm
    undo = inject(bus, FaultKind.CABLE_PULLED)
    for _ in range(10):  # 50 ms of a host that keeps trying
        with pytest.raises(BusTimeout):
            host.sync_read(132, 4, IDS)
        bus.clock.sleep(0.005)
    undo()
    assert [host.read(servo_id, WATCHDOG, 1) for servo_id in IDS] == [b"\xff"] * 4


def test_an_unplugged_adapter_is_a_port_error_while_the_servos_go_on(arm):
    bus, host = arm
    undo = inject(bus, FaultKind.USB_UNPLUGGED)
    with pytest.raises(PortError):
        host.sync_read(132, 4, IDS)
    bus.clock.sleep(0.1)
    with pytest.raises(PortError):
        host.ping(11)
    assert bus.servo(11).get("bus_watchdog") == -1  # nobody talked to them for 100 ms
    undo()
    assert host.ping(11) == 1020


def test_a_16_ms_latency_timer_slows_every_reply(arm):
    bus, _ = arm
    undo = inject(bus, FaultKind.USB_LATENCY)
    host = DynamixelBus(bus.url, timeout=0.02)  # an allowance that covers the 16 ms
    waits = []
    for _ in range(50):
        start = bus.clock.now()
        host.ping(11)
        waits.append(bus.clock.now() - start)
        bus.clock.sleep(0.0037)
    assert max(waits) > 0.010 and statistics.fmean(waits) > 0.004
    undo()
    start = bus.clock.now()
    host.ping(11)
    assert bus.clock.now() - start < 0.001
    host.close()


def test_current_noise_comes_and_goes(arm):
    bus, host = arm
    undo = inject(bus, FaultKind.CURRENT_NOISE, value=40.0)
    noisy = [int.from_bytes(host.read(11, 126, 2), "little", signed=True) for _ in range(300)]
    assert statistics.pstdev(noisy) * 2.69 == pytest.approx(40.0, rel=0.2)
    undo()
    assert {int.from_bytes(host.read(11, 126, 2), "little", signed=True) for _ in range(20)} == {noisy[0] * 0}


def test_a_50_ms_host_stall_trips_a_20_ms_watchdog(arm):
    bus, host = arm
    tick(bus, host)
    inject(bus, FaultKind.HOST_STALL)
    tick(bus, host)
    assert bus.servo(11).get("bus_watchdog") == -1


def test_power_loss_drops_torque_and_silences_the_servos_until_it_comes_back(arm):
    bus, host = arm
    undo = inject(bus, FaultKind.POWER_LOSS)
    assert not any(servo.torque_on for servo in bus.servos)
    with pytest.raises(BusTimeout):
        host.ping(12)
    undo()
    assert host.ping(12) == 1020
    assert host.read(12, 64, 1) == b"\x00"  # restarted with torque off
    assert host.read(12, WATCHDOG, 1) == b"\x00"  # and its RAM at power-on values


def test_an_xl430_is_built_into_the_bus():
    faults = [ServoFault(kind=FaultKind.XL430, servo=14)]
    bus = VirtualServoBus(IDS, clock=SimulatedClock(), models=xl430_models(faults))
    assert bus.servo(14).model is XL430_W250 and bus.servo(13).model is XM430_W350
    with pytest.raises(FaultError, match="built in"):
        inject(bus, FaultKind.XL430, servo_id=14)


def test_a_per_servo_fault_needs_an_existing_servo(arm):
    bus, _ = arm
    with pytest.raises(FaultError, match="needs the id"):
        inject(bus, FaultKind.WATCHDOG_TRIP)
    with pytest.raises(FaultError, match="no virtual servo with id 99"):
        inject(bus, FaultKind.OVERLOAD, servo_id=99)


# -- when: the injector --------------------------------------------------------------------------


class Approach:
    """A spoon that comes in from 0.3 m toward the mouth at 0.05 m/s and waits 0.02 m from it (from 5.6 s)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.bite = 1

    def spoon_and_mouth(self):
        distance = max(0.3 - 0.05 * self.t, 0.02)
        return np.array([distance, 0.0, 0.0]), np.zeros(3)


def run(injector: FaultInjector, approach: Approach, until_s: float) -> None:
    while approach.t < until_s:
        approach.t += 0.005
        injector.bus.clock.advance_to(approach.t)
        injector.update(approach.t)


@pytest.mark.parametrize(("phase", "earliest_s", "latest_s"), [("approach", 4.0, 4.1), ("at_mouth", 5.8, 5.85)])
def test_a_fault_lands_in_its_phase_of_its_bite(arm, phase, earliest_s, latest_s):
    bus, _ = arm
    approach = Approach()
    fault = ServoFault(kind=FaultKind.WATCHDOG_TRIP, servo=12, bite=1, phase=phase)
    injector = FaultInjector(bus, [fault], approach.spoon_and_mouth, lambda: approach.bite)
    run(injector, approach, 8.0)
    ((at_s, kind, servo),) = injector.injected
    assert earliest_s <= at_s <= latest_s and (kind, servo) == (FaultKind.WATCHDOG_TRIP, 12)


def test_a_fault_waits_for_its_bite(arm):
    bus, _ = arm
    approach = Approach()
    fault = ServoFault(kind=FaultKind.OVERLOAD, servo=12, bite=2, phase="approach")
    injector = FaultInjector(bus, [fault], approach.spoon_and_mouth, lambda: approach.bite)
    run(injector, approach, 8.0)
    assert injector.injected == []


def test_a_lasting_fault_ends_after_its_duration(arm):
    bus, _ = arm
    approach = Approach()
    fault = ServoFault(kind=FaultKind.SILENT_SERVO, servo=11, at_s=1.0, duration_s=0.5)
    injector = FaultInjector(bus, [fault], approach.spoon_and_mouth, lambda: approach.bite)
    run(injector, approach, 1.2)
    assert bus.servo(11).reply_faults.silent
    run(injector, approach, 1.6)
    assert not bus.servo(11).reply_faults.silent


def test_scenarios_list_servo_faults():
    (scenario,) = parse_scenarios(
        '[[scenario]]\nname = "faults"\nservo_faults = [\n'
        '  { kind = "watchdog_trip", servo = 12, bite = 2, phase = "at_mouth" },\n'
        '  { kind = "usb_latency", at_s = 3.0, duration_s = 2.0, value = 16.0 },\n'
        '  { kind = "xl430", servo = 14 },\n]\n'
    )
    assert [fault.kind for fault in scenario.servo_faults] == [
        FaultKind.WATCHDOG_TRIP,
        FaultKind.USB_LATENCY,
        FaultKind.XL430,
    ]


@pytest.mark.parametrize(
    ("fault", "phrase"),
    [
        ('{ kind = "overload", at_s = 1.0 }', "overload needs servo"),
        ('{ kind = "power_loss" }', "give either at_s, or bite together with phase"),
        ('{ kind = "power_loss", at_s = 1.0, bite = 2, phase = "approach" }', "give either at_s"),
        ('{ kind = "power_loss", bite = 2 }', "bite and phase go together"),
        ('{ kind = "meteor", at_s = 1.0 }', "kind"),
        ('{ kind = "xl430" }', "names the servo id"),
    ],
)
def test_a_bad_servo_fault_names_the_problem(fault, phrase):
    with pytest.raises(ScenarioError, match=phrase):
        parse_scenarios(f'[[scenario]]\nname = "bad"\nservo_faults = [{fault}]\n')
