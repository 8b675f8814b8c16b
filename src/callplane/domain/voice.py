"""An agent version's `voice` block: which speech engines its calls use, in which language.

```json
{"voice": {"engine": "openai", "voice": "nova", "language": "ko-KR",
           "base_url": "https://speech.example.com/v1", "api_key": "…"}}
```

It sits in the agent's `flow` or `llm` object. Every key is optional: `engine` is `offline`
(espeak-ng and PocketSphinx) or `openai` (an OpenAI-compatible audio API: the deployment's
`CALLPLANE_SPEECH_BASE_URL`, or this block's `base_url`, which is a tenant's address and passes
the outbound-destination guard); unset, the deployment's default. `language` is a BCP 47 tag,
`ko-KR` by default. `transcriber: "deepgram"` hears the callee through Deepgram's streaming
`/v1/listen` (the deployment's `CALLPLANE_SPEECH_STREAMING_URL`) with the tenant's own
`transcriber_api_key`, else the deployment's key; synthesis stays with `engine`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from callplane.domain.errors import ValidationFailed

DEFAULT_LANGUAGE = "ko-KR"
_LANGUAGE = re.compile(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,2}")
_KEYS = ("engine", "voice", "language", "base_url", "api_key", "transcriber", "transcriber_api_key")


class SpeechEngine(enum.StrEnum):
    OFFLINE = "offline"
    OPENAI = "openai"


class StreamingTranscriber(enum.StrEnum):
    """A streaming transcriber a tenant may choose over `engine`'s."""

    DEEPGRAM = "deepgram"


@dataclass(frozen=True, slots=True)
class VoiceSpec:
    engine: SpeechEngine | None = None
    voice: str | None = None
    language: str = DEFAULT_LANGUAGE
    base_url: str | None = None
    api_key: str | None = None
    transcriber: StreamingTranscriber | None = None
    transcriber_api_key: str | None = None


def parse_voice(config: Any, where: str = "voice") -> VoiceSpec:
    """The `voice` block of an agent's kind object (`config`); absent: the defaults."""
    raw = config.get("voice") if isinstance(config, dict) else None
    if raw is None:
        return VoiceSpec()
    if not isinstance(raw, dict):
        raise ValidationFailed.single(where, "must be an object")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ValidationFailed.single(f"{where}.{unknown[0]}", "unknown key", list(_KEYS))
    for key in _KEYS:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 2000):
            raise ValidationFailed.single(f"{where}.{key}", "must be a non-empty string")
    try:
        engine = SpeechEngine(raw["engine"]) if raw.get("engine") is not None else None
    except ValueError:
        raise ValidationFailed.single(
            f"{where}.engine", "unknown engine", [e.value for e in SpeechEngine]
        ) from None
    language = raw.get("language") or DEFAULT_LANGUAGE
    if not _LANGUAGE.fullmatch(language):
        raise ValidationFailed.single(f"{where}.language", "must be a language tag such as ko-KR or en-US")
    base_url = raw.get("base_url")
    if base_url is not None:
        if engine is not SpeechEngine.OPENAI:
            raise ValidationFailed.single(f"{where}.base_url", 'needs "engine": "openai"')
        if not base_url.startswith(("http://", "https://")):
            raise ValidationFailed.single(f"{where}.base_url", "must be an http(s) URL")
    try:
        transcriber = StreamingTranscriber(raw["transcriber"]) if raw.get("transcriber") is not None else None
    except ValueError:
        raise ValidationFailed.single(
            f"{where}.transcriber", "unknown transcriber", [t.value for t in StreamingTranscriber]
        ) from None
    if raw.get("transcriber_api_key") is not None and transcriber is None:
        raise ValidationFailed.single(f"{where}.transcriber_api_key", 'needs "transcriber": "deepgram"')
    return VoiceSpec(
        engine,
        raw.get("voice"),
        language,
        base_url,
        raw.get("api_key"),
        transcriber,
        raw.get("transcriber_api_key"),
    )
