"""Why a lower layer failed, in words a person reads: the kind of an exception as a robot `Message`.

An exception's own text is English, for logs and scripts; a person reads its kind from the catalogues
(`cause.*`), and a kind not foreseen as a general phrase, never the English text. The error a person
reads keeps the exception as its `cause`, whose English the log and the web app's `detail` show:

    except JournalError as exc:
        raise Unjournalled(Message("refusal.unjournalled", cause=cause_message(exc)), cause=exc) from exc

A kind crosses a process boundary as its `Cause` (`bidvis.motion_runtime.messages.Finished`).
"""

from __future__ import annotations

from enum import StrEnum

from controller.journal import (
    JournalCorruptError,
    JournalForeignError,
    JournalFullError,
    JournalOpenError,
    JournalReadOnlyError,
    JournalWriteError,
)
from controller.messages import Message
from controller.timing import TimingBudgetError
from firmware_bridge import BridgeError, BusTimeout, CRCError, HardwareError, PortError, ProtocolError, ServoError
from vision.errors import CalibrationError, CalibrationProblem


class Cause(StrEnum):
    """A kind of failure a person reads in words: the text `cause.<value>` of the catalogues."""

    PORT = "port"
    NO_ANSWER = "no_answer"
    GARBLED = "garbled"
    OTHER_CONTROLLER = "other_controller"
    SERVO_ERROR = "servo_error"
    SERVO_BUS = "servo_bus"
    DISK_FULL = "disk_full"
    READ_ONLY = "read_only"
    NOT_WRITTEN = "not_written"
    FILE_NOT_OPENED = "file_not_opened"
    FILE_DAMAGED = "file_damaged"
    FOREIGN_FILE = "foreign_file"
    TIMING_BUDGET = "timing_budget"
    CONTROLLER_ENDED = "controller_ended"  # the meal's controller process ended without saying how
    NO_BOARD = "calibration.no_board"
    TOO_FEW_VIEWS = "calibration.too_few_views"
    SIZE_CHANGED = "calibration.size_changed"
    NO_PICTURE = "calibration.no_picture"
    CALIBRATION_UNREADABLE = "calibration.file_unreadable"
    ONE_AXIS = "calibration.one_axis"
    POOR_FIT = "calibration.poor_fit"
    OVERHEATING = "hardware.overheating"
    INPUT_VOLTAGE = "hardware.input_voltage"
    OVERLOAD = "hardware.overload"
    ELECTRICAL_SHOCK = "hardware.electrical_shock"
    MOTOR_ENCODER = "hardware.motor_encoder"
    UNKNOWN = "unknown"

    def message(self) -> Message:
        """This kind in words."""
        return Message(f"cause.{self.value}")


# the most specific kind first: the first that fits says the cause
_CAUSES: tuple[tuple[type[BaseException], Cause], ...] = (
    (PortError, Cause.PORT),
    (BusTimeout, Cause.NO_ANSWER),
    (CRCError, Cause.GARBLED),
    (ProtocolError, Cause.OTHER_CONTROLLER),
    (ServoError, Cause.SERVO_ERROR),
    (BridgeError, Cause.SERVO_BUS),
    (JournalFullError, Cause.DISK_FULL),
    (JournalReadOnlyError, Cause.READ_ONLY),
    (JournalWriteError, Cause.NOT_WRITTEN),
    (JournalOpenError, Cause.FILE_NOT_OPENED),
    (JournalCorruptError, Cause.FILE_DAMAGED),
    (JournalForeignError, Cause.FOREIGN_FILE),
    (TimingBudgetError, Cause.TIMING_BUDGET),
)

# every kind of calibration failure a person can act on (a ValueError at import if one has no `Cause`)
_CALIBRATION = {problem: Cause(f"calibration.{problem.value}") for problem in CalibrationProblem}

# a servo's hardware error, the one staff can most readily act on first (the log has them all)
_HARDWARE = (
    (HardwareError.OVERHEATING, Cause.OVERHEATING),
    (HardwareError.INPUT_VOLTAGE, Cause.INPUT_VOLTAGE),
    (HardwareError.OVERLOAD, Cause.OVERLOAD),
    (HardwareError.ELECTRICAL_SHOCK, Cause.ELECTRICAL_SHOCK),
    (HardwareError.MOTOR_ENCODER, Cause.MOTOR_ENCODER),
)


def cause_of(exc: BaseException) -> Cause:
    """The kind of `exc`; `Cause.UNKNOWN` for a kind not foreseen."""
    if isinstance(exc, CalibrationError):
        return Cause.UNKNOWN if exc.problem is None else _CALIBRATION[exc.problem]
    if isinstance(exc, ServoError) and exc.hardware_error:
        return next((cause for flag, cause in _HARDWARE if flag in exc.hardware_error), Cause.SERVO_ERROR)
    for kind, cause in _CAUSES:
        if isinstance(exc, kind):
            return cause
    return Cause.UNKNOWN


def cause_message(exc: BaseException) -> Message:
    """What went wrong in `exc`, in words (`cause.*`); `cause.unknown` for a kind not foreseen."""
    return cause_of(exc).message()
