"""A hand over the mouth is a cover, like the spoon: on a drawn face (always runs) and on real faces
(the shared images and clips); talking, light changes and the spoon at the lower lip are not."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from vision import MouthStatus, MouthTracker, TrackerConfig
from vision.occlusion import LIP_POINTS, SKIN_POINTS, LipOcclusion, OcclusionLimits
from vision.stresses import SPOON_BGR, Stress, apply_stress
from vision.video_evaluation import PlacedMouth

SKIN = (120, 150, 205)
LIPS = (85, 90, 160)  # darker than the skin, of nearly its chroma (12 units), as the shared faces' lips
CENTRE, AXES = (100, 100), (30, 12)
OPEN = "grid_bbaf2n_f049"


def drawn_face() -> tuple[np.ndarray, np.ndarray]:
    """A skin-coloured frame with lips, and a 468-point mesh whose outer lip contour lies on the lips' edge."""
    image = np.full((200, 200, 3), SKIN, np.uint8)
    cv2.ellipse(image, CENTRE, (AXES[0] + 1, AXES[1] + 1), 0, 0, 360, LIPS, -1)
    points = np.zeros((468, 3), np.float32)
    angles = np.linspace(np.pi, -np.pi, len(LIP_POINTS), endpoint=False)  # 61 (left corner) first
    points[LIP_POINTS, 0] = CENTRE[0] + AXES[0] * np.cos(angles)
    points[LIP_POINTS, 1] = CENTRE[1] + AXES[1] * np.sin(angles)
    points[291, :2] = (CENTRE[0] + AXES[0], CENTRE[1])  # the other outer corner
    points[SKIN_POINTS, :2] = [(50, 60), (150, 60), (45, 80), (155, 80), (100, 55), (100, 45)]
    return image, points


def hand_over(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The drawn face with a hand of its own skin colour, mottled and noisy, over mouth and chin."""
    return apply_stress(image, PlacedMouth((float(CENTRE[0]), float(CENTRE[1])), 2.0 * AXES[0]), Stress.OWN_HAND, rng)


def learned(limits: OcclusionLimits | None = None) -> tuple[LipOcclusion, np.ndarray, np.ndarray]:
    occlusion = LipOcclusion(limits)
    image, points = drawn_face()
    for _ in range(5):
        assert not occlusion.lips_hidden(image, points)
        occlusion.remember(points, None, 1.0, 0.0)  # type: ignore[arg-type]  # the mouth is not looked at
    return occlusion, image, points


def test_a_hand_of_the_faces_own_colour_hides_the_lips_of_a_drawn_face():
    occlusion, image, points = learned()
    assert occlusion.lips_hidden(hand_over(image, np.random.default_rng(1)), points)


def test_the_lip_edge_test_is_what_sees_the_hand_not_the_colour_test():
    occlusion, image, points = learned(OcclusionLimits(faded_fraction=1.0, contrast_fade=0.01))
    assert not occlusion.lips_hidden(hand_over(image, np.random.default_rng(1)), points)


def test_without_the_lip_edge_only_the_colour_test_judges_the_lips():
    occlusion, image, points = learned(OcclusionLimits(lip_edge=False))
    assert not occlusion.lips_hidden(hand_over(image, np.random.default_rng(1)), points)
    cv2.ellipse(image, CENTRE, (AXES[0] + 6, AXES[1] + 6), 0, 0, 360, SPOON_BGR, -1)
    assert occlusion.lips_hidden(image, points)


@pytest.mark.parametrize("gain", [0.25, 0.5, 1.3])
def test_a_change_of_light_does_not_fade_the_lip_edge(gain):
    occlusion, image, points = learned()
    assert not occlusion.lips_hidden(cv2.convertScaleAbs(image, alpha=gain), points)


def test_a_spoon_at_the_lower_lip_leaves_the_lips_in_view():
    occlusion, image, points = learned()
    cv2.ellipse(image, (CENTRE[0], CENTRE[1] + 10), (39, 16), 0, 0, 360, SPOON_BGR, -1)
    assert not occlusion.lips_hidden(image, points)


def test_a_face_without_a_lip_edge_is_never_called_hidden_by_the_edge_test():
    occlusion = LipOcclusion(OcclusionLimits(chroma_tolerance=1e6))
    _, points = drawn_face()
    flat = np.full((200, 200, 3), SKIN, np.uint8)  # no lips to learn an edge from
    occlusion.lips_hidden(flat, points)
    occlusion.remember(points, None, 1.0, 0.0)  # type: ignore[arg-type]
    assert not occlusion.lips_hidden(hand_over(flat, np.random.default_rng(2)), points)


@pytest.mark.parametrize(
    "bad", [dict(contrast_fade=0.0), dict(faded_fraction=1.5), dict(min_contrast=-1.0), dict(learning_rate=0.0)]
)
def test_impossible_occlusion_limits_are_refused(bad):
    with pytest.raises(ValueError):
        OcclusionLimits(**bad)


# -- real faces ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stress", [Stress.OWN_HAND, Stress.HAND])
def test_a_hand_over_a_real_mouth_is_occluded_with_falling_confidence(models, face, compose, label_center, stress):
    image, row = face(OPEN)
    tracker = MouthTracker(models=models)
    for i in range(10):
        assert tracker.update(compose((640, 480), 90, (image, 140, 90)), i / 25).status is MouthStatus.TRACKED
    mouth = PlacedMouth(label_center(row, 140, 90), float(row["mouth_w"]))
    rng = np.random.default_rng(3)
    confidences = []
    for i in range(10, 30):
        frame = apply_stress(compose((640, 480), 90, (image, 140, 90)), mouth, stress, rng)
        observation = tracker.update(frame, i / 25)
        assert observation is not None and observation.status is MouthStatus.OCCLUDED, f"frame {i}"
        confidences.append(observation.confidence)
    assert all(later < earlier for earlier, later in itertools.pairwise(confidences))
    assert confidences[-1] < 0.5  # the controller's gate refuses it by now
    observation = tracker.update(compose((640, 480), 90, (image, 140, 90)), 30 / 25)
    assert observation is not None and observation.status is MouthStatus.TRACKED  # the hand gone: in view again


@pytest.mark.parametrize("name", ["lbbc2a", "swiz3n"])
def test_talking_real_faces_are_never_taken_for_a_hand(models, clip, name):
    frames, _ = clip(name)
    tracker = MouthTracker(TrackerConfig(), models=models)
    statuses = [tracker.update(frame, i / 25).status for i, frame in enumerate(frames)]
    assert statuses == [MouthStatus.TRACKED] * len(frames)
