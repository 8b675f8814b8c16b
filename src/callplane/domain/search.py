"""Transcript search semantics, shared by the store and the brute-force tests.

A search is a case-insensitive substring match over a call's transcript text: the text and the
query are both NFC-normalised (so decomposed Hangul from some keyboards matches) and casefolded.
`%`, `_` and quotes have no special meaning.

The search index holds, per call, every distinct character and every distinct pair of adjacent
characters inside a word run (a maximal run of `str.isalnum()` characters). Any text containing
the query contains every gram of the query's own word runs, so "all grams present" is a
superset of the matches; the store rechecks the substring to make it exact.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any


def normalize(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def flatten(transcript: Iterable[Mapping[str, Any]] | None) -> str:
    """The searchable text of a transcript: its utterances, one per line."""
    if not transcript:
        return ""
    return "\n".join(
        str(entry.get("content", ""))
        for entry in transcript
        if entry.get("role") in ("agent", "user") and entry.get("content")
    )


def search_text(transcript: Iterable[Mapping[str, Any]] | None) -> str:
    return normalize(flatten(transcript))


def _runs(text: str) -> list[str]:
    runs: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch.isalnum():
            current.append(ch)
        elif current:
            runs.append("".join(current))
            current = []
    if current:
        runs.append("".join(current))
    return runs


def grams(normalized_text: str) -> set[str]:
    """Distinct 1- and 2-character grams of every word run of an already-normalised text."""
    out: set[str] = set()
    for run in _runs(normalized_text):
        out.update(run)
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    return out


def query_grams(normalized_query: str) -> set[str]:
    """The grams every matching text must contain: bigrams of each run, or the run's one character."""
    out: set[str] = set()
    for run in _runs(normalized_query):
        if len(run) == 1:
            out.add(run)
        else:
            out.update(run[i : i + 2] for i in range(len(run) - 1))
    return out


def matches(query: str, transcript_text: str) -> bool:
    """The definition, as plain Python: what every search path must agree with."""
    return normalize(query) in normalize(transcript_text)
