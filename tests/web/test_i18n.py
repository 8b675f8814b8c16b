"""The message catalogue covers every word the templates and vocabularies need, in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callplane.domain.call import CallStatus, Direction, DisconnectionReason, Sentiment
from callplane.web import calls as call_pages
from callplane.web.filters import Preset
from callplane.web.i18n import MESSAGES, choose_language, translator

TEMPLATES = Path(call_pages.__file__).parent / "templates"


def test_every_literal_key_in_the_templates_exists() -> None:
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r'\bt\("([a-z_.]+)"\)', path.read_text(encoding="utf-8")))
    assert used, "found no t(...) calls: the pattern is stale"
    assert sorted(used - MESSAGES.keys()) == []


def test_every_vocabulary_value_has_words() -> None:
    keys = {f"status.{v}" for v in CallStatus} | {f"reason.{v}" for v in DisconnectionReason}
    keys |= {f"sentiment.{v}" for v in Sentiment} | {f"direction.{v}" for v in Direction}
    keys |= {f"preset_{v}" for v in Preset} | set(call_pages.NOTICES)
    assert sorted(keys - MESSAGES.keys()) == []


def test_both_languages_are_filled() -> None:
    assert [k for k, (en, ko) in MESSAGES.items() if not en.strip() or not ko.strip()] == []
    assert translator("en")("calls") == "Calls" and translator("ko")("calls") == "통화"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "ko"),
        ("en-US,en;q=0.9", "en"),
        ("ko-KR,ko;q=0.9,en;q=0.8", "ko"),
        ("fr-FR,en;q=0.5,ko;q=0.4", "en"),
        ("en;q=0.2,ko;q=0.9", "ko"),
        ("de, ja", "ko"),
        ("en;q=bad", "ko"),
    ],
)
def test_accept_language(header: str, expected: str) -> None:
    assert choose_language(header) == expected
