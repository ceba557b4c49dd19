"""LIX, the readability index of Danish (and Swedish) text (Björnsson 1968): the mean sentence length
in words plus the percentage of long words (more than six letters). Below 25 is easy (children's
books), 25-34 plain, 35-44 middle (newspapers), above 45 hard. The page tests hold a citizen's
pages at 35 or below."""

from __future__ import annotations

import re
from collections.abc import Iterable

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
