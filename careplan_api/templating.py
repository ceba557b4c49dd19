"""Server-rendered pages: one Jinja2 environment over `careplan_api/templates` (autoescaped),
with the language's texts and number/date formats available to every template."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.datastructures import URL

from careplan_api import plain_words
from careplan_api.i18n import Lang, clock_time, counted, date_and_time, long_date, number, texts

PAGE_HEADERS = {
    "Cache-Control": "no-store",  # personal data: never kept by a browser or proxy cache
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@cache
def environment() -> Environment:
    """The template environment (built on first use, not at import)."""
    return Environment(
        loader=PackageLoader("careplan_api", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _relative(url: Any) -> str:
    return f"{url.path}?{url.query}" if url.query else url.path


def render_page(
    request: Request, template: str, lang: Lang, page_url: str | None = None, **context: Any
) -> HTMLResponse:
    """Render `template` in `lang`; the page links to itself in the other language (at `page_url`
    when it answers a form: the form's address takes no GET)."""
    other = Lang.EN if lang is Lang.DA else Lang.DA
    t = texts(lang)
    url = request.url if page_url is None else URL(page_url)
    html = (
        environment()
        .get_template(template)
        .render(
            lang=lang.value,
            other_lang=other.value,
            other_lang_url=_relative(url.include_query_params(lang=other.value)),
            t=t,
            num=lambda value, digits=1: number(value, lang, digits),
            count=lambda key, n: counted(key, n, lang),
            time=lambda when: date_and_time(when, lang),
            clock=lambda when: clock_time(when, lang),
            day=lambda when: long_date(when, lang),
            what=lambda resource: plain_words.what(resource, t),
            why=lambda purpose: plain_words.why(purpose, t),
            who=lambda kind, actor_id, name, role, reader: plain_words.who(kind, actor_id, name, role, reader, t),
            stop_reason=lambda reason: plain_words.stop_reason(reason, t),
            bowl=lambda name: plain_words.bowl(name, t),
            **context,
        )
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)
