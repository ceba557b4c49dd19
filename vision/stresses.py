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
    OWN_HAND = "own_hand"  # the hand in the colour of the user's own cheeks, shaded and mottled

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
        _draw_hand(out, cx, cy, w, SKIN_BGR)
    elif stress is Stress.OWN_HAND:
        hand = np.zeros_like(out)
        _draw_hand(hand, cx, cy, w, (255, 255, 255))
        out[hand > 0] = _skin_texture(out.shape, cheek_bgr(frame, mouth), w, rng)[hand > 0]
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


def _draw_hand(out: np.ndarray, cx: int, cy: int, w: float, colour: tuple[int, int, int]) -> None:
    """A palm over mouth and chin with four fingers up toward the cheek, drawn in place."""
    cv2.ellipse(out, (cx, round(cy + 0.3 * w)), (round(0.9 * w), round(0.6 * w)), 15, 0, 360, colour, -1)
    for finger in range(4):
        x = round(cx - 0.6 * w + finger * 0.35 * w)
        cv2.ellipse(out, (x, round(cy - 0.2 * w)), (round(0.13 * w), round(0.45 * w)), 0, 0, 360, colour, -1)


def _skin_texture(
    shape: tuple[int, ...], bgr: tuple[int, int, int], mouth_width_px: float, rng: np.random.Generator
) -> np.ndarray:
    """Skin of colour `bgr`: lit from above (+6 % to -10 % down the frame), mottled in brightness
    (6 grey levels, blobs of a twentieth of a mouth width) and with 2 grey levels of sensor noise."""
    height, width = shape[:2]
    shade = np.linspace(1.06, 0.9, height, dtype=np.float32)[:, None, None]
    mottle = rng.normal(0.0, 1.0, (height, width)).astype(np.float32)
    mottle = cv2.GaussianBlur(mottle, (0, 0), max(0.5, 0.05 * mouth_width_px))
    mottle *= 6.0 / max(float(mottle.std()), 1e-6)
    noise = rng.normal(0.0, 2.0, (height, width, 3)).astype(np.float32)
    skin = shade * np.asarray(bgr, np.float32) + mottle[:, :, None] + noise
    return np.clip(skin, 0, 255).astype(np.uint8)


def cheek_bgr(frame: np.ndarray, mouth: PlacedMouth) -> tuple[int, int, int]:
    """The median colour of two patches of cheek beside the mouth corners (0.2 mouth widths square)."""
    w = mouth.width_px
    half = max(1, round(0.1 * w))
    patches = []
    for side in (-1, 1):
        x, y = round(mouth.center_px[0] + side * 0.95 * w), round(mouth.center_px[1] - 0.3 * w)
        patch = frame[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1]
        patches.append(patch.reshape(-1, 3))
    median = np.median(np.concatenate(patches), axis=0)
    return int(median[0]), int(median[1]), int(median[2])
