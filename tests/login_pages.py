"""The login pages that only a throttle or a refused OpenID login shows, fetched for the text tests
of the care plan's and the robot's login pages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest


def throttled_page(browser: Any, wrong: dict[str, str], tries: int = 20) -> str | None:
    """The page a login throttle shows (429) after wrong passwords `wrong`, None if it never did."""
    for _ in range(tries):
        answer = browser.post("/login", data=wrong)
        if answer.status_code == 429:
            return answer.text
    return None


def refusal_pages(
    browser: Any, client: Any, url: str, refusals: Iterable[Exception], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The page shown at `url` when the OpenID `client` refuses the login with each of `refusals`:
    "refused: <exception class>" -> HTML."""
    pages = {}
    for exc in refusals:

        def refuse(*_args: object, exc: Exception = exc, **_kwargs: object) -> None:
            raise exc

        monkeypatch.setattr(client, "begin", refuse)
        pages[f"refused: {type(exc).__name__}"] = browser.get(url).text
    return pages
