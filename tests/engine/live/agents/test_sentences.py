"""Sentence splitting for streamed answers, in Korean and English."""

from __future__ import annotations

import pytest

from callplane.engine.live.agents.sentences import SentenceSplitter


def split(pieces: list[str]) -> list[str]:
    splitter = SentenceSplitter()
    out = [sentence for piece in pieces for sentence in splitter.feed(piece)]
    rest = splitter.flush()
    return [*out, rest] if rest else out


@pytest.mark.parametrize(
    ("pieces", "sentences"),
    [
        (
            ["안녕하세요. 예약 확인 ", "전화입니다. 내일 오시", "나요?"],
            ["안녕하세요. ", "예약 확인 전화입니다. ", "내일 오시나요?"],
        ),
        (["네! 알겠", "습니다… 그럼 ", "끊을게요"], ["네! ", "알겠습니다… ", "그럼 끊을게요"]),
        (
            ["It costs 3", ".5 dollars. Dr", ". Kim will call."],
            ["It costs 3.5 dollars. ", "Dr. Kim will call."],
        ),
        (['He said "stop." Then', " left?! Yes."], ['He said "stop." ', "Then left?! ", "Yes."]),
        (["첫 줄\n둘째 줄"], ["첫 줄\n", "둘째 줄"]),
        (["좋아요。바로 갈게요"], ["좋아요。", "바로 갈게요"]),
        (["   "], []),
    ],
)
def test_sentences_end_at_punctuation_followed_by_space(pieces: list[str], sentences: list[str]) -> None:
    assert split(pieces) == sentences
    if sentences:  # nothing lost, nothing added
        assert "".join(sentences) == "".join(pieces)


def test_a_sentence_is_given_as_soon_as_it_is_known_to_be_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("안녕하세요.") == []  # `.` at the very end: maybe `3.5`
    assert splitter.feed(" 반") == ["안녕하세요. "]
    assert splitter.feed("갑습니다") == []
    assert splitter.flush() == "반갑습니다"
