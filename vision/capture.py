"""Camera capture on a thread: always the newest frame, with its capture time.

`CameraCapture(source)` reads from a V4L2/USB index (`0`) or device path (`/dev/video0`), a video
file, or a folder of images, on a background thread. `read()` hands over the newest frame not yet
handed over (older ones are dropped and counted), or None when no new frame has come: a caller
never gets an old frame twice. Device failures (an unplugged camera) are retried every
`reconnect_interval_s`. A live camera that keeps delivering one picture (a stuck USB camera: a real
sensor's noise never repeats a frame) has its repeats withheld from `frozen_after_frames`
identical frames on, and counted. Video files and image folders are replayed at their frame rate.
Frames stay in memory: nothing is ever written to disk or sent anywhere.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from vision.errors import CameraError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
DEFAULT_FOLDER_FPS = 30.0


class VideoSource(Protocol):
    """What `CameraCapture` needs of a source: the subset of `cv2.VideoCapture` it uses."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Frame:
    image: np.ndarray  # BGR uint8 as the source delivers it
    t: float  # capture time, seconds on the capture's clock
    index: int  # running number of captured frames


@dataclass(frozen=True, slots=True)
class CaptureStats:
    fps: float
    frames_captured: int
    frames_dropped: int
    reconnects: int
    frames_frozen: int
    connected: bool
    finished: bool


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
        return self._fps if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self._next = len(self._files)


def open_source(source: int | str | Path) -> tuple[VideoSource, bool]:
    """Open `source`; returns the source and whether it is live (a device) rather than a replay."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return cv2.VideoCapture(int(source)), True
    path = Path(source)
    if path.is_dir():
        return ImageFolder(path), False
    if str(path).startswith("/dev/"):
        return cv2.VideoCapture(str(path)), True
    if not path.is_file():
        raise CameraError(
            f"camera source {source!r} is neither a device index, a device path, a video file nor an image folder"
        )
    return cv2.VideoCapture(str(path)), False


class CameraCapture:
    """Background capture of one source; use as a context manager or call `start`/`stop`."""

    def __init__(
        self,
        source: int | str | Path,
        *,
        fps: float | None = None,
        loop: bool = False,
        reconnect_interval_s: float = 1.0,
        frozen_after_frames: int | None = 5,
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
        self._captured = self._dropped = self._reconnects = self._frozen = 0
        self._frozen_after_frames = frozen_after_frames
        self._fingerprint: np.ndarray | None = None
        self._repeats = 0
        self._times: deque[float] = deque(maxlen=30)
        self._connected = self._finished = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._capture, self._live = self._open()
        if not self._capture.isOpened():
            raise CameraError(f"cannot open camera source {source!r}")
        self._connected = True

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
            if self._handed_over:
                return None
            self._handed_over = True
            return self._latest

    @property
    def stats(self) -> CaptureStats:
        with self._lock:
            times = self._times
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            return CaptureStats(
                fps, self._captured, self._dropped, self._reconnects, self._frozen, self._connected, self._finished
            )

    def _run(self) -> None:
        period = 0.0
        if not self._live:
            rate = self._fps or self._capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FOLDER_FPS
            period = 1.0 / rate
        next_due = time.monotonic()
        while not self._stop.is_set():
            ok, image = self._capture.read()
            if not ok or image is None:
                if not self._recover():
                    return
                continue
            if period:
                next_due += period
                self._stop.wait(max(0.0, next_due - time.monotonic()))
            self._publish(image)

    def _publish(self, image: np.ndarray) -> None:
        t = self._clock()
        if self._stuck(image):
            with self._lock:
                self._frozen += 1
            return
        with self._lock:
            if not self._handed_over:
                self._dropped += 1
            self._latest = Frame(image, t, self._captured)
            self._captured += 1
            self._handed_over = False
            self._times.append(t)
            self._lock.notify_all()

    def _stuck(self, image: np.ndarray) -> bool:
        """True when a live camera has delivered the same picture `frozen_after_frames` times in a row."""
        if not self._live or self._frozen_after_frames is None:
            return False
        fingerprint = image[::8, ::8]
        previous = self._fingerprint
        same = previous is not None and previous.shape == fingerprint.shape and np.array_equal(previous, fingerprint)
        self._repeats = self._repeats + 1 if same else 1
        self._fingerprint = fingerprint.copy()
        return self._repeats >= self._frozen_after_frames

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
                with self._lock:
                    self._connected = True
                    self._reconnects += 1 if self._live else 0
                return True
            if not self._live:
                self._stop.wait(self._reconnect_interval_s)
        return False
