"""What a person sees when a `bidvis` command fails: one line with the cause and what to do.

`explain(error)` turns the failures a user can meet (a missing model or runtime, a camera, the simulated
camera's face photographs, a serial port, a service or database that does not answer, an address in
use, a bad configuration) into that line; anything else is named as an internal error with the way
to get its traceback (`--debug`).
"""

from __future__ import annotations

import errno
import sys

from controller.config import ConfigError
from controller.journal import JournalError
from controller.messages import MessageError
from firmware_bridge import BridgeError
from vision import CameraError, VisionError

DEBUG_HINT = "run again with --debug to see the traceback"


def explain(error: BaseException) -> str:
    """One line: what failed and what to do about it."""
    import httpx
    import pydantic
    import serial
    import sqlalchemy.exc

    # An error of the simulated camera comes from an imported sim.camera; importing it here (mujoco,
    # OpenCV) could itself fail while explaining an import error.
    sim_camera = sys.modules.get("sim.camera")

    text = " ".join(str(error).split()) or type(error).__name__
    if sim_camera is not None and isinstance(error, sim_camera.FacesUnavailable):
        return (
            f"the simulated camera cannot show face frames: {text}; the face photographs go in "
            "../shared/data/faces (docs/simulator.md), or choose --camera ground_truth where the scenario allows it"
        )
    if isinstance(error, CameraError):
        return f"camera: {text}; check its cable and the --camera value"
    if isinstance(error, VisionError | MessageError | ConfigError | JournalError):
        return text
    if isinstance(error, BridgeError | serial.SerialException):
        return f"servo bus: {text}; check the cable, the servos' power and --port/--baud"
    if isinstance(error, httpx.HTTPError):
        where = f" {error.request.url}" if _has_request(error) else ""
        return f"cannot reach the service{where}: {text}; check the address and that the service runs"
    if isinstance(error, sqlalchemy.exc.ArgumentError):
        return f"the database URL is not valid: {text}; give one like sqlite:///path or postgresql://host/db"
    if isinstance(error, sqlalchemy.exc.SQLAlchemyError):
        cause = " ".join(str(getattr(error, "orig", None) or error).split())
        return f"the database cannot be used: {cause}; check --database-url and that the database server runs"
    if isinstance(error, pydantic.ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        return f"invalid configuration: {where}: {first['msg']} ({error.error_count()} problem(s) in all)"
    if isinstance(error, OSError):
        if error.errno == errno.EADDRINUSE:
            return f"the address is already in use ({text}); stop the other program or choose another port"
        if isinstance(error, PermissionError):
            return f"permission denied: {error.filename or text}; run as a user who may use it"
        if isinstance(error, FileNotFoundError):
            return f"not found: {error.filename or text}"
        return text
    return f"internal error ({type(error).__name__}: {text}); {DEBUG_HINT} and report it"


def _has_request(error: BaseException) -> bool:
    try:
        return error.request is not None  # type: ignore[attr-defined]
    except RuntimeError:  # httpx raises when an error was made without a request
        return False
