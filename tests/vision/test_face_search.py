"""Where faces are searched for: the whole frame, a padded frame and tiles that cover every small face."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vision.face_detector import INPUT_PX
from vision.face_search import MIN_FACE_INPUT_PX, FaceSearch, SearchWindow, window_pixels


@pytest.mark.parametrize("shape", [(480, 640), (288, 360), (720, 1280), (480, 1280), (640, 480), (1080, 1920)])
def test_every_smallest_face_lies_whole_in_a_tile_where_the_detector_sees_it_large_enough(shape):
    search = FaceSearch(min_face_height_fraction=0.1)
    height, width = shape
    face = 0.1 * height
    tiles = search.tiles(shape)
    assert tiles, "a face of 10 % of the frame height is too small for the whole frame: tiles are needed"
    assert all(tile.side * MIN_FACE_INPUT_PX / INPUT_PX <= face for tile in tiles)
    # a face (square of the face height) anywhere in the frame, even half out of it, is whole in a tile
    for x, y in itertools.product(
        np.linspace(-face / 2, width - face / 2, 23), np.linspace(-face / 2, height - face / 2, 17)
    ):
        assert any(
            t.x0 <= x and x + face <= t.x0 + t.side and t.y0 <= y and y + face <= t.y0 + t.side for t in tiles
        ), (x, y)


def test_no_tiles_when_the_whole_frame_already_shows_the_smallest_face_large_enough():
    assert FaceSearch(min_face_height_fraction=0.5).tiles((480, 640)) == []


def test_padded_window_adds_grey_on_every_side():
    search = FaceSearch(pad_fraction=0.25)
    window = search.padded_window((480, 640))
    assert window == SearchWindow(-160, -240, 960)
    image = np.full((480, 640, 3), 10, np.uint8)
    pixels = window_pixels(image, window)
    assert pixels.shape == (960, 960, 3)
    assert (pixels[240:720, 160:800] == 10).all() and (pixels[:240] == 127).all() and (pixels[:, :160] == 127).all()
    assert FaceSearch(pad_fraction=0.0).padded_window((480, 640)) is None


def test_a_window_wholly_outside_the_frame_is_grey():
    pixels = window_pixels(np.zeros((48, 64, 3), np.uint8), SearchWindow(100, 100, 32))
    assert pixels.shape == (32, 32, 3) and (pixels == 127).all()


@pytest.mark.parametrize(
    "settings", [{"min_face_height_fraction": 0.0}, {"pad_fraction": -0.1}, {"min_face_height_fraction": 1.5}]
)
def test_settings_out_of_range_are_refused(settings):
    with pytest.raises(ValueError, match="out of range"):
        FaceSearch(**settings)
