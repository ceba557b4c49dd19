"""Camera capture over a generated video file, an image folder and a camera that goes away."""

from __future__ import annotations

import itertools
import threading
import time

import cv2
import numpy as np
import pytest

from vision import CameraError
from vision.capture import CameraCapture, open_source


def numbered_frame(i: int) -> np.ndarray:
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:, :, 1] = (i * 20) % 256
    return frame


@pytest.fixture
def video_file(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50.0, (160, 120))
    assert writer.isOpened(), "this OpenCV build cannot write MJPG AVI files"
    for i in range(10):
        writer.write(numbered_frame(i))
    writer.release()
    yield path
    path.unlink(missing_ok=True)


def read_all(capture: CameraCapture, limit_s: float = 5.0) -> list:
    frames, deadline = [], time.monotonic() + limit_s
    while time.monotonic() < deadline and not capture.stats.finished:
        frame = capture.read(timeout_s=0.2)
        if frame is not None:
            frames.append(frame)
    frame = capture.read()
    if frame is not None:
        frames.append(frame)
    return frames


def test_video_file_frames_come_in_order_with_capture_times(video_file):
    with CameraCapture(video_file, fps=50.0) as capture:
        frames = read_all(capture)
    stats = capture.stats
    assert stats.finished and stats.frames_captured == 10
    assert len(frames) + stats.frames_dropped == 10
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    assert all(b.t > a.t for a, b in itertools.pairwise(frames))
    assert frames[0].image.shape == (120, 160, 3)


def test_image_folder_replays_its_images_sorted(tmp_path):
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"f{i:02d}.png"), numbered_frame(i))
    (tmp_path / "notes.txt").write_text("not an image")
    with CameraCapture(tmp_path, fps=100.0) as capture:
        frames = read_all(capture)
    assert capture.stats.frames_captured == 5
    assert frames[-1].image[0, 0, 1] == numbered_frame(4)[0, 0, 1]


def test_slow_reader_gets_the_newest_frame_and_drops_are_counted(video_file):
    with CameraCapture(video_file, fps=200.0) as capture:
        while not capture.stats.finished:
            time.sleep(0.01)
        newest = capture.read()
        assert capture.read() is None  # never the same frame twice
    assert newest is not None and newest.index == 9
    assert capture.stats.frames_dropped == 9
    assert capture.stats.fps > 0


class UnpluggedCamera:
    """A real video source that fails after `fail_after` reads, as an unplugged USB camera does."""

    def __init__(self, path, fail_after: int | None) -> None:
        self._capture = cv2.VideoCapture(str(path))
        self._reads, self._fail_after = 0, fail_after

    def isOpened(self) -> bool:
        return self._capture.isOpened()

    def read(self):
        self._reads += 1
        if self._fail_after is not None and self._reads > self._fail_after:
            return False, None
        return self._capture.read()

    def get(self, prop):
        return self._capture.get(prop)

    def release(self) -> None:
        self._capture.release()


def test_live_camera_reconnects_after_an_unplug(video_file):
    opened = []

    def opener(source):
        opened.append(source)
        return UnpluggedCamera(source, fail_after=3 if len(opened) == 1 else None), True

    with CameraCapture(video_file, reconnect_interval_s=0.01, opener=opener) as capture:
        deadline = time.monotonic() + 5.0
        while capture.stats.reconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        deadline = time.monotonic() + 5.0
        while capture.stats.frames_captured < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert capture.stats.reconnects >= 1 and len(opened) >= 2  # the second "camera" (a file) ends too
    assert capture.stats.frames_captured >= 6


def test_unknown_source_is_a_camera_error(tmp_path):
    with pytest.raises(CameraError, match="neither"):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(CameraError, match="cannot open"):
        CameraCapture(tmp_path / "empty", opener=lambda s: (UnpluggedCamera(tmp_path / "nothing.avi", None), False))


def test_stop_ends_the_thread(video_file):
    capture = CameraCapture(video_file, fps=5.0, loop=True).start()
    capture.stop()
    assert not any(t.name.startswith("camera-") and t.is_alive() for t in threading.enumerate())


class StuckCamera:
    """A live camera that returns one picture forever after `stick_after` reads."""

    def __init__(self, stick_after: int) -> None:
        self._reads, self._stick_after = 0, stick_after
        self._rng = np.random.default_rng(1)

    def isOpened(self) -> bool:
        return True

    def read(self):
        self._reads += 1
        time.sleep(0.002)
        if self._reads <= self._stick_after:
            return True, self._rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # sensor noise
        return True, np.full((120, 160, 3), 77, np.uint8)  # a fresh array, the same picture

    def get(self, prop):
        return 0.0

    def release(self) -> None:
        pass


def test_stuck_live_camera_stops_handing_over_its_repeated_picture():
    with CameraCapture(0, frozen_after_frames=5, opener=lambda s: (StuckCamera(stick_after=10), True)) as capture:
        deadline = time.monotonic() + 5.0
        while capture.stats.frames_frozen < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        capture.read()  # whatever was last handed over before the freeze was noticed
        time.sleep(0.05)
        assert capture.read() is None  # nothing new while it is stuck
    stats = capture.stats
    assert stats.frames_frozen >= 20
    assert stats.frames_captured <= 10 + 4  # the noisy frames, then at most 4 repeats before the limit
