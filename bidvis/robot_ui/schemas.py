"""Request bodies of the robot's web app (validated by FastAPI; a bad value is a 422 naming it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OwnerId = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="one browser tab's id")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JogHold(_Body):
    """One heartbeat of a held jog button (sent every ~50 ms while pressed)."""

    owner: str = OwnerId
    joint: int = Field(ge=1, le=4)
    direction: Literal[-1, 1]
    press: int = Field(0, ge=0, le=2**31, description="the tab's button press number (counts up)")


class JogRelease(_Body):
    """The jog button was let go."""

    owner: str = OwnerId
    press: int | None = Field(None, ge=0, le=2**31)


class Owner(_Body):
    owner: str = OwnerId


class TestBite(_Body):
    owner: str = OwnerId
    bowl: int = Field(ge=0, le=7)


class SpoonChange(_Body):
    x_m: float
    z_m: float
    pitch_rad: float


class Board(_Body):
    """A checkerboard: inner corners across and down, and the square size."""

    columns: int = Field(ge=2, le=30)
    rows: int = Field(ge=2, le=30)
    square_mm: float = Field(ge=2, le=200)


class FaceDistance(_Body):
    """The tape-measured distance from the camera lens to the citizen's lips (m; bounds checked by the session)."""

    distance_m: float = Field(allow_inf_nan=False)


class ProfileChange(_Body):
    """Profile fields to change; each is validated with the rest of the profile."""

    values: dict[str, Any]


class PanelPress(_Body):
    command: Literal["select_bowl", "next_bite", "pause", "resume", "done"]
    bowl: int | None = Field(None, ge=0, le=7)


class PairRequest(_Body):
    """A tablet's pairing: the one-time code staff were shown (`ABCD-EFGH`; case, spaces and dashes do not matter)."""

    code: str = Field(min_length=1, max_length=20)


class PairingCodeRequest(_Body):
    """Staff ask for a pairing code: the name the new panel gets (`Annas tablet`)."""

    name: str = Field("panel", min_length=1, max_length=40)


class FaceSizeOverride(_Body):
    """Staff set the face size by hand: the value (null: back to the mean face) and why it was not measured."""

    face_scale: float | None = Field(allow_inf_nan=False)
    reason: str = Field(min_length=1, max_length=300)


class FieldOfView(_Body):
    """The camera's field of view as its datasheet states it (degrees; null: the documented default)."""

    fov_deg: float | None = Field(None, ge=20, le=150, allow_inf_nan=False)
    kind: Literal["horizontal", "diagonal"] = "horizontal"
