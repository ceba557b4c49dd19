"""Every array a caller may hand over either becomes a BGR uint8 frame or is refused by name."""

import numpy as np
import pytest

from vision import InvalidFrame
from vision.frames import to_bgr_uint8


@pytest.mark.parametrize(
    "bad, message",
    [
        (None, "None"),
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((2, 4, 4, 3), np.uint8), "shape"),
        ([[1, 2], [3, 4]], "numpy array"),
        (np.array([["a"]]), "numeric"),
        (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
        (np.zeros((8, 8, 3), np.complex64), "real"),
    ],
)
def test_non_images_are_refused_with_a_reason(bad, message):
    with pytest.raises(InvalidFrame, match=message):
        to_bgr_uint8(bad)


def test_grayscale_becomes_three_equal_channels():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = to_bgr_uint8(gray)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    assert (out[:, :, 0] == gray).all() and (out[:, :, 2] == gray).all()


def test_single_channel_and_bgra_drop_to_bgr():
    assert to_bgr_uint8(np.zeros((5, 6, 1), np.uint8)).shape == (5, 6, 3)
    bgra = np.dstack([np.full((5, 6), v, np.uint8) for v in (1, 2, 3, 4)])
    assert to_bgr_uint8(bgra)[0, 0].tolist() == [1, 2, 3]


def test_float_images_in_unit_range_are_scaled_and_others_clipped():
    assert to_bgr_uint8(np.full((2, 2, 3), 0.5, np.float32))[0, 0, 0] == 128
    assert to_bgr_uint8(np.full((2, 2, 3), 300.0))[0, 0, 0] == 255
    assert to_bgr_uint8(np.full((2, 2, 3), -5.0))[0, 0, 0] == 0


def test_sixteen_bit_images_keep_their_high_byte():
    assert to_bgr_uint8(np.full((2, 2, 3), 0xAB00, np.uint16))[0, 0, 0] == 0xAB
