"""The errors of the servo bus, one tree under `BridgeError`.

Callers catch what they can handle by type: `BusTimeout` (retry, or stop the arm),
`CRCError` (noise on the line), `ServoError` (the servo refused or flags a hardware fault),
`PortError` (the adapter is gone). Each message says what was expected, what came and what to do.
"""

from __future__ import annotations

from firmware_bridge.protocol import HardwareError, Instruction, StatusError


def _name(instruction: int) -> str:
    try:
        return Instruction(instruction).name.replace("_", " ")
    except ValueError:
        return f"instruction 0x{instruction:02X}"


def _ids(ids: tuple[int, ...]) -> str:
    return ", ".join(str(i) for i in ids)


class BridgeError(Exception):
    """Base of every error of the servo bus."""


class BusTimeout(BridgeError, TimeoutError):
    """No (complete) answer came within the time the bus allows for it."""

    def __init__(self, instruction: int, ids: tuple[int, ...], timeout_s: float, received: int = 0) -> None:
        self.instruction = instruction
        self.ids = ids
        self.timeout_s = timeout_s
        self.received = received
        what = f"{'no complete answer' if received else 'no answer'} to {_name(instruction)} from id {_ids(ids)}"
        super().__init__(
            f"{what} within {timeout_s * 1e3:.2f} ms ({received} byte(s) arrived); check that the servo is "
            "powered, its ID and baud rate match, and the cable is seated (`bidvis bus scan` lists what answers)"
        )


class CRCError(BridgeError):
    """The only answer that came for a servo was corrupt (bad CRC)."""

    def __init__(self, instruction: int, ids: tuple[int, ...], count: int) -> None:
        self.instruction = instruction
        self.ids = ids
        self.count = count
        super().__init__(
            f"answer to {_name(instruction)} from id {_ids(ids)} failed its CRC check ({count} corrupt packet(s)); "
            "expected a valid status packet. Noise on the line: check cable length, termination and grounding, "
            "or lower the baud rate"
        )


class ProtocolError(BridgeError):
    """An answer that is well formed but not what the request asks for (wrong length, wrong layout)."""

    def __init__(self, instruction: int, ids: tuple[int, ...], problem: str) -> None:
        self.instruction = instruction
        self.ids = ids
        super().__init__(
            f"answer to {_name(instruction)} from id {_ids(ids)} {problem}. Another controller may be on the bus "
            "or the servo does not follow Protocol 2.0: make sure only this host talks on the bus"
        )


class ServoError(BridgeError):
    """The servo answered with an error number or with the Alert bit set.

    `hardware_error` is the decoded Hardware Error Status (address 70) when the Alert bit is set and
    the bus could read it, else None.
    """

    def __init__(
        self,
        servo_id: int,
        instruction: int,
        error_number: StatusError,
        alert: bool,
        hardware_error: HardwareError | None = None,
    ) -> None:
        self.servo_id = servo_id
        self.instruction = instruction
        self.error_number = error_number
        self.alert = alert
        self.hardware_error = hardware_error
        parts = []
        if error_number != StatusError.NONE:
            parts.append(f"error {int(error_number)} {error_number.name}")
        if alert:
            if hardware_error is None:
                parts.append("Alert bit set (hardware error status could not be read)")
            else:
                faults = (
                    ", ".join(str(flag.name) for flag in HardwareError if flag and flag in hardware_error) or "none"
                )
                parts.append(f"Alert bit set, hardware error: {faults}")
        advice = (
            "the servo has switched its torque off; remove the cause, then reboot it (DynamixelBus.reboot)"
            if alert
            else "check the address, length and value against the control table"
        )
        super().__init__(f"servo {servo_id} answered {_name(instruction)} with {'; '.join(parts)}: {advice}")


class PortError(BridgeError):
    """The serial port could not be opened or vanished (adapter unplugged, pty closed)."""


__all__ = ["BridgeError", "BusTimeout", "CRCError", "PortError", "ProtocolError", "ServoError"]
