"""A lower layer's failure is said in words, never in its English text (controller.causes): each known
kind of a servo bus or journal error has its own phrase in both languages, any other kind a general one,
and the error a person reads keeps the English for the log."""

from __future__ import annotations

import re

import pytest

from controller.causes import Cause, cause_message, cause_of
from controller.journal import (
    JournalCorruptError,
    JournalForeignError,
    JournalFullError,
    JournalOpenError,
    JournalReadOnlyError,
    JournalWriteError,
)
from controller.messages import Language, Message, MessageError, robot_messages
from controller.timing import TimingBudgetError
from firmware_bridge import BridgeError, BusTimeout, CRCError, PortError, ProtocolError, ServoError
from firmware_bridge.protocol import HardwareError, StatusError
from tests.controller.test_invalid_values import danish_problems
from vision.errors import CalibrationError, CalibrationProblem

ENGLISH_CAUSE = "journal /var/bidvis/journal.sqlite3: record failed: disk I/O error"

KNOWN = (
    [
        (PortError("could not open port /dev/ttyUSB0: [Errno 2] No such file or directory"), "cause.port"),
        (BusTimeout(0x01, (11,), 0.02), "cause.no_answer"),
        (CRCError(0x02, (12,), 3), "cause.garbled"),
        (ProtocolError(0x02, (12,), "has 3 bytes, expected 4"), "cause.other_controller"),
        (ServoError(13, 0x03, StatusError.DATA_RANGE_ERROR, alert=False), "cause.servo_error"),
        (BridgeError("the bus is closed"), "cause.servo_bus"),
        (JournalFullError(ENGLISH_CAUSE), "cause.disk_full"),
        (JournalReadOnlyError(ENGLISH_CAUSE), "cause.read_only"),
        (JournalWriteError(ENGLISH_CAUSE), "cause.not_written"),
        (JournalOpenError(ENGLISH_CAUSE), "cause.file_not_opened"),
        (JournalCorruptError(ENGLISH_CAUSE), "cause.file_damaged"),
        (JournalForeignError(ENGLISH_CAUSE), "cause.foreign_file"),
        (TimingBudgetError("the timing budget does not hold (loop period 5.0 ms ...)"), "cause.timing_budget"),
    ]
    + [
        (ServoError(12, 0x02, StatusError.NONE, alert=True, hardware_error=flag), f"cause.hardware.{flag.name.lower()}")
        for flag in HardwareError
        if flag
    ]
    + [
        (
            CalibrationError(f"need at least 3 views of the board ({problem.name})", problem),
            f"cause.calibration.{problem}",
        )
        for problem in CalibrationProblem
    ]
)


@pytest.mark.parametrize(("exc", "key"), KNOWN)
def test_each_known_cause_has_its_own_words_in_both_languages(exc, key):
    said = cause_message(exc)
    assert said.key == key
    for language in Language:
        assert key in robot_messages().texts[language]
    danish, english = said.text(Language.DANISH), said.text(Language.ENGLISH)
    assert danish_problems(danish, []) == [] and danish != english
    assert str(exc) not in danish and str(exc) not in english  # the English of the log is not the words


def test_a_servo_with_several_hardware_errors_names_the_first_to_act_on_and_one_with_none_an_error():
    both = ServoError(
        12, 0x02, StatusError.NONE, alert=True, hardware_error=HardwareError.OVERLOAD | HardwareError.OVERHEATING
    )
    assert cause_of(both) is Cause.OVERHEATING
    unread = ServoError(12, 0x02, StatusError.NONE, alert=True, hardware_error=None)
    assert (
        cause_of(unread)
        is cause_of(ServoError(12, 0x02, StatusError.NONE, alert=True, hardware_error=HardwareError.NONE))
        is Cause.SERVO_ERROR
    )


def test_the_known_causes_have_different_words():
    assert len({cause_message(exc).text(Language.DANISH) for exc, _ in KNOWN}) == len(KNOWN)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("weird"),
        OSError(28, "No space left on device"),
        KeyError("x"),
        Exception("\u202e<script>"),
        CalibrationError("unknown ArUco dictionary 'weird'"),  # a bad argument: no kind a person acts on
    ],
)
def test_a_cause_not_foreseen_is_said_as_a_general_phrase(exc):
    said = cause_message(exc)
    assert said == Message("cause.unknown")
    assert danish_problems(said.text(Language.DANISH), []) == []
    assert not re.search(r"weird|space|script", said.text(Language.DANISH) + said.text(Language.ENGLISH))


def test_an_error_keeps_its_causes_english_for_the_log_but_says_words():
    cause = JournalFullError(ENGLISH_CAUSE)
    error = MessageError(Message("refusal.unjournalled", cause=cause_message(cause)), cause=cause)
    assert str(error) == (
        "the change was not saved, because the journal could not record it: the disk is full (" + ENGLISH_CAUSE + ")"
    )
    assert error.message.text(Language.DANISH) == (
        "ændringen blev ikke gemt, fordi journalen ikke kunne skrive den: disken er fuld"
    )
    assert str(MessageError(Message("cause.unknown"))) == "a fault the robot does not know; see the log"


def test_every_kind_is_said_by_its_own_text_and_crosses_a_process_as_its_value():
    for cause in Cause:
        assert Cause(cause.value) is cause and cause.message().key == f"cause.{cause.value}"
        assert cause.message().key in robot_messages().texts[Language.DANISH]
    assert {cause_of(exc) for exc, _ in KNOWN} == set(Cause) - {Cause.UNKNOWN, Cause.CONTROLLER_ENDED}
