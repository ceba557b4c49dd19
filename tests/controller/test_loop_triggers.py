"""Usage events of the trigger sources (misfires, lost devices) reach the journal through the loop."""

from __future__ import annotations

from careplan_api.schemas import UsageEventType
from controller.loop import run_meal
from controller.triggers import TriggerDeviceError, TriggerMerger


class UnpluggedSwitch:
    """A switch whose cable is pulled out on the first poll."""

    def poll(self, now_s, mouth):
        raise TriggerDeviceError("switch /dev/input/event7 vanished (unplugged?)")


class MisfiringSource:
    """A source that reports one misfire through the merger, as `MouthGesture` does."""

    def __init__(self, sink):
        self.sink = sink
        self.reported = False

    def poll(self, now_s, mouth):
        if not self.reported:
            self.sink.put(UsageEventType.MISFIRE, {"reason": "speech", "open_s": 0.4})
            self.reported = True
        return []


def test_a_lost_switch_and_a_misfire_are_journalled(table):
    merger = TriggerMerger([table.commands, UnpluggedSwitch()])
    merger.add(MisfiringSource(merger))

    report = run_meal(
        table.bus,
        table.mouth,
        merger,
        table.clock,
        table.journal,
        table.profile,
        table.calibration,
        table.limits,
        on_tick=table.on_tick,
        max_duration_s=3.0,
    )

    events = [event for event, _ in table.journal.events()]
    faults = [e.data for e in events if e.type is UsageEventType.FAULT]
    misfires = [e.data for e in events if e.type is UsageEventType.MISFIRE]
    assert faults and faults[0]["reason"] == "trigger_lost"
    assert "unplugged" in faults[0]["detail"]
    assert misfires == [{"reason": "speech", "open_s": 0.4}]
    assert report.journal_errors == 0
    assert merger.drain_events() == []
