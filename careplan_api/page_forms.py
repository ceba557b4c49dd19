"""A page's form that changes something, for people who log in with the browser's cookie only (staff
of the municipality's OpenID Provider have no API token): do the change through the service the API
uses, then back to the page (303), which shows it; on a refusal or a bad value, nothing is kept and
the page comes again saying, in the reader's words, what to correct. The cookie only counts for a
form sent from this site (`deps.get_form_user`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Form, status
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from careplan_api.errors import CareplanError

RESPONSES: dict[int | str, dict[str, str]] = {422: {"description": "the page again, saying what to correct"}}
Text = Annotated[str, Form(max_length=1000)]
Short = Annotated[str, Form(max_length=64)]
FormLang = Annotated[str | None, Form(max_length=8)]


def change_from_form(
    session: Session, act: Callable[[], object], done_url: str, again: Callable[[CareplanError], HTMLResponse]
) -> HTMLResponse | RedirectResponse:
    """Do `act` and commit, then send the browser to `done_url`; if it raises, roll back and answer
    `again(error)`: the page saying what to correct (422 unless `again` chose another status)."""
    try:
        act()
    except CareplanError as exc:
        session.rollback()
        page = again(exc)
        if page.status_code == status.HTTP_200_OK:
            page.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
        return page
    session.commit()
    return RedirectResponse(done_url, status.HTTP_303_SEE_OTHER)
