"""Reading labelled folders and choosing thresholds; malformed data is named, not guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from vision.evaluation import DatasetError, ImageResult, LabelledImage, choose_thresholds, load_labels, run, score
from vision.observation import MouthObservation

HEADER = "file,split,mouth_state,mouth_cx,mouth_cy,mouth_w\n"


def write_labels(folder: Path, text: str) -> Path:
    (folder / "labels.csv").write_text(text)
    return folder


def test_labels_load_with_face_and_no_face_rows(tmp_path):
    images = load_labels(write_labels(tmp_path, HEADER + "a.png,dev,open,10,20,30\nb.png,holdout,none,,,\n"))
    assert images[0].center_px == (10.0, 20.0) and images[0].width_px == 30.0 and images[0].split == "dev"
    assert images[1].center_px is None and images[1].state == "none"


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,split\na.png,dev\n", "lacks column"),
        (HEADER + "a.png,dev,yawning,1,2,3\n", "not one of"),
        (HEADER + "a.png,dev,open,left,2,3\n", "must be numbers"),
    ],
)
def test_malformed_labels_are_named(tmp_path, text, message):
    with pytest.raises(DatasetError, match=message):
        load_labels(write_labels(tmp_path, text))


def test_missing_labels_and_unreadable_images_are_named(tmp_path):
    with pytest.raises(DatasetError, match="no labels.csv"):
        load_labels(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cannot read image"):
        run(load_labels(write_labels(tmp_path, HEADER + "broken.png,dev,open,1,2,3\n")))


def result(state: str, ratio: float, split: str = "dev", found: bool = True) -> ImageResult:
    image = LabelledImage(Path("x.png"), split, state, None if state == "none" else (0.0, 0.0), 10.0)
    observation = MouthObservation((1.0, 0.0), 10.0, ratio, ratio > 0.1, 1.0, 0.0) if found else None
    return ImageResult(image, observation, 0.002)


def test_thresholds_sit_in_the_gap_between_closed_and_open():
    results = [result("closed", r) for r in (0.01, 0.03, 0.06)] + [result("open", r) for r in (0.14, 0.3)]
    thresholds = choose_thresholds(results)
    assert 0.06 < thresholds.close_at < thresholds.open_at < 0.14
    assert thresholds.still_image(0.10) and not thresholds.still_image(0.09)


def test_thresholds_need_both_states():
    with pytest.raises(DatasetError, match="both open and closed"):
        choose_thresholds([result("open", 0.3), result("open", 0.2)])


def test_score_counts_found_faces_false_detections_and_states():
    results = [
        result("open", 0.3),
        result("closed", 0.3),
        result("none", 0.2),
        result("open", 0.2, found=False),
        result("open", 0.3, split="holdout"),
    ]
    dev = score(results, "dev")
    assert (dev.images, dev.faces, dev.faces_found) == (4, 3, 2)
    assert (dev.open_closed, dev.open_closed_correct) == (3, 1)
    assert (dev.no_face_images, dev.false_detections) == (1, 1)
    assert dev.centre_error_mean == pytest.approx(0.1) and dev.ms_per_image == pytest.approx(2.0)
