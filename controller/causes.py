"""Why a lower layer failed, in words a person reads: the kind of an exception as a robot `Message`.

An exception's own text is English, for logs and scripts; a person reads its kind from the catalogues
(`cause.*`), and a kind not foreseen as a general phrase, never the English text. The error a person
reads keeps the exception as its `cause`, whose English the log and the web app's `detail` show:

    except JournalError as exc:
        raise Unjournalled(Message("refusal.unjournalled", cause=cause_message(exc)), cause=exc) from exc
"""

from __future__ import annotations

from controller.journal import (
    JournalCorruptError,
    JournalForeignError,
    JournalFullError,
    JournalOpenError,
    JournalReadOnlyError,
    JournalWriteError,
)
from controller.messages import Message
from firmware_bridge import BridgeError, BusTimeout, CRCError, PortError, ProtocolError, ServoError

# the most specific kind first: the first that fits says the cause
_CAUSES: tuple[tuple[type[BaseException], Message], ...] = (
    (PortError, Message("cause.port")),
    (BusTimeout, Message("cause.no_answer")),
    (CRCError, Message("cause.garbled")),
    (ProtocolError, Message("cause.other_controller")),
    (ServoError, Message("cause.servo_error")),
    (BridgeError, Message("cause.servo_bus")),
    (JournalFullError, Message("cause.disk_full")),
    (JournalReadOnlyError, Message("cause.read_only")),
    (JournalWriteError, Message("cause.not_written")),
    (JournalOpenError, Message("cause.file_not_opened")),
    (JournalCorruptError, Message("cause.file_damaged")),
    (JournalForeignError, Message("cause.foreign_file")),
)


def cause_message(exc: BaseException) -> Message:
    """What went wrong in `exc`, in words (`cause.*`); `cause.unknown` for a kind not foreseen."""
    for kind, said in _CAUSES:
        if isinstance(exc, kind):
            return said
    return Message("cause.unknown")
