"""Post-call analysis: a summary, the callee's sentiment and the custom fields the agent declares.

Two analysers share one protocol. `OfflineAnalyser` needs no network and says what it is: its
summary is extractive (the agent's opening, the callee's answers, what the agent collected and
how the call ended), its sentiment a small Korean/English word list over what the callee said,
and custom fields come from values the agent collected (flow `set`, tool arguments) or, for enum
fields, the first option the callee named. `LLMAnalyser` asks an OpenAI-compatible endpoint and
falls back to the offline result when the endpoint fails or answers nonsense.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from callplane.config import Settings
from callplane.domain.agent import AgentVersion
from callplane.domain.call import (
    Call,
    CallAnalysis,
    DisconnectionReason,
    Sentiment,
    TranscriptEntry,
)
from callplane.engine.live.agents.llm import ChatClient, LLMUnavailable

log = logging.getLogger(__name__)

POSITIVE = (
    "감사",
    "좋아",
    "좋습니다",
    "괜찮",
    "네 ",
    "네,",
    "네.",
    "알겠",
    "갈게",
    "가능",
    "thank",
    "great",
    "good",
    "yes",
)
NEGATIVE = (
    "싫",
    "안 돼",
    "안돼",
    "불만",
    "짜증",
    "화나",
    "그만",
    "전화하지 마",
    "최악",
    "no ",
    "angry",
    "stop calling",
    "complain",
)
_SUCCESS_REASONS = (DisconnectionReason.AGENT_HANGUP, DisconnectionReason.CALL_TRANSFER)


class Analyser(Protocol):
    async def analyse(
        self, call: Call, version: AgentVersion, collected: dict[str, Any]
    ) -> CallAnalysis | None:
        """The analysis of a finished call, or None when nothing may be stored (opt-out)."""
        ...


def _utterances(transcript: Sequence[TranscriptEntry] | None, role: str) -> list[str]:
    return [str(e.get("content", "")) for e in transcript or [] if e.get("role") == role and e.get("content")]


def sentiment(user_lines: Sequence[str]) -> Sentiment:
    if not user_lines:
        return Sentiment.UNKNOWN
    text = " " + " ".join(user_lines).casefold() + " "
    score = sum(text.count(w) for w in POSITIVE) - sum(text.count(w) for w in NEGATIVE)
    if score > 0:
        return Sentiment.POSITIVE
    if score < 0:
        return Sentiment.NEGATIVE
    return Sentiment.NEUTRAL


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(call: Call, collected: dict[str, Any]) -> str:
    reason = call.disconnection_reason.value if call.disconnection_reason else "unknown"
    if call.answered_at is None:  # answered calls that end badly are summarised on what was said
        return f"Call not connected ({call.status.value}, {reason})."
    agent_lines = _utterances(call.transcript, "agent")
    user_lines = _utterances(call.transcript, "user")
    parts = []
    if agent_lines:
        parts.append(f"Agent opened: \u201c{_clip(agent_lines[0])}\u201d")
    if user_lines:
        parts.append(
            "Callee said: " + " / ".join(f"\u201c{_clip(line, 60)}\u201d" for line in user_lines[:3])
        )
    else:
        parts.append("The callee said nothing.")
    if collected:
        parts.append("Collected: " + ", ".join(f"{k}={v}" for k, v in sorted(collected.items())))
    parts.append(f"Ended by {reason}.")
    return " ".join(parts)


def custom_fields(
    version: AgentVersion, collected: dict[str, Any], user_lines: Sequence[str]
) -> list[dict[str, Any]]:
    heard = " ".join(user_lines).casefold()
    out = []
    for spec in version.analysis_fields:
        name = spec["name"]
        value: Any = collected.get(name)
        if value is None and spec["type"] == "enum":
            value = next((o for o in spec["enum_options"] if o.casefold() in heard), None)
        out.append({"name": name, "value": value})
    return out


class OfflineAnalyser:
    async def analyse(
        self, call: Call, version: AgentVersion, collected: dict[str, Any]
    ) -> CallAnalysis | None:
        return self.analysis(call, version, collected)

    def analysis(self, call: Call, version: AgentVersion, collected: dict[str, Any]) -> CallAnalysis | None:
        """`analyse`, without waiting for anything: post-call can be done with the call's end."""
        if call.opt_out_sensitive_data_storage:
            return None
        user_lines = _utterances(call.transcript, "user")
        connected = call.answered_at is not None
        return CallAnalysis(
            summary="Offline analysis. " + summary(call, collected),
            user_sentiment=sentiment(user_lines) if connected else None,
            custom_analysis_data=custom_fields(version, collected, user_lines),
            call_successful=connected and call.disconnection_reason in _SUCCESS_REASONS,
            in_voicemail=call.disconnection_reason is DisconnectionReason.VOICEMAIL_REACHED,
        )


_INSTRUCTIONS = """You analyse a finished phone call between an AI agent and a callee.
Answer with one JSON object and nothing else:
{"summary": "<two sentences, in the language of the call>",
 "user_sentiment": "positive" | "neutral" | "negative" | "unknown",
 "call_successful": true | false,
 "custom": {<field name>: <value or null>}}
Fields to fill in "custom" (name, type, description, allowed values):
"""


class LLMAnalyser:
    """Asks an OpenAI-compatible endpoint; falls back to the offline analysis when that fails."""

    def __init__(self, client: ChatClient, fallback: Analyser | None = None) -> None:
        self.client = client
        self.fallback = fallback or OfflineAnalyser()

    async def analyse(
        self, call: Call, version: AgentVersion, collected: dict[str, Any]
    ) -> CallAnalysis | None:
        if call.opt_out_sensitive_data_storage:
            return None
        offline = await self.fallback.analyse(call, version, collected)
        if call.answered_at is None or offline is None:
            return offline
        fields = "\n".join(
            f"- {f['name']} ({f['type']}): {f.get('description', '')} {f.get('enum_options', '')}"
            for f in version.analysis_fields
        )
        lines = "\n".join(
            f"{e['role']}: {e['content']}"
            for e in call.transcript or []
            if e.get("role") in ("agent", "user")
        )
        messages = [
            {"role": "system", "content": _INSTRUCTIONS + (fields or "(none)")},
            {"role": "user", "content": f"Values the agent collected: {collected}\nTranscript:\n{lines}"},
        ]
        try:
            reply = await self.client.complete(messages, [], 0.0, response_format={"type": "json_object"})
            data = json.loads(reply.content or "")
            custom = data.get("custom") or {}
            sentiment_value = data.get("user_sentiment", "unknown")
            return CallAnalysis(
                summary=str(data["summary"]),
                user_sentiment=Sentiment(sentiment_value)
                if sentiment_value in Sentiment.__members__.values()
                else Sentiment.UNKNOWN,
                custom_analysis_data=_merged(offline, custom, collected),
                call_successful=bool(data.get("call_successful")),
                in_voicemail=offline.in_voicemail,
            )
        except (LLMUnavailable, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("LLM analysis of call %s failed (%s); keeping the offline analysis", call.id, exc)
            return offline


def _merged(offline: CallAnalysis, custom: dict[str, Any], collected: dict[str, Any]) -> list[dict[str, Any]]:
    """The custom fields: what the agent collected during the call (tool arguments, flow `set`)
    stands; the model only fills fields the call left empty; the offline guess fills the rest."""
    if not isinstance(custom, dict):
        raise TypeError("custom is not an object")
    out = []
    for field in offline.custom_analysis_data:
        name = field["name"]
        value = collected.get(name)
        if value is None:
            value = custom.get(name)
        if value is None:
            value = field["value"]
        out.append({"name": name, "value": value})
    return out


def build_analyser(settings: Settings) -> Analyser:
    """The LLM analyser when an endpoint is configured (and not switched off), else offline."""
    if settings.llm_base_url is None or not settings.analysis_with_llm:
        return OfflineAnalyser()
    client = ChatClient(httpx.AsyncClient(), settings.llm_base_url, settings.llm_api_key, settings.llm_model)
    return LLMAnalyser(client)
