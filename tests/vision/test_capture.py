"""Camera capture over a generated video file, an image folder and a camera that goes away."""

from __future__ import annotations

import itertools
import threading
import time

import cv2
import numpy as np
import pytest

from vision import CameraError
from vision.capture import CameraCapture, TimeSource, open_source


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

    with CameraCapture(video_file, reconnect_interval_s=0.01, health=None, opener=opener) as capture:
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


class LiveCamera:
    """A live camera at 30 fps: a textured scene drifting 9 px/s under sensor noise, then (from
    `stuck_after` reads) one picture: repeated exactly, under fresh noise, or black. With `v4l2`,
    it reports a driver buffer time `latency_s` before each read returns, as OpenCV's V4L2 backend
    does in CAP_PROP_POS_MSEC (`driver_times`: which reads have one)."""

    def __init__(self, stuck_after: int | None = None, stuck: str = "exact", v4l2: bool = False, latency_s=0.03):
        self.reads, self.stuck_after, self.stuck = 0, stuck_after, stuck
        self.v4l2, self.latency_s = v4l2, latency_s
        self.driver_times = lambda read: True
        self._rng = np.random.default_rng(1)
        texture = self._rng.integers(0, 256, (200, 260, 3), dtype=np.uint8)
        self._scene = cv2.normalize(cv2.GaussianBlur(texture, (0, 0), 2.0), None, 0, 255, cv2.NORM_MINMAX)
        self._driver_ms = 0.0
        self.frozen_at: float | None = None

    def isOpened(self) -> bool:
        return True

    def _picture(self, i: int) -> np.ndarray:
        shift = np.float32([[1, 0, -20 - 0.3 * i], [0, 1, -20]])
        return cv2.warpAffine(self._scene, shift, (160, 120))

    def read(self):
        self.reads += 1
        time.sleep(1 / 30)
        self._driver_ms = 1000.0 * (time.monotonic() - self.latency_s) if self.driver_times(self.reads) else 0.0
        stuck = self.stuck_after is not None and self.reads > self.stuck_after
        if stuck and self.frozen_at is None:
            self.frozen_at = time.monotonic()
        if stuck and self.stuck == "black":
            return True, np.zeros((120, 160, 3), np.uint8)
        picture = self._picture(self.stuck_after if stuck else self.reads)
        if stuck and self.stuck == "exact":
            return True, picture
        return True, np.clip(picture + self._rng.normal(0.0, 2.0, picture.shape), 0, 255).astype(np.uint8)

    def get(self, prop):
        return self._driver_ms if prop == cv2.CAP_PROP_POS_MSEC else 0.0

    def getBackendName(self) -> str:
        return "V4L2" if self.v4l2 else "FAKE"

    def release(self) -> None:
        pass


def frames_until(capture: CameraCapture, seconds: float) -> list:
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = capture.read(timeout_s=0.05)
        if frame is not None:
            frames.append(frame)
    return frames


@pytest.mark.parametrize(("stuck", "reason"), [("exact", "repeated"), ("noise", "still"), ("black", "black")])
def test_a_stuck_live_camera_is_reported_unhealthy_within_half_a_second_and_withheld(stuck, reason):
    camera = LiveCamera(stuck_after=20, stuck=stuck)
    with CameraCapture(0, opener=lambda s: (camera, True)) as capture:
        frames = frames_until(capture, 2.0)
        stats = capture.stats
    assert camera.frozen_at is not None
    assert stats.health.reason.value == reason
    assert stats.health.since_t - camera.frozen_at <= 0.5
    assert stats.frames_unhealthy >= 10
    assert frames and max(f.t for f in frames) - camera.frozen_at <= 0.5  # nothing handed over after that
    assert len(frames) >= 18  # the live frames before the freeze were handed over


def test_v4l2_buffer_times_are_the_capture_times():
    camera = LiveCamera(v4l2=True, latency_s=0.03)
    with CameraCapture(0, health=None, opener=lambda s: (camera, True)) as capture:
        frames = frames_until(capture, 0.5)
        offset = capture.stats.stamp_offset_s
    assert frames and all(f.time_source is TimeSource.DRIVER for f in frames)
    # the driver's time, 30 ms before the read returned: not the time the read returned
    assert all(0.025 <= f.read_end_s - f.t <= 0.06 for f in frames)
    assert -0.03 - 0.01 <= offset <= -0.03 + 1 / 30 + 0.01  # driver time minus read start


def test_an_implausible_driver_time_is_not_believed():
    camera = LiveCamera(v4l2=True, latency_s=-5.0)  # "taken" 5 s after the read: another clock
    with CameraCapture(0, health=None, stamp_offset_s=-0.02, opener=lambda s: (camera, True)) as capture:
        frames = frames_until(capture, 0.3)
    assert frames and all(f.time_source is TimeSource.READ_START for f in frames)
    assert all(f.t == pytest.approx(f.read_start_s - 0.02) for f in frames)


def test_without_driver_times_the_read_start_is_corrected_by_the_offset_measured_on_the_driver():
    camera = LiveCamera(v4l2=True, latency_s=0.03)
    camera.driver_times = lambda read: read <= 10  # the driver stops giving times
    with CameraCapture(0, health=None, opener=lambda s: (camera, True)) as capture:
        frames = frames_until(capture, 0.8)
        offset = capture.stats.stamp_offset_s
    late = [f for f in frames if f.time_source is TimeSource.READ_START]
    # the driver's time was 30 ms before the read returned, the read took a frame period (1/30 s)
    assert late and -0.01 <= offset <= 1 / 30 - 0.03 + 0.02
    assert all(f.t == pytest.approx(f.read_start_s + offset) for f in late)
    assert all(f.t < f.read_end_s for f in frames)  # never newer than the frame is


def test_video_file_times_are_the_frames_positions_in_the_file(video_file):
    with CameraCapture(video_file, fps=50.0, loop=True) as capture:
        frames = frames_until(capture, 0.6)
    assert all(f.time_source is TimeSource.FILE for f in frames)
    times = [f.t for f in frames]
    steps = np.diff(times) / 0.02
    assert np.allclose(steps, np.round(steps), atol=1e-6) and (steps > 0.999).all()  # whole frames of 1/50 s
    assert len(frames) > 10  # the loop went on past the file's end, its times too


def test_image_folder_times_are_the_images_positions(tmp_path):
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"f{i:02d}.png"), numbered_frame(i))
    with CameraCapture(tmp_path, fps=20.0) as capture:
        frames = read_all(capture)
    assert frames and all(f.time_source is TimeSource.FILE for f in frames)
    steps = np.diff([f.t for f in frames]) / 0.05  # the replay's rate, not the folder's default
    assert np.allclose(steps, np.round(steps), atol=1e-6) and (steps > 0.999).all()


def test_a_frames_latency_comes_in_parts_that_add_up(video_file):
    with CameraCapture(video_file, fps=50.0) as capture:
        frame = capture.read(timeout_s=2.0)
    assert frame is not None
    parts = frame.latency(frame.handed_over_s + 0.004)
    assert parts.processing_s == pytest.approx(0.004)
    assert parts.capture_to_read_s >= 0.0 and parts.waiting_s >= 0.0
    assert parts.total_s == pytest.approx(frame.handed_over_s + 0.004 - frame.t)
