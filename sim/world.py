"""The physical world: arm, spoon, table with bowls and the citizen's head, simulated with MuJoCo.

`World` wraps one MuJoCo model (`sim/assets/bidvis_world.xml`, written from DESIGN.md's geometry)
and steps it. Every physics step it measures the contact force between any robot part and the face
(`mujoco.mj_contactForce`), the spoon tip's speed near the mouth and its closest approach, and it
stops with `PhysicsUnstable` (carrying a report) the moment MuJoCo flags a bad state, so a diverging
run never hangs or silently resets.

Frames: the world frame is the arm's base frame (x forward, z up, metres).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

ASSET_PATH = Path(__file__).resolve().parent / "assets" / "bidvis_world.xml"
ARM_JOINTS = ("joint1", "joint2", "joint3", "joint4")
CITIZEN_ACTUATORS = ("lean_x", "lean_y", "lean_z", "neck_yaw", "neck_pitch", "jaw")
NEAR_MOUTH_RADIUS_M = 0.10
# The spoon rests at its holder's stop (within this) unless something pushes it in with more than
# the plunger's preload: a head that hit it a moment ago, still pushing the arm (docs/face-contact.md).
HOLDER_AT_STOP_M = 1e-4
MAX_SPOON_HOLDER_STROKE_M = 0.1
SPOON_FLANGE_X_M = 0.126  # the tool flange (DESIGN.md's tool tip) along link 5, where the spoon holder sits
_BAD_STATE_WARNINGS = (
    mujoco.mjtWarning.mjWARN_BADQPOS,
    mujoco.mjtWarning.mjWARN_BADQVEL,
    mujoco.mjtWarning.mjWARN_BADQACC,
    mujoco.mjtWarning.mjWARN_BADCTRL,
)
# The bad-state warnings are consecutive in mjtWarning: their counters are read as one slice.
_BAD_STATE_SLICE = slice(min(map(int, _BAD_STATE_WARNINGS)), max(map(int, _BAD_STATE_WARNINGS)) + 1)
assert _BAD_STATE_SLICE.stop - _BAD_STATE_SLICE.start == len(_BAD_STATE_WARNINGS)
# Far from the face, physics runs several steps per call (in MuJoCo's C loop) and skips the contact
# measurement: spoon and head together close at most MAX_CLOSING_SPEED_M_S, so while the bounding
# spheres of robot and face geoms are `gap` apart (and the spoon is outside the near-mouth zone by
# as much), neither a contact with the face nor a near-mouth speed can be missed for
# gap / MAX_CLOSING_SPEED_M_S seconds. The test is repeated at least every FAR_HORIZON_S.
MAX_CLOSING_SPEED_M_S = 2.0
FAR_GAP_M = 0.01  # nearer than this, every step is measured
FAR_HORIZON_S = 0.05


def vector_length(v: np.ndarray) -> float:
    """Euclidean length of a vector: what np.linalg.norm computes (sqrt of v.v), without its overhead
    (a few microseconds, which the per-step measurements near the face pay several times a step)."""
    return math.sqrt(v.dot(v))


class SimError(Exception):
    """Base of every error the simulator raises."""


class PhysicsUnstable(SimError):
    """MuJoCo found a non-finite or diverging state; the run stops with `report`."""

    def __init__(self, report: InstabilityReport) -> None:
        super().__init__(
            f"physics became unstable at t={report.t_s:.4f} s ({', '.join(report.warnings)}); "
            f"arm joints {report.arm_q_rad}; check the commanded targets and the model's timestep"
        )
        self.report = report


@dataclass(frozen=True, slots=True)
class InstabilityReport:
    """What the world looked like when it became unstable."""

    t_s: float
    warnings: tuple[str, ...]
    arm_q_rad: tuple[float, ...]
    arm_ctrl_rad: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """Parameters of the simulated world (SI units, base frame).

    `spoon_offset_m` is the spoon tip beyond DESIGN.md's tool tip, along the tool's x and z axes
    (the spoon calibration value). `neck_home_m` is where the citizen's neck pivot rests; the mouth
    sits 0.079 m in front of and 0.1005 m above it, so by default at (0.36, 0, 0.25). The servo values are those of the XM430-W350 at
    12 V: stall torque 4.1 N m at 2.3 A. `spoon_holder_stroke_m` is how far the spoon can be pushed
    back into its compliant holder (preloaded to 2.5 N; it also tips down beyond 0.15 N m, see the
    asset); 0 makes the holder rigid (for comparison: a rigidly held spoon meets a face with the
    arm's whole inertia).
    """

    timestep_s: float = 0.002
    spoon_offset_m: tuple[float, float] = (0.05, 0.0)
    neck_home_m: tuple[float, float, float] = (0.439, 0.0, 0.1495)
    stall_torque_nm: float = 4.1
    stall_current_a: float = 2.3
    spoon_holder_stroke_m: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.spoon_holder_stroke_m <= MAX_SPOON_HOLDER_STROKE_M:
            raise SimError(
                f"spoon_holder_stroke_m must be 0 (rigid) .. {MAX_SPOON_HOLDER_STROKE_M} m, got {self.spoon_holder_stroke_m}"
            )

    @property
    def torque_constant_nm_a(self) -> float:
        """Output torque per ampere of motor current (gear included)."""
        return self.stall_torque_nm / self.stall_current_a


@dataclass(slots=True)
class PhysicsMetrics:
    """Safety-relevant physics measured every step since the last `reset`.

    Within `NEAR_MOUTH_RADIUS_M` of the mouth: `max_speed_near_mouth_m_s` is the spoon tip's speed
    in any direction, whatever moves it (the arm, or a head pushing the spoon back in its holder);
    `max_approach_speed_m_s` is the speed at which the arm carries the spoon toward the mouth: the
    velocity of the spoon holder's tip (`spoon_holder_tip`, where the spoon tip is while the holder
    rests at its stop) along the direction to the mouth, in steps without contact between the robot
    and the face and with the spoon at its holder's stop (while the face pushes on the spoon, or
    the spoon still springs back from its push, the face force measures what happens).
    """

    peak_face_force_n: float = 0.0
    max_speed_near_mouth_m_s: float = 0.0
    max_speed_near_mouth_at_s: float = 0.0
    max_approach_speed_m_s: float = 0.0
    max_approach_speed_at_s: float = 0.0
    closest_approach_m: float = float("inf")
    last_distance_m: float = float("inf")
    contact_steps: int = 0
    face_force_history: list[tuple[float, float]] = field(default_factory=list)
    # At the onset of the contact that brought the peak face force: the head's and the spoon
    # tip's speeds (m/s) in the step the face was first touched (for the physical argument of a
    # head moving into the spoon faster than any arm can retreat).
    peak_contact_head_speed_m_s: float = 0.0
    peak_contact_spoon_speed_m_s: float = 0.0

    def reset(self) -> None:
        """Forget everything measured so far."""
        self.peak_face_force_n = 0.0
        self.max_speed_near_mouth_m_s = 0.0
        self.max_speed_near_mouth_at_s = 0.0
        self.max_approach_speed_m_s = 0.0
        self.max_approach_speed_at_s = 0.0
        self.closest_approach_m = float("inf")
        self.contact_steps = 0
        self.face_force_history.clear()
        self.peak_contact_head_speed_m_s = 0.0
        self.peak_contact_spoon_speed_m_s = 0.0


def _element(root: ET.Element, path: str) -> ET.Element:
    """The element of the MJCF asset at `path` (the asset ships with the package: a miss is a bug)."""
    element = root.find(path)
    if element is None:
        raise ValueError(f"{ASSET_PATH} has no element {path!r}")
    return element


def load_model(config: WorldConfig) -> mujoco.MjModel:
    """Build the MuJoCo model from the MJCF asset, patched with `config`."""
    tree = ET.parse(ASSET_PATH)
    root = tree.getroot()
    _element(root, "option").set("timestep", repr(config.timestep_s))
    sx, sz = config.spoon_offset_m
    for element in root.iter():
        name = element.get("name")
        if element.tag == "site" and name == "spoon_tip":
            element.set("pos", f"{sx} 0 {sz}")
        elif element.tag == "site" and name == "spoon_holder_tip":
            element.set("pos", f"{SPOON_FLANGE_X_M + sx} 0 {sz}")
        elif element.tag == "geom" and name == "spoon_bowl":
            element.set("pos", f"{sx - 0.015} 0 {sz}")
        elif element.tag == "geom" and name == "spoon_handle":
            element.set("fromto", f"-0.03 0 0 {sx - 0.03} 0 {sz}")
        elif element.tag == "joint" and name == "spoon_mount":
            element.set("range", f"{-config.spoon_holder_stroke_m} 0")
        elif element.tag == "body" and name == "torso":
            element.set("pos", " ".join(repr(v) for v in config.neck_home_m))
        elif element.tag == "position" and element.get("class") == "servo":
            element.set("forcerange", f"{-config.stall_torque_nm} {config.stall_torque_nm}")
    if config.spoon_holder_stroke_m == 0.0:
        # A rigid holder: the spoon is part of the arm (a joint limit would still be a stiff spring).
        spoon = _element(root, ".//body[@name='spoon']")
        for joint in spoon.findall("joint"):
            spoon.remove(joint)
    return mujoco.MjModel.from_xml_string(ET.tostring(root, encoding="unicode"))


class World:
    """One simulated world: step it, drive the arm and the citizen, read what happened."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.model = load_model(self.config)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._arm_qpos = np.array([m.jnt_qposadr[m.joint(j).id] for j in ARM_JOINTS])
        self._arm_qvel = np.array([m.jnt_dofadr[m.joint(j).id] for j in ARM_JOINTS])
        self._arm_act = np.array([m.actuator(j).id for j in ARM_JOINTS])
        self._citizen_act = np.array([m.actuator(a).id for a in CITIZEN_ACTUATORS])
        self._spoon_tip = m.site("spoon_tip").id
        self._holder_tip = m.site("spoon_holder_tip").id
        rigid = self.config.spoon_holder_stroke_m == 0.0
        self._spoon_mount_qpos = None if rigid else m.jnt_qposadr[m.joint("spoon_mount").id]
        self._upper_lip = m.site("upper_lip").id
        self._lower_lip = m.site("lower_lip").id
        self._head_body = m.body("head").id
        robot_bodies = {m.body(b).id for b in ("link2", "link3", "link4", "link5", "spoon")}
        face_bodies = {m.body(b).id for b in ("head", "jaw")}
        self._is_robot_geom = np.array([m.geom_bodyid[g] in robot_bodies for g in range(m.ngeom)])
        self._is_face_geom = np.array([m.geom_bodyid[g] in face_bodies for g in range(m.ngeom)])
        lip_geoms = {m.geom(g).id for g in ("upper_lip", "lower_lip")}
        self._is_lip_geom = np.array([g in lip_geoms for g in range(m.ngeom)])
        self._robot_geoms = np.flatnonzero(self._is_robot_geom)
        self._face_geoms = np.flatnonzero(self._is_face_geom)
        self._rbound_sum = m.geom_rbound[self._robot_geoms][:, None] + m.geom_rbound[self._face_geoms][None, :]
        self._force6 = np.zeros(6)
        self._vel6 = np.zeros(6)
        self._servo_gain = m.actuator_gainprm[self._arm_act, 0].copy()
        self._servo_bias = m.actuator_biasprm[self._arm_act, :3].copy()
        self._model_servo_gain = self._servo_gain.copy()  # the MJCF's kp, kv: the servos' default gains
        self._model_servo_bias = self._servo_bias.copy()
        self._servo_on = [True] * len(ARM_JOINTS)
        self.face_force_n = 0.0
        self.lip_force_n = 0.0
        self._onset_speeds = (0.0, 0.0)  # head and spoon speed when the current contact began
        self.metrics = PhysicsMetrics()
        self.record_force_history = False
        self._bad_state = self.data.warning.number[_BAD_STATE_SLICE]  # a view
        self._far_steps = 0  # steps that may still run unmeasured (see MAX_CLOSING_SPEED_M_S)
        self._stepped_to = 0.0  # time after this world's last batch: another time means a reset from outside
        mujoco.mj_forward(m, self.data)
        self.data.ctrl[self._arm_act] = self.data.qpos[self._arm_qpos]

    @property
    def time_s(self) -> float:
        """Simulated time since the world was built."""
        return float(self.data.time)

    @property
    def timestep_s(self) -> float:
        """Length of one physics step."""
        return float(self.model.opt.timestep)

    # the arm -------------------------------------------------------------------------------

    def set_arm_pose(self, q_rad) -> None:
        """Teleport the arm to joint angles `q_rad` at rest (setup only, not during a run)."""
        q = np.asarray(q_rad, dtype=float)
        self.data.qpos[self._arm_qpos] = q
        self.data.qvel[self._arm_qvel] = 0.0
        self.data.ctrl[self._arm_act] = q
        self._far_steps = 0
        mujoco.mj_forward(self.model, self.data)

    def set_arm_targets(self, q_rad) -> None:
        """Position setpoints (rad) of the four servo position controllers."""
        self.data.ctrl[self._arm_act] = q_rad

    def set_arm_target(self, index: int, q_rad: float) -> None:
        """Position setpoint (rad) of joint `index` (0..3)."""
        self.data.ctrl[self._arm_act[index]] = q_rad

    def set_torque_enabled(self, index: int, enabled: bool) -> None:
        """Switch joint `index`'s servo torque on (position control) or off (limp, back-drivable)."""
        act = self._arm_act[index]
        self._servo_on[index] = enabled
        if enabled:
            self.model.actuator_gainprm[act, 0] = self._servo_gain[index]
            self.model.actuator_biasprm[act, :3] = self._servo_bias[index]
        else:
            self.model.actuator_gainprm[act, 0] = 0.0
            self.model.actuator_biasprm[act, :3] = 0.0

    def add_joint_friction(self, friction_nm: float) -> None:
        """Add Coulomb friction (N m, stiction included) to every arm joint, on top of the MJCF's:
        a flaw of the simulated arm (`sim.flaws.ArmFlaws.friction_nm`)."""
        if not friction_nm >= 0.0:
            raise ValueError(f"joint friction must be >= 0 N m, got {friction_nm}")
        self.model.dof_frictionloss[self._arm_qvel] += friction_nm

    def model_servo_kp(self, index: int) -> float:
        """The MJCF's position stiffness (N m/rad) of joint `index`'s servo: its default gains."""
        return float(self._model_servo_gain[index])

    def set_servo_gains(self, index: int, stiffness_scale: float, extra_damping_nm_s: float = 0.0) -> None:
        """Joint `index`'s position loop: stiffness (kp) = the MJCF's x `stiffness_scale`, damping
        (kv) = the MJCF's + `extra_damping_nm_s` (scale 1 and no extra damping restore the MJCF's
        exactly). Applies at once while the torque is on, else when it comes on."""
        if not (stiffness_scale >= 0.0 and extra_damping_nm_s >= 0.0):
            raise ValueError(
                f"servo stiffness scale {stiffness_scale} and extra damping {extra_damping_nm_s} must be >= 0"
            )
        kp = self._model_servo_gain[index] * stiffness_scale
        kv = -self._model_servo_bias[index, 2] + extra_damping_nm_s
        self._servo_gain[index] = kp
        self._servo_bias[index] = (self._model_servo_bias[index, 0], -kp, -kv)
        if self._servo_on[index]:
            self.set_torque_enabled(index, True)

    def set_servo_torque_limit(self, index: int, torque_nm: float) -> None:
        """Cap joint `index`'s position loop at `torque_nm` (N m, >= 0; the stall torque, or more,
        restores the MJCF's force range)."""
        if not torque_nm >= 0.0:  # NaN too
            raise ValueError(f"servo torque limit must be >= 0 N m, got {torque_nm}")
        limit = min(torque_nm, self.config.stall_torque_nm)
        self.model.actuator_forcerange[self._arm_act[index]] = (-limit, limit)

    def arm_positions(self) -> np.ndarray:
        """Joint angles (rad) of joints 1-4."""
        return self.data.qpos[self._arm_qpos].copy()

    def arm_velocities(self) -> np.ndarray:
        """Joint velocities (rad/s) of joints 1-4."""
        return self.data.qvel[self._arm_qvel].copy()

    def arm_torques(self) -> np.ndarray:
        """Torque (N m) each servo applies to its joint, as MuJoCo computed it (qfrc_actuator)."""
        return self.data.qfrc_actuator[self._arm_qvel].copy()

    def arm_currents(self) -> np.ndarray:
        """Motor current (A) that produces `arm_torques()`."""
        return self.arm_torques() / self.config.torque_constant_nm_a

    def spoon_tip_position(self) -> np.ndarray:
        """Spoon tip in the base frame (m)."""
        return self.data.site_xpos[self._spoon_tip].copy()

    def holder_approach_speed(self) -> float:
        """Speed (m/s) at which the arm carries the spoon toward the mouth: the spoon holder tip's
        velocity along the direction from it to the mouth (negative when it moves away)."""
        mujoco.mj_objectVelocity(self.model, self.data, mujoco.mjtObj.mjOBJ_SITE, self._holder_tip, self._vel6, 0)
        to_mouth = self.mouth_position() - self.data.site_xpos[self._holder_tip]
        distance = vector_length(to_mouth)
        return float(self._vel6[3:] @ to_mouth) / distance if distance > 1e-9 else 0.0

    def spoon_mount_travel_m(self) -> float:
        """How far the spoon is pushed back into its compliant holder (m, 0 at the stop)."""
        if self._spoon_mount_qpos is None:
            return 0.0
        return max(0.0, -float(self.data.qpos[self._spoon_mount_qpos]))

    def head_speed(self) -> float:
        """Linear speed (m/s) of the head (its body frame's origin)."""
        mujoco.mj_objectVelocity(self.model, self.data, mujoco.mjtObj.mjOBJ_BODY, self._head_body, self._vel6, 0)
        return vector_length(self._vel6[3:])

    def spoon_tip_speed(self) -> float:
        """Linear speed (m/s) of the spoon tip."""
        mujoco.mj_objectVelocity(self.model, self.data, mujoco.mjtObj.mjOBJ_SITE, self._spoon_tip, self._vel6, 0)
        return vector_length(self._vel6[3:])

    # the citizen ---------------------------------------------------------------------------

    def set_citizen_targets(self, lean_m, yaw_rad: float, pitch_rad: float, jaw_open_m: float) -> None:
        """Where the citizen's muscles pull: torso lean (x, y, z offsets from the seat), head yaw
        (about the vertical; positive turns the face toward -y), head pitch (positive nods the
        face down) and how far the jaw drops (0 = closed)."""
        ctrl = self.data.ctrl
        a = self._citizen_act
        ctrl[a[0]], ctrl[a[1]], ctrl[a[2]] = lean_m
        ctrl[a[3]] = yaw_rad
        ctrl[a[4]] = -pitch_rad
        ctrl[a[5]] = -jaw_open_m

    def mouth_position(self) -> np.ndarray:
        """Centre of the mouth opening (midway between the lips) in the base frame (m)."""
        xpos = self.data.site_xpos
        return 0.5 * (xpos[self._upper_lip] + xpos[self._lower_lip])

    def mouth_opening_m(self) -> float:
        """Gap between the lips (m)."""
        xpos = self.data.site_xpos
        return vector_length(xpos[self._upper_lip] - xpos[self._lower_lip])

    def head_rotation(self) -> np.ndarray:
        """Rotation matrix of the head frame (face looks along its -x axis)."""
        return self.data.xmat[self._head_body].reshape(3, 3).copy()

    # stepping ------------------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Advance physics `n` steps, measuring the face contact every step.

        While every robot part is far from the face, steps run in batches inside MuJoCo (see
        `MAX_CLOSING_SPEED_M_S`): no contact with the face and no near-mouth speed is possible
        there, so nothing is missed; the spoon's distance to the mouth is measured after each batch.
        """
        m, d = self.model, self.data
        bad_state = self._bad_state
        while n > 0:
            if self._far_steps > 0 and d.time != self._stepped_to:
                self._far_steps = 0  # the state was changed from outside (reset, teleport): test again
            if self._far_steps <= 0:
                self._far_steps = self._steps_far_from_face()
            if self._far_steps > 0:
                batch = min(n, self._far_steps)
                mujoco.mj_step(m, d, batch)
                self._stepped_to = d.time
                self._far_steps -= batch
                n -= batch
                if any(bad_state.tolist()):
                    self._raise_unstable()
                self._measure_far()
            else:
                mujoco.mj_step(m, d)
                n -= 1
                if any(bad_state.tolist()):
                    self._raise_unstable()
                self._measure()

    def _steps_far_from_face(self) -> int:
        """How many steps may run before a robot geom could reach the face or the spoon the
        near-mouth zone (bounding spheres, closing at `MAX_CLOSING_SPEED_M_S`); 0 when near."""
        d = self.data
        zone_gap = self.metrics.last_distance_m - NEAR_MOUTH_RADIUS_M
        if zone_gap <= FAR_GAP_M:
            return 0
        robot = d.geom_xpos[self._robot_geoms]
        face = d.geom_xpos[self._face_geoms]
        gaps = np.linalg.norm(robot[:, None, :] - face[None, :, :], axis=2) - self._rbound_sum
        gap = min(float(gaps.min()), zone_gap)
        if gap <= FAR_GAP_M:
            return 0
        seconds = min(gap / MAX_CLOSING_SPEED_M_S, FAR_HORIZON_S)
        return int(seconds / self.model.opt.timestep + 1e-9)

    def advance_to(self, t_s: float) -> None:
        """Step until simulated time reaches `t_s` (no step if already there)."""
        remaining = int((t_s - self.data.time) / self.model.opt.timestep + 1e-6)
        if remaining > 0:
            self.step(remaining)

    def _measure(self) -> None:
        d = self.data
        face_force = lip_force = 0.0
        if d.ncon:
            g1 = d.contact.geom1
            g2 = d.contact.geom2
            hits = (self._is_robot_geom[g1] & self._is_face_geom[g2]) | (
                self._is_face_geom[g1] & self._is_robot_geom[g2]
            )
            lips = self._is_lip_geom[g1] | self._is_lip_geom[g2]
            for i in np.flatnonzero(hits):
                mujoco.mj_contactForce(self.model, d, int(i), self._force6)
                force = abs(float(self._force6[0]))
                face_force += force
                if lips[i]:
                    lip_force += force
        touching_before = self.face_force_n > 0.0
        self.face_force_n = face_force
        self.lip_force_n = lip_force
        metrics = self.metrics
        distance = self._spoon_mouth_distance()
        if face_force > 0.0:
            if not touching_before:
                self._onset_speeds = (self.head_speed(), self.spoon_tip_speed())
            metrics.contact_steps += 1
            if self.record_force_history:
                metrics.face_force_history.append((float(d.time), face_force))
        if face_force > metrics.peak_face_force_n:
            metrics.peak_face_force_n = face_force
            metrics.peak_contact_head_speed_m_s, metrics.peak_contact_spoon_speed_m_s = self._onset_speeds
        metrics.last_distance_m = distance
        if distance < metrics.closest_approach_m:
            metrics.closest_approach_m = distance
        if distance <= NEAR_MOUTH_RADIUS_M:
            speed = self.spoon_tip_speed()
            if speed > metrics.max_speed_near_mouth_m_s:
                metrics.max_speed_near_mouth_m_s = speed
                metrics.max_speed_near_mouth_at_s = float(d.time)
            if face_force == 0.0 and self.spoon_mount_travel_m() < HOLDER_AT_STOP_M:
                approach = self.holder_approach_speed()
                if approach > metrics.max_approach_speed_m_s:
                    metrics.max_approach_speed_m_s = approach
                    metrics.max_approach_speed_at_s = float(d.time)

    def _measure_far(self) -> None:
        """`_measure` where no robot part can touch the face nor the spoon be near the mouth."""
        self.face_force_n = self.lip_force_n = 0.0
        distance = self._spoon_mouth_distance()
        metrics = self.metrics
        metrics.last_distance_m = distance
        if distance < metrics.closest_approach_m:
            metrics.closest_approach_m = distance
        if distance < NEAR_MOUTH_RADIUS_M + FAR_GAP_M:
            self._far_steps = 0  # closer than the bound allowed: measure every step again

    def _spoon_mouth_distance(self) -> float:
        xpos = self.data.site_xpos
        tx, ty, tz = xpos[self._spoon_tip].tolist()
        ux, uy, uz = xpos[self._upper_lip].tolist()
        lx, ly, lz = xpos[self._lower_lip].tolist()
        dx, dy, dz = tx - 0.5 * (ux + lx), ty - 0.5 * (uy + ly), tz - 0.5 * (uz + lz)
        return math.sqrt(dx * dx + dy * dy + dz * dz)

    def _raise_unstable(self) -> None:
        d = self.data
        names = tuple(mujoco.mjtWarning(w).name for w in _BAD_STATE_WARNINGS if d.warning[w].number)
        raise PhysicsUnstable(
            InstabilityReport(
                t_s=float(d.time),
                warnings=names,
                arm_q_rad=tuple(float(v) for v in d.qpos[self._arm_qpos]),
                arm_ctrl_rad=tuple(float(v) for v in d.ctrl[self._arm_act]),
            )
        )
