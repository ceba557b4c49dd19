"""Mouth geometry on the mesh and the open/closed hysteresis."""

import numpy as np
import pytest

from vision.mouth import OPENCV_THRESHOLDS, OpenHysteresis, OpenThresholds, mouth_geometry


def mesh(gap: float, inner_width: float = 40.0) -> np.ndarray:
    points = np.zeros((468, 3))
    points[13, :2], points[14, :2] = (100.0, 200.0), (100.0, 200.0 + gap)
    points[78, :2], points[308, :2] = (100.0 - inner_width / 2, 201.0), (100.0 + inner_width / 2, 201.0)
    points[61, :2], points[291, :2] = (75.0, 201.0), (125.0, 201.0)
    return points


def test_geometry_is_centre_of_the_gap_outer_width_and_gap_over_inner_width():
    mouth = mouth_geometry(mesh(gap=8.0))
    assert mouth.center_px == pytest.approx((100.0, 204.0))
    assert mouth.width_px == pytest.approx(50.0) and mouth.open_ratio == pytest.approx(0.2)


def test_degenerate_mouth_reads_closed_not_a_division_by_zero():
    assert mouth_geometry(mesh(gap=5.0, inner_width=0.0)).open_ratio == 0.0


def test_hysteresis_ignores_ratios_inside_the_band():
    band = OpenThresholds(open_at=0.10, close_at=0.06)
    state = OpenHysteresis(band)
    ratios = [0.02, 0.08, 0.11, 0.08, 0.07, 0.05, 0.09, 0.12]
    assert [state.update(r) for r in ratios] == [False, False, True, True, True, False, False, True]
    state.reset()
    assert state.is_open is False


def test_thresholds_must_form_a_band():
    with pytest.raises(ValueError, match="close_at <= open_at"):
        OpenThresholds(open_at=0.05, close_at=0.08)
    assert OPENCV_THRESHOLDS.close_at < OPENCV_THRESHOLDS.open_at
