"""Refusals from below a route are said in the reader's language too: a trigger the profile does not name,
a file that cannot be saved, a servo bus that fails, a broken audit trail, a panel refused. Each answer
keeps its English `detail` (scripts, logs) and is never a server error's traceback, even when the
catalogue itself is broken."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bidvis.robot_ui.panels import MAX_NAME_CHARS, PANELS_FILE
from controller import messages
from controller.config import TriggerKind
from controller.messages import Language, Message
from firmware_bridge.errors import BusTimeout
from tests.controller.test_invalid_values import danish_problems

PANEL_SCRIPT = Path(__file__).resolve().parents[2] / "bidvis" / "robot_ui" / "static" / "panel.js"
OWNER = "owner-anna-1"


def _said_both_ways(staff, method: str, path: str, status: int, message: Message, **request) -> str:
    """Ask in Danish and in English; each answer is `status` with `message` in its reader's language and
    the same English `detail`. Returns that detail."""
    answers = {lang: staff.request(method, f"{path}?lang={lang.value}", **request) for lang in Language}
    for lang, answer in answers.items():
        assert answer.status_code == status, answer.text
        body = answer.json()
        assert body["key"] == message.key and body["text"] == message.text(lang), body
    danish, english = (answers[lang].json() for lang in (Language.DANISH, Language.ENGLISH))
    assert danish_problems(danish["text"], []) == []
    assert not re.search(r"[æøå]", english["text"]) and danish["text"] != english["text"]
    assert danish["detail"] == english["detail"]
    return str(english["detail"])


@pytest.mark.parametrize("kind", [k for k in TriggerKind if k is not TriggerKind.PANEL])
def test_a_bite_asked_on_the_panel_when_the_profile_names_another_trigger(staff, robot, kind):
    documents = robot.session.documents
    documents.profile = documents.profile.model_copy(update={"trigger_kind": kind})
    message = Message("refusal.not_the_profiles_trigger", trigger=Message(f"trigger.{kind.value}"))
    detail = _said_both_ways(staff, "POST", "/api/panel", 403, message, json={"command": "next_bite"})
    assert detail == message.text(Language.ENGLISH) and not robot.session.meal.running


def test_a_change_that_cannot_be_saved(staff, robot, tmp_path):
    robot.session.documents.profile_path = tmp_path / "no-such-dir" / "citizen_profile.toml"
    body = {"values": {"speed_m_s": 0.1}}
    detail = _said_both_ways(staff, "PUT", "/api/profile", 500, Message("refusal.cannot_save"), json=body)
    assert detail.startswith("cannot save: ") and "no-such-dir" in detail
    assert robot.session.documents.profile.speed_m_s != 0.1


def test_a_servo_bus_that_fails(staff, robot, monkeypatch):
    def bus_gone() -> None:
        raise BusTimeout(0x01, (11,), 0.02)  # a ping nobody answers: the cable is out

    monkeypatch.setattr(robot.session.arm, "connect", bus_gone)
    detail = _said_both_ways(staff, "POST", "/api/connect", 503, Message("refusal.servo_bus"))
    assert detail.startswith("servo bus: no answer to ")


def test_a_broken_audit_trail(staff, app, robot):
    app.state.audit.close()  # a full disk, a broken file
    assert staff.post("/api/disconnect", json={"owner": OWNER}).status_code == 503  # the record fails
    detail = _said_both_ways(
        staff, "POST", "/api/disconnect", 503, Message("refusal.audit_broken"), json={"owner": OWNER}
    )
    assert detail.startswith("the audit trail does not work") and detail.endswith("until it works again")
    assert staff.post("/api/stop").status_code == 200  # STOP is never refused


@pytest.mark.parametrize("name", ["<script>", "Bord 1; DROP", "Anna\u202e", "   "])
def test_a_panel_name_refused(staff, name):
    message = Message("refusal.panel_name", max=MAX_NAME_CHARS)
    detail = _said_both_ways(staff, "POST", "/api/panels/pairing-code", 422, message, json={"name": name})
    assert detail.startswith("a panel name is 1-40 letters")


@pytest.mark.parametrize("panel_id", ["p-nobody", "%C3%B8%00", "p-" + "x" * 300])
def test_a_panel_the_robot_does_not_know(staff, panel_id):
    detail = _said_both_ways(staff, "POST", f"/api/panels/{panel_id}/revoke", 404, Message("refusal.unknown_panel"))
    assert "is paired with this robot" in detail


@pytest.mark.parametrize("content", [b"{", b'{"panels": []}', b"\xff\xfe", b'{"panels": {"p-1": 3}}'])
def test_a_broken_panels_file(staff, robot, content):
    (robot.session.documents.calibration_path.parent / PANELS_FILE).write_bytes(content)
    detail = _said_both_ways(staff, "GET", "/api/panels", 500, Message("refusal.panels_file"))
    assert detail.startswith("panels file: ")


def test_a_broken_catalogue_leaves_the_english_detail(staff, app, monkeypatch):
    def broken() -> messages.Catalogue:
        raise ValueError("counted text 'refusal.audit_broken' needs exactly the texts by, one and other")

    monkeypatch.setattr(messages, "robot_messages", broken)
    unknown = staff.post("/api/panels/p-nobody/revoke")
    assert unknown.status_code == 404 and unknown.json() == {"detail": "no panel 'p-nobody' is paired with this robot"}
    app.state.audit.close()
    answer = staff.post("/api/disconnect", json={"owner": OWNER})
    assert answer.status_code == 503 and set(answer.json()) == {"detail"}
    assert answer.json()["detail"].startswith("the audit trail does not work")


def test_the_panel_shows_why_a_press_was_refused_in_its_own_language():
    script = PANEL_SCRIPT.read_text()
    assert 'fetch("/api/panel?lang=" + lang' in script  # the refusal comes in the panel's language
    assert "data.text" in script and "detail" not in script  # the English is for logs only
    assert "feedback.dataset.refused" in script  # the panel's own words when the answer has none


def test_a_change_the_journal_cannot_record_says_why_in_words_and_logs_the_english(staff, robot, tmp_path, caplog):
    from controller.journal import UsageJournal

    robot.session.documents.journal = UsageJournal(tmp_path / "full.sqlite3", max_bytes=4096)  # full from the start
    try:
        message = Message("refusal.unjournalled", cause=Message("cause.disk_full"))
        body = {"values": {"speed_m_s": 0.1}}
        detail = _said_both_ways(staff, "PUT", "/api/profile", 503, message, json=body)
    finally:
        robot.session.documents.journal.close()
        robot.session.documents.journal = robot.journal
    assert detail.startswith(message.text(Language.ENGLISH) + " (journal ")  # the cause's English, for scripts
    assert "size limit is reached" in detail and "size limit is reached" in caplog.text


@pytest.mark.parametrize("port", ["no-such-tty", "../../dev/\u202enull", "x" * 300])
def test_a_scan_of_a_port_that_cannot_be_opened_says_why_in_words(staff, robot, tmp_path, port):
    robot.session.arm.port = str(tmp_path / port)
    message = Message("refusal.cannot_scan", port=robot.session.arm.port, cause=Message("cause.port"))
    detail = _said_both_ways(staff, "POST", "/api/scan", 409, message)
    assert detail.startswith(message.text(Language.ENGLISH) + " (") and "could not open" in detail.lower()
