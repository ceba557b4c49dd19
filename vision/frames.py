"""Bring whatever a caller hands us to the one frame format of the hot path: BGR, uint8, HxWx3."""

from __future__ import annotations

import numpy as np

from vision.errors import InvalidFrame


def to_bgr_uint8(image: object) -> np.ndarray:
    """Return `image` as a contiguous BGR uint8 array of shape (H, W, 3).

    Accepts BGR, grayscale (H, W) or (H, W, 1), BGRA (alpha dropped), and float images (values in
    [0, 1] are scaled to [0, 255]; others are clipped). Raises `InvalidFrame` for anything that is
    not an image: None, empty, wrong number of dimensions or channels, non-numeric or non-finite data.
    """
    if image is None:
        raise InvalidFrame("no frame (None): the camera delivered nothing")
    if not isinstance(image, np.ndarray):
        raise InvalidFrame(f"expected a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise InvalidFrame(f"empty frame of shape {image.shape}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise InvalidFrame(f"expected HxW, HxWx3 or HxWx4 pixels, got shape {image.shape}")
    if image.dtype != np.uint8:
        image = _as_uint8(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def _as_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.bool_ or not np.issubdtype(image.dtype, np.number):
        raise InvalidFrame(f"expected numeric pixels, got dtype {image.dtype}")
    if np.issubdtype(image.dtype, np.complexfloating):
        raise InvalidFrame(f"expected real pixels, got dtype {image.dtype}")
    if np.issubdtype(image.dtype, np.floating):
        if not np.all(np.isfinite(image)):
            raise InvalidFrame("frame contains NaN or infinite values")
        if image.min() >= 0.0 and image.max() <= 1.0:
            image = image * 255.0
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8)
