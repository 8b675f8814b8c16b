"""The chat client retries throttling and server failures within a turn's budget (fake OpenAI
endpoint on a real socket), and LLM analysis only adds to what the agent collected."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import httpx
import pytest

from callplane.domain.call import CallStatus
from callplane.engine.jobs.analysis import LLMAnalyser
from callplane.engine.live.agents.llm import ChatClient, LLMUnavailable, Reply
from callplane.engine.live.agents.retry import RetryPolicy, retry_after_s
from tests.engine.live.conversation_kit import EPOCH, a_call, demo_version
from tests.fakes.openai_server import FakeLLM, Message
from tests.fakes.server import serve_in_thread

FAST = RetryPolicy(attempts=4, budget_s=10.0, base_s=0.01, max_wait_s=0.05)


def hello(messages: list[Message], tools: list[Any]) -> Message:
    return {"content": "안녕하세요. 무엇을 도와드릴까요?"}


def run_client(fake: FakeLLM, streamed: bool, policy: RetryPolicy = FAST) -> str:
    with serve_in_thread(fake.app) as url:

        async def run() -> str:
            async with httpx.AsyncClient() as http:
                client = ChatClient(http, f"{url}/v1", None, "m", retry=policy)
                messages = [{"role": "user", "content": "여보세요"}]
                if not streamed:
                    return (await client.complete(messages, [], 0.0)).content or ""
                text = ""
                async with aclosing(client.stream(messages, [], 0.0)) as parts:
                    async for part in parts:
                        if isinstance(part, Reply):
                            assert part.content == text
                        else:
                            text += part
                return text

        return asyncio.run(run())


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_a_429_then_a_200_is_one_answer(streamed: bool) -> None:
    fake = FakeLLM(hello, failures=[(429, {"retry-after": "0"})])
    assert run_client(fake, streamed) == "안녕하세요. 무엇을 도와드릴까요?"
    assert len(fake.requests) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_server_errors_are_retried_then_fail_as_before(streamed: bool) -> None:
    fake = FakeLLM(hello, failures=[(503, {}), (500, {}), (502, {})])
    assert run_client(fake, streamed) == "안녕하세요. 무엇을 도와드릴까요?"
    assert len(fake.requests) == 4
    down = FakeLLM(hello, failures=[(503, {})] * 10)
    with pytest.raises(LLMUnavailable, match="HTTP 503"):
        run_client(down, streamed)
    assert len(down.requests) == FAST.attempts


def test_a_retry_after_past_the_budget_fails_at_once() -> None:
    fake = FakeLLM(hello, failures=[(429, {"retry-after": "60"})])
    with pytest.raises(LLMUnavailable, match="HTTP 429"):
        run_client(fake, streamed=True)
    assert len(fake.requests) == 1


def test_a_bad_request_is_not_retried() -> None:
    fake = FakeLLM(hello, failures=[(400, {})])
    with pytest.raises(LLMUnavailable, match="HTTP 400"):
        run_client(fake, streamed=False)
    assert len(fake.requests) == 1


def test_retry_after_forms() -> None:
    assert retry_after_s("2") == 2.0
    assert retry_after_s("-5") == 0.0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_s("soon") is None
    assert retry_after_s(None) is None


def test_llm_analysis_only_adds_to_what_the_agent_collected() -> None:
    version = replace(
        demo_version(),
        analysis_fields=[
            *demo_version().analysis_fields,
            {"name": "callback_time", "type": "string", "description": "when to call back"},
        ],
    )

    def script(messages: list[Message], tools: list[Any]) -> Message:
        custom = {"appointment_status": "cancelled", "callback_time": "내일 오전"}
        return {"content": json.dumps({"summary": "요약.", "user_sentiment": "neutral", "custom": custom})}

    fake = FakeLLM(script, failures=[(429, {"retry-after": "0"})])
    call = replace(
        a_call(),
        status=CallStatus.ENDED,
        answered_at=EPOCH,
        end_at=EPOCH + 30_000,
        transcript=[{"role": "user", "content": "네"}],
    )
    with serve_in_thread(fake.app) as url:

        async def run() -> Any:
            async with httpx.AsyncClient() as http:
                analyser = LLMAnalyser(ChatClient(http, f"{url}/v1", None, "m", retry=FAST))
                return await analyser.analyse(call, version, {"appointment_status": "confirmed"})

        analysis = asyncio.run(run())
    assert analysis.summary == "요약."  # the model's analysis, after one retry
    assert analysis.custom_analysis_data == [
        {"name": "appointment_status", "value": "confirmed"},  # collected with a tool: it stands
        {"name": "callback_time", "value": "내일 오전"},  # the call left it empty: the model fills it
    ]
