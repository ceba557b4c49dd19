"""MediaPipe's own runtime (legacy `solutions.face_mesh`) as the reference for accuracy and speed.

Not on the hot path: the benchmark and `bidvis vision eval --backend mediapipe` use it to compare
the OpenCV pipeline with the model package's runtime on the same frames. `mediapipe` is imported
when an instance is made, never at module import.
"""

from __future__ import annotations

import numpy as np

from vision.frames import to_bgr_uint8


class MediaPipeFaceMesh:
    """468 face-mesh points (frame px) of the first face MediaPipe finds, or None."""

    def __init__(self, static_image_mode: bool) -> None:
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static_image_mode,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )

    def landmarks(self, image_bgr: np.ndarray) -> np.ndarray | None:
        image = to_bgr_uint8(image_bgr)
        result = self._mesh.process(image[:, :, ::-1])
        if not result.multi_face_landmarks:
            return None
        height, width = image.shape[:2]
        points = np.array(
            [(p.x * width, p.y * height, p.z * width) for p in result.multi_face_landmarks[0].landmark], np.float32
        )
        return points

    def close(self) -> None:
        self._mesh.close()
