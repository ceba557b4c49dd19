"""What every request passes first: the robot's own host names only (no DNS rebinding), nothing
that changes state from another site (STOP included), security headers on every answer, and the
API docs for staff only."""

from __future__ import annotations

import pytest

from bidvis.robot_ui.web_guard import SiteAddress, host_name
from tests.bidvis.conftest import ROBOT_URL


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/staff"), ("GET", "/api/status"), ("GET", "/panel"), ("POST", "/api/stop"), ("POST", "/login")],
)
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "localhost.evil.example", "10.0.0.1", ""])
def test_a_request_for_another_host_name_is_refused(staff, robot, method, path, host):
    answer = staff.request(method, path, headers={"Host": host})
    assert answer.status_code == 400 and "host name" in answer.json()["detail"]


def test_a_rebound_name_cannot_stop_a_meal_or_read_the_status(staff, robot):
    staff.post("/api/panel", json={"command": "select_bowl", "bowl": 0})
    assert robot.session.meal.running
    assert staff.post("/api/stop", headers={"Host": "rebind.evil.example"}).status_code == 400
    assert robot.session.meal.running  # not stopped
    assert staff.get("/api/status", headers={"Host": "rebind.evil.example"}).status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:3000"},  # same site, another origin
        {"Origin": "https://localhost"},  # another scheme
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/stop", None),
        ("POST", "/api/connect", None),
        ("POST", "/api/panel", {"command": "select_bowl", "bowl": 0}),
        ("PUT", "/api/profile", {"values": {"speed_m_s": 0.1}}),
        ("POST", "/logout", None),
        ("POST", "/api/pair", {"code": "ABCD-EFGH"}),
    ],
)
def test_another_site_cannot_change_anything_even_with_a_staff_browser(staff, robot, headers, method, path, body):
    answer = staff.request(method, path, json=body, headers=headers)
    assert answer.status_code == 403 and "another site" in answer.json()["detail"]
    assert robot.session.arm.driver is None and not robot.session.meal.running
    assert staff.get("/api/status").status_code == 200  # still logged in: the logout was refused too


def test_the_robots_own_pages_may_change_state(staff):
    assert staff.post("/api/stop", headers={"Origin": ROBOT_URL}).status_code == 200
    assert staff.post("/api/stop", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert staff.post("/api/stop").status_code == 200  # no browser headers: a script, judged by its login


@pytest.mark.parametrize(
    "path",
    ["/login", "/staff", "/panel", "/pair", "/api/status", "/api/nothing-here", "/static/staff.js", "/docs", "/"],
)
def test_every_answer_carries_the_security_headers(client, path):
    answer = client.get(path, follow_redirects=False)
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert "access-control-allow-origin" not in answer.headers


def test_refusals_carry_the_security_headers_too(client):
    for answer in (
        client.get("/staff", headers={"Host": "evil.example"}),
        client.post("/api/stop", headers={"Origin": "http://e.x"}),
    ):
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_no_cors_preflight_is_granted(client):
    answer = client.options(
        "/api/stop", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in answer.headers


def test_static_files_cannot_be_used_to_read_the_robots_files(client):
    for path in ("/static/../staff_accounts.json", "/static/%2e%2e/audit.sqlite3", "/static/..%2fpaired_panels.json"):
        assert client.get(path).status_code == 404


def test_the_api_docs_are_for_staff_only(client, log_in):
    assert client.get("/docs", follow_redirects=False).status_code == 303
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/redoc").status_code == 404
    log_in(client)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "script-src 'self'" in docs.headers["content-security-policy"]  # no CDN, no inline script
    schema = client.get("/openapi.json").json()
    assert "/api/panel" in schema["paths"] and "/api/stop" in schema["paths"]
    assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("localhost:8080", "localhost"),
        ("LOCALHOST", "localhost"),
        ("[::1]:8080", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("robot.local:8443", "robot.local"),
        ("a b", None),
        ("evil@localhost", None),
        ("localhost:80x", None),
        ("[::1", None),
        ("[::1]x", None),
        ("", None),
        ("x" * 300, None),
        ("localhost/", None),
    ],
)
def test_host_names_are_parsed_strictly(host, name):
    assert host_name(host) == name


def test_the_site_on_the_network_answers_to_its_certificates_names_and_loopback():
    site = SiteAddress.local(["Robot.Local", "192.168.1.20"], https=True)
    assert site.hosts == {"localhost", "127.0.0.1", "::1", "robot.local", "192.168.1.20"} and site.https
