"""Vision: find the user's mouth, whether it is open, and where it is in space."""

from vision.observation import MouthObservation

__all__ = ["MouthObservation"]
