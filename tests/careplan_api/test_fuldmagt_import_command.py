"""`bidvis careplan import-fuldmagter`: fuldmagter from a register file (the local stand-in of the
national register) through Typer's CliRunner. Importing twice changes nothing the second time; each
change is audited with the operator; the FHIR export's RelatedPerson and Consent follow; hostile
registers (missing, corrupt, not a page, duplicate and conflicting entries, an expired fuldmagt, a
holder who is the citizen, an unknown citizen) give a clear error and a non-zero exit, no traceback."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Row, Select, select
from typer.testing import CliRunner

from bidvis.cli import app as bidvis_app
from careplan_api import fuldmagt_register
from careplan_api.app import create_app
from careplan_api.db import make_engine
from careplan_api.models import AuditEntry, Fuldmagt, FuldmagtSource, RegisterCursor, Role
from careplan_api.services import people, register_cursors
from careplan_api.services.security import create_access_token, password_hasher
from careplan_api.settings import Settings

CITIZEN_CPR = "010150-1234"
HOLDER_CPR = "020260-4321"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def run(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("BIDVIS_CAREPLAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BIDVIS_CAREPLAN_ARGON2_PROFILE", "CHEAPEST")
    monkeypatch.setenv("BIDVIS_OPERATOR", "it-ok")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(bidvis_app, ["careplan", *args, "--database-url", database_url])

    return invoke


@pytest.fixture
def citizen_id(run) -> str:
    result = run("add-citizen", "--name", "Ellen", "--cpr", CITIZEN_CPR, "--unit", "Solhaven")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["citizen_id"]


def entry(ref: str, **overrides) -> dict:
    return {
        "ref": ref,
        "grantor_cpr": CITIZEN_CPR,
        "holder_cpr": HOLDER_CPR,
        "holder_name": "Sofie Jensen",
        "scope": "full",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z",
    } | overrides


def register_file(tmp_path: Path, *entries: dict, name: str = "register.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"cursor": "c1", "entries": list(entries)}))
    return str(path)


def _out(result) -> dict:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    (line,) = [x for x in result.stdout.splitlines() if x.strip()]
    return json.loads(line)


def _rows(database_url: str, tmp_path: Path) -> tuple[list[Fuldmagt], list[AuditEntry], Settings]:
    settings = Settings(database_url=database_url, data_dir=tmp_path).with_secrets()
    app = create_app(settings)
    try:
        with app.state.session_factory() as session:
            rows = list(session.scalars(select(Fuldmagt).order_by(Fuldmagt.register_ref)))
            entries = list(session.scalars(select(AuditEntry).where(AuditEntry.resource.like("fuldmagt %"))))
            session.expunge_all()
            return rows, entries, settings
    finally:
        app.state.engine.dispose()


def _read(database_url: str, tmp_path: Path, query: Select) -> list[Row]:
    engine = make_engine(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        with engine.connect() as connection:
            return list(connection.execute(query).all())
    finally:
        engine.dispose()


def _cursors(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The kept cursors, by register name."""
    return dict(_read(database_url, tmp_path, select(RegisterCursor.source, RegisterCursor.cursor)))


def _fhir(database_url: str, tmp_path: Path, citizen_id: str) -> list[dict]:
    """The RelatedPerson and Consent resources of the citizen's FHIR export, as staff of the unit see them."""
    settings = Settings(database_url=database_url, data_dir=tmp_path).with_secrets()
    app = create_app(settings)
    try:
        with app.state.session_factory() as session:
            staff = people.create_user(
                session,
                f"staff-{uuid.uuid4().hex[:8]}",
                "not-used-pass-1",
                Role.STAFF,
                hasher=password_hasher(settings.argon2_profile),
                unit=people.get_or_create_unit(session, "Solhaven"),
            )
            session.commit()
            token, _ = create_access_token(staff, app.state.jwt_key, 600)
        with TestClient(app) as client:
            answer = client.get(
                f"/fhir/Patient/{citizen_id}/$everything",
                headers={"Authorization": f"Bearer {token}", "X-Purpose": "care"},
            )
        assert answer.status_code == 200, answer.text
        resources = [e["resource"] for e in answer.json()["entry"]]
        return [r for r in resources if r["resourceType"] in ("RelatedPerson", "Consent")]
    finally:
        app.state.engine.dispose()


def test_importing_a_register_file_twice_changes_nothing_the_second_time(run, citizen_id, database_url, tmp_path):
    register = register_file(tmp_path, entry("DF-1"), entry("DF-2", scope="care_plan"))
    first = run("import-fuldmagter", "--register", register)
    assert first.exit_code == 0, first.output
    assert _out(first) | {"refused": None} == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "duplicates": 0,
        "not_our_citizen": 0,
        "other_citizens": 0,
        "refused": None,
        "since": None,
        "cursor": "c1",
    }
    rows, audited, _ = _rows(database_url, tmp_path)
    second = run("import-fuldmagter", "--register", register)
    assert second.exit_code == 0 and (_out(second)["created"], _out(second)["unchanged"]) == (0, 2)
    again, audited_again, _ = _rows(database_url, tmp_path)
    assert [(r.id, r.scope, r.valid_until, r.revoked_at) for r in again] == [
        (r.id, r.scope, r.valid_until, r.revoked_at) for r in rows
    ]
    assert len(audited_again) == len(audited) == 2  # nothing audited when nothing changed
    assert all(r.source is FuldmagtSource.REGISTER and str(r.citizen_id) == citizen_id for r in rows)
    assert all(
        e.actor_name == "it-ok (command line)" and e.purpose == "fuldmagt from the national register" for e in audited
    )


def test_an_ending_in_the_register_ends_the_fuldmagt_and_its_fhir_consent(run, citizen_id, database_url, tmp_path):
    assert run("import-fuldmagter", "--register", register_file(tmp_path, entry("DF-1"))).exit_code == 0
    consents = [r for r in _fhir(database_url, tmp_path, citizen_id) if r["resourceType"] == "Consent"]
    assert [c["status"] for c in consents] == ["active"]
    ended = register_file(tmp_path, entry("DF-1", revoked_at="2026-03-01T00:00:00Z"))
    assert _out(run("import-fuldmagter", "--register", ended))["updated"] == 1
    fhir = _fhir(database_url, tmp_path, citizen_id)
    (consent,) = [r for r in fhir if r["resourceType"] == "Consent"]
    (related,) = [r for r in fhir if r["resourceType"] == "RelatedPerson"]
    assert consent["status"] == "inactive" and consent["provision"]["period"]["end"].startswith("2026-03-01")
    assert related["active"] is False
    assert consent["policyRule"]["text"] == "Fra det nationale fuldmagtsregister"
    audited = _rows(database_url, tmp_path)[1]
    assert sorted(e.purpose for e in audited) == [
        "fuldmagt changed in the national register",
        "fuldmagt from the national register",
    ]


def test_an_expired_fuldmagt_is_kept_as_expired_and_gives_no_access(run, citizen_id, database_url, tmp_path):
    expired = entry("DF-old", valid_from="2020-01-01T00:00:00Z", valid_until="2021-01-01T00:00:00Z")
    result = run("import-fuldmagter", "--register", register_file(tmp_path, expired))
    assert result.exit_code == 0 and _out(result)["created"] == 1
    (row,), _audited, _ = _rows(database_url, tmp_path)
    assert row.valid_until is not None and not row.is_valid_at(row.valid_until)
    (consent,) = [r for r in _fhir(database_url, tmp_path, citizen_id) if r["resourceType"] == "Consent"]
    assert consent["status"] == "inactive"


def test_duplicates_count_once_and_a_conflicting_duplicate_is_refused(run, citizen_id, database_url, tmp_path):
    register = register_file(
        tmp_path,
        entry("DF-1"),
        entry("DF-1"),  # the same, again
        entry("DF-2", scope="full"),
        entry("DF-2", scope="audit_log"),  # the same ref, differently: which is right?
    )
    for _ in range(2):  # the same answer each time: nothing depends on the order
        result = run("import-fuldmagter", "--register", register)
        assert result.exit_code == 3, result.output
        out = _out(result)
        assert out["duplicates"] == 1 and out["refused"] == [
            {"ref": "DF-2", "reason": "the register gives this fuldmagt 2 times, differently"}
        ]
        assert "1 entries refused" in result.stderr and "Traceback" not in result.output
    rows, _audited, _ = _rows(database_url, tmp_path)
    assert [r.register_ref for r in rows] == ["DF-1"]


def test_a_holder_who_is_the_citizen_is_refused_without_repeating_the_cpr_number(
    run, citizen_id, database_url, tmp_path
):
    result = run("import-fuldmagter", "--register", register_file(tmp_path, entry("DF-self", holder_cpr=CITIZEN_CPR)))
    assert result.exit_code == 3
    assert _out(result)["refused"] == [{"ref": "DF-self", "reason": "the holder is the citizen themself"}]
    assert CITIZEN_CPR not in result.output and CITIZEN_CPR.replace("-", "") not in result.output
    assert _rows(database_url, tmp_path)[0] == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"{not json", "is not JSON (line 1"),
        (b"\xff\xfe\x00garbage", "is not JSON"),
        (b'[{"ref": "DF-1"}]', "is not a register page"),
        (b'{"entries": "many"}', "is not a register page"),
        (b'{"entries": [1, 2]}', "is not a register page"),
        (json.dumps({"cursor": "c9", "entries": [entry("DF-1")]}).encode()[:90], "is not JSON"),  # cut off mid-way
    ],
)
def test_a_missing_or_corrupt_register_file_is_a_clear_error_and_changes_nothing(
    run, citizen_id, database_url, tmp_path, content, message
):
    path = tmp_path / "register.json"
    if content is not None:
        path.write_bytes(content)
    result = run("import-fuldmagter", "--register", str(path))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: ") and message in result.stderr and "Traceback" not in result.output
    assert _rows(database_url, tmp_path)[0] == [] and _cursors(database_url, tmp_path) == {}


def test_an_unknown_citizen_is_a_clear_error_and_other_citizens_are_left_alone(run, citizen_id, database_url, tmp_path):
    register = register_file(tmp_path, entry("DF-1"), entry("DF-2", grantor_cpr="311299-9999"))
    unknown = run("import-fuldmagter", "--register", register, "--citizen", "00000000-0000-0000-0000-000000000000")
    assert unknown.exit_code == 1 and "no citizen with id" in unknown.stderr and "Traceback" not in unknown.output
    not_a_uuid = run("import-fuldmagter", "--register", register, "--citizen", "ellen")
    assert not_a_uuid.exit_code == 2 and "not a UUID" in not_a_uuid.output
    assert _rows(database_url, tmp_path)[0] == []

    other = json.loads(run("add-citizen", "--name", "Bent", "--cpr", "311299-9999").stdout)["citizen_id"]
    only = run("import-fuldmagter", "--register", register, "--citizen", other)
    assert only.exit_code == 0 and (_out(only)["created"], _out(only)["other_citizens"]) == (1, 1)
    rows, _audited, _ = _rows(database_url, tmp_path)
    assert [(r.register_ref, str(r.citizen_id)) for r in rows] == [("DF-2", other)]


def test_a_grantor_who_is_not_our_citizen_is_counted_not_stored(run, citizen_id, database_url, tmp_path):
    result = run("import-fuldmagter", "--register", register_file(tmp_path, entry("DF-9", grantor_cpr="311299-9999")))
    assert result.exit_code == 0 and _out(result)["not_our_citizen"] == 1
    assert _rows(database_url, tmp_path)[0] == []


def test_a_nul_in_a_holders_name_is_refused_with_the_reason_and_the_rest_imported(
    run, citizen_id, database_url, tmp_path
):
    register = register_file(tmp_path, entry("DF-1", holder_name="Sofie\x00Jensen"), entry("DF-2"))
    result = run("import-fuldmagter", "--register", register)
    assert result.exit_code == 3 and "Traceback" not in result.output
    out = _out(result)
    assert out["created"] == 1 and [r["ref"] for r in out["refused"]] == ["DF-1"]
    assert out["refused"][0]["reason"] == "holder_name: Value error, holds a character that is not printable (U+0000)"
    assert [r.register_ref for r in _rows(database_url, tmp_path)[0]] == ["DF-2"]


def test_the_register_comes_from_the_environment_when_configured(run, citizen_id, database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("BIDVIS_CAREPLAN_FULDMAGT_REGISTER", register_file(tmp_path, entry("DF-1")))
    result = run("import-fuldmagter")
    assert result.exit_code == 0 and _out(result)["created"] == 1


class Feed:
    """A stand-in of the register's JSON feed on 127.0.0.1: `GET /fuldmagter?since=` answers the page
    kept for that cursor (None: no `since`) and notes what was asked; a cursor in `broken` gets its
    page cut off half-way (the connection closes before the promised length)."""

    def __init__(self, pages: dict[str | None, dict]) -> None:
        self.pages, self.asked, self.broken = pages, list[str | None](), set[str | None]()
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                since = parse_qs(url.query).get("since", [None])[0]
                feed.asked.append(since)
                body = json.dumps(feed.pages[since]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if since in feed.broken else body)
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture
def feed() -> Iterator[Feed]:
    revoked = entry("DF-1", revoked_at="2026-06-01T00:00:00Z")
    stand_in = Feed(
        {
            None: {"cursor": "c1", "entries": [entry("DF-1")]},
            "c1": {"cursor": "c2", "entries": [revoked, entry("DF-2", scope="care_plan")]},
            "c2": {"cursor": "c2", "entries": []},
        }
    )
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()
    thread.join()


def test_the_next_import_asks_from_the_kept_cursor_and_an_explicit_since_overrides_it(
    run, citizen_id, database_url, tmp_path, feed
):
    first = _out(run("import-fuldmagter", "--register", feed.url))
    assert (first["since"], first["cursor"], first["created"]) == (None, "c1", 1)
    assert _cursors(database_url, tmp_path) == {feed.url.rstrip("/"): "c1"}
    second = _out(run("import-fuldmagter", "--register", feed.url))
    assert (second["since"], second["cursor"], second["created"], second["updated"]) == ("c1", "c2", 1, 1)
    third = _out(run("import-fuldmagter", "--register", feed.url))
    assert (third["since"], third["created"], third["updated"], third["unchanged"]) == ("c2", 0, 0, 0)
    again = _out(run("import-fuldmagter", "--register", feed.url, "--since", "c1"))  # an explicit cursor wins
    assert (again["since"], again["unchanged"]) == ("c1", 2)
    assert feed.asked == [None, "c1", "c2", "c1"]
    assert _cursors(database_url, tmp_path) == {feed.url.rstrip("/"): "c2"}

    moves = _read(database_url, tmp_path, select(AuditEntry.__table__).where(AuditEntry.resource.like("cursor of %")))
    assert [(e.actor_name, e.action, e.purpose, e.citizen_id) for e in moves] == [
        ("it-ok (command line)", "update", register_cursors.PURPOSE, None)
    ] * 2  # c1 and c2: a run that leaves it where it was audits nothing


def test_an_import_of_one_citizen_neither_uses_nor_moves_the_kept_cursor(run, citizen_id, database_url, tmp_path, feed):
    assert _out(run("import-fuldmagter", "--register", feed.url))["cursor"] == "c1"
    one = _out(run("import-fuldmagter", "--register", feed.url, "--citizen", citizen_id))
    assert (one["since"], one["unchanged"]) == (None, 1)  # from the start: the others' entries were left out
    assert _cursors(database_url, tmp_path) == {feed.url.rstrip("/"): "c1"}
    assert feed.asked == [None, None]


def test_a_feed_that_breaks_mid_way_keeps_the_cursor_and_the_next_run_gets_its_entries(
    run, citizen_id, database_url, tmp_path, feed
):
    assert run("import-fuldmagter", "--register", feed.url).exit_code == 0
    feed.broken.add("c1")
    broken = run("import-fuldmagter", "--register", feed.url)
    assert broken.exit_code == 1 and "could not be read" in broken.stderr and "Traceback" not in broken.output
    assert [r.register_ref for r in _rows(database_url, tmp_path)[0]] == ["DF-1"]
    assert _cursors(database_url, tmp_path) == {feed.url.rstrip("/"): "c1"}
    feed.broken.clear()
    mended = _out(run("import-fuldmagter", "--register", feed.url))
    assert (mended["since"], mended["created"], mended["updated"], mended["cursor"]) == ("c1", 1, 1, "c2")
    assert feed.asked == [None, "c1", "c1"]


def test_a_run_that_fails_while_storing_keeps_the_cursor_and_the_next_run_stores_everything(
    run, citizen_id, database_url, tmp_path, feed, monkeypatch
):
    assert run("import-fuldmagter", "--register", feed.url).exit_code == 0
    audit_change = fuldmagt_register._audit
    calls = []

    def fails_at_the_second_entry(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise ConnectionError("the database went away")  # after the first entry was written
        audit_change(*args, **kwargs)

    monkeypatch.setattr(fuldmagt_register, "_audit", fails_at_the_second_entry)
    failed = run("import-fuldmagter", "--register", feed.url)
    assert isinstance(failed.exception, ConnectionError) and len(calls) == 2
    rows, _audited, _ = _rows(database_url, tmp_path)
    assert [(r.register_ref, r.revoked_at) for r in rows] == [("DF-1", None)]  # nothing of the failed run
    assert _cursors(database_url, tmp_path) == {feed.url.rstrip("/"): "c1"}
    monkeypatch.setattr(fuldmagt_register, "_audit", audit_change)
    after = _out(run("import-fuldmagter", "--register", feed.url))
    assert (after["since"], after["created"], after["updated"]) == ("c1", 1, 1)


def test_a_register_file_keeps_its_own_cursor_under_its_path(run, citizen_id, database_url, tmp_path, feed):
    path = register_file(tmp_path, entry("DF-9"))
    assert _out(run("import-fuldmagter", "--register", path))["cursor"] == "c1"
    assert _out(run("import-fuldmagter", "--register", feed.url))["since"] is None  # another register
    assert _cursors(database_url, tmp_path) == {str(Path(path).resolve()): "c1", feed.url.rstrip("/"): "c1"}


def test_a_password_in_the_feeds_url_is_kept_masked_and_does_not_change_the_register():
    assert register_cursors.register_name("https://it:s3cret@register.example/feed/") == (
        "https://it:***@register.example/feed"
    )
    assert register_cursors.register_name("https://it:other@register.example/feed") == (
        register_cursors.register_name("https://it:s3cret@register.example/feed")
    )
