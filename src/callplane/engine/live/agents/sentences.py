"""Cutting a streamed answer into sentences, so each is spoken as soon as it is complete.

A sentence ends at `.`, `?`, `!` or `…` (with any closing quotes or brackets after it) followed
by whitespace — which is how Korean and English both write — at a full-width `。`, `？` or `！`
(no space needed), and at a line break. Punctuation at the very end of what arrived so far is
not a sentence end yet: the next piece may show it was `3.` of `3.5`. An English title like
`Dr.` does not end a sentence. The whitespace after a sentence stays with it, so the pieces
joined give back the text exactly.
"""

from __future__ import annotations

_ENDS = ".?!…"
_FULL_WIDTH_ENDS = "。？！"
_CLOSERS = "\"')]}”’」』"
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e"})


class SentenceSplitter:
    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        """Add streamed text; returns the sentences it completed (possibly none)."""
        self._buffer += text
        sentences = []
        while (end := self._sentence_end()) is not None:
            sentences.append(self._buffer[:end])
            self._buffer = self._buffer[end:]
        return sentences

    def flush(self) -> str:
        """The rest, once the stream is over (an answer need not end with punctuation)."""
        rest, self._buffer = self._buffer, ""
        return rest if rest.strip() else ""

    def _sentence_end(self) -> int | None:
        buffer = self._buffer
        for i, char in enumerate(buffer):
            if char == "\n":
                return _skip_space(buffer, i)
            if char in _FULL_WIDTH_ENDS and i + 1 < len(buffer):
                return _skip_space(buffer, i + 1)
            if char not in _ENDS:
                continue
            after = i + 1
            while after < len(buffer) and buffer[after] in _ENDS + _CLOSERS:
                after += 1
            if after == len(buffer):
                return None  # undecided until more arrives
            if buffer[after].isspace() and not (char == "." and _ends_with_title(buffer[:i])):
                return _skip_space(buffer, after)
        return None


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _ends_with_title(text: str) -> bool:
    words = text.split()
    return bool(words) and words[-1].lower() in _TITLES
