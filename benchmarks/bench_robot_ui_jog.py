"""Hold-to-move: the heartbeat's round trip over HTTP, the arm driver's tick, and the stop time.

- heartbeat: one `POST /api/jog/hold` from a keep-alive HTTP client to the robot's web app served by
  uvicorn on 127.0.0.1, the arm jogging on virtual servos (what the browser sends every 50 ms);
- tick: one `ArmDriver.tick()` while jogging (sync read, ruckig step, sync write) on virtual
  servos with a simulated clock;
- stop: simulated time from the last heartbeat until the servos' present positions stop changing
  (deterministic; in `extra_info`), for jogs of joints 1-4.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from bidvis.robot_ui import arm as arm_module
from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.arm import ArmDriver
from bidvis.robot_ui.staff_login import StaffLogin
from bidvis.run import sim_robot
from controller.config import demo_calibration, demo_safety_limits
from firmware_bridge import DynamixelBus
from sim.flaws import flaws_preset
from sim.virtual_bus import SimulatedClock, VirtualServoBus


@pytest.fixture
def served(tmp_path):
    robot = sim_robot(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    staff_login = StaffLogin.for_directory(tmp_path)
    staff_login.accounts.add("bench", "bench password")
    server = uvicorn.Server(
        uvicorn.Config(create_app(robot.session, staff_login), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)
    robot.close()


def test_heartbeat_round_trip(benchmark, served):
    with httpx.Client(base_url=served) as client:
        client.post("/login", data={"username": "bench", "password": "bench password"})
        client.post("/api/connect").raise_for_status()
        body = {"owner": "bench-owner", "joint": 4, "direction": 1}
        state = {"direction": 1, "n": 0}

        def beat() -> None:
            state["n"] += 1
            if state["n"] % 40 == 0:  # turn round every 40 beats: stay within the joint's range
                state["direction"] *= -1
            body["direction"] = state["direction"]
            client.post("/api/jog/hold", json=body).raise_for_status()

        benchmark.pedantic(beat, rounds=400, iterations=1, warmup_rounds=10)
        client.post("/api/jog/release", json={"owner": "bench-owner"})


def _rig():
    """Virtual servos on the ideal plant, as when the figures in docs/benchmarks.md were taken (before
    sim.flaws): the stop time counts any change of a present position, and on the flawed arm encoder
    noise and gear play still change them after the stop (tests/bidvis/test_robot_ui_arm.py checks the
    flawed arm, ignoring changes within the noise)."""
    clock = SimulatedClock()
    servos = VirtualServoBus.start(clock=clock, flaws=flaws_preset("ideal"))
    bus = DynamixelBus(servos.url, timeout=0.05)
    calibration = demo_calibration()
    driver = ArmDriver(
        bus,
        calibration.joint_servo_ids,
        calibration.spoon,
        arm_module.SETUP_WATCHDOG_STEPS,
        limits=demo_safety_limits(),
        clock=clock.now,
    )
    driver.connect()
    return driver, servos, bus, clock


def test_driver_tick_while_jogging(benchmark):
    driver, servos, bus, clock = _rig()
    state = {"k": 0}

    def tick() -> None:
        k = state["k"]
        state["k"] = k + 1
        if k % 3 == 0:
            driver.hold("bench-owner", 1, 1 if (k // 300) % 2 == 0 else -1)
        driver.tick()
        clock.advance_to(clock.now() + arm_module.PERIOD_S)

    benchmark.pedantic(tick, rounds=1500, iterations=1, warmup_rounds=20)
    bus.close()
    servos.close()


def _stop_time_s(joint: int) -> float:
    driver, servos, bus, clock = _rig()
    try:
        direction = -1 if joint == 2 else 1
        for k in range(50):  # 1 s of jogging, a heartbeat every 60 ms (every third 20 ms tick)
            if k % 3 == 0:
                driver.hold("bench-owner", joint, direction)
                last_beat = clock.now()
            driver.tick()
            clock.advance_to(clock.now() + arm_module.PERIOD_S)
        positions = lambda: [servos.servo(i).get("present_position") for i in (11, 12, 13, 14)]  # noqa: E731
        previous, last_change = positions(), clock.now()
        for _ in range(50):
            driver.tick()
            clock.advance_to(clock.now() + arm_module.PERIOD_S)
            now = positions()
            if now != previous:
                previous, last_change = now, clock.now()
        return last_change - last_beat
    finally:
        bus.close()
        servos.close()


def test_stop_after_last_heartbeat(benchmark):
    times = {}

    def all_joints() -> None:
        for joint in (1, 2, 3, 4):
            times[joint] = _stop_time_s(joint)

    benchmark.pedantic(all_joints, rounds=3, iterations=1)
    benchmark.extra_info["stop_s_by_joint"] = {str(j): round(t, 3) for j, t in times.items()}
    assert max(times.values()) <= 0.2
