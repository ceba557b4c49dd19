"""Pairing the citizen's panel: only a paired panel (or staff) runs the meal; staff pair a tablet
with a one-time code and revoke it; the panel asks for a bite only when the profile says so; the
meal start and STOP are journalled with who and from where."""

from __future__ import annotations

import json
import stat

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bidvis.cli import app as cli_app
from bidvis.robot_ui.app import create_app
from bidvis.robot_ui.audit import AuditAction
from bidvis.robot_ui.deps import PANEL_COOKIE, PanelAccess
from bidvis.robot_ui.panels import (
    CODE_TTL_S,
    PANELS_FILE,
    InvalidPanelName,
    PairingCodes,
    PanelRegistry,
    UnknownPanel,
)
from bidvis.robot_ui.staff_login import LoginThrottle
from careplan_api.schemas import UsageEventType
from tests.bidvis.conftest import ROBOT_URL, wait_for


@pytest.fixture
def clock():
    return {"now": 1000.0}


@pytest.fixture
def app(robot, tmp_path, make_staff_login, clock):
    codes = PairingCodes(clock=lambda: clock["now"], throttle=LoginThrottle(max_failures=5, clock=lambda: clock["now"]))
    panels = PanelAccess(PanelRegistry(tmp_path / PANELS_FILE), codes)
    return create_app(robot.session, make_staff_login(tmp_path), panels=panels)


@pytest.fixture
def clients(app):
    made = []

    def make(address: str = "10.0.0.20") -> TestClient:
        client = TestClient(app, base_url=ROBOT_URL, client=(address, 40000))
        client.__enter__()
        made.append(client)
        return client

    yield make
    for client in made:
        client.__exit__(None, None, None)


@pytest.fixture
def staff(clients, log_in):
    client = clients("10.0.0.7")
    assert log_in(client).status_code == 303
    return client


def pair_from_cli(directory, name="Annas tablet") -> dict:
    result = CliRunner().invoke(cli_app, ["ui", "pair-panel", "--dir", str(directory), "--name", name])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def use_panel_as_trigger(staff) -> None:
    assert staff.put("/api/profile", json={"values": {"trigger_kind": "panel"}}).status_code == 200


# -- the panel needs pairing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/panel", {"command": "select_bowl", "bowl": 0}),
        ("POST", "/api/panel", {"command": "next_bite"}),
        ("POST", "/api/panel", {"command": "done"}),
        ("GET", "/api/panel/status", None),
        ("POST", "/api/stop", None),
    ],
)
def test_an_unpaired_client_can_change_nothing_and_read_nothing(clients, robot, method, path, body):
    answer = clients().request(method, path, json=body)
    assert answer.status_code == 401
    assert not robot.session.meal.running and robot.journal.events() == []


def test_an_unpaired_client_sees_only_the_pairing_page(clients):
    client = clients()
    answer = client.get("/panel?lang=en", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/pair?lang=en"
    page = client.get("/panel?lang=en")
    assert page.url.path == "/pair" and "Pair this panel" in page.text and "Bowl 1" not in page.text


@pytest.mark.parametrize(
    "token", ["", "bvp_", "bvp_" + "A" * 43, "Basic YW5uYTpwdw==", "bvp_" + "x" * 500, "bvp_\u0000", "bvp_ø"]
)
def test_made_up_tokens_are_refused(clients, tmp_path, token):
    pair_from_cli(tmp_path)
    client = clients()
    header = f"Bearer {token}".encode()  # sent as UTF-8 bytes, as a hostile client may
    answer = client.post("/api/panel", json={"command": "pause"}, headers={"Authorization": header})
    assert answer.status_code == 401
    if token.isascii():  # a cookie is ASCII
        client.cookies.set(PANEL_COOKIE, token)
    assert client.get("/api/panel/status").status_code == 401


def test_pair_panel_command_prints_a_token_the_panel_sends_as_bearer(clients, tmp_path, robot):
    paired = pair_from_cli(tmp_path)
    assert set(paired) == {"panel_id", "token"} and paired["token"].startswith("bvp_")
    stored = (tmp_path / PANELS_FILE).read_text()
    assert paired["token"] not in stored and stat.S_IMODE((tmp_path / PANELS_FILE).stat().st_mode) == 0o600
    panel = clients("10.0.0.21")
    assert panel.get("/api/panel/status", headers=bearer(paired["token"])).status_code == 200
    answer = panel.post("/api/panel", json={"command": "select_bowl", "bowl": 0}, headers=bearer(paired["token"]))
    assert answer.status_code == 200
    assert robot.session.meal.running
    assert panel.post("/api/stop", headers=bearer(paired["token"])).status_code == 200


def test_a_panels_token_opens_no_staff_route(clients, tmp_path, robot):
    token = pair_from_cli(tmp_path)["token"]
    panel = clients()
    for method, path in (("GET", "/api/status"), ("POST", "/api/connect"), ("PUT", "/api/profile")):
        assert panel.request(method, path, headers=bearer(token), json={"values": {}}).status_code == 401
    assert panel.get("/staff", headers=bearer(token), follow_redirects=False).status_code == 303
    assert robot.session.arm.driver is None


# -- pairing a tablet from the staff page -------------------------------------------------------------


def test_staff_pair_a_tablet_with_a_one_time_code_and_revoke_it(staff, clients, app):
    issued = staff.post("/api/panels/pairing-code", json={"name": "Annas tablet"}).json()
    assert issued["qr_svg"].startswith("data:image/svg+xml") and issued["link"].endswith("/pair#" + issued["code"])
    tablet = clients("10.0.0.30")
    paired = tablet.post("/api/pair", json={"code": issued["code"].lower().replace("-", " ")})
    assert paired.status_code == 200 and paired.json()["name"] == "Annas tablet"
    assert (
        "httponly" in paired.headers["set-cookie"].lower() and "samesite=strict" in paired.headers["set-cookie"].lower()
    )
    assert tablet.get("/panel", follow_redirects=False).status_code == 200  # the browser panel keeps its credential
    assert tablet.get("/api/panel/status").status_code == 200

    again = clients("10.0.0.31").post("/api/pair", json={"code": issued["code"]})
    assert again.status_code == 401  # one-time

    (listed,) = staff.get("/api/panels").json()["panels"]
    assert listed["active"] and listed["paired_by"] == "staff:Anna"
    assert staff.post(f"/api/panels/{listed['panel_id']}/revoke").status_code == 200
    assert tablet.get("/api/panel/status").status_code == 401
    assert tablet.get("/panel", follow_redirects=False).headers["location"].startswith("/pair")
    assert [e.action for e in app.state.audit.entries() if "pair" in e.action or "panel" in e.action] == [
        AuditAction.PAIRING_CODE_ISSUED,
        AuditAction.PANEL_PAIRED,
        AuditAction.PAIRING_FAILED,
        AuditAction.PANEL_REVOKED,
    ]
    (revoked,) = app.state.audit.entries(AuditAction.PANEL_REVOKED)
    assert revoked.old["active"] and not revoked.new["active"] and revoked.client == "10.0.0.7"


def test_a_pairing_code_expires(staff, clients, clock):
    code = staff.post("/api/panels/pairing-code", json={"name": "panel"}).json()["code"]
    clock["now"] += CODE_TTL_S + 1
    assert clients().post("/api/pair", json={"code": code}).status_code == 401


def test_guessing_codes_is_throttled_per_address(staff, clients):
    code = staff.post("/api/panels/pairing-code", json={"name": "panel"}).json()["code"]
    guesser = clients("10.0.0.99")
    for _ in range(5):
        assert guesser.post("/api/pair", json={"code": "AAAA-AAAA"}).status_code == 401
    throttled = guesser.post("/api/pair", json={"code": code})  # even the right one, from there
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert clients("10.0.0.30").post("/api/pair", json={"code": code}).status_code == 200  # the real tablet


@pytest.mark.parametrize(
    "body",
    [{}, {"code": ""}, {"code": "x" * 21}, {"code": 12345678}, {"code": "ABCD-EFGH", "panel": "x"}, {"code": None}],
)
def test_malformed_pairing_requests_are_refused(clients, body):
    assert clients().post("/api/pair", json=body).status_code == 422


def test_only_staff_make_pairing_codes_and_revoke(clients, tmp_path):
    paired = pair_from_cli(tmp_path)
    client = clients()
    assert client.post("/api/panels/pairing-code", json={"name": "x"}).status_code == 401
    assert client.post(f"/api/panels/{paired['panel_id']}/revoke").status_code == 401
    assert client.post(f"/api/panels/{paired['panel_id']}/revoke", headers=bearer(paired["token"])).status_code == 401
    assert client.get("/api/panels").status_code == 401


def test_revoking_an_unknown_panel_is_a_404_and_bad_names_a_422(staff):
    assert staff.post("/api/panels/p-00000000/revoke").status_code == 404
    assert staff.post("/api/panels/pairing-code", json={"name": "<script>"}).status_code == 422


def test_revoke_panel_command(clients, tmp_path):
    paired = pair_from_cli(tmp_path)
    result = CliRunner().invoke(cli_app, ["ui", "revoke-panel", paired["panel_id"], "--dir", str(tmp_path)])
    assert result.exit_code == 0 and "revoked" in result.output
    assert clients().get("/api/panel/status", headers=bearer(paired["token"])).status_code == 401
    missing = CliRunner().invoke(cli_app, ["ui", "revoke-panel", "p-nope", "--dir", str(tmp_path)])
    assert missing.exit_code == 1 and "no panel" in missing.output


def test_the_registry_reads_a_broken_file_as_a_clear_error(tmp_path):
    from bidvis.robot_ui.panels import PanelError

    (tmp_path / PANELS_FILE).write_text('{"panels": {"p-1": {"name": "x"}}}')
    with pytest.raises(PanelError, match="unreadable"):
        PanelRegistry(tmp_path / PANELS_FILE).panels()
    with pytest.raises(UnknownPanel):
        PanelRegistry(tmp_path / "other.json").revoke("p-1", "staff:Anna")
    with pytest.raises(InvalidPanelName):
        PanelRegistry(tmp_path / "other.json").pair("", "cli")


# -- what a panel may ask for, and the journal ----------------------------------------------------


def test_the_panel_cannot_ask_for_a_bite_when_the_profile_names_another_trigger(clients, tmp_path, robot, app):
    token = pair_from_cli(tmp_path)["token"]
    panel = clients("10.0.0.21")
    refused = panel.post("/api/panel", json={"command": "next_bite"}, headers=bearer(token))
    assert refused.status_code == 403 and "switch" in refused.json()["detail"]  # the demo citizen's switch
    assert not robot.session.meal.running
    (entry,) = app.state.audit.entries(AuditAction.TRIGGER_REFUSED)
    assert entry.actor.startswith("panel:p-") and entry.client == "10.0.0.21"
    started = panel.post("/api/panel", json={"command": "select_bowl", "bowl": 0}, headers=bearer(token))
    assert started.status_code == 200, started.text
    wait_for(lambda: robot.journal.open_meal_id is not None, what="the meal to start")
    refused = panel.post("/api/panel", json={"command": "next_bite"}, headers=bearer(token))  # in the meal
    assert refused.status_code == 403
    triggers = [e.data for e, _ in robot.journal.events() if e.type is UsageEventType.TRIGGER]
    assert triggers == [
        {
            "kind": "panel",
            "accepted": False,
            "ignored_because": "the citizen asks for a bite by switch, not on the panel",
        }
    ]


def test_a_paired_panel_asks_for_a_bite_when_the_panel_is_the_trigger(clients, tmp_path, robot, staff):
    use_panel_as_trigger(staff)
    token = pair_from_cli(tmp_path)["token"]
    assert clients().post("/api/panel", json={"command": "next_bite"}, headers=bearer(token)).status_code == 200
    assert robot.session.meal.running


def test_the_meal_start_and_a_stop_name_who_and_from_where(clients, tmp_path, robot, app, staff):
    paired = pair_from_cli(tmp_path)
    panel = clients("10.0.0.21")
    panel.post("/api/panel", json={"command": "select_bowl", "bowl": 1}, headers=bearer(paired["token"]))
    wait_for(lambda: robot.session.meal.status()["state"] not in (None, "idle"), what="the meal to start")
    assert staff.post("/api/stop").json()["message"] == "meal stopped"
    events = {e.type: e.data for e, _ in robot.journal.events()}
    who = f"panel Annas tablet ({paired['panel_id']}) from 10.0.0.21"
    assert events[UsageEventType.MEAL_STARTED]["started_by"] == who
    (start,) = app.state.audit.entries(AuditAction.MEAL_START)
    assert start.actor == f"panel:{paired['panel_id']}" and start.client == "10.0.0.21"
    (stop,) = app.state.audit.entries(AuditAction.STOP)
    assert stop.actor == "staff:Anna" and stop.client == "10.0.0.7"
    wait_for(lambda: UsageEventType.SAFETY_STOP in {e.type for e, _ in robot.journal.events()}, what="the stop")
    stops = [e.data for e, _ in robot.journal.events() if e.type is UsageEventType.SAFETY_STOP]
    assert stops[0]["detail"] == "e-stop from staff Anna from 10.0.0.7"
