"""What a feeding camera sees besides a clean face: the spoon or a hand over the mouth, blur, too
little or too much light, heavy sensor noise, the face jumping, a second face next to it.

Each stress changes a frame of placed faces (`vision.video_evaluation.Stage`) around the user's
mouth, with sizes relative to the mouth width, so it means the same at every face size. The
evaluation of the confidence gate (`vision.gate_choice`) runs the tracker through them.
"""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np

from vision.video_evaluation import PlacedMouth

SPOON_BGR = (190, 190, 195)  # brushed steel
HANDLE_BGR = (170, 170, 175)
SKIN_BGR = (120, 150, 205)  # a hand: light skin in BGR


class Stress(StrEnum):
    """One stress, applied to every stressed frame of a sequence."""

    NONE = "none"
    SPOON = "spoon"  # the bowl of the spoon over the whole mouth, handle down out of the frame
    SPOON_LOWER_LIP = "spoon_lower_lip"  # the spoon at the lower lip, half the mouth in view
    SPOON_HEAD_MOVES = "spoon_head_moves"  # the spoon held still where the mouth was; the head drifts away and back
    HAND = "hand"  # a hand over the mouth and chin
    BLUR = "blur"  # out of focus: Gaussian blur of a tenth of a mouth width
    MOTION_BLUR = "motion_blur"  # a quick sideways move: 0.4 mouth widths of horizontal smear
    DARK = "dark"  # a quarter of the light
    BRIGHT = "bright"  # 1.8x the light, clipped
    NOISE = "noise"  # heavy sensor noise, 20 grey levels standard deviation
    JUMP = "jump"  # the face moves 0.6 face widths in one frame (the scene, not the frame, changes)
    SECOND_FACE = "second_face"  # another person's face one face width beside the user's

    @property
    def drawn(self) -> bool:
        """True for the stresses `apply_stress` draws; `JUMP` and `SECOND_FACE` are where the faces are placed."""
        return self not in (Stress.NONE, Stress.JUMP, Stress.SECOND_FACE)


def apply_stress(frame: np.ndarray, mouth: PlacedMouth, stress: Stress, rng: np.random.Generator) -> np.ndarray:
    """A new frame: `frame` (BGR uint8) with `stress` around `mouth` (the user's, or for
    `SPOON_HEAD_MOVES` where it was when the spoon arrived); `JUMP` and `SECOND_FACE` return a copy."""
    out = frame.copy()
    w = mouth.width_px
    cx, cy = round(mouth.center_px[0]), round(mouth.center_px[1])
    if stress in (Stress.SPOON, Stress.SPOON_LOWER_LIP, Stress.SPOON_HEAD_MOVES):
        y = round(cy + 0.35 * w) if stress is Stress.SPOON_LOWER_LIP else cy
        cv2.ellipse(out, (cx, y), (round(0.65 * w), round(0.4 * w)), 0, 0, 360, SPOON_BGR, -1)
        half = max(1, round(0.12 * w))
        cv2.rectangle(out, (cx - half, y), (cx + half, out.shape[0] - 1), HANDLE_BGR, -1)
    elif stress is Stress.HAND:
        cv2.ellipse(out, (cx, round(cy + 0.3 * w)), (round(0.9 * w), round(0.6 * w)), 15, 0, 360, SKIN_BGR, -1)
        for finger in range(4):  # fingers toward the cheek
            x = round(cx - 0.6 * w + finger * 0.35 * w)
            cv2.ellipse(out, (x, round(cy - 0.2 * w)), (round(0.13 * w), round(0.45 * w)), 0, 0, 360, SKIN_BGR, -1)
    elif stress is Stress.BLUR:
        out = cv2.GaussianBlur(out, (0, 0), max(0.5, 0.1 * w))
    elif stress is Stress.MOTION_BLUR:
        length = max(3, round(0.4 * w))
        kernel = np.full((1, length), 1.0 / length, np.float32)
        out = cv2.filter2D(out, -1, kernel)
    elif stress in (Stress.DARK, Stress.BRIGHT):
        gain = 0.25 if stress is Stress.DARK else 1.8
        out = cv2.convertScaleAbs(out, alpha=gain)
    elif stress is Stress.NOISE:
        noisy = out.astype(np.float32) + rng.normal(0.0, 20.0, out.shape).astype(np.float32)
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    return out
