"""Issue 17's findings, tried again as written, from another machine.

The robot serves the network as `bidvis run --host` does: HTTPS with its own certificate, here
on 127.0.0.2. The other machines are other loopback addresses (the attacker 127.0.0.3, a staff
tablet 127.0.0.4, the citizen's panel 127.0.0.5): every request really crosses TCP and TLS from
another address, and nothing leaves this computer. Each test names the finding it tries.

Findings of the set-up (a video file as camera, intrinsics without a checkerboard, the port in
the calibration) are not about another machine: tests/bidvis/test_run.py, test_camera_fov.py and
test_robot_ui.py try them.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.certificate import make_certificate
from bidvis.robot_ui.deps import SESSION_COOKIE
from bidvis.robot_ui.staff_login import LoginThrottle
from bidvis.robot_ui.web_guard import SiteAddress
from bidvis.run import sim_robot
from careplan_api.schemas import UsageEventType
from tests.bidvis.conftest import PASSWORD, start_server, wait_for

ROBOT, ATTACKER, STAFF_TABLET, PANEL_TABLET = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"
OWNER = "owner-anna-1"


def _loopback_alias_works() -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((ROBOT, 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _loopback_alias_works(), reason="this machine does not route 127.0.0.2 to itself")


@dataclass
class RobotOnTheNetwork:
    url: str
    robot: Any
    app: Any
    tls: ssl.SSLContext

    def machine(self, address: str) -> httpx.Client:
        """A client on another machine (`address`), trusting the robot's certificate."""
        return httpx.Client(
            base_url=self.url,
            transport=httpx.HTTPTransport(local_address=address, verify=self.tls),
            timeout=30.0,
        )

    def staff(self, address: str = STAFF_TABLET, name: str = "Anna") -> httpx.Client:
        client = self.machine(address)
        answer = client.post("/login", data={"username": name, "password": PASSWORD}, headers=self.same_origin)
        assert answer.status_code == 303, answer.text
        return client

    @property
    def same_origin(self) -> dict[str, str]:
        return {"Origin": self.url}

    def audit(self, action: AuditAction) -> list:
        return self.app.state.audit.entries(action)

    def events(self, kind: UsageEventType) -> list[dict]:
        return [e.data for e, _ in self.robot.journal.events() if e.type is kind]


@pytest.fixture
def network(tmp_path: Path, make_staff_login):
    robot = sim_robot(tmp_path)
    certificate = make_certificate(tmp_path, [ROBOT])
    login = make_staff_login(
        tmp_path, throttle=LoginThrottle(max_failures=3, max_failures_per_address=10, lockout_s=60)
    )
    login.https_only = True
    app = create_app(robot.session, login, site=SiteAddress.local(certificate.names, https=True))
    url, stop = start_server(app, ROBOT, certificate)
    yield RobotOnTheNetwork(url, robot, app, ssl.create_default_context(cafile=str(certificate.certificate_path)))
    stop()
    robot.close()


def pair_panel(network: RobotOnTheNetwork) -> str:
    staff = network.staff()
    code = staff.post("/api/panels/pairing-code", json={"name": "Annas tablet"}, headers=network.same_origin).json()
    paired = network.machine(PANEL_TABLET).post("/api/pair", json={"code": code["code"]}, headers=network.same_origin)
    assert paired.status_code == 200
    return paired.json()["token"]


# -- access to the arm -------------------------------------------------------------------------------


def test_finding_two_unauthenticated_posts_start_no_meal_and_move_no_spoon(network):
    attacker = network.machine(ATTACKER)
    assert attacker.post("/api/panel", json={"command": "select_bowl", "bowl": 0}).status_code == 401
    assert attacker.post("/api/panel", json={"command": "next_bite"}).status_code == 401
    assert not network.robot.session.meal.running and network.robot.journal.events() == []


def test_finding_the_panel_is_a_trigger_only_when_the_profile_names_it(network):
    token = pair_panel(network)
    panel = network.machine(PANEL_TABLET)
    refused = panel.post("/api/panel", json={"command": "next_bite"}, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403 and not network.robot.session.meal.running  # the citizen uses a switch
    (entry,) = network.audit(AuditAction.TRIGGER_REFUSED)
    assert entry.client == PANEL_TABLET


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_finding_dns_rebinding_another_name_for_the_robots_address_is_refused(network, method):
    staff = network.staff()
    answer = staff.request(
        method, "/api/stop" if method == "POST" else "/api/status", headers={"Host": "rebind.attacker.example"}
    )
    assert answer.status_code == 400


def test_finding_a_panel_press_without_login_cannot_take_the_arm_from_jogging_staff(network):
    staff = network.staff()
    assert staff.post("/api/connect", headers=network.same_origin).status_code == 200
    jog = {"owner": OWNER, "joint": 1, "direction": 1, "press": 1}
    assert staff.post("/api/jog/hold", json=jog, headers=network.same_origin).json()["moving"]
    attacker = network.machine(ATTACKER)
    assert attacker.post("/api/panel", json={"command": "select_bowl", "bowl": 0}).status_code == 401
    assert not network.robot.session.meal.running
    assert staff.post("/api/jog/hold", json=jog, headers=network.same_origin).status_code == 200  # still Anna's


def test_finding_a_paired_panel_cannot_start_a_meal_while_staff_hold_the_arm(network):
    token = pair_panel(network)
    staff = network.staff()
    staff.post("/api/connect", headers=network.same_origin)
    staff.post(
        "/api/jog/hold", json={"owner": OWNER, "joint": 1, "direction": 1, "press": 1}, headers=network.same_origin
    )
    panel = network.machine(PANEL_TABLET)
    answer = panel.post(
        "/api/panel", json={"command": "select_bowl", "bowl": 0}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 409 and "Anna" in answer.json()["detail"]


def test_finding_a_second_screens_test_bite_does_not_replace_the_first(network):
    anna, bo = network.staff(), network.staff("127.0.0.6", "Bo")
    anna.post("/api/connect", headers=network.same_origin)
    assert anna.post("/api/test-bite", json={"owner": OWNER, "bowl": 0}, headers=network.same_origin).status_code == 200
    second = bo.post("/api/test-bite", json={"owner": "owner-bo-22", "bowl": 1}, headers=network.same_origin)
    assert second.status_code == 409 and "Anna" in second.json()["detail"]


def test_finding_a_cross_site_bodyless_post_cannot_stop_a_meal(network):
    staff = network.staff()
    staff.post("/api/panel", json={"command": "select_bowl", "bowl": 0}, headers=network.same_origin)
    wait_for(lambda: network.robot.journal.open_meal_id is not None, timeout_s=60, what="the meal")
    for headers in ({"Origin": "https://attacker.example"}, {"Sec-Fetch-Site": "cross-site"}):
        assert staff.post("/api/stop", headers=headers).status_code == 403  # the staff browser's cookie goes along
    assert network.machine(ATTACKER).post("/api/stop").status_code == 401
    assert network.robot.session.meal.running and network.events(UsageEventType.SAFETY_STOP) == []
    assert staff.post("/api/stop", headers=network.same_origin).json()["message"] == "meal stopped"
    wait_for(lambda: network.events(UsageEventType.SAFETY_STOP), what="the stop in the journal")
    assert network.events(UsageEventType.SAFETY_STOP)[0]["detail"] == f"e-stop from staff Anna from {STAFF_TABLET}"


# -- sessions and logins ------------------------------------------------------------------------------


def test_finding_a_copied_cookie_is_no_login_after_logout(network):
    staff = network.staff()
    stolen = network.machine(ATTACKER)
    stolen.cookies.set(SESSION_COOKIE, staff.cookies[SESSION_COOKIE], domain=ROBOT)
    assert stolen.get("/api/status").status_code == 200
    assert staff.post("/logout", headers=network.same_origin).status_code == 303
    assert stolen.get("/api/status").status_code == 401
    assert stolen.post("/api/connect").status_code == 401 and network.robot.session.arm.driver is None


def test_finding_wrong_passwords_from_another_address_lock_nobody_out(network):
    attacker = network.machine(ATTACKER)
    for _ in range(3):
        for _ in range(4):
            attacker.post("/login", data={"username": "Anna", "password": "guess"}, headers=network.same_origin)
        network.staff().post("/logout", headers=network.same_origin)  # Anna logs in from her tablet every time
    assert network.audit(AuditAction.LOGIN_LOCKED)[0].client == ATTACKER


def test_the_session_cookie_is_secure_httponly_and_strict_over_https(network):
    answer = network.machine(STAFF_TABLET).post(
        "/login", data={"username": "Anna", "password": PASSWORD}, headers=network.same_origin
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


# -- settings -------------------------------------------------------------------------------------


def test_finding_the_profile_api_takes_no_face_size(network):
    staff = network.staff()
    answer = staff.put("/api/profile", json={"values": {"face_scale": 1.6}}, headers=network.same_origin)
    assert answer.status_code == 422 and network.robot.session.documents.profile.face_scale is None


def test_finding_a_profile_change_during_a_meal_is_refused_not_silently_ignored(network):
    staff = network.staff()
    staff.post("/api/panel", json={"command": "select_bowl", "bowl": 0}, headers=network.same_origin)
    wait_for(lambda: network.robot.journal.open_meal_id is not None, timeout_s=60, what="the meal")
    answer = staff.put("/api/profile", json={"values": {"speed_m_s": 0.1}}, headers=network.same_origin)
    assert answer.status_code == 409 and "meal is running" in answer.json()["detail"]


def test_finding_a_huge_body_without_login_is_refused_before_it_is_read(network):
    attacker = network.machine(ATTACKER)
    body = b'{"command": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    answer = attacker.post("/api/panel", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


# -- audit ------------------------------------------------------------------------------------------


def test_finding_changes_are_journalled_with_old_and_new_values(network):
    staff = network.staff()
    staff.put("/api/calibration/spoon", json={"x_m": 0.06, "z_m": 0.0, "pitch_rad": 0.0}, headers=network.same_origin)
    (event,) = network.events(UsageEventType.CALIBRATION_CHANGED)
    assert event["old"]["spoon"]["x_m"] == 0.05 and event["new"]["spoon"]["x_m"] == 0.06


def test_finding_torque_jogs_test_bites_clear_stop_logins_failures_lockouts_and_meal_starts_are_audited(network):
    attacker = network.machine(ATTACKER)
    for _ in range(3):
        attacker.post("/login", data={"username": "Bo", "password": "guess"}, headers=network.same_origin)
    staff = network.staff()
    same = network.same_origin
    staff.post("/api/connect", headers=same)
    staff.post("/api/jog/hold", json={"owner": OWNER, "joint": 1, "direction": 1, "press": 1}, headers=same)
    staff.post("/api/jog/release", json={"owner": OWNER, "press": 1}, headers=same)
    staff.post("/api/stop", headers=same)
    wait_for(lambda: network.robot.session.arm.status()["mode"] == "idle", what="the arm to rest")
    staff.post("/api/test-bite", json={"owner": OWNER, "bowl": 0}, headers=same)
    staff.post("/api/stop", headers=same)
    staff.post("/api/panel", json={"command": "select_bowl", "bowl": 0}, headers=same)
    wait_for(lambda: network.robot.journal.open_meal_id is not None, timeout_s=60, what="the meal")
    staff.post("/api/stop", headers=same)
    wait_for(lambda: not network.robot.session.meal.running, timeout_s=15, what="the meal to stop")
    staff.post("/api/meal/clear-stop", headers=same)
    clients = {
        action: {e.client for e in network.audit(action)}
        for action in (
            AuditAction.LOGIN_FAILED,
            AuditAction.LOGIN_LOCKED,
            AuditAction.LOGIN,
            AuditAction.TORQUE_ON,
            AuditAction.JOG,
            AuditAction.TEST_BITE,
            AuditAction.MEAL_START,
            AuditAction.STOP,
            AuditAction.CLEAR_STOP,
        )
    }
    assert clients[AuditAction.LOGIN_FAILED] == clients[AuditAction.LOGIN_LOCKED] == {ATTACKER}
    assert all(
        found == {STAFF_TABLET}
        for action, found in clients.items()
        if action not in (AuditAction.LOGIN_FAILED, AuditAction.LOGIN_LOCKED)
    ), clients
    (started,) = network.events(UsageEventType.MEAL_STARTED)
    assert started["started_by"] == f"staff Anna from {STAFF_TABLET}"


# -- what held, and must keep holding ---------------------------------------------------------------


def test_held_staff_routes_refuse_without_login_and_login_from_another_origin_is_refused(network):
    attacker = network.machine(ATTACKER)
    for method, path in (
        ("GET", "/api/status"),
        ("POST", "/api/connect"),
        ("PUT", "/api/profile"),
        ("GET", "/openapi.json"),
    ):
        assert attacker.request(method, path, json={"values": {}}).status_code == 401
    forged = attacker.post(
        "/login", data={"username": "Anna", "password": PASSWORD}, headers={"Origin": "https://attacker.example"}
    )
    assert forged.status_code == 403 and SESSION_COOKIE not in attacker.cookies


def test_held_no_cors_traversal_404_and_jog_contention_names_the_holder(network):
    attacker = network.machine(ATTACKER)
    preflight = attacker.options(
        "/api/stop", headers={"Origin": "https://attacker.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert attacker.get("/static/%2e%2e/staff_accounts.json").status_code == 404
    anna, bo = network.staff(), network.staff("127.0.0.6", "Bo")
    anna.post("/api/connect", headers=network.same_origin)
    anna.post(
        "/api/jog/hold", json={"owner": OWNER, "joint": 1, "direction": 1, "press": 1}, headers=network.same_origin
    )
    busy = bo.post(
        "/api/jog/hold", json={"owner": "owner-bo-22", "joint": 1, "direction": 1}, headers=network.same_origin
    )
    assert busy.status_code == 409 and "Anna" in busy.json()["detail"]


def test_bidvis_listens_on_loopback_only_unless_told(tmp_path, make_staff_login):
    robot = sim_robot(tmp_path)
    url, stop = start_server(create_app(robot.session, make_staff_login(tmp_path)))  # bidvis ui's and run's default
    try:
        port = int(url.rsplit(":", 1)[1])
        assert httpx.get(f"{url}/login").status_code == 200
        with socket.socket() as other:
            other.bind((ATTACKER, 0))
            other.settimeout(2.0)
            with pytest.raises(OSError):
                other.connect((ROBOT, port))  # the robot's other address: nothing listens there
    finally:
        stop()
        robot.close()
