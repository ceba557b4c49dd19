"""A web server flooded with large and many requests during a jog does not trip the servos' Bus
Watchdog (issue 17 item 4, issue 13 item 7): the set-up loop runs in the set-up process, not in the
web server's, whose interpreter lock the flood holds (a 200 MB body starved the arm's thread once).

The robot of tests/bidvis/flooding.py (the servos emulated by `bidvis sim-bus` in a process of their
own, the web app on a real server), the flood of `flooding.flood`; the jog's heartbeats go through
the same flooded server. What must hold is only the safety outcome: no fault (a tripped watchdog is one, at the first
reading that shows it: `ArmDriver._servos_stopped`).
A jog whose heartbeats the flood delays stops by itself (`HOLD_TIMEOUT_S`) and moves on with the
next one: that is the jog's own safety, not a failure here.
"""

from __future__ import annotations

import threading
import time

import httpx

from tests.bidvis.conftest import PASSWORD, wait_for
from tests.bidvis.flooding import flood, flooded_robot

FLOOD_S = 4.0
ATTACKERS = 3
OWNER = "owner-flood-1"


def jog_until(url: str, until_s: float, beats: list[bool]) -> None:
    """Hold joint 1's button until `until_s`, as a browser does (a heartbeat every 50 ms), noting
    whether the server answered each."""
    with httpx.Client(base_url=url, timeout=10.0) as staff:
        assert staff.post("/login", data={"username": "Anna", "password": PASSWORD}).status_code == 303
        body = {"owner": OWNER, "joint": 1, "direction": 1, "press": 0}
        while time.monotonic() < until_s:
            try:
                beats.append(staff.post("/api/jog/hold", json=body).status_code == 200)
            except httpx.HTTPError:
                beats.append(False)  # a heartbeat lost in the flood: the jog stops by itself
            time.sleep(0.05)
        staff.post("/api/jog/release", json={"owner": OWNER, "press": 0})


def test_a_flood_of_requests_during_a_jog_does_not_trip_the_watchdog(tmp_path, make_staff_login):
    with flooded_robot(tmp_path, make_staff_login(tmp_path)) as robot:
        with httpx.Client(base_url=robot.url, timeout=30.0) as staff:
            assert staff.post("/login", data={"username": "Anna", "password": PASSWORD}).status_code == 303
            assert staff.post("/api/connect").status_code == 200
        arm = robot.session.arm
        start = arm.status()
        assert start is not None and start["mode"] == "idle"
        beats: list[bool] = []
        answers: dict[str, int] = {}
        until_s = time.monotonic() + FLOOD_S
        threads = [threading.Thread(target=jog_until, args=(robot.url, until_s, beats))]
        threads += [threading.Thread(target=flood, args=(robot.url, until_s, answers)) for _ in range(ATTACKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=FLOOD_S + 60)
        wait_for(lambda: arm.status()["mode"] in ("idle", "fault"), what="the arm at rest")
        status = arm.status()
    assert status["mode"] == "idle" and status["fault"] is None, (
        status
    )  # a watchdog trip is a fault (fault.servos_stopped)
    assert answers.get("413", 0) > 10 and answers.get("401", 0) > 10, answers  # the flood reached the web app
    moved_rad = abs(status["q_rad"][0] - start["q_rad"][0])
    # It jogged during the flood: how far depends on how the flooded machine schedules the three
    # processes (0.017 rad with all 42 heartbeats answered in one CI run, 0.02 and more alone);
    # 0.01 rad is 6.5 ticks, beyond the flawed arm's rest noise (tests/bidvis/arm_noise.py).
    assert moved_rad > 0.01, (moved_rad, beats.count(True), len(beats))
