"""The LIX formula on texts whose count is known by hand."""

from __future__ import annotations

import pytest

from tests.readability import lix


def test_lix_of_a_known_text():
    # 10 words, 2 sentences, 2 long words (spiserobotten, måltidet): 10/2 + 100*2/10 = 25
    assert lix(["Jeg spiser med spiserobotten. Den giver mig måltidet i ro."]) == pytest.approx(25.0)


def test_a_block_without_a_full_stop_is_a_sentence_of_its_own():
    assert lix(["Dine fuldmagter", "Du kan ophæve en fuldmagt."]) == pytest.approx(7 / 2 + 100 * 2 / 7)


def test_no_text_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="no running text"):
        lix(["", "  "])
