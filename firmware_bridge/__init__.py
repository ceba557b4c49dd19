"""Dynamixel Protocol 2.0: a pure codec (`protocol`), a bus over pyserial (`DynamixelBus`),
the servos' control tables (`control_table`) and the error tree under `BridgeError`."""

from firmware_bridge.bus import DynamixelBus, wire_time_s
from firmware_bridge.errors import BridgeError, BusTimeout, CRCError, PortError, ProtocolError, ServoError
from firmware_bridge.protocol import HardwareError, StatusError

__all__ = [
    "BridgeError",
    "BusTimeout",
    "CRCError",
    "DynamixelBus",
    "HardwareError",
    "PortError",
    "ProtocolError",
    "ServoError",
    "StatusError",
    "wire_time_s",
]
