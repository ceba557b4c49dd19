"""Errors of the vision part, one tree under `VisionError`."""

from __future__ import annotations

from enum import StrEnum


class VisionError(Exception):
    """Base of every error raised by `vision`."""


class ModelFileMissing(VisionError, FileNotFoundError):
    """A model file that the installed model package should ship is not there."""


class InvalidFrame(VisionError, ValueError):
    """An array that cannot be read as an image (None, empty, wrong shape or dtype)."""


class CalibrationProblem(StrEnum):
    """What kind of calibration failure a person can act on (said in words by `controller.causes`)."""

    NO_BOARD = "no_board"  # the board was not found in enough pictures
    TOO_FEW_VIEWS = "too_few_views"
    SIZE_CHANGED = "size_changed"  # the pictures are not all of one size
    NO_PICTURE = "no_picture"  # the camera gave an empty or unreadable picture
    FILE_UNREADABLE = "file_unreadable"  # the saved calibration cannot be read or is not one
    ONE_AXIS = "one_axis"  # the arm's poses turn the tool about one axis only
    POOR_FIT = "poor_fit"  # a solution, but too poor to use


class CalibrationError(VisionError):
    """Camera or hand-eye calibration could not be computed or loaded. str() is English (logs,
    scripts); `problem` is its kind, None for a failure no person can act on (a bad argument)."""

    def __init__(self, text: str, problem: CalibrationProblem | None = None) -> None:
        super().__init__(text)
        self.problem = problem


class CameraError(VisionError):
    """A camera source could not be opened."""
