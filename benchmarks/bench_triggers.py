"""Trigger sources inside the 200 Hz tick: one `TriggerMerger.poll` over an evdev switch (a pipe
with nothing to read), a serial button (loop://), the panel and the mouth gesture fed a fresh
30 fps observation every 7th tick, as the loop calls it."""

from __future__ import annotations

import os

from controller.config import GestureSettings
from controller.triggers import EvdevSwitch, MouthGesture, PanelInput, SerialButton, TriggerMerger
from vision.observation import MouthObservation


def test_merger_poll_per_tick(benchmark):
    read_fd, write_fd = os.pipe()
    button = SerialButton("loop://")
    merger = TriggerMerger([EvdevSwitch(read_fd), button, PanelInput(), MouthGesture(GestureSettings())])
    state = {"tick": 0}

    def tick() -> None:
        k = state["tick"]
        state["tick"] = k + 1
        now = k / 200.0
        frame_t = (k // 7) * 7 / 200.0
        ratio = 0.5 if (k // 400) % 2 else 0.05  # 2 s open, 2 s closed: holds that trigger
        merger.poll(now, MouthObservation((320.0, 240.0), 60.0, ratio, ratio > 0.3, 0.9, frame_t))

    benchmark.pedantic(tick, rounds=20_000, iterations=1, warmup_rounds=200)
    button.close()
    os.close(read_fd)
    os.close(write_fd)
