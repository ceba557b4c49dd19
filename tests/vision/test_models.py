"""Model files come from the installed package; the detector's anchors follow MediaPipe's layout."""

import importlib.util

import numpy as np
import pytest

from vision import ModelFileMissing, TrackerConfig
from vision.face_detector import blazeface_anchors
from vision.models import FACE_DETECTOR, FACE_LANDMARKS, model_path


def test_both_model_files_are_found_in_the_installed_package():
    for relative in (FACE_DETECTOR, FACE_LANDMARKS):
        path = model_path(relative)
        assert path.is_file() and "mediapipe" in path.parts


def test_missing_package_or_file_says_how_to_fix_it(monkeypatch):
    with pytest.raises(ModelFileMissing, match="is missing"):
        model_path("face_landmark/no_such_model.tflite")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelFileMissing, match="pip install"):
        model_path(FACE_DETECTOR)


def test_anchors_cover_both_feature_maps_in_output_order():
    anchors = blazeface_anchors()
    assert anchors.shape == (896, 2)
    # 16x16 cells at stride 8 with 2 anchors each, then 8x8 cells at stride 16 with 6 each.
    assert np.allclose(anchors[0], anchors[1]) and np.allclose(anchors[0], (0.5 / 16, 0.5 / 16))
    assert np.allclose(anchors[2], (1.5 / 16, 0.5 / 16))
    assert np.allclose(anchors[512:518], (0.5 / 8, 0.5 / 8))
    assert np.allclose(anchors[-1], (7.5 / 8, 7.5 / 8))


@pytest.mark.parametrize(
    "bad",
    [
        dict(landmark_interval=0),
        dict(min_presence=1.0),
        dict(occlusion_confidence_tau_s=0.0),
        dict(identity_hold_s=-1.0),
    ],
)
def test_tracker_config_refuses_impossible_values(bad):
    with pytest.raises(ValueError):
        TrackerConfig(**bad)
