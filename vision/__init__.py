"""Vision: find the user's mouth, whether it is open, and where it is in space.

Frames are numpy arrays in OpenCV's BGR uint8 layout (H, W, 3). Entry points:
`detect_mouth(image_bgr)` for one still image and `MouthTracker().update(frame_bgr, t)` for a
video stream; both return a `MouthObservation` or None. See docs/vision.md.
"""

from vision.calibration import CameraIntrinsics, project
from vision.errors import CalibrationError, CameraError, InvalidFrame, ModelFileMissing, VisionError
from vision.observation import MouthObservation, MouthStatus
from vision.tracker import FaceModels, MouthTracker, TrackerConfig, TrackerState, detect_mouth

__all__ = [
    "CalibrationError",
    "CameraError",
    "CameraIntrinsics",
    "FaceModels",
    "InvalidFrame",
    "ModelFileMissing",
    "MouthObservation",
    "MouthStatus",
    "MouthTracker",
    "TrackerConfig",
    "TrackerState",
    "VisionError",
    "detect_mouth",
    "project",
]
