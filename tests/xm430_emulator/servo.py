"""XM430-W350 servos on one bus: each answers the instructions addressed to it from its control
table (`table.Memory`) and drives its joint (`physics.Joint`); the bus dispatches packets, keeps
the Bus Watchdog and advances the joints on the clock.

Instructions: Ping 0x01 (also broadcast), Read 0x02, Write 0x03 (also broadcast), Reboot 0x08,
Sync Read 0x82, Sync Write 0x83. Any other instruction gets Instruction Error (0x02) from the
servo it is addressed to, nothing when broadcast. A packet whose CRC does not match gets CRC Error
(0x03) from the servo it is addressed to. Status Return Level (68) is honoured: 0 answers Ping
only, 1 also Read and Sync Read, 2 everything. A Hardware Error sets the Alert bit (0x80) of
every status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import physics
from .table import DATA_LENGTH_ERROR, ITEMS, RW, Memory, WriteRefused
from .wire import BROADCAST_ID, Instruction, status

PING, READ, WRITE, REBOOT, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x08, 0x82, 0x83
INSTRUCTION_ERROR, CRC_ERROR = 0x02, 0x03
ALERT, OVERLOAD = 0x80, 0x20
EEPROM_NAMES = tuple(item.name for item in ITEMS if item.eeprom and item.access == RW)  # kept by a reboot
BAUD_RATES = (9_600, 57_600, 115_200, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 4_500_000)


@dataclass(frozen=True)
class Reply:
    """A status packet and the servo's Return Delay Time before it (s)."""

    data: bytes
    delay_s: float


class Servo:
    """One servo: its control table, its joint and what its registers make the joint do."""

    def __init__(self, servo_id: int, joint: physics.Joint, return_delay_units: int = 250) -> None:
        self.memory = Memory()
        self.memory.set("id", servo_id)
        self.memory.set("return_delay_time", return_delay_units)
        self.joint = joint
        self.drive = physics.Drive()
        self.sync_drive()
        self.measure(0.0)

    @property
    def servo_id(self) -> int:
        return self.memory.get("id")

    def _error(self, number: int) -> int:
        return number | (ALERT if self.memory.get("hardware_error_status") else 0)

    def _reply(self, error: int, params: bytes = b"", level: int = 2) -> list[Reply]:
        if self.memory.get("status_return_level") < level:
            return []
        return [Reply(status(self.servo_id, self._error(error), params), self.memory.get("return_delay_time") * 2e-6)]

    # -- instructions -----------------------------------------------------------------------------

    def ping(self) -> list[Reply]:
        params = self.memory.read(0, 2) + self.memory.read(6, 1)  # model number, firmware version
        return self._reply(0, params, level=0)

    def read(self, address: int, length: int) -> list[Reply]:
        try:
            return self._reply(0, self.memory.read(address, length), level=1)
        except WriteRefused as refused:
            return self._reply(refused.error, level=1)

    def write(self, address: int, data: bytes) -> list[Reply]:
        torque_before = self.memory.get("torque_enable")
        try:
            written = self.memory.write(
                address, data, torque_on=bool(torque_before), tripped=self.memory.get("bus_watchdog") == -1
            )
        except WriteRefused as refused:
            return self._reply(refused.error)
        if "torque_enable" in written and self.memory.get("torque_enable") and not torque_before:
            self.joint.stop_profile()  # from where it stands to the goal
        self.sync_drive()
        return self._reply(0)

    def reboot(self) -> list[Reply]:
        replies = self._reply(0)
        keep = {name: self.memory.get(name) for name in EEPROM_NAMES}
        self.memory = Memory()
        for name, value in keep.items():
            self.memory.set(name, value)
        self.sync_drive()
        return replies

    def refuse(self, error: int) -> list[Reply]:
        return self._reply(error)

    # -- the joint ---------------------------------------------------------------------------------

    def sync_drive(self) -> None:
        """The registers into the joint's `Drive` (after every write)."""
        m, d = self.memory, self.drive
        d.torque_on = bool(m.get("torque_enable"))
        d.goal_rad = (m.get("goal_position") - m.get("homing_offset") - 2048) / physics.PULSES_PER_RAD
        velocity, acceleration = m.get("profile_velocity"), m.get("profile_acceleration")
        d.profile_velocity_rad_s = velocity * physics.RAD_S_PER_VELOCITY_UNIT if velocity else math.inf
        d.profile_acceleration_rad_s2 = (
            acceleration * physics.RAD_S2_PER_ACCELERATION_UNIT if acceleration else math.inf
        )
        d.kpp, d.kpi, d.kpd = (
            m.get("position_p_gain") / 128,
            m.get("position_i_gain") / 65536,
            m.get("position_d_gain") / 16,
        )
        d.pwm_limit = m.get("pwm_limit")
        d.watchdog_s = max(0, m.get("bus_watchdog")) * 0.02
        current_based = m.get("operating_mode") == 5
        d.current_cap_a = abs(m.get("goal_current")) * physics.AMPERE_PER_CURRENT_UNIT if current_based else math.inf

    def watchdog_trip(self) -> None:
        """The Bus Watchdog stops the servo: profile off, goal = where it stands; goals read only."""
        m = self.memory
        m.set("bus_watchdog", -1)
        m.set("profile_velocity", 0)
        m.set("profile_acceleration", 0)
        m.set("goal_position", self._pulses(self.joint.q))
        self.joint.stop_profile()
        self.sync_drive()

    def step(self) -> None:
        """1 ms of the joint; an overload faults the servo (torque off if Shutdown says so)."""
        if self.joint.step(self.drive):
            m = self.memory
            m.set("hardware_error_status", m.get("hardware_error_status") | OVERLOAD)
            if m.get("shutdown") & OVERLOAD:
                m.set("torque_enable", 0)
                self.sync_drive()

    def _pulses(self, rad: float) -> int:
        """A joint angle as the servo counts it (2048 at 0 rad, plus the Homing Offset)."""
        return round(rad * physics.PULSES_PER_RAD) + 2048 + self.memory.get("homing_offset")

    def measure(self, now_s: float) -> None:
        """The present values from the joint into the table (before an instruction is handled)."""
        m, j = self.memory, self.joint
        position = self._pulses(j.q)
        velocity = round(j.qd / physics.RAD_S_PER_VELOCITY_UNIT)
        m.set("present_position", position)
        m.set("present_velocity", velocity)
        m.set("present_current", j.current_units())
        m.set("present_pwm", round(j.pwm))
        m.set("position_trajectory", self._pulses(j.ref))
        m.set("velocity_trajectory", round(j.ref_velocity / physics.RAD_S_PER_VELOCITY_UNIT))
        m.set("moving", int(abs(velocity) > m.get("moving_threshold")))
        in_position = abs(m.get("goal_position") - position) <= 20
        profile_on = self.drive.torque_on and j.ref != self.drive.goal_rad
        m.set("moving_status", int(in_position) | (int(profile_on) << 1))
        m.set("realtime_tick", int(now_s * 1000) % 32768)


class Bus:
    """The servos on one bus (`advance` the clock, `handle` each packet)."""

    def __init__(self, servos: list[Servo], now_s: float = 0.0, arm: physics.Arm = physics.Arm()) -> None:
        self.servos = servos
        self.arm = arm
        self.now_s = self.last_packet_s = now_s

    def baudrate(self, servo: Servo) -> int:
        return BAUD_RATES[servo.memory.get("baud_rate")]

    def advance(self, now_s: float, line_empty_until_s: float) -> None:
        """Step the joints to `now_s` in 1 ms steps. A servo's Bus Watchdog trips when, with its
        torque on, no packet came for longer than it is set to; only silence up to
        `line_empty_until_s` counts (when this emulator was not scheduled, bytes may have waited)."""
        while self.now_s + physics.DT_S <= now_s:
            self.now_s += physics.DT_S
            heard_nothing = self.now_s <= line_empty_until_s
            silence = self.now_s - self.last_packet_s
            gravity = self.arm.gravity_nm([servo.joint.q for servo in self.servos])
            for servo, load_nm in zip(self.servos, gravity, strict=True):
                servo.joint.gravity_nm = load_nm
                drive = servo.drive
                if drive.torque_on and 0.0 < drive.watchdog_s < silence and heard_nothing:
                    servo.watchdog_trip()
                servo.step()

    def handle(self, packet: Instruction, baudrate: int) -> list[Reply]:
        """The replies to one packet heard at `baudrate`, in the order they go on the wire."""
        listening = [s for s in self.servos if self.baudrate(s) == baudrate]
        if not listening:
            return []
        for servo in listening:
            servo.measure(self.now_s)
        addressed = [s for s in listening if packet.servo_id in (s.servo_id, BROADCAST_ID)]
        if not packet.crc_ok:  # not an instruction: the Bus Watchdog goes on counting
            return [] if packet.servo_id == BROADCAST_ID else [r for s in addressed for r in s.refuse(CRC_ERROR)]
        self.last_packet_s = self.now_s
        p, instruction = packet.params, packet.instruction
        if instruction == SYNC_READ and packet.servo_id == BROADCAST_ID and len(p) >= 5:
            address, length = int.from_bytes(p[0:2], "little"), int.from_bytes(p[2:4], "little")
            by_id = {s.servo_id: s for s in listening}
            return [r for i in p[4:] if i in by_id for r in by_id[i].read(address, length)]
        if instruction == SYNC_WRITE and packet.servo_id == BROADCAST_ID and len(p) >= 4:
            address, length = int.from_bytes(p[0:2], "little"), int.from_bytes(p[2:4], "little")
            if length and (len(p) - 4) % (length + 1) == 0:
                by_id = {s.servo_id: s for s in listening}
                for k in range(4, len(p), length + 1):
                    if p[k] in by_id:
                        by_id[p[k]].write(address, p[k + 1 : k + 1 + length])
            return []
        replies = [r for s in addressed for r in self._single(s, instruction, p)]
        return replies if packet.servo_id != BROADCAST_ID or instruction == PING else []

    @staticmethod
    def _single(servo: Servo, instruction: int, p: bytes) -> list[Reply]:
        if instruction == PING:
            return servo.ping()
        if instruction == READ:
            if len(p) != 4:
                return servo.refuse(DATA_LENGTH_ERROR)
            return servo.read(int.from_bytes(p[0:2], "little"), int.from_bytes(p[2:4], "little"))
        if instruction == WRITE:
            if len(p) < 3:
                return servo.refuse(DATA_LENGTH_ERROR)
            return servo.write(int.from_bytes(p[0:2], "little"), p[2:])
        if instruction == REBOOT:
            return servo.reboot()
        return servo.refuse(INSTRUCTION_ERROR)
