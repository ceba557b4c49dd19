"""The vision pipeline's part in the simulated camera: measuring a face photo's mesh, and the
citizen's `face_scale` set-up, as staff do it."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from sim.camera import FaceFrameSource, FaceMeasure, FaceShape, FacesUnavailable, true_mouth

log = logging.getLogger(__name__)


def vision_face_measure(models: Any, focal_px: float) -> FaceMeasure:
    """The simulated camera's `FaceMeasure`, by the vision pipeline itself: the photo's face mesh
    from `vision.MouthTracker`, placed in metres as if the photo had been taken with focal length
    `focal_px` about its centre, with the mouth at the distance that `vision.head_pose` fits
    against the mean face and the mesh's relative depths around it.

    Rendered at its true distance, the photo's face then has the mean face's size: seen straight on,
    the tracker's default `face_scale` of 1.0 reads its distance right. Its proportions are still the
    photographed person's (`calibrate_face_scale` absorbs most of that for side views).
    """
    from vision import CameraIntrinsics as VisionIntrinsics
    from vision import MouthTracker
    from vision.head_pose import estimate_head_pose
    from vision.mouth import LOWER_INNER_LIP, UPPER_INNER_LIP

    def measure(image_bgr: np.ndarray) -> FaceShape | None:
        tracker = MouthTracker(models=models)
        tracker.update(image_bgr, 0.0)
        points = tracker.landmarks_px
        if points is None:
            return None
        h, w = image_bgr.shape[:2]
        pose = estimate_head_pose(points, VisionIntrinsics(focal_px, focal_px, w / 2.0, h / 2.0, w, h))
        if pose is None:
            return None
        mouth_depth_m = float(pose.mouth_position_m()[2])
        mesh_mouth_z = (points[UPPER_INNER_LIP, 2] + points[LOWER_INNER_LIP, 2]) / 2.0
        depth = mouth_depth_m * (1.0 + (points[:, 2] - mesh_mouth_z) / focal_px)  # mesh z is in pixels
        metres = np.column_stack(
            [(points[:, 0] - w / 2.0) * depth / focal_px, (points[:, 1] - h / 2.0) * depth / focal_px, depth]
        )
        return FaceShape(points[:, :2].astype(float), metres)

    return measure


def calibrate_face_scale(frames: FaceFrameSource, intrinsics: Any, models: Any, views: int = 3) -> float:
    """The citizen's `face_scale` as staff set it up: the tracker looks at the face a few times
    while the mouth's distance from the camera is known (on the robot: the spoon held at the lips;
    here: the simulator's truth), and `vision.head_pose.face_scale_from_depth` does the rest.

    Raises `FacesUnavailable` when the tracker finds no face in the set-up view.
    """
    from vision import MouthTracker
    from vision.head_pose import face_scale_from_depth

    tracker = MouthTracker(intrinsics=intrinsics, models=models)
    for k in range(views):
        tracker.update(frames.compose(), -1.0 + 0.01 * k)
    truth = true_mouth(frames.world, frames.camera)
    if tracker.landmarks_px is None or truth is None:
        raise FacesUnavailable("no face in the set-up view: the citizen's face_scale cannot be calibrated")
    try:
        scale = face_scale_from_depth(tracker.landmarks_px, intrinsics, float(truth.position_cam_m[2]))
    except ValueError as exc:
        raise FacesUnavailable(f"the citizen's face_scale cannot be calibrated: {exc}") from exc
    log.info("simulated citizen's face_scale calibrated to %.3f", scale)
    return scale
