"""The observation contract: fields of DESIGN.md, and when an observation may steer the spoon."""

import dataclasses

import pytest

from vision import MouthObservation, MouthStatus


def test_contract_fields_keep_their_names_and_extras_default():
    observation = MouthObservation((1.0, 2.0), 30.0, 0.2, True, 0.9, 12.5)
    assert [f.name for f in dataclasses.fields(MouthObservation)][:7] == [
        "center_px",
        "width_px",
        "open_ratio",
        "is_open",
        "confidence",
        "t",
        "position_m",
    ]
    assert observation.position_m is None and observation.status is MouthStatus.TRACKED
    with pytest.raises(dataclasses.FrozenInstanceError):
        observation.t = 13.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "status, confidence, usable",
    [
        (MouthStatus.TRACKED, 0.9, True),
        (MouthStatus.OCCLUDED, 0.3, True),
        (MouthStatus.OCCLUDED, 0.0, False),
        (MouthStatus.TOO_SMALL, 0.0, False),
        (MouthStatus.OFF_CENTER, 0.0, False),
        (MouthStatus.TURNED_AWAY, 0.0, False),
    ],
)
def test_only_seen_or_estimated_mouths_with_confidence_are_usable(status, confidence, usable):
    assert MouthObservation((0.0, 0.0), 1.0, 0.0, False, confidence, 0.0, status=status).usable is usable
