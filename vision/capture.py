"""Camera capture on a thread: always the newest frame, with a truthful capture time.

`CameraCapture(source)` reads from a V4L2/USB index (`0`) or device path (`/dev/video0`), a video
file, or a folder of images, on a background thread. `read()` hands over the newest frame not yet
handed over (older ones are dropped and counted), or None when no new frame has come: a caller
never gets an old frame twice. Device failures (an unplugged camera) are retried every
`reconnect_interval_s`. Video files and image folders are replayed at their frame rate.

Capture time (`Frame.t`, seconds on the capture's clock, `time.monotonic` by default), best first:

- `TimeSource.DRIVER`: the driver's buffer time (V4L2 fills it when the frame is complete, on the
  monotonic clock; OpenCV's V4L2 backend reports it as `CAP_PROP_POS_MSEC`), when it is plausible
  (not after the read returned, not more than `MAX_DRIVER_AGE_S` before the read began);
- `TimeSource.FILE`: the frame's position in the video file (or image folder), counted from the
  start of the replay;
- `TimeSource.READ_START`: the clock read *before* the read (a frame is never newer than that when
  the reader keeps up: the driver buffers one frame and the thread reads without pause), plus the
  offset measured on this camera's driver times when it gave any (median of driver time minus
  read start), else `stamp_offset_s`.

Each `Frame` also carries when its read began and ended and when it was handed over, so that
`Frame.latency(observed_s)` splits the camera-to-observation latency into its parts.

A live camera's content is judged by `vision.camera_health.ContentHealth` (black, white, covered,
the same picture repeated, a picture that stays still within its noise): frames it calls unhealthy
are withheld, counted, and `stats.health` says why and since when. Frames stay in memory: nothing
is ever written to disk or sent anywhere.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from vision.camera_health import CameraHealth, ContentHealth, HealthLimits, HealthReason
from vision.errors import CameraError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
DEFAULT_FOLDER_FPS = 30.0
MAX_DRIVER_AGE_S = 1.0  # a driver time older than this when the read began is not believed


class VideoSource(Protocol):
    """What `CameraCapture` needs of a source: the subset of `cv2.VideoCapture` it uses."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


class TimeSource(StrEnum):
    """Where a frame's capture time came from (see the module docstring)."""

    DRIVER = "driver"
    FILE = "file"
    READ_START = "read_start"


@dataclass(frozen=True, slots=True)
class LatencyParts:
    """Camera-to-observation latency (s) in parts: capture to the end of our read (driver, transfer,
    decoding), waiting to be handed over, and the consumer's work until the observation."""

    capture_to_read_s: float
    waiting_s: float
    processing_s: float

    @property
    def total_s(self) -> float:
        return self.capture_to_read_s + self.waiting_s + self.processing_s


@dataclass(frozen=True, slots=True)
class Frame:
    image: np.ndarray  # BGR uint8 as the source delivers it
    t: float  # capture time, seconds on the capture's clock
    index: int  # running number of captured frames
    time_source: TimeSource = TimeSource.READ_START
    read_start_s: float = math.nan  # when the read began and ended, and when `read()` handed it over
    read_end_s: float = math.nan
    handed_over_s: float = math.nan

    def latency(self, observed_s: float) -> LatencyParts:
        """The parts of the latency from capture to an observation made at `observed_s` (the capture's clock)."""
        return LatencyParts(
            self.read_end_s - self.t, self.handed_over_s - self.read_end_s, observed_s - self.handed_over_s
        )


@dataclass(frozen=True, slots=True)
class CaptureStats:
    fps: float
    frames_captured: int
    frames_dropped: int
    reconnects: int
    frames_unhealthy: int  # withheld because `health` said the picture cannot be used
    connected: bool
    finished: bool
    health: CameraHealth
    stamp_offset_s: float  # added to the read start when the driver gives no time


class ImageFolder:
    """Images of one folder, sorted by name, read like a video (a `VideoSource`)."""

    def __init__(self, folder: Path, fps: float = DEFAULT_FOLDER_FPS) -> None:
        self._files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self._next = 0
        self._fps = fps

    def isOpened(self) -> bool:
        return bool(self._files)

    def read(self) -> tuple[bool, np.ndarray | None]:
        while self._next < len(self._files):
            image = cv2.imread(str(self._files[self._next]), cv2.IMREAD_COLOR)
            self._next += 1
            if image is not None:
                return True, image
        return False, None

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return self._fps
        if prop == cv2.CAP_PROP_POS_MSEC:  # the position of the image last read, as a video file gives it
            return 1000.0 * max(self._next - 1, 0) / self._fps
        return 0.0

    def release(self) -> None:
        self._next = len(self._files)


def open_source(source: int | str | Path) -> tuple[VideoSource, bool]:
    """Open `source`; returns the source and whether it is live (a device) rather than a replay."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return _device(cv2.VideoCapture(int(source))), True
    path = Path(source)
    if path.is_dir():
        return ImageFolder(path), False
    if str(path).startswith("/dev/"):
        return _device(cv2.VideoCapture(str(path))), True
    if not path.is_file():
        raise CameraError(
            f"camera source {source!r} is neither a device index, a device path, a video file nor an image folder"
        )
    return cv2.VideoCapture(str(path)), False


def _device(capture: cv2.VideoCapture) -> cv2.VideoCapture:
    """A camera device keeps one frame in its driver buffer (where the backend allows), so a frame
    waiting for the reader is never older than one frame period."""
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return capture


class _Stamper:
    """Capture times of one source's frames; see the module docstring."""

    def __init__(self, live: bool, default_offset_s: float, period_s: float, position_scale: float = 1.0) -> None:
        self.live = live
        self.default_offset_s = default_offset_s
        self.period_s = period_s
        self.position_scale = position_scale  # a replay at another rate than the file's stretches its positions
        self._offsets: deque[float] = deque(maxlen=31)
        self._replay_start: float | None = None
        self._last: tuple[float, float] | None = None  # (t, position) of the last replayed frame

    @property
    def offset_s(self) -> float:
        return statistics.median(self._offsets) if self._offsets else self.default_offset_s

    def replay_restarted(self) -> None:
        """A looped replay begins again: its times go on one frame after the last frame's."""
        if self._last is not None:
            self._replay_start = self._last[0] + self.period_s
        self._last = None

    def stamp(self, source: VideoSource, read_start: float, read_end: float) -> tuple[float, TimeSource]:
        position_s = source.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if not self.live:
            position_s *= self.position_scale
            if self._replay_start is None:
                self._replay_start = read_start - position_s
            if self._last is not None and position_s <= self._last[1]:  # a source without positions
                position_s = self._last[1] + self.period_s
            self._last = (self._replay_start + position_s, position_s)
            return self._last[0], TimeSource.FILE
        if _backend(source) == "V4L2" and read_start - MAX_DRIVER_AGE_S <= position_s <= read_end:
            self._offsets.append(position_s - read_start)
            return position_s, TimeSource.DRIVER
        return read_start + self.offset_s, TimeSource.READ_START


def _backend(source: VideoSource) -> str:
    name = getattr(source, "getBackendName", None)
    try:
        return str(name()) if callable(name) else ""
    except cv2.error:
        return ""


class CameraCapture:
    """Background capture of one source; use as a context manager or call `start`/`stop`.

    `health`: limits of the content check on live cameras (None: no check). `stamp_offset_s`:
    added to the read start for frames without a driver time until the driver has given some.
    `clock`: the clock of `Frame.t` and of the driver's times (`time.monotonic`, CLOCK_MONOTONIC).
    """

    def __init__(
        self,
        source: int | str | Path,
        *,
        fps: float | None = None,
        loop: bool = False,
        reconnect_interval_s: float = 1.0,
        health: HealthLimits | None = HealthLimits(),
        stamp_offset_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[[int | str | Path], tuple[VideoSource, bool]] = open_source,
    ) -> None:
        self.source = source
        self._fps = fps
        self._loop = loop
        self._reconnect_interval_s = reconnect_interval_s
        self._clock = clock
        self._opener = opener
        self._lock = threading.Condition()
        self._latest: Frame | None = None
        self._handed_over = True
        self._captured = self._dropped = self._reconnects = self._unhealthy = 0
        self._times: deque[float] = deque(maxlen=30)
        self._connected = self._finished = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._capture, self._live = self._open()
        if not self._capture.isOpened():
            raise CameraError(f"cannot open camera source {source!r}")
        self._connected = True
        self._health = ContentHealth(health) if health is not None and self._live else None
        source_fps = self._capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FOLDER_FPS
        replay_fps = fps or source_fps
        period = 0.0 if self._live else 1.0 / replay_fps
        self._stamper = _Stamper(self._live, stamp_offset_s, period, source_fps / replay_fps)

    def _open(self) -> tuple[VideoSource, bool]:
        return self._opener(self.source)

    def start(self) -> CameraCapture:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"camera-{self.source}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._capture.release()

    def __enter__(self) -> CameraCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def read(self, timeout_s: float = 0.0) -> Frame | None:
        """The newest frame not handed over yet, waiting up to `timeout_s` for one; else None."""
        with self._lock:
            if self._handed_over and timeout_s > 0:
                self._lock.wait_for(lambda: not self._handed_over or self._finished, timeout=timeout_s)
            if self._handed_over or self._latest is None:
                return None
            self._handed_over = True
            return replace(self._latest, handed_over_s=self._clock())

    @property
    def stats(self) -> CaptureStats:
        with self._lock:
            times = self._times
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            health = self._health.health if self._health is not None else CameraHealth(HealthReason.OK, -math.inf)
            return CaptureStats(
                fps,
                self._captured,
                self._dropped,
                self._reconnects,
                self._unhealthy,
                self._connected,
                self._finished,
                health,
                self._stamper.offset_s,
            )

    def _run(self) -> None:
        period = self._stamper.period_s
        next_due = time.monotonic()
        while not self._stop.is_set():
            if period:  # a replay: read each frame at its time
                self._stop.wait(max(0.0, next_due - time.monotonic()))
                next_due += period
            read_start = self._clock()
            ok, image = self._capture.read()
            read_end = self._clock()
            if not ok or image is None:
                if not self._recover():
                    return
                continue
            t, source = self._stamper.stamp(self._capture, read_start, read_end)
            self._publish(Frame(image, t, 0, source, read_start, read_end))

    def _publish(self, frame: Frame) -> None:
        # Judged outside the lock (only this thread touches the health check); `stats` reads its verdict.
        if self._health is not None and not self._health.update(frame.image, frame.t).healthy:
            with self._lock:
                self._unhealthy += 1
            return
        with self._lock:
            if not self._handed_over:
                self._dropped += 1
            self._latest = replace(frame, index=self._captured)
            self._captured += 1
            self._handed_over = False
            self._times.append(frame.t)
            self._lock.notify_all()

    def _recover(self) -> bool:
        """After a failed read: reopen a device (or loop a replay); False when capture is over."""
        if not self._live and not self._loop:
            with self._lock:
                self._connected, self._finished = False, True
                self._lock.notify_all()
            return False
        with self._lock:
            self._connected = False
        self._capture.release()
        while not self._stop.is_set():
            if self._live:
                self._stop.wait(self._reconnect_interval_s)
            try:
                capture, _ = self._open()
            except CameraError:
                capture = None
            if capture is not None and capture.isOpened():
                self._capture = capture
                if not self._live:
                    self._stamper.replay_restarted()
                with self._lock:
                    self._connected = True
                    self._reconnects += 1 if self._live else 0
                return True
            if not self._live:
                self._stop.wait(self._reconnect_interval_s)
        return False
