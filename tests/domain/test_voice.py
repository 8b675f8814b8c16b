"""The agent's `voice` block, validated when the agent is saved."""

from __future__ import annotations

from typing import Any

import pytest

from callplane.domain.agent import parse_definition
from callplane.domain.errors import ValidationFailed
from callplane.domain.voice import SpeechEngine, StreamingTranscriber, VoiceSpec, parse_voice


def test_absent_means_the_deployments_engines_in_korean() -> None:
    assert parse_voice({}) == VoiceSpec(None, None, "ko-KR")


def test_a_full_block() -> None:
    spec = parse_voice(
        {
            "voice": {
                "engine": "openai",
                "voice": "nova",
                "language": "en-US",
                "base_url": "https://s.example/v1",
            }
        }
    )
    assert spec == VoiceSpec(SpeechEngine.OPENAI, "nova", "en-US", "https://s.example/v1")


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("openai", "voice"),
        ({"engine": "whisper"}, "voice.engine"),
        ({"language": "korean please"}, "voice.language"),
        ({"language": 7}, "voice.language"),
        ({"base_url": "https://s.example/v1"}, "voice.base_url"),  # needs engine openai
        ({"engine": "openai", "base_url": "ftp://s.example"}, "voice.base_url"),
        ({"speed": 2}, "voice.speed"),
        ({"transcriber": "whisper"}, "voice.transcriber"),
        ({"transcriber_api_key": "dg-key"}, "voice.transcriber_api_key"),  # needs a transcriber
    ],
)
def test_bad_blocks_name_the_field(block: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        parse_voice({"voice": block})
    assert error.value.errors[0].field == field


def test_an_agent_file_with_a_bad_voice_block_is_refused() -> None:
    agent = {"name": "x", "type": "llm", "llm": {"prompt": "hi", "voice": {"engine": "nope"}}}
    with pytest.raises(ValidationFailed, match=r"llm\.voice\.engine"):
        parse_definition(agent)


def test_a_tenant_may_hear_through_deepgram_with_its_own_key() -> None:
    spec = parse_voice({"voice": {"transcriber": "deepgram", "transcriber_api_key": "dg-key"}})
    assert spec.transcriber is StreamingTranscriber.DEEPGRAM and spec.transcriber_api_key == "dg-key"
