"""The simulated camera fixed on the robot: the true mouth through a pinhole, and what it sees.

`PinholeCamera` projects world points with OpenCV (`cv2.projectPoints`) from a calibration value
(`CameraIntrinsics`) and a mount on the robot (`CameraMount`). `true_mouth` is what an ideal
detector would report. Two sources turn that into the camera's output over time:

- `FaceFrameSource` (mode a) composes real face photographs (`<repo>/../shared/data/faces`, never
  part of the project) into BGR frames: an open- or closed-mouth photo of one person placed so
  that its labelled mouth lands on the projected mouth. Given each photo's `FaceShape` (its face
  mesh in metres, measured by an injected `FaceMeasure`), the photo is rendered as a 3-D face mesh
  in the head's true pose; without one it is pasted flat, scaled by a 50 mm mouth. The spoon is
  drawn over the face whenever it is nearer the camera. The real vision pipeline reads these frames.
- `GroundTruthMouthSource` (mode b, the fallback when the photos are absent) reports the projected
  mouth directly with pixel noise, latency and dropouts, and says so: `ground_truth` is True on the
  source and on every sighting, and it logs a warning when created.

Both apply the scenario's camera faults: a frozen frame (the same picture with fresh timestamps, as
a stuck USB camera delivers), the same picture under fresh sensor noise, black or white frames, a
covered lens, dropped frames, and a second face in view. The ground-truth source stands for the
vision pipeline, so it does what vision's content check (`vision.camera_health`) does with them:
nothing from a black, white or covered frame, and the noisy frozen picture for
`CONTENT_CHECK_S` at the most.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from controller.kinematics import forward
from sim.scenario import CameraFault, CameraFaultKind
from sim.world import SimError, World

log = logging.getLogger(__name__)

MOUTH_WIDTH_M = 0.05
CONTENT_CHECK_S = 0.3  # vision calls a picture still after this long (vision.camera_health.HealthLimits.still_window_s)
SENSOR_NOISE_GREY = 2.0  # standard deviation of the noise on a noisy frozen picture (grey levels)
COVERED_BGR = (40, 60, 120)  # a finger over the lens
_NO_PICTURE = frozenset({CameraFaultKind.BLACK_FRAME, CameraFaultKind.WHITE_FRAME, CameraFaultKind.COVERED_LENS})
OPEN_RATIO_THRESHOLD = 0.2
MAX_VISIBLE_YAW_RAD = 1.0  # beyond this the face is turned too far for a detector
BACKGROUND_BGR = (96, 104, 110)
SPOON_BGR = (200, 200, 205)
SPOON_BOWL_HALF_M = (0.020, 0.014)  # the bowl's half length and half width (sim/assets/bidvis_world.xml)
SPOON_HANDLE_WIDTH_M = 0.008
HAND_CONFIDENCE = 0.3  # a detector's confidence in a mouth half hidden by a hand
HAND_NOISE_PX = 15.0
HAND_DEPTH_NOISE = 0.08
HAND_BGR = (120, 150, 200)  # skin tone of a bystander's hand drawn over the mouth in face frames
_MAP_STEP = 4  # frame pixels per sample of a face mesh's pixel map (piecewise affine, upsampled linearly)
_MAP_CENTRE = (_MAP_STEP - 1) / 2  # where a sample sits in its block, as cv2.resize expects
_NOISE_FIELDS = 16  # independent unit-noise fields per frame size, drawn from by every face-frame source
_NOISE_MARGIN_PX = 16  # each frame's noise is a field cropped at a random offset within this margin


class FacesUnavailable(SimError):
    """The face photographs for frame compositing are missing or unusable."""


@dataclass(frozen=True, slots=True)
class CameraIntrinsics:
    """Pinhole calibration (pixels); distortion is left to the vision calibration."""

    fx: float = 520.0
    fy: float = 520.0
    cx: float = 320.0
    cy: float = 240.0
    width_px: int = 640
    height_px: int = 480

    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, slots=True)
class CameraMount:
    """Where the camera sits on the robot (base frame, m) and the point it looks at."""

    position_m: tuple[float, float, float] = (0.02, 0.12, 0.40)
    look_at_m: tuple[float, float, float] = (0.36, 0.0, 0.25)

    def rotation_world_from_camera(self) -> np.ndarray:
        """Columns: camera x (right), y (down), z (forward) in the base frame."""
        forward = np.subtract(self.look_at_m, self.position_m).astype(float)
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, (0.0, 0.0, 1.0))
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        return np.column_stack((right, down, forward))


class PinholeCamera:
    """Projects base-frame points into the image of a camera fixed on the robot."""

    def __init__(self, intrinsics: CameraIntrinsics | None = None, mount: CameraMount | None = None) -> None:
        self.intrinsics = intrinsics or CameraIntrinsics()
        self.mount = mount or CameraMount()
        r_wc = self.mount.rotation_world_from_camera()
        self._r_cw = r_wc.T
        self._t_cw = -self._r_cw @ np.asarray(self.mount.position_m, dtype=float)
        self._rvec, _ = cv2.Rodrigues(self._r_cw)
        self._k = self.intrinsics.matrix()

    def to_camera(self, point_m) -> np.ndarray:
        """A base-frame point (3,) or points (N, 3) in the camera frame (x right, y down, z forward)."""
        return np.asarray(point_m, dtype=float) @ self._r_cw.T + self._t_cw

    def project(self, points_m) -> np.ndarray:
        """Pixel coordinates (N, 2) of base-frame points (N, 3)."""
        pts = np.asarray(points_m, dtype=float).reshape(-1, 1, 3)
        px, _ = cv2.projectPoints(pts, self._rvec, self._t_cw, self._k, None)
        return px.reshape(-1, 2)

    def in_view(self, px: np.ndarray) -> bool:
        """True when a pixel lies inside the image."""
        return 0 <= px[0] < self.intrinsics.width_px and 0 <= px[1] < self.intrinsics.height_px


@dataclass(frozen=True, slots=True)
class MouthSighting:
    """One observation of the mouth, field for field a `vision.MouthObservation`, plus
    `ground_truth` (True: from the simulator's truth rather than from images) and `content_t`,
    when the scene it shows was really captured (older than `t` for a frozen frame)."""

    center_px: tuple[float, float]
    width_px: float
    open_ratio: float
    is_open: bool
    confidence: float
    t: float
    position_m: tuple[float, float, float] | None = None
    ground_truth: bool = True
    content_t: float | None = None


@dataclass(frozen=True, slots=True)
class TrueMouth:
    """The mouth as the camera would see it right now."""

    center_px: np.ndarray
    width_px: float
    open_ratio: float
    yaw_rad: float
    position_cam_m: np.ndarray


def true_mouth(world: World, camera: PinholeCamera) -> TrueMouth | None:
    """The projected mouth, or None when it is behind the camera, out of the image or turned away."""
    mouth = world.mouth_position()
    cam = camera.to_camera(mouth)
    if cam[2] <= 0.05:
        return None
    facing = -world.head_rotation()[:, 0]  # the face looks along the head's -x axis
    toward_camera = np.asarray(camera.mount.position_m) - mouth
    cos_angle = float(facing @ toward_camera / np.linalg.norm(toward_camera))
    yaw = float(np.arccos(np.clip(cos_angle, -1.0, 1.0)))
    if yaw > MAX_VISIBLE_YAW_RAD:
        return None
    center = camera.project(mouth)[0]
    if not camera.in_view(center):
        return None
    width_px = camera.intrinsics.fx * MOUTH_WIDTH_M * max(np.cos(yaw), 0.0) / cam[2]
    return TrueMouth(center, float(width_px), world.mouth_opening_m() / MOUTH_WIDTH_M, yaw, cam)


class CameraFaultSchedule:
    """Which camera faults are active at a time."""

    def __init__(self, faults: tuple[CameraFault, ...] = ()) -> None:
        self._faults = faults

    def active(self, t_s: float) -> set[CameraFaultKind]:
        return {f.kind for f in self._faults if f.at_s <= t_s < f.at_s + f.duration_s}

    def add(self, fault: CameraFault) -> None:
        """Schedule one more fault (a fault injected at a moment of the meal, not a set time)."""
        self._faults = (*self._faults, fault)


class _FrameClock:
    """Frame capture times at a fixed rate, and delivery after a latency."""

    def __init__(self, fps: float, latency_s: float) -> None:
        self.period_s = 1.0 / fps
        self.latency_s = latency_s
        self.next_capture_s = 0.0

    def due(self, t_s: float) -> bool:
        """True when a frame is captured at `t_s` (call once per tick)."""
        if t_s + 1e-12 >= self.next_capture_s:
            self.next_capture_s += self.period_s * max(1, int((t_s - self.next_capture_s) / self.period_s) + 1)
            return True
        return False


class GroundTruthMouthSource:
    """Fallback camera: the true mouth with noise, latency and dropouts (not the vision pipeline).

    Call `poll(t_s)` every control tick; it returns the newest sighting delivered by then (its `t`
    is the capture time), or None if none has been delivered yet.
    """

    ground_truth = True

    def __init__(
        self,
        world: World,
        camera: PinholeCamera | None = None,
        faults: tuple[CameraFault, ...] = (),
        *,
        seed: int = 0,
        fps: float = 30.0,
        latency_s: float = 0.06,
        noise_px: float = 1.5,
        depth_noise: float = 0.01,
        depth_noise_time_s: float = 0.0,
        dropout_probability: float = 0.03,
        face_size: float = 1.0,
        reason: str = "no face images",
    ) -> None:
        self.world = world
        self.camera = camera or PinholeCamera()
        self.faults = CameraFaultSchedule(faults)
        self.noise_px = noise_px
        if not (math.isfinite(depth_noise_time_s) and depth_noise_time_s >= 0.0):
            raise ValueError(f"depth_noise_time_s must be a finite time of 0 s or more, got {depth_noise_time_s}")
        self.depth_noise = depth_noise
        self.depth_noise_time_s = depth_noise_time_s
        self._depth_error: tuple[float, float] | None = None  # (capture time, relative error) of the last frame
        self.dropout_probability = dropout_probability
        self.face_size = face_size
        self._clock = _FrameClock(fps, latency_s)
        self._rng = np.random.default_rng(seed)
        self._in_flight: list[MouthSighting | None] = []
        self._delivery_s: list[float] = []
        self._latest: MouthSighting | None = None
        self._frozen: MouthSighting | None = None
        self.frames_captured = 0
        self.frames_dropped = 0
        log.warning(
            "simulated camera: %s; using ground-truth mouth observations with noise, latency "
            "and dropouts instead of the vision pipeline",
            reason,
        )

    def poll(self, t_s: float) -> MouthSighting | None:
        if self._clock.due(t_s):
            self._in_flight.append(self._capture(t_s))
            self._delivery_s.append(t_s + self._clock.latency_s)
        while self._delivery_s and self._delivery_s[0] <= t_s + 1e-12:
            self._delivery_s.pop(0)
            sighting = self._in_flight.pop(0)
            if sighting is not None:
                self._latest = sighting
        return self._latest

    def _capture(self, t_s: float) -> MouthSighting | None:
        self.frames_captured += 1
        faults = self.faults.active(t_s)
        if CameraFaultKind.FROZEN_FRAME in faults and self._frozen is not None:
            return dataclasses.replace(self._frozen, t=t_s)
        if CameraFaultKind.NOISY_FROZEN_FRAME in faults and self._frozen is not None:
            if self._frozen.content_t is not None and t_s - self._frozen.content_t > CONTENT_CHECK_S:
                self.frames_dropped += 1  # vision's content check calls it still
                return None
            return self._with_noise(self._frozen, t_s)
        if faults & (_NO_PICTURE | {CameraFaultKind.DROPPED_FRAMES}) or (self._rng.random() < self.dropout_probability):
            self.frames_dropped += 1
            return None
        truth = true_mouth(self.world, self.camera)
        if CameraFaultKind.SECOND_FACE in faults and self._rng.random() < 0.25:
            truth = self._second_face()
        if truth is None:
            return None
        confidence = float(np.clip(0.9 - 0.3 * truth.yaw_rad, 0.0, 1.0))
        noise_px, depth_noise = self.noise_px, self.depth_noise
        if CameraFaultKind.HAND_IN_VIEW in faults:
            # A hand over the mouth: half the frames show no mouth; the rest a low-confidence guess
            # somewhere on the hand, up to a few centimetres off.
            if self._rng.random() < 0.5:
                return None
            confidence, noise_px, depth_noise = (
                HAND_CONFIDENCE,
                noise_px + HAND_NOISE_PX,
                depth_noise + HAND_DEPTH_NOISE,
            )
        noisy = truth.center_px + self._rng.normal(0.0, noise_px, size=2)
        ratio = max(truth.open_ratio + self._rng.normal(0.0, 0.02), 0.0)
        draw = self._rng.normal(0.0, depth_noise)
        error = draw if CameraFaultKind.HAND_IN_VIEW in faults else self._drifting_depth_error(draw, t_s)
        position = truth.position_cam_m * (1.0 + error)
        sighting = MouthSighting(
            (float(noisy[0]), float(noisy[1])),
            truth.width_px * self.face_size * (1.0 + self._rng.normal(0.0, 0.03)),
            ratio,
            ratio > OPEN_RATIO_THRESHOLD,
            confidence,
            t_s,
            (float(position[0]), float(position[1]), float(position[2])),
            content_t=t_s,
        )
        self._frozen = sighting
        return sighting

    def _drifting_depth_error(self, draw: float, t_s: float) -> float:
        """The face's relative depth error at `t_s` from a fresh `draw`: the draw itself when
        `depth_noise_time_s` is 0 (white noise), else a first-order drift with that correlation time
        and the draw's spread, as the tracker's head-pose depth drifts (docs/safety.md)."""
        previous = self._depth_error
        if self.depth_noise_time_s == 0.0 or previous is None:
            error = draw
        else:
            kept = math.exp(-max(t_s - previous[0], 0.0) / self.depth_noise_time_s)
            error = kept * previous[1] + math.sqrt(1.0 - kept * kept) * draw
        self._depth_error = (t_s, error)
        return error

    def _with_noise(self, sighting: MouthSighting, t_s: float) -> MouthSighting:
        """The frozen sighting as a detector sees it in the same picture under fresh sensor noise."""
        jitter = self._rng.normal(0.0, 0.2, size=2)
        position = sighting.position_m
        if position is not None:
            x, y, z = np.multiply(position, 1.0 + 0.002 * self._rng.normal(size=3))
            position = (float(x), float(y), float(z))
        centre = (sighting.center_px[0] + float(jitter[0]), sighting.center_px[1] + float(jitter[1]))
        return dataclasses.replace(sighting, center_px=centre, position_m=position, t=t_s)

    def _second_face(self) -> TrueMouth:
        """A bystander's mouth, half a metre behind the citizen and to the side."""
        mouth = self.world.mouth_position() + np.array([0.5, -0.3, 0.05])
        cam = self.camera.to_camera(mouth)
        center = self.camera.project(mouth)[0]
        return TrueMouth(center, float(self.camera.intrinsics.fx * MOUTH_WIDTH_M / cam[2]), 0.05, 0.0, cam)


@dataclass(frozen=True, slots=True)
class FacePhoto:
    """A labelled face photograph: the image and where its mouth is."""

    image_bgr: np.ndarray
    mouth_center_px: tuple[float, float]
    mouth_width_px: float


@dataclass(frozen=True, slots=True)
class FaceShape:
    """What a face photo shows in three dimensions, as a face tracker measures it.

    `points_px`: face-mesh points (N, 2) in photo pixels; `points_m`: the same points (N, 3) in
    metres in the photographing camera's frame (x right, y down, z away from the camera), the face
    being roughly frontal to that camera.
    """

    points_px: np.ndarray
    points_m: np.ndarray


FaceMeasure = Callable[[np.ndarray], "FaceShape | None"]
"""Measures one BGR photo; None when no face is found in it (injected: `sim` runs no vision)."""


@dataclass(frozen=True, slots=True)
class _FaceMesh:
    """A photo's face as triangles: vertices in photo pixels (N, 2) and in metres relative to the
    labelled mouth (N, 3, photo camera's axes), triangles (T, 3) of vertex indices."""

    vertices_px: np.ndarray
    vertices_m: np.ndarray
    triangles: np.ndarray


def _affine_fit(px: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares affine map (3, k) from pixels (N, 2) to values (N, k): [u v 1] @ map."""
    lhs = np.column_stack([px, np.ones(len(px))])
    return np.linalg.lstsq(lhs, values, rcond=None)[0]


def _face_mesh(photo: FacePhoto, shape: FaceShape) -> _FaceMesh:
    """Triangulate the measured face points plus a frame of points around the photo's border (at
    the depth of the face's outline), so that hair and background move with the head too; the
    labelled mouth sits on the plane of the 20 mesh points nearest to it."""
    px = np.asarray(shape.points_px, dtype=float)
    m = np.asarray(shape.points_m, dtype=float)
    if px.ndim != 2 or px.shape[1] != 2 or m.shape != (len(px), 3) or len(px) < 20:
        raise FacesUnavailable(
            f"a face shape needs (N, 2) pixels and (N, 3) metres, N >= 20; got {px.shape}, {m.shape}"
        )
    if not (np.isfinite(px).all() and np.isfinite(m).all() and (m[:, 2] > 0.0).all()):
        raise FacesUnavailable("a face shape needs finite points in front of the camera")
    h, w = photo.image_bgr.shape[:2]
    mouth_px = np.asarray(photo.mouth_center_px, dtype=float)
    near = np.argsort(np.linalg.norm(px - mouth_px, axis=1))[:20]
    mouth_m = np.append(mouth_px, 1.0) @ _affine_fit(px[near], m[near])
    xs, ys = np.linspace(0.0, w - 1.0, 5), np.linspace(0.0, h - 1.0, 5)
    border = np.array([(x, y) for x in xs for y in (0.0, h - 1.0)] + [(x, y) for x in (0.0, w - 1.0) for y in ys[1:-1]])
    border_m = np.column_stack([border, np.ones(len(border))]) @ _affine_fit(px, m[:, :2])
    vertices_px = np.vstack([px, border])
    vertices_m = np.vstack([m, np.column_stack([border_m, np.full(len(border), m[:, 2].max())])]) - mouth_m
    subdiv = cv2.Subdiv2D((-1, -1, w + 2, h + 2))
    index: dict[tuple[float, float], int] = {}
    for i, (x, y) in enumerate(vertices_px):
        if 0.0 <= x <= w and 0.0 <= y <= h and (key := (round(x, 3), round(y, 3))) not in index:
            index[key] = i
            subdiv.insert((float(x), float(y)))
    triangles = []
    for t in subdiv.getTriangleList():
        ids = [index.get((round(float(t[2 * j]), 3), round(float(t[2 * j + 1]), 3))) for j in range(3)]
        if None not in ids:
            triangles.append(ids)
    return _FaceMesh(vertices_px, vertices_m, np.array(triangles, dtype=np.int64))


def _render_mesh(
    frame: np.ndarray,
    photo: FacePhoto,
    mesh: _FaceMesh,
    camera: PinholeCamera,
    mouth_m: np.ndarray,
    head_rotation: np.ndarray,
) -> None:
    """Draw the photo's face mesh with its labelled mouth at `mouth_m` (base frame) in the head's pose.

    Each triangle is an affine warp of the photo; nearer triangles are drawn over farther ones.
    """
    # the photo camera's axes on the head: x to the face's left side, y down, z into the face
    photo_to_world = np.column_stack([-head_rotation[:, 1], -head_rotation[:, 2], head_rotation[:, 0]])
    world = mouth_m + mesh.vertices_m @ photo_to_world.T
    v = mesh.vertices_px
    depth = camera.to_camera(world)[:, 2]
    if depth.min() <= 0.01:
        return
    dst = camera.project(world)
    fh, fw = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(dst.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(dst.max(axis=0)).astype(int) + 1, (fw, fh))
    if x1 <= x0 or y1 <= y0:
        return
    tri = mesh.triangles
    corners = dst[tri]  # (T, 3, 2)
    lhs = np.concatenate([corners, np.ones((len(tri), 3, 1))], axis=2)
    usable = np.abs(np.linalg.det(lhs)) > 1e-6
    affine = np.zeros((len(tri), 3, 2))
    affine[usable] = np.linalg.solve(lhs[usable], v[tri][usable][:, :, :2])  # [x y 1] @ affine = photo px
    # Which triangle owns each pixel, on a grid coarser by _MAP_STEP: the map from frame
    # to photo pixels is piecewise affine and continuous, so it is computed there and upsampled.
    size = (-(-(x1 - x0) // _MAP_STEP), -(-(y1 - y0) // _MAP_STEP))
    owner = np.zeros((size[1], size[0]), np.int32)
    fixed = np.round((corners - (x0, y0) - _MAP_CENTRE) * (16 / _MAP_STEP)).astype(np.int32)
    order = np.argsort(-depth[tri].mean(axis=1))
    order = order[usable[order]]
    for i, polygon in zip((order + 1).tolist(), fixed[order], strict=True):
        cv2.fillConvexPoly(owner, polygon, i, lineType=cv2.LINE_8, shift=4)
    affine = np.vstack([np.full((1, 3, 2), -1e4), affine]).astype(np.float32)  # owner 0: not the face
    grid_y, grid_x = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32) * _MAP_STEP + _MAP_CENTRE
    grid_x += x0
    grid_y += y0
    a = affine[owner]
    coarse_x = grid_x * a[..., 0, 0] + grid_y * a[..., 1, 0] + a[..., 2, 0]
    coarse_y = grid_x * a[..., 0, 1] + grid_y * a[..., 1, 1] + a[..., 2, 1]
    full = (size[0] * _MAP_STEP, size[1] * _MAP_STEP)
    map_x = cv2.resize(coarse_x, full, interpolation=cv2.INTER_LINEAR)[: y1 - y0, : x1 - x0]
    map_y = cv2.resize(coarse_y, full, interpolation=cv2.INTER_LINEAR)[: y1 - y0, : x1 - x0]
    cv2.remap(
        photo.image_bgr, map_x, map_y, cv2.INTER_LINEAR, dst=frame[y0:y1, x0:x1], borderMode=cv2.BORDER_TRANSPARENT
    )


@functools.cache
def _unit_noise_fields(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """`_NOISE_FIELDS` fields of independent standard normals (float32), `_NOISE_MARGIN_PX` larger
    than a frame of `shape` each way; the same in every process (fixed seed), made once per size."""
    rng = np.random.default_rng(20261205)
    size = (shape[0] + _NOISE_MARGIN_PX, shape[1] + _NOISE_MARGIN_PX, *shape[2:])
    return tuple(rng.standard_normal(size, dtype=np.float32) for _ in range(_NOISE_FIELDS))


def _draw_spoon(frame: np.ndarray, world: World, camera: PinholeCamera) -> None:
    """Draw the spoon (handle from the flange, elliptic bowl at the tip) when it is nearer the camera
    than the face, e.g. over the lips during a bite."""
    tip = world.spoon_tip_position()
    flange = forward(world.arm_positions())[:3]
    along = tip - flange
    if np.linalg.norm(along) < 1e-6:
        return
    along /= np.linalg.norm(along)
    across = np.cross(along, (0.0, 0.0, 1.0))
    across = across / np.linalg.norm(across) if np.linalg.norm(across) > 1e-6 else np.array([0.0, 1.0, 0.0])
    bowl = tip - SPOON_BOWL_HALF_M[0] * along
    depth = camera.to_camera(bowl)[2]
    if depth <= 0.05 or depth >= camera.to_camera(world.mouth_position())[2] + 0.01:
        return
    angles = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    rim = (
        bowl
        + np.outer(np.cos(angles) * SPOON_BOWL_HALF_M[0], along)
        + np.outer(np.sin(angles) * SPOON_BOWL_HALF_M[1], across)
    )
    handle = camera.project(np.array([flange - 0.03 * along, bowl]))
    width = max(1, round(camera.intrinsics.fx * SPOON_HANDLE_WIDTH_M / depth))
    cv2.line(
        frame, tuple(int(v) for v in np.round(handle[0])), tuple(int(v) for v in np.round(handle[1])), SPOON_BGR, width
    )
    cv2.fillPoly(frame, [np.round(camera.project(rim) * 16).astype(np.int32)], SPOON_BGR, lineType=cv2.LINE_AA, shift=4)


def _draw_hand(frame: np.ndarray, truth: TrueMouth) -> None:
    """A hand in front of the face, covering the mouth's lower half and the chin."""
    cx, cy = truth.center_px
    w = truth.width_px
    center = (round(cx + 0.2 * w), round(cy + 0.6 * w))
    axes = (max(round(1.1 * w), 1), max(round(0.7 * w), 1))
    cv2.ellipse(frame, center, axes, -20.0, 0.0, 360.0, HAND_BGR, thickness=-1, lineType=cv2.LINE_AA)


def default_faces_dir() -> Path:
    """`<repo>/../shared/data/faces`, where the shared face photographs live."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"


def load_face_photos(faces_dir: Path) -> tuple[dict[str, FacePhoto], FacePhoto]:
    """One person's open and closed photos (`{"open": ..., "closed": ...}`) and another person's
    photo for the second face, from the dev split of `labels.csv`."""
    labels = faces_dir / "labels.csv"
    if not labels.is_file():
        raise FacesUnavailable(f"no face labels at {labels}")
    by_person: dict[str, dict[str, dict]] = {}
    with labels.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("split") != "dev" or row.get("mouth_state") not in ("open", "closed"):
                continue
            person = Path(row["file"]).stem.rsplit("_", 1)[0]
            by_person.setdefault(person, {}).setdefault(row["mouth_state"], row)
    people = sorted(p for p, states in by_person.items() if {"open", "closed"} <= states.keys())
    if len(people) < 2:
        raise FacesUnavailable(f"{labels} has no two people with both open and closed mouths in the dev split")

    def photo(row: dict) -> FacePhoto:
        image = cv2.imread(str(faces_dir / row["file"]), cv2.IMREAD_COLOR)
        if image is None:
            raise FacesUnavailable(f"cannot read face image {faces_dir / row['file']}")
        try:
            return FacePhoto(image, (float(row["mouth_cx"]), float(row["mouth_cy"])), float(row["mouth_w"]))
        except (KeyError, ValueError) as exc:
            raise FacesUnavailable(f"bad mouth label for {row.get('file')}: {exc}") from exc

    citizen = {state: photo(by_person[people[0]][state]) for state in ("open", "closed")}
    return citizen, photo(by_person[people[1]]["closed"])


def _paste(frame: np.ndarray, photo: FacePhoto, center_px, width_px: float, squeeze: float = 1.0) -> None:
    """Scale `photo` so its mouth is `width_px` wide and put its mouth at `center_px` (clipped)."""
    scale = width_px / photo.mouth_width_px
    h, w = photo.image_bgr.shape[:2]
    size = (max(round(w * scale * squeeze), 1), max(round(h * scale), 1))
    scaled = cv2.resize(photo.image_bgr, size, interpolation=cv2.INTER_LINEAR)
    x0 = round(center_px[0] - photo.mouth_center_px[0] * scale * squeeze)
    y0 = round(center_px[1] - photo.mouth_center_px[1] * scale)
    fh, fw = frame.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(fw, x0 + size[0]), min(fh, y0 + size[1])
    if dx1 > dx0 and dy1 > dy0:
        frame[dy0:dy1, dx0:dx1] = scaled[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]


def _measured(measure_face: FaceMeasure, photo: FacePhoto, state: str) -> FaceShape:
    shape = measure_face(photo.image_bgr)
    if shape is None:
        raise FacesUnavailable(f"no face measured in the citizen's {state}-mouth photo")
    return shape


class FaceFrameSource:
    """Camera mode (a): BGR frames composed from real face photos, placed by the head pose.

    Call `poll(t_s)` every control tick; it returns `(capture_t, frame)` when a frame is
    delivered at this tick, else None; `delivered_content_t` is when the scene of that frame was
    really captured (older for a frozen frame) and `delivered_truth_m` where the mouth then truly
    was (camera frame, m; None when out of view). With `measure_face` each citizen photo is measured
    once and rendered as a 3-D face mesh in the head's pose (geometrically what a camera sees of a
    face of that shape); without it the photo is pasted flat, scaled so the mouth is 50 mm wide and
    squeezed by the view angle, which biases a head-pose fit's distance by several centimetres.
    Raises `FacesUnavailable` when the photos are missing or `measure_face` finds no face in one.
    """

    ground_truth = False

    def __init__(
        self,
        world: World,
        camera: PinholeCamera | None = None,
        faults: tuple[CameraFault, ...] = (),
        *,
        faces_dir: Path | None = None,
        measure_face: FaceMeasure | None = None,
        fps: float = 30.0,
        latency_s: float = 0.04,
        seed: int = 0,
        light: float = 1.0,
        sensor_noise: float = 0.0,
    ) -> None:
        self.world = world
        self.light = light
        self.sensor_noise = sensor_noise
        self.camera = camera or PinholeCamera()
        self.faults = CameraFaultSchedule(faults)
        self.photos, self.second_photo = load_face_photos(faces_dir or default_faces_dir())
        self._meshes = (
            {}
            if measure_face is None
            else {
                state: _face_mesh(photo, _measured(measure_face, photo, state)) for state, photo in self.photos.items()
            }
        )
        self._clock = _FrameClock(fps, latency_s)
        self._queue: list[tuple[float, float, np.ndarray | None, float, np.ndarray | None]] = []
        self._last_frame: np.ndarray | None = None
        self._last_content_t = 0.0
        self._rng = np.random.default_rng(seed)
        self._last_truth_m: np.ndarray | None = None
        ih = self.camera.intrinsics
        self._background = np.full((ih.height_px, ih.width_px, 3), BACKGROUND_BGR, np.uint8)
        self.frames_captured = 0
        self.delivered_content_t: float | None = None
        self.delivered_truth_m: np.ndarray | None = None  # camera-frame true mouth of the delivered scene

    def render(self, t_s: float) -> np.ndarray | None:
        """The frame the camera captures now (None for a dropped frame)."""
        self.frames_captured += 1
        faults = self.faults.active(t_s)
        if CameraFaultKind.DROPPED_FRAMES in faults:
            return None
        if CameraFaultKind.FROZEN_FRAME in faults and self._last_frame is not None:
            return self._last_frame
        if CameraFaultKind.NOISY_FROZEN_FRAME in faults and self._last_frame is not None:
            return self._with_noise(self._last_frame, max(self.sensor_noise, SENSOR_NOISE_GREY))
        self._last_content_t = t_s
        truth = true_mouth(self.world, self.camera)
        self._last_truth_m = None if truth is None else truth.position_cam_m
        ih = self.camera.intrinsics
        if CameraFaultKind.BLACK_FRAME in faults:
            return np.zeros((ih.height_px, ih.width_px, 3), np.uint8)
        if CameraFaultKind.WHITE_FRAME in faults:
            return np.full((ih.height_px, ih.width_px, 3), 255, np.uint8)
        if CameraFaultKind.COVERED_LENS in faults:
            return np.full((ih.height_px, ih.width_px, 3), COVERED_BGR, np.uint8)
        frame = self.compose(second_face=CameraFaultKind.SECOND_FACE in faults)
        if CameraFaultKind.HAND_IN_VIEW in faults and truth is not None:
            _draw_hand(frame, truth)
        if self.light != 1.0:
            frame = cv2.convertScaleAbs(frame, alpha=self.light)
        if self.sensor_noise > 0.0:
            frame = self._with_noise(frame, self.sensor_noise)
        self._last_frame = frame
        return frame

    def _with_noise(self, frame: np.ndarray, sigma: float) -> np.ndarray:
        """`frame` plus Gaussian noise of `sigma` grey levels per pixel and channel: one of
        `_unit_noise_fields` cropped at an offset, both drawn from this source's generator (drawing
        a new frame of normals costs ~10x the sum; two frames share their noise, shifted, 1 time in 16)."""
        h, w = frame.shape[:2]
        fields = _unit_noise_fields(frame.shape)
        dy, dx = self._rng.integers(_NOISE_MARGIN_PX + 1, size=2)
        noise = fields[int(self._rng.integers(len(fields)))][dy : dy + h, dx : dx + w]
        return cv2.addWeighted(frame, 1.0, noise, sigma, 0.0, dtype=cv2.CV_8U)

    def compose(self, *, second_face: bool = False) -> np.ndarray:
        """A picture of the scene as it is now, without faults, counting or history."""
        ih = self.camera.intrinsics
        frame = self._background.copy()
        if second_face:
            _paste(frame, self.second_photo, (ih.width_px * 0.15, ih.height_px * 0.35), 35.0)
        truth = true_mouth(self.world, self.camera)
        if truth is not None:
            state = "open" if truth.open_ratio > OPEN_RATIO_THRESHOLD else "closed"
            photo = self.photos[state]
            if self._meshes:
                _render_mesh(
                    frame,
                    photo,
                    self._meshes[state],
                    self.camera,
                    self.world.mouth_position(),
                    self.world.head_rotation(),
                )
            else:
                _paste(
                    frame,
                    photo,
                    truth.center_px,
                    truth.width_px / max(np.cos(truth.yaw_rad), 0.3),
                    np.cos(truth.yaw_rad),
                )
        _draw_spoon(frame, self.world, self.camera)
        return frame

    def poll(self, t_s: float) -> tuple[float, np.ndarray] | None:
        if self._clock.due(t_s):
            frame = self.render(t_s)
            self._queue.append((t_s + self._clock.latency_s, t_s, frame, self._last_content_t, self._last_truth_m))
        delivered = None
        while self._queue and self._queue[0][0] <= t_s + 1e-12:
            _, capture_t, frame, content_t, truth_m = self._queue.pop(0)
            if frame is not None:
                delivered = (capture_t, frame)
                self.delivered_content_t = content_t
                self.delivered_truth_m = truth_m
        return delivered
