"""Errors of the vision part, one tree under `VisionError`."""

from __future__ import annotations


class VisionError(Exception):
    """Base of every error raised by `vision`."""


class ModelFileMissing(VisionError, FileNotFoundError):
    """A model file that the installed model package should ship is not there."""


class InvalidFrame(VisionError, ValueError):
    """An array that cannot be read as an image (None, empty, wrong shape or dtype)."""


class CalibrationError(VisionError):
    """Camera or hand-eye calibration could not be computed or loaded."""


class CameraError(VisionError):
    """A camera source could not be opened."""
