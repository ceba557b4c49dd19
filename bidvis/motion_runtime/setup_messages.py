"""The messages between the web server and the set-up process (`setup_worker`), validated on arrival
as the meal's are (`messages`: the size cap first, extra fields, values out of range and
non-finite numbers refused with `messages.ProtocolError`).

To the set-up process: `Heartbeat`, `Stop` and `End` (the meal's), and requests, each numbered by
the web server (`id`) and answered once with that number: `Hold`, `Release` (a jog button), `Move`
(poses, or a park), `Spoon` (the spoon offset changed), `Ask` (the status, or the joint angles).
From it: `Ready` (the arm is connected, its loop runs), and the answers `Done`, `Status`, `Failed`
(an `ArmError`, a refusal or a value error, with its `Message` key and values, raised again on
the web side as the same class: the staff page says the same words).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, field_validator

from bidvis.motion_runtime.messages import End, Finite, Heartbeat, Stop, Validated, decode
from bidvis.robot_ui.arm import ArmFault, ArmMode, ArmNotConnected, ArmParked, ArmStatus, ArmStopped
from bidvis.robot_ui.errors import NotReady
from controller.messages import Message, MessageError

RequestId = Annotated[int, Field(ge=0)]
Joints = tuple[Finite, Finite, Finite, Finite]
Owner = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=2000)]
MAX_POSES = 64
# The errors raised again on the web side, by name: the set-up arm's and its refusal to connect.
WORDED_ERRORS: dict[str, type[MessageError]] = {
    cls.__name__: cls for cls in (ArmNotConnected, ArmStopped, ArmFault, ArmParked, NotReady)
}


class Said(Validated):
    """A `controller.messages.Message`: its key and values (numbers, words, or other messages)."""

    key: Annotated[str, Field(min_length=1, max_length=200)]
    values: dict[Annotated[str, Field(max_length=100)], Text | int | Finite | Said] = Field(default_factory=dict)

    @field_validator("key")
    @classmethod
    def _known(cls, key: str) -> str:
        Message.received(key, {})  # a key the robot has a text for, or ValueError
        return key

    @classmethod
    def of(cls, message: Message) -> Said:
        return cls(
            key=message.key,
            values={k: cls.of(v) if isinstance(v, Message) else v for k, v in message.values.items()},
        )

    def message(self) -> Message:
        return Message.received(
            self.key, {k: v.message() if isinstance(v, Said) else v for k, v in self.values.items()}
        )


# -- requests ------------------------------------------------------------------------------------


class Hold(Validated):
    kind: Literal["hold"] = "hold"
    id: RequestId
    owner: Owner
    joint: Annotated[int, Field(ge=1, le=4)]
    direction: Literal[-1, 1]
    press: Annotated[int, Field(ge=0)]


class Release(Validated):
    kind: Literal["release"] = "release"
    id: RequestId
    owner: Owner
    press: Annotated[int, Field(ge=0)] | None = None


class Move(Validated):
    """Through `poses` (`ArmDriver.move_through`), or to the one pose and power down (`ArmDriver.park`)."""

    kind: Literal["move"] = "move"
    id: RequestId
    poses: Annotated[list[Joints], Field(min_length=1, max_length=MAX_POSES)]
    speed_m_s: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    power_down: bool = False


class Spoon(Validated):
    """The spoon offset (`controller.kinematics.SpoonMount`)."""

    kind: Literal["spoon"] = "spoon"
    id: RequestId
    x_m: Finite
    z_m: Finite
    pitch_rad: Finite


class Ask(Validated):
    """The status, the joint angles last read, or the ones read after this request (`ArmDriver`)."""

    kind: Literal["ask"] = "ask"
    id: RequestId
    what: Literal["status", "measured_q", "current_q"]


Request = Hold | Release | Move | Spoon | Ask
ToSetupMessage = Heartbeat | Stop | End | Request
ToSetup = Annotated[ToSetupMessage, Field(discriminator="kind")]

# -- answers -------------------------------------------------------------------------------------


class Ready(Validated):
    kind: Literal["ready"] = "ready"


class Done(Validated):
    kind: Literal["done"] = "done"
    id: RequestId
    moving: bool | None = None  # a hold's answer
    q_rad: Joints | None = None  # a joint-angle question's


class Status(Validated):
    """An `ArmStatus`, and whether the arm moves on its own (`ArmDriver.busy`)."""

    kind: Literal["status"] = "status"
    id: RequestId
    mode: ArmMode
    q_rad: Annotated[list[Finite], Field(max_length=8)]
    spoon_xyz_m: Annotated[list[Finite], Field(max_length=3)]
    temperature_c: Annotated[list[Finite], Field(max_length=8)]
    voltage_v: Finite
    fault: Said | None
    at: Finite
    busy: bool

    @classmethod
    def of(cls, request_id: int, status: ArmStatus, busy: bool) -> Status:
        fields = {f: getattr(status, f) for f in ("mode", "q_rad", "spoon_xyz_m", "temperature_c", "voltage_v")}
        fault = None if status.fault is None else Said.of(status.fault)
        return cls(id=request_id, **fields, fault=fault, at=status.at, busy=busy)

    def status(self) -> ArmStatus:
        fault = None if self.fault is None else self.fault.message()
        return ArmStatus(
            self.mode,
            tuple(self.q_rad),
            tuple(self.spoon_xyz_m),
            tuple(self.temperature_c),
            self.voltage_v,
            fault,
            self.at,
        )


class Failed(Validated):
    """A request (`id`), or the connect (`id` None), failed: a worded error (`WORDED_ERRORS`, with
    its message and its cause in English), or a `ValueError` (`text`)."""

    kind: Literal["failed"] = "failed"
    id: RequestId | None
    error: Literal["ValueError", "ArmNotConnected", "ArmStopped", "ArmFault", "ArmParked", "NotReady"]
    said: Said | None = None
    text: Text = ""

    @classmethod
    def of(cls, request_id: int | None, exc: MessageError | ValueError) -> Failed:
        if isinstance(exc, MessageError):
            name = type(exc).__name__ if type(exc).__name__ in WORDED_ERRORS else ArmFault.__name__
            cause = "" if exc.cause is None else str(exc.cause)[:2000]
            return cls(id=request_id, error=name, said=Said.of(exc.message), text=cause)  # type: ignore[arg-type]
        return cls(id=request_id, error="ValueError", text=str(exc)[:2000])

    def exception(self) -> Exception:
        """The error as it was raised in the set-up process."""
        if self.said is None:
            return ValueError(self.text)
        return WORDED_ERRORS[self.error](self.said.message(), cause=self.text or None)


FromSetupMessage = Ready | Done | Status | Failed
FromSetup = Annotated[FromSetupMessage, Field(discriminator="kind")]
_TO_SETUP: TypeAdapter[ToSetup] = TypeAdapter(ToSetup)
_FROM_SETUP: TypeAdapter[FromSetup] = TypeAdapter(FromSetup)


def to_setup(data: bytes) -> ToSetupMessage:
    """Decode a message for the set-up process, or raise `ProtocolError`."""
    return decode(_TO_SETUP, data)


def from_setup(data: bytes) -> FromSetupMessage:
    """Decode a message from the set-up process, or raise `ProtocolError`."""
    return decode(_FROM_SETUP, data)
