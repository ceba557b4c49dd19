"""What vision is told when the calibration is off (`sim.scenario.CalibrationError`), as pure functions.

The simulated camera and world stay true. Vision gets intrinsics and a face size that are off, so
a mouth it sees lands elsewhere: with face frames the real tracker works with the believed values;
the ground-truth source stands for the tracker, so `seen_position_m` moves its mouth as the
tracker would (the same pixel, read with the believed intrinsics, at the depth a head-pose fit
gives with the believed focal length and face size). The camera pose error is applied to the
robot calibration (`bidvis.simulation.camera_feed.sim_calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.scenario import CalibrationError


def believed_intrinsics(
    fx: float, fy: float, cx: float, cy: float, error: CalibrationError
) -> tuple[float, float, float, float]:
    """The intrinsics (fx, fy, cx, cy; px) vision is given for a camera whose true ones are these."""
    scale = 1.0 + error.focal_length_fraction
    return fx * scale, fy * scale, cx + error.principal_point_px[0], cy + error.principal_point_px[1]


def believed_face_scale(face_scale: float, error: CalibrationError) -> float:
    """The citizen's face size as measured (`face_scale` the true measurement)."""
    return face_scale * (1.0 + error.face_scale_fraction)


def seen_position_m(
    position_cam_m: Sequence[float], fx: float, fy: float, cx: float, cy: float, error: CalibrationError
) -> tuple[float, float, float]:
    """Where vision with the believed intrinsics and face size puts a mouth truly at `position_cam_m`
    (camera frame, m; the camera's true intrinsics fx, fy, cx, cy): the same pixel, back-projected at
    the depth a head-pose fit then gives (the depth grows with the focal length and face size it assumes)."""
    x, y, z = (float(v) for v in position_cam_m)
    u, v = fx * x / z + cx, fy * y / z + cy
    bfx, bfy, bcx, bcy = believed_intrinsics(fx, fy, cx, cy, error)
    depth = z * (1.0 + error.focal_length_fraction) * (1.0 + error.face_scale_fraction)
    return (u - bcx) / bfx * depth, (v - bcy) / bfy * depth, depth
