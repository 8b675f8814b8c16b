"""The gram superset property the search index relies on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callplane.domain.search import grams, normalize, query_grams

ALPHABET = st.sampled_from(list("예약변경취소배송환불 abAB%_'\n.가나다"))


@given(st.text(ALPHABET, max_size=60), st.text(ALPHABET, min_size=1, max_size=6))
def test_a_matching_text_holds_every_query_gram(text: str, query: str) -> None:
    normalized_text, normalized_query = normalize(text), normalize(query)
    if normalized_query in normalized_text:
        assert query_grams(normalized_query) <= grams(normalized_text)


def test_grams_of_korean() -> None:
    assert query_grams("예약 변경") == {"예약", "변경"}
    assert query_grams("취") == {"취"}
    assert {"예", "약", "예약"} <= grams("예약")
    assert normalize("\u1100\u1161") == "가"  # decomposed Hangul is composed
