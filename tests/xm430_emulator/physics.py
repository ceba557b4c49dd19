"""The arm's joints, each driven by an XM430-W350, stepped at 1 kHz: the servo's profile generator, its position
PID acting on the motor's PWM, a DC motor with the datasheet's figures (4.1 N m stall torque at
2.3 A and 46 rpm no-load speed, at 12 V) through the gears onto an inertia with a gravity load and
friction. What the servo reports is measured from it: position in whole encoder pulses, velocity
in 0.229 rpm steps, current with the sensor's noise in 2.69 mA steps. Gravity loads the joints
as a planar chain of links (`Arm`): the servos themselves know nothing of it, as on a real arm.

The gains act as the e-Manual gives them (KPP = P/128, KPI = I/65536, KPD = D/16, output in PWM
units of 885 = full duty); the derivative is taken per millisecond, the PID period assumed here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

STALL_TORQUE_NM, STALL_CURRENT_A, NO_LOAD_RAD_S = 4.1, 2.3, 46.0 * 2.0 * math.pi / 60.0
TORQUE_CONSTANT_NM_A = STALL_TORQUE_NM / STALL_CURRENT_A
FULL_PWM = 885
PULSES_PER_RAD = 4096 / (2.0 * math.pi)
RAD_S_PER_VELOCITY_UNIT = 0.229 * 2.0 * math.pi / 60.0
RAD_S2_PER_ACCELERATION_UNIT = 214.577 * 2.0 * math.pi / 3600.0
AMPERE_PER_CURRENT_UNIT = 0.00269
ROTOR_INERTIA_KG_M2 = 0.012  # the coreless motor's rotor seen through the 353.5:1 gears (an estimate)
DT_S = 0.001
_OVERLOAD_S = 1.0  # at 95 % of stall torque this long: Overload error (the e-Manual gives no figure)


@dataclass
class Drive:
    """What the servo's registers ask of its joint (SI units; inf = no limit)."""

    torque_on: bool = False
    goal_rad: float = 0.0
    profile_velocity_rad_s: float = math.inf
    profile_acceleration_rad_s2: float = math.inf
    kpp: float = 800 / 128
    kpi: float = 0.0
    kpd: float = 0.0
    pwm_limit: float = FULL_PWM
    current_cap_a: float = math.inf  # Goal Current, in current-based position control
    watchdog_s: float = 0.0  # the Bus Watchdog's time (0: off or tripped)


@dataclass
class Joint:
    """A joint's state; `step` advances it by 1 ms under a `Drive`."""

    q: float = 0.0
    load_inertia_kg_m2: float = 0.01
    gravity_nm: float = 0.0  # gravity's torque on the joint now (`Arm.gravity_nm`)
    coulomb_nm: float = 0.03
    viscous_nm_s: float = 0.05
    noise_a: float = 0.040
    qd: float = 0.0
    ref: float = 0.0  # the profile's position and velocity
    ref_velocity: float = 0.0
    integral: float = 0.0
    motor_torque: float = 0.0
    pwm: float = 0.0
    strained_s: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def stop_profile(self) -> None:
        """The profile stands where the joint is (torque coming on, a watchdog stop)."""
        self.ref, self.ref_velocity, self.integral = self.q, 0.0, 0.0

    def _advance_profile(self, drive: Drive) -> None:
        distance = drive.goal_rad - self.ref
        vmax, amax = drive.profile_velocity_rad_s, drive.profile_acceleration_rad_s2
        if math.isinf(vmax) and math.isinf(amax):
            self.ref, self.ref_velocity = drive.goal_rad, 0.0
            return
        braking = math.sqrt(2.0 * amax * abs(distance)) if math.isfinite(amax) else math.inf
        target = math.copysign(min(vmax, braking, abs(distance) / DT_S), distance)
        step = amax * DT_S
        self.ref_velocity += max(-step, min(step, target - self.ref_velocity))
        self.ref += self.ref_velocity * DT_S
        if (drive.goal_rad - self.ref) * distance <= 0.0:
            self.ref, self.ref_velocity = drive.goal_rad, 0.0

    def step(self, drive: Drive) -> bool:
        """1 ms under `drive`; True when the motor was overloaded long enough to fault."""
        if drive.torque_on:
            self._advance_profile(drive)
            error = (self.ref - self.q) * PULSES_PER_RAD
            self.integral += error
            rate = (self.ref_velocity - self.qd) * PULSES_PER_RAD * DT_S  # pulses per millisecond
            pwm = drive.kpp * error + drive.kpi * self.integral + drive.kpd * rate
            self.pwm = max(-drive.pwm_limit, min(drive.pwm_limit, pwm))
            torque = STALL_TORQUE_NM * (self.pwm / FULL_PWM - self.qd / NO_LOAD_RAD_S)
            cap = drive.current_cap_a * TORQUE_CONSTANT_NM_A
            self.motor_torque = max(-cap, min(cap, torque))
        else:
            self.motor_torque = self.pwm = 0.0
        friction = self.coulomb_nm * math.tanh(self.qd / 0.01) + self.viscous_nm_s * self.qd
        inertia = self.load_inertia_kg_m2 + ROTOR_INERTIA_KG_M2
        self.qd += (self.motor_torque + self.gravity_nm - friction) / inertia * DT_S
        self.q += self.qd * DT_S
        if not -math.pi <= self.q <= math.pi:  # the arm's end stops
            self.q, self.qd = max(-math.pi, min(math.pi, self.q)), 0.0
        self.strained_s = self.strained_s + DT_S if abs(self.motor_torque) > 0.95 * STALL_TORQUE_NM else 0.0
        return self.strained_s >= _OVERLOAD_S

    def current_units(self) -> int:
        """Present Current as the sensor reads it (2.69 mA units, with its noise)."""
        amperes = self.motor_torque / TORQUE_CONSTANT_NM_A + self.rng.gauss(0.0, self.noise_a)
        return round(amperes / AMPERE_PER_CURRENT_UNIT)


@dataclass(frozen=True)
class Link:
    """The link a pitch joint moves: its mass, its centre of mass and the next joint, as vectors
    (m) in the joint's frame; (u, v) lies u cos(a) + v sin(a) sideways of the joint, a being the
    sum of the pitch joints' angles up to this one (0: as the arm's zero pose has it)."""

    mass_kg: float
    com_m: tuple[float, float]
    end_m: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Arm:
    """Pitch joints in a planar chain, base to tip: `links[k]` is moved by joint `joints[k]` (an
    index into the servos); the other joints (a yaw, a tool) carry no gravity load."""

    joints: tuple[int, ...] = ()
    links: tuple[Link, ...] = ()

    def gravity_nm(self, q: list[float]) -> list[float]:
        """Gravity's torque on each joint (N m) at joint angles `q` (rad, all joints)."""
        torques = [0.0] * len(q)
        angle, sideways = 0.0, []  # per link: (its joint's sideways position, its com's, its end's)
        x = 0.0
        for joint, link in zip(self.joints, self.links, strict=True):
            angle += q[joint]
            c, s = math.cos(angle), math.sin(angle)
            sideways.append((x, x + link.com_m[0] * c + link.com_m[1] * s))
            x += link.end_m[0] * c + link.end_m[1] * s
        for k, joint in enumerate(self.joints):
            pivot = sideways[k][0]
            torques[joint] = 9.81 * sum(
                link.mass_kg * (com - pivot) for link, (_, com) in zip(self.links[k:], sideways[k:], strict=True)
            )
        return torques
