"""Post-call analysis: the offline analyser on real conversations, the LLM one on a fake endpoint."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import httpx

from callplane.domain.call import Sentiment
from callplane.engine.jobs.analysis import LLMAnalyser, OfflineAnalyser, sentiment
from callplane.engine.live.agents.llm import ChatClient
from callplane.engine.live.conduct import Outcome
from tests.engine.live.conversation_kit import a_call, conduct, demo_version
from tests.fakes.openai_server import FakeLLM, Message
from tests.fakes.server import serve_in_thread


def finished(number: str = "01012345678") -> tuple[Any, Outcome]:
    outcome, _ = conduct(a_call(number), demo_version())
    call = replace(
        a_call(number),
        status=outcome.status,
        disconnection_reason=outcome.reason,
        transcript=outcome.transcript,
        answered_at=outcome.answered_at,
        end_at=outcome.ended_at,
    )
    return call, outcome


def test_offline_analysis_of_the_demo_call() -> None:
    call, outcome = finished()
    analysis = asyncio.run(OfflineAnalyser().analyse(call, demo_version(), outcome.collected))
    assert analysis is not None
    assert analysis.summary is not None and analysis.summary.startswith("Offline analysis.")
    assert "홍길동" in analysis.summary and "appointment_status=confirmed" in analysis.summary
    assert analysis.user_sentiment is Sentiment.POSITIVE
    assert analysis.custom_analysis_data == [{"name": "appointment_status", "value": "confirmed"}]
    assert analysis.call_successful is True


def test_offline_analysis_of_calls_that_did_not_connect_or_opted_out() -> None:
    call, outcome = finished("01000000001")
    analysis = asyncio.run(OfflineAnalyser().analyse(call, demo_version(), outcome.collected))
    assert analysis is not None and analysis.user_sentiment is None and analysis.call_successful is False
    assert "dial_busy" in (analysis.summary or "")
    opted_out = replace(call, opt_out_sensitive_data_storage=True)
    assert asyncio.run(OfflineAnalyser().analyse(opted_out, demo_version(), {})) is None


def test_sentiment_word_list() -> None:
    assert sentiment(["네, 감사합니다"]) is Sentiment.POSITIVE
    assert sentiment(["다시는 전화하지 마세요, 짜증나요"]) is Sentiment.NEGATIVE
    assert sentiment(["음"]) is Sentiment.NEUTRAL
    assert sentiment([]) is Sentiment.UNKNOWN


def analyse_with(script: Any, status: int = 200) -> Any:
    fake = FakeLLM(script, status=status)
    call, outcome = finished()
    with serve_in_thread(fake.app) as url:

        async def run() -> Any:
            async with httpx.AsyncClient() as http:
                analyser = LLMAnalyser(ChatClient(http, f"{url}/v1", None, "m"))
                return await analyser.analyse(call, demo_version(), outcome.collected)

        return asyncio.run(run()), fake


def test_llm_analysis_fills_the_declared_fields() -> None:
    def script(messages: list[Message], tools: list[Any]) -> Message:
        assert "appointment_status" in messages[0]["content"] and "홍길동" in messages[1]["content"]
        return {
            "content": json.dumps(
                {
                    "summary": "환자가 예약을 확정함.",
                    "user_sentiment": "positive",
                    "call_successful": True,
                    "custom": {"appointment_status": "confirmed"},
                }
            )
        }

    analysis, fake = analyse_with(script)
    assert analysis.summary == "환자가 예약을 확정함."
    assert analysis.custom_analysis_data == [{"name": "appointment_status", "value": "confirmed"}]
    assert fake.requests[0]["response_format"] == {"type": "json_object"}


def test_llm_analysis_falls_back_to_offline_on_failure_or_nonsense() -> None:
    down, _ = analyse_with(lambda m, t: {"content": "{}"}, status=500)
    assert down.summary.startswith("Offline analysis.")
    nonsense, _ = analyse_with(lambda m, t: {"content": "not json at all"})
    assert nonsense.summary.startswith("Offline analysis.")
    assert nonsense.user_sentiment is Sentiment.POSITIVE
