"""LIX, the readability index of Danish (and Swedish) text (Björnsson 1968): the mean sentence length
in words plus the percentage of long words (more than six letters). Below 25 is easy (children's
books), 25-34 plain, 35-44 middle (newspapers), above 45 hard. The page tests hold a citizen's
pages at 35 or below."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?:]+(?=\s|$)")


def lix(blocks: Iterable[str]) -> float:
    """The LIX of running text given as blocks (paragraphs, list items): each block ends a sentence
    even without a full stop (a heading-like line); a full stop, `!`, `?` or `:` ends one too."""
    words = sentences = long_words = 0
    for block in blocks:
        block = " ".join(block.split())
        if not block:
            continue
        found = _WORD.findall(block)
        words += len(found)
        long_words += sum(1 for w in found if len(w.replace("-", "").replace("'", "")) > 6)
        ended = block[-1] in ".!?:"
        sentences += len(_SENTENCE_END.findall(block)) + (0 if ended else 1)
    if words == 0:
        raise ValueError("no running text to measure")
    return words / sentences + 100 * long_words / words


MAX_LIX = 35  # a citizen's or relative's page: plain Danish (and English)
# text that must never reach a Danish page: request paths, role keys, codes, English words
SYSTEM_TEXT = re.compile(
    r"\b(GET|POST|PUT|DELETE) /|/api/|\bcli\b|\((citizen|relative|staff|admin|analyst)\)|\b[a-z]+_[a-z_]+\b"
    r"|\bdevice ingest\b|\b(the|and|meal|stopped|safety|report|purpose|care|citizen|relative)\b"
    r"|\b(SVG|JSON|UUID|HTTP)\b"  # names of file formats and protocols
)


def text_problems(
    html: str, lang: str, english: re.Pattern[str], hide_names: Callable[[str], str] = lambda text: text
) -> list[str]:
    """What is wrong with a server-rendered page's texts: its running text above `MAX_LIX`, and on a
    Danish page (`lang` "da") `SYSTEM_TEXT` or the `english` words, once `hide_names` has hidden
    people's own names (theirs to keep, in any language)."""
    shown = page_text(html)
    problems = []
    if shown.running and (readability := lix(shown.running)) > MAX_LIX:
        problems.append(f"LIX {readability:.1f}: {' | '.join(shown.running)}")
    if lang == "da":
        text = hide_names(" ".join(shown.all))
        problems += [f"system or English text: {m.group(0)!r}" for m in SYSTEM_TEXT.finditer(text)]
        problems += [f"English: {m.group(0)!r}" for m in english.finditer(text)]
    return problems


_RUNNING = {"p", "li", "legend", "figcaption", "summary"}
_SKIPPED = {"script", "style", "code"}  # a command shown as a command is not running text


@dataclass
class PageText:
    """What a reader sees in a page's `<main>`: every text (`all`), and its running text (`running`:
    paragraphs, list items without links or other elements, legends, captions, summaries), as the
    browser-based page tests take them with `innerText`. A `<code>` (a command to type) and an
    element in another language (`lang`, the link to the other language) are left out."""

    running: list[str] = field(default_factory=list)
    all: list[str] = field(default_factory=list)


def page_text(html: str) -> PageText:
    """The text of `<main>` in a server-rendered page (no script runs: the pages need none)."""
    parser = _MainText()
    parser.feed(html)
    parser.close()
    return parser.found


class _MainText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = PageText()
        self._in_main = self._skipping = 0
        self._blocks: list[tuple[str, list[str], bool]] = []  # (tag, text, has an element inside)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self._in_main += 1
        if not self._in_main:
            return
        if tag not in _VOID and (tag in _SKIPPED or self._skipping or dict(attrs).get("lang")):
            self._skipping += 1  # a command, or a link to the page in another language: not this page's text
        if self._blocks and tag not in _VOID:
            name, text, _ = self._blocks[-1]
            self._blocks[-1] = (name, text, True)
        if tag in _RUNNING:
            self._blocks.append((tag, [], False))

    def handle_endtag(self, tag: str) -> None:
        if not self._in_main:
            return
        if self._skipping:
            self._skipping -= 1
        if tag in _RUNNING and self._blocks and self._blocks[-1][0] == tag:
            name, text, nested = self._blocks.pop()
            block = " ".join("".join(text).split())
            if block and not (name == "li" and nested):
                self.found.running.append(block)
        if tag == "main":
            self._in_main -= 1

    def handle_data(self, data: str) -> None:
        if not self._in_main or self._skipping:
            return
        if data.strip():
            self.found.all.append(" ".join(data.split()))
        for _name, text, _nested in self._blocks:
            text.append(data)


_VOID = {"br", "wbr", "input", "img", "meta", "link", "hr"}
