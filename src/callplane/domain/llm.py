"""LLM agents: a prompt, an optional opening line, tools, and the endpoint that answers.

```json
{"prompt": "너는 {{clinic}}의 예약 확인 상담원이다…", "first_message": "안녕하세요, {{customer_name}}님…",
 "reprompt": "여보세요, 들리시나요?", "model": "gpt-4o-mini", "base_url": "https://…/v1",
 "api_key": "…", "temperature": 0.2, "tools": {"end_call": {"type": "end_call"}}}
```

`model`, `base_url` and `api_key` fall back to the `CALLPLANE_LLM_*` settings, so agent files need
not carry secrets. Any OpenAI-compatible chat-completions endpoint with tool calling works.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callplane.domain.errors import ValidationFailed
from callplane.domain.tools import ToolSpec, parse_tools


@dataclass(frozen=True, slots=True)
class LLMConfig:
    prompt: str
    first_message: str | None = None
    reprompt: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = 0.2
    max_tool_rounds: int = 5
    tools: Mapping[str, ToolSpec] = field(default_factory=dict)


def parse_llm(raw: Mapping[str, Any], where: str = "llm") -> LLMConfig:
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationFailed.single(f"{where}.prompt", "is required")
    texts = {}
    for key in ("first_message", "reprompt", "model", "base_url", "api_key"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValidationFailed.single(f"{where}.{key}", "must be non-empty text")
        texts[key] = value
    base_url = texts["base_url"]
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ValidationFailed.single(f"{where}.base_url", "must be an http(s) URL")
    temperature = raw.get("temperature", 0.2)
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not 0 <= temperature <= 2
    ):
        raise ValidationFailed.single(f"{where}.temperature", "must be a number from 0 to 2")
    rounds = raw.get("max_tool_rounds", 5)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= 20:
        raise ValidationFailed.single(f"{where}.max_tool_rounds", "must be an integer from 1 to 20")
    return LLMConfig(
        prompt=prompt,
        temperature=float(temperature),
        max_tool_rounds=rounds,
        tools=parse_tools(raw.get("tools", {}), f"{where}.tools"),
        **texts,
    )
