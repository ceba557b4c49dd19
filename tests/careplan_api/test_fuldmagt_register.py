"""Importing from a national fuldmagt register through `HttpFuldmagtRegister`, against a local
stand-in of the register's JSON feed (a FastAPI app; `TestClient` is the adapter's httpx client)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from careplan_api.fuldmagt_register import FileFuldmagtRegister, HttpFuldmagtRegister, RegisterError, import_changes
from careplan_api.models import AuditEntry, Fuldmagt, FuldmagtScope, FuldmagtSource

ALICE_CPR = "010150-1234"  # the fixture's citizen alice
HOLDER_CPR = "020260-4321"


def stand_in(pages: dict[str | None, dict]) -> TestClient:
    """The register: `GET /fuldmagter?since=` answers the page stored for that cursor."""
    register = FastAPI()

    @register.get("/fuldmagter")
    def changes(since: str | None = None) -> dict:
        return pages[since]

    return TestClient(register, base_url="http://register.test")


def entry(ref: str, **overrides) -> dict:
    return {
        "ref": ref,
        "grantor_cpr": ALICE_CPR,
        "holder_cpr": HOLDER_CPR,
        "holder_name": "Sofie  Jensen",
        "scope": "full",
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2030-01-01T00:00:00Z",
    } | overrides


def test_import_creates_updates_ends_and_refuses_entry_by_entry(app, world):
    pages = {
        None: {
            "cursor": "c1",
            "entries": [
                entry("DF-1"),
                entry("DF-2", grantor_cpr="311299-9999"),  # not our citizen
                entry("DF-3", scope="banking"),
                entry("DF-4", valid_until="2025-01-01T00:00:00Z"),  # ends before it starts
                {"ref": "DF-5"},
                entry("DF-6", holder_cpr="999999-0000"),  # not a CPR number
            ],
        },
        "c1": {"cursor": "c2", "entries": [entry("DF-1", revoked_at="2026-06-01T00:00:00Z"), entry("DF-1x")]},
        "c2": {"cursor": "c2", "entries": [entry("DF-1", revoked_at="2026-06-01T00:00:00Z")]},
    }
    register = HttpFuldmagtRegister(stand_in(pages), "http://register.test")
    with app.state.session_factory() as session:
        first = import_changes(session, register, None, app.state.cpr_key)
        session.commit()
        assert (first.created, first.not_our_citizen, first.cursor) == (1, 1, "c1")
        assert [ref for ref, _ in first.refused] == ["DF-3", "DF-4", "DF-5", "DF-6"]
        assert all(HOLDER_CPR not in reason and "9999" not in reason for _, reason in first.refused)
        row = session.scalar(select(Fuldmagt).where(Fuldmagt.register_ref == "DF-1"))
        assert row is not None and row.source is FuldmagtSource.REGISTER and row.scope is FuldmagtScope.FULL
        assert row.relative_user_id is None and row.holder_name == "Sofie Jensen" and row.holder_national_id_hmac
        assert row.is_valid_at(row.valid_from) and row.revoked_at is None

        second = import_changes(session, register, "c1", app.state.cpr_key)
        session.commit()
        assert (second.created, second.updated) == (1, 1)
        session.refresh(row)
        assert row.revoked_at is not None  # ended in the register: ended here
        third = import_changes(session, register, "c2", app.state.cpr_key)
        assert (third.created, third.updated, third.unchanged) == (0, 0, 1)
        purposes = session.scalars(select(AuditEntry.purpose).where(AuditEntry.resource == f"fuldmagt {row.id}")).all()
        assert purposes == ["fuldmagt from the national register", "fuldmagt changed in the national register"]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="down for maintenance"),
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json={"entries": "many"}),
    ],
)
def test_an_unreadable_register_is_a_clear_error_and_changes_nothing(app, world, answer):
    client = httpx.Client(transport=httpx.MockTransport(lambda request: answer))
    register = HttpFuldmagtRegister(client, "http://register.test")
    with app.state.session_factory() as session:
        with pytest.raises(RegisterError, match="register"):
            import_changes(session, register, None, app.state.cpr_key)
        assert session.scalar(select(Fuldmagt).where(Fuldmagt.source == FuldmagtSource.REGISTER)) is None


def test_an_unreachable_register_is_a_clear_error(app, world):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    register = HttpFuldmagtRegister(httpx.Client(transport=httpx.MockTransport(refuse)), "http://127.0.0.1:9")
    with app.state.session_factory() as session, pytest.raises(RegisterError, match="could not be read"):
        import_changes(session, register, None, app.state.cpr_key)


NOT_PRINTABLE = "not printable (U+"
HOSTILE_TEXTS = [
    ("holder_name", "Sofie\x00Jensen", NOT_PRINTABLE),  # PostgreSQL refuses NUL in text
    ("holder_name", "Sofie\nJensen", NOT_PRINTABLE),
    ("holder_name", "\x1b[2JSofie", NOT_PRINTABLE),  # a terminal escape
    ("holder_name", "Sofie \u202enesneJ", NOT_PRINTABLE),  # a right-to-left override: the name shows backwards
    ("holder_name", "Sofie \ud800", "valid string"),  # a lone surrogate: no UTF-8 for it
    ("ref", "DF-7\x00", NOT_PRINTABLE),
    ("scope", "full\x00", NOT_PRINTABLE),
    ("holder_cpr", "020260\x00432", NOT_PRINTABLE),
]


@pytest.mark.parametrize(("field", "value", "said"), HOSTILE_TEXTS)
def test_a_control_character_in_an_imported_text_refuses_that_entry_only(app, world, tmp_path, field, value, said):
    path = tmp_path / "register.json"
    path.write_text(json.dumps({"cursor": "c1", "entries": [entry("DF-7") | {field: value}, entry("DF-8")]}))
    with app.state.session_factory() as session:
        report = import_changes(session, FileFuldmagtRegister(path), None, app.state.cpr_key)
        session.commit()
        assert report.created == 1 and len(report.refused) == 1
        reason = report.refused[0][1]
        assert reason.startswith(f"{field}: ") and said in reason and HOLDER_CPR[:6] not in reason
        imported = session.scalars(select(Fuldmagt.register_ref).where(Fuldmagt.source == FuldmagtSource.REGISTER))
        assert list(imported) == ["DF-8"]


def test_a_nul_from_the_feed_refuses_the_entry_and_a_nul_in_its_cursor_the_page(app, world):
    pages = {
        None: {"cursor": "c1", "entries": [entry("DF-7", holder_name="Sofie\x00Jensen"), entry("DF-8")]},
        "c1": {"cursor": "c2\x00", "entries": []},
    }
    register = HttpFuldmagtRegister(stand_in(pages), "http://register.test")
    with app.state.session_factory() as session:
        report = import_changes(session, register, None, app.state.cpr_key)
        session.commit()
        assert report.created == 1 and [ref for ref, _ in report.refused] == ["DF-7"]
        with pytest.raises(RegisterError, match="malformed page"):
            import_changes(session, register, "c1", app.state.cpr_key)
