"""Switch, serial button, panel and the merger: real byte streams (pipes, files, pyserial's loop://)
and hostile input (partial events, unplugged devices, malformed panel commands, floods)."""

from __future__ import annotations

import os
import struct
import threading

import pytest

from careplan_api.schemas import UsageEventType
from controller.config import TriggerKind, demo_profile
from controller.feeding import CommandKind, UserCommand
from controller.triggers import (
    EV_KEY,
    INPUT_EVENT,
    AutoPace,
    EvdevSwitch,
    InputEventParser,
    InvalidCommand,
    MouthGesture,
    PanelInput,
    SerialButton,
    SerialButtonMode,
    TriggerDeviceError,
    TriggerMerger,
    triggers_for,
)

EV_SYN, KEY_SPACE, KEY_ENTER, KEY_ESC = 0x00, 57, 28, 1


def key(t_s: float, code: int, value: int) -> bytes:
    """One key event followed by its SYN_REPORT, as the kernel writes them."""
    sec, usec = int(t_s), round((t_s % 1) * 1e6)
    return INPUT_EVENT.pack(sec, usec, EV_KEY, code, value) + INPUT_EVENT.pack(sec, usec, EV_SYN, 0, 0)


def press(t_s: float, code: int = KEY_SPACE) -> bytes:
    return key(t_s, code, 1) + key(t_s + 0.08, code, 0)


@pytest.fixture
def pipe():
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    os.close(read_fd)
    os.close(write_fd)


def failing_switch(tmp_path) -> EvdevSwitch:
    """A switch whose reads fail with an OS error (a directory opened as the device), as reads
    of a removed input device fail with ENODEV."""
    return EvdevSwitch(tmp_path)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[UsageEventType, dict]] = []

    def put(self, event_type: UsageEventType, data: dict) -> None:
        self.events.append((event_type, data))


# ---- evdev switch ---------------------------------------------------------------------------


def test_input_event_layout_is_the_kernels():
    # struct timeval (two C longs), __u16 type, __u16 code, __s32 value: 24 bytes on 64-bit Linux
    assert INPUT_EVENT.size == 2 * struct.calcsize("l") + 8


def test_parser_keeps_partial_events_until_complete():
    stream = press(1.0) + press(2.0)
    parser = InputEventParser()
    events = []
    for i in range(0, len(stream), 7):  # split at odd places
        events += parser.feed(stream[i : i + 7])
    assert [(e.type, e.code, e.value) for e in events if e.type == EV_KEY] == [
        (EV_KEY, KEY_SPACE, 1),
        (EV_KEY, KEY_SPACE, 0),
        (EV_KEY, KEY_SPACE, 1),
        (EV_KEY, KEY_SPACE, 0),
    ]
    assert events[0].t_s == pytest.approx(1.0)


def test_any_key_press_is_the_next_bite_and_releases_repeats_are_not(pipe):
    read_fd, write_fd = pipe
    switch = EvdevSwitch(read_fd)
    assert switch.poll(0.0) == []  # nothing yet, and no blocking
    os.write(write_fd, press(1.0, KEY_ENTER) + key(1.5, KEY_ENTER, 1) + key(1.6, KEY_ENTER, 2) + key(1.7, KEY_ENTER, 2))
    assert switch.poll(0.1) == [UserCommand(CommandKind.NEXT_BITE, "switch")] * 2
    assert switch.poll(0.2) == []
    assert switch.presses == 2


def test_key_map_sends_other_commands(pipe):
    read_fd, write_fd = pipe
    switch = EvdevSwitch(read_fd, key_map={KEY_ESC: CommandKind.ESTOP})
    os.write(write_fd, press(1.0, KEY_ESC) + press(2.0, KEY_SPACE))
    assert [c.kind for c in switch.poll(0.0)] == [CommandKind.ESTOP, CommandKind.NEXT_BITE]


def test_switch_bounce_counts_once(pipe):
    read_fd, write_fd = pipe
    switch = EvdevSwitch(read_fd, debounce_s=0.15)
    os.write(write_fd, key(1.0, KEY_SPACE, 1) + key(1.01, KEY_SPACE, 0) + key(1.03, KEY_SPACE, 1) + press(1.5))
    assert len(switch.poll(0.0)) == 2


def test_an_event_split_across_reads_is_not_lost(pipe):
    read_fd, write_fd = pipe
    switch = EvdevSwitch(read_fd)
    data = press(3.0)
    os.write(write_fd, data[:10])
    assert switch.poll(0.0) == []
    os.write(write_fd, data[10:])
    assert len(switch.poll(0.1)) == 1


def test_a_recorded_event_file_can_be_replayed(tmp_path):
    path = tmp_path / "event-capture"
    path.write_bytes(press(1.0) + press(2.0) + press(3.0))
    switch = EvdevSwitch(path)
    assert len(switch.poll(0.0)) == 3
    assert switch.poll(0.1) == []  # end of file is just "nothing new"
    switch.close()


def test_a_flood_of_key_events_is_read_over_several_ticks_and_nothing_is_lost(tmp_path):
    path = tmp_path / "flood"
    path.write_bytes(b"".join(press(1.0 + 0.2 * n) for n in range(500)))  # 2,000 events
    switch = EvdevSwitch(path)
    per_tick = [len(switch.poll(k / 200)) for k in range(20)]
    assert per_tick[0] < 500  # one tick does not swallow the whole flood
    assert sum(per_tick) == 500
    switch.close()


def test_a_bad_descriptor_is_a_device_error():
    with pytest.raises(TriggerDeviceError, match="cannot open"):
        EvdevSwitch(1_000_000)  # far above any open descriptor: EBADF


def test_a_missing_device_is_a_clear_error(tmp_path):
    with pytest.raises(TriggerDeviceError, match="cannot open"):
        EvdevSwitch(tmp_path / "event99")


def test_a_device_that_fails_to_read_raises_device_error(tmp_path):
    switch = failing_switch(tmp_path)
    with pytest.raises(TriggerDeviceError, match="lost"):
        switch.poll(0.0)


def test_a_character_device_that_is_not_an_input_device_cannot_be_grabbed():
    with pytest.raises(TriggerDeviceError, match="cannot take the device"):
        EvdevSwitch("/dev/null")
    shared = EvdevSwitch("/dev/null", grab=False)
    assert (shared.grabbed, shared.poll(0.0)) == (False, [])
    shared.close()


def test_files_and_pipes_are_not_grabbed(pipe, tmp_path):
    assert not EvdevSwitch(pipe[0]).grabbed
    (tmp_path / "capture").write_bytes(b"")
    assert not EvdevSwitch(tmp_path / "capture").grabbed


# ---- serial button ----------------------------------------------------------------------------


def test_serial_button_any_byte_is_a_press():
    button = SerialButton("loop://")
    assert button.poll(0.0) == []
    button.serial.write(b"\x01")
    assert button.poll(1.0) == [UserCommand(CommandKind.NEXT_BITE, "switch")]
    button.serial.write(b"xyz")  # a burst of bytes is one press
    assert len(button.poll(2.0)) == 1
    assert button.poll(2.05) == []
    button.close()


def test_serial_button_debounces_on_the_loop_clock():
    button = SerialButton("loop://", debounce_s=0.2)
    button.serial.write(b"a")
    assert len(button.poll(1.0)) == 1
    button.serial.write(b"b")
    assert button.poll(1.1) == []
    button.serial.write(b"c")
    assert len(button.poll(1.5)) == 1
    button.close()


def test_serial_button_on_cts_fires_on_the_rising_edge():
    button = SerialButton("loop://", mode=SerialButtonMode.CTS, command=CommandKind.PAUSE)
    button.serial.rts = False
    assert button.poll(0.0) == []
    button.serial.rts = True  # loop:// wires RTS to CTS: the switch closes
    assert button.poll(1.0) == [UserCommand(CommandKind.PAUSE, "switch")]
    assert button.poll(1.5) == []  # held: still one press
    button.serial.rts = False
    assert button.poll(2.0) == []
    button.serial.rts = True
    assert len(button.poll(3.0)) == 1
    button.close()


def test_serial_button_errors_are_device_errors():
    with pytest.raises(TriggerDeviceError, match="cannot open"):
        SerialButton("nosuchscheme://x")
    button = SerialButton("loop://")
    button.serial.close()
    with pytest.raises(TriggerDeviceError, match="lost"):
        button.poll(0.0)


# ---- panel ------------------------------------------------------------------------------------


def test_panel_commands_come_out_in_order_with_the_panel_as_source():
    panel = PanelInput(bowls=(0, 1))
    panel.push("select_bowl", 1)
    panel.push(CommandKind.NEXT_BITE)
    panel.push("pause")
    assert panel.poll(0.0) == [
        UserCommand(CommandKind.SELECT_BOWL, "panel", 1),
        UserCommand(CommandKind.NEXT_BITE, "panel"),
        UserCommand(CommandKind.PAUSE, "panel"),
    ]
    assert panel.poll(0.1) == []


@pytest.mark.parametrize(
    "kind, bowl, match",
    [
        ("teleport", None, "unknown command 'teleport'"),
        ("select_bowl", None, "choose a bowl"),
        ("select_bowl", -1, "choose a bowl"),
        ("select_bowl", True, "choose a bowl"),
        ("select_bowl", "1", "choose a bowl"),
        ("select_bowl", 5, r"bowl 6 is not in use today \(in use: \[0, 1\], counted from 0\)"),
        ("next_bite", 1, "not for a bowl"),
    ],
)
def test_malformed_panel_commands_are_refused(kind, bowl, match):
    panel = PanelInput(bowls=(0, 1))
    with pytest.raises(InvalidCommand, match=match):
        panel.push(kind, bowl)
    assert panel.poll(0.0) == []


def test_a_flooding_panel_cannot_grow_the_queue_without_bound():
    panel = PanelInput(max_queued=8)
    for _ in range(1000):
        panel.push("next_bite")
    panel.push("estop")
    commands = panel.poll(0.0)
    assert len(commands) == 8 and commands[-1].kind is CommandKind.ESTOP


def test_dropping_the_queue_takes_every_command_and_leaves_nothing_for_the_next_poll():
    panel = PanelInput(bowls=(0, 1))
    panel.push("next_bite")
    panel.push("select_bowl", 1)
    assert [c.kind for c in panel.drop_queued()] == [CommandKind.NEXT_BITE, CommandKind.SELECT_BOWL]
    assert panel.poll(0.0) == [] and panel.drop_queued() == []


def test_panel_push_from_many_threads_loses_nothing():
    panel = PanelInput(max_queued=10_000)
    threads = [threading.Thread(target=lambda: [panel.push("next_bite") for _ in range(500)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    collected = []
    while any(t.is_alive() for t in threads):
        collected += panel.poll(0.0)
    collected += panel.poll(0.0)
    assert len(collected) == 2000


# ---- merger -------------------------------------------------------------------------------------


def test_merger_gives_estop_first_from_any_source():
    panel, other = PanelInput(), PanelInput()
    panel.push("next_bite")
    other.push("estop")
    merger = TriggerMerger([panel, other])
    assert [c.kind for c in merger.poll(0.0, None)] == [CommandKind.ESTOP, CommandKind.NEXT_BITE]


def test_a_meal_start_comes_before_a_stop_or_done_pressed_in_the_same_tick():
    panel = PanelInput()
    panel.push("end_meal")
    panel.push("estop")
    panel.push("start_meal")
    kinds = [c.kind for c in TriggerMerger([panel]).poll(0.0, None)]
    assert kinds == [CommandKind.START_MEAL, CommandKind.ESTOP, CommandKind.END_MEAL]


def test_a_lost_switch_pauses_the_meal_and_reports_a_fault(tmp_path):
    sink = Sink()
    switch = failing_switch(tmp_path)
    panel = PanelInput()
    merger = TriggerMerger([switch, panel], events=sink)
    panel.push("next_bite")
    commands = merger.poll(0.0, None)
    assert [c.kind for c in commands] == [CommandKind.PAUSE, CommandKind.NEXT_BITE]
    assert sink.events[0][0] is UsageEventType.FAULT and sink.events[0][1]["reason"] == "trigger_lost"
    assert merger.sources == [panel] and len(merger.failed) == 1
    assert merger.poll(0.1, None) == []  # the dropped source is not polled again


def test_triggers_follow_the_profile():
    profile = demo_profile()
    gesture = triggers_for(profile.model_copy(update={"trigger_kind": TriggerKind.MOUTH_GESTURE}), armed=lambda: True)
    assert any(isinstance(s, MouthGesture) for s in gesture.sources)
    paced = triggers_for(profile.model_copy(update={"trigger_kind": TriggerKind.AUTO_PACE}), armed=lambda: True)
    (auto,) = [s for s in paced.sources if isinstance(s, AutoPace)]
    assert auto.pace_s == profile.auto_pace_s
    switch = triggers_for(profile, armed=lambda: True)
    assert [type(s) for s in switch.sources] == [PanelInput]


def test_a_next_bite_from_a_trigger_the_profile_does_not_name_is_refused_and_reported():
    sink = Sink()
    panel = PanelInput(bowls=(0, 1))
    merger = triggers_for(demo_profile(), armed=lambda: True, panel=panel, events=sink)  # the profile names a switch
    panel.push("next_bite")
    panel.push("select_bowl", 1)
    panel.push("estop", source="staff Anna from 10.0.0.7")
    commands = merger.poll(0.0, None)
    assert [(c.kind, c.source) for c in commands] == [
        (CommandKind.ESTOP, "staff Anna from 10.0.0.7"),
        (CommandKind.SELECT_BOWL, "panel"),
    ]
    ((kind, data),) = sink.events
    assert kind is UsageEventType.TRIGGER and data["kind"] == "panel" and data["accepted"] is False
    assert "profile names switch" in data["ignored_because"]


def test_the_profiles_own_trigger_still_asks_for_the_next_bite():
    panel = PanelInput()
    merger = triggers_for(
        demo_profile().model_copy(update={"trigger_kind": TriggerKind.PANEL}), armed=lambda: True, panel=panel
    )
    panel.push("next_bite", source="someone else")  # a bite is always the panel's, whoever claims it
    assert merger.poll(0.0, None) == [UserCommand(CommandKind.NEXT_BITE, "panel")]


def test_misfires_reach_the_journal_sink_or_wait_for_the_loop_to_drain_them():
    from vision.observation import MouthObservation

    def released_early(merger: TriggerMerger) -> None:
        for k in range(60):  # 30 fps: closed, 0.7 s open, closed
            t = k / 30
            ratio = 0.5 if 10 <= k < 31 else 0.05
            merger.poll(t, MouthObservation((320.0, 240.0), 60.0, ratio, ratio > 0.3, 0.9, t))

    profile = demo_profile().model_copy(update={"trigger_kind": TriggerKind.MOUTH_GESTURE})
    sink = Sink()
    released_early(triggers_for(profile, armed=lambda: True, events=sink))
    assert [(kind, data["reason"]) for kind, data in sink.events] == [(UsageEventType.MISFIRE, "released_before_dwell")]
    buffered = triggers_for(profile, armed=lambda: True)
    released_early(buffered)
    assert [kind for kind, _ in buffered.drain_events()] == [UsageEventType.MISFIRE]
    assert buffered.drain_events() == []


def test_merger_buffer_of_events_is_bounded():
    merger = TriggerMerger(max_pending_events=4)
    for n in range(100):
        merger.put(UsageEventType.FAULT, {"n": n})
    assert [data["n"] for _, data in merger.drain_events()] == [96, 97, 98, 99]
