"""The LLM runtime against a local fake OpenAI-compatible server (real HTTP on loopback)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx

from callplane.config import Settings
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.llm import parse_llm
from callplane.domain.tools import ToolSpec
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.live.agents.llm import ChatClient, LLMRuntime, Reply, ToolCall
from callplane.engine.live.agents.tools import ToolRunner
from callplane.engine.live.conduct import Outcome
from callplane.engine.live.conductor import LineConductor
from callplane.engine.live.session import Command, Speak
from callplane.engine.live.telephony.scenarios import parse_scenarios
from callplane.engine.live.telephony.simulated import SimulatedProvider
from tests.engine.live.conversation_kit import (
    EPOCH,
    RecordingHooks,
    a_call,
    conduct,
    dumps,
    said,
    version_of,
)
from tests.fakes.openai_server import FakeLLM, Message, tool_call
from tests.fakes.server import free_port, serve_in_thread

FAST = 200.0  # the simulated line talks 200x faster than people: real-time loop, short test
#: The fake LLM listens on loopback, which an agent's own `llm.base_url` may name only when allowed.
LOCAL = Settings(allow_private_destinations=True)


def llm_agent(base_url: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "name": "llm agent",
        "type": "llm",
        "settings": {"inactivity_timeout_s": 5},
        "llm": {
            "prompt": "너는 치과 예약 확인 상담원이다. 고객 이름은 {{customer_name}}이다.",
            "tools": {
                "confirm_booking": {
                    "type": "static",
                    "description": "Confirm the appointment",
                    "parameters": {"type": "object", "properties": {"slot": {"type": "string"}}},
                    "result": {"ok": True, "slot": "{{slot}}"},
                }
            },
            **({"base_url": base_url} if base_url else {}),
            **extra,
        },
    }


def booking_script(messages: list[Message], tools: list[dict[str, Any]]) -> Message:
    last = messages[-1]
    if last["role"] == "system":
        return {"content": "안녕하세요, 예약 확인 전화입니다. 내일 오후 2시에 오실 수 있나요?"}
    if last["role"] == "user" and "갈게" in last["content"]:
        return {
            "content": None,
            "tool_calls": [tool_call("tc_1", "confirm_booking", '{"slot": "내일 14:00"}')],
        }
    if last["role"] == "tool" and last["tool_call_id"] == "tc_1":
        return {
            "content": "예약이 확정되었습니다. 감사합니다.",
            "tool_calls": [tool_call("tc_2", "end_call", "{}")],
        }
    return {"content": "다시 말씀해 주시겠어요?"}


def test_llm_agent_converses_calls_tools_and_hangs_up() -> None:
    fake = FakeLLM(booking_script, api_key="sk-test")
    with serve_in_thread(fake.app) as url:
        agent = llm_agent(f"{url}/v1", api_key="sk-test", model="fake-model")
        outcome, _ = conduct(a_call(), version_of(agent), settings=LOCAL, speed=FAST, virtual=False)
    assert (outcome.status, outcome.reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    assert said(outcome, "agent") == [
        "안녕하세요, 예약 확인 전화입니다. 내일 오후 2시에 오실 수 있나요?",
        "예약이 확정되었습니다. 감사합니다.",
    ]
    assert said(outcome, "user") == ["네, 그 시간에 갈게요."]
    names = [e["name"] for e in outcome.transcript if e["role"] == "tool_call_invocation"]
    assert names == ["confirm_booking", "end_call"]
    result = next(e for e in outcome.transcript if e["role"] == "tool_call_result")
    assert result["content"] == '{"ok": true, "slot": "내일 14:00"}'
    assert outcome.collected == {"slot": "내일 14:00"}
    first = fake.requests[0]
    assert first["model"] == "fake-model"
    assert "홍길동" in first["messages"][0]["content"]
    assert {t["function"]["name"] for t in first["tools"]} == {"confirm_booking", "end_call"}
    # The tool result went back to the model in the protocol's own shape.
    tool_message = fake.requests[2]["messages"][-1]
    assert tool_message == {
        "role": "tool",
        "tool_call_id": "tc_1",
        "content": '{"ok": true, "slot": "내일 14:00"}',
    }


def test_settings_provide_the_endpoint_and_first_message_is_spoken_first() -> None:
    fake = FakeLLM(
        lambda messages, tools: {"content": "네, 알겠습니다.", "tool_calls": [tool_call("t", "end_call", "")]}
    )
    with serve_in_thread(fake.app) as url:
        settings = Settings(llm_base_url=f"{url}/v1", llm_model="from-settings")
        agent = llm_agent(None, first_message="{{customer_name}}님, 안녕하세요.")
        outcome, _ = conduct(a_call(), version_of(agent), settings=settings, speed=FAST, virtual=False)
    assert said(outcome, "agent")[0] == "홍길동님, 안녕하세요."
    assert fake.requests[0]["model"] == "from-settings"
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP


def test_llm_endpoint_errors_end_the_call_as_platform_errors() -> None:
    fake = FakeLLM(booking_script, status=500)
    with serve_in_thread(fake.app) as url:
        outcome, _ = conduct(
            a_call(), version_of(llm_agent(f"{url}/v1")), settings=LOCAL, speed=FAST, virtual=False
        )
    assert (outcome.status, outcome.reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert "HTTP 500" in (outcome.error_detail or "")


def test_unreachable_or_missing_llm_endpoint() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    outcome, _ = conduct(a_call(), version_of(llm_agent(dead)), settings=LOCAL, speed=FAST, virtual=False)
    assert outcome.reason is DisconnectionReason.ERROR_VOXAI and "ConnectError" in (
        outcome.error_detail or ""
    )
    outcome, _ = conduct(a_call(), version_of(llm_agent(None)), speed=FAST, virtual=False)
    assert outcome.reason is DisconnectionReason.ERROR_VOXAI and "no LLM endpoint" in (
        outcome.error_detail or ""
    )


def test_unknown_tool_is_reported_back_to_the_model() -> None:
    def script(messages: list[Message], tools: list[dict[str, Any]]) -> Message:
        last = messages[-1]
        if last["role"] == "system":
            return {"content": "안녕하세요."}
        if last["role"] == "user":
            return {"tool_calls": [tool_call("x", "launch_rocket", "{}")]}
        return {"content": "죄송합니다, 안녕히 계세요.", "tool_calls": [tool_call("y", "end_call", "{}")]}

    fake = FakeLLM(script)
    with serve_in_thread(fake.app) as url:
        outcome, _ = conduct(
            a_call(), version_of(llm_agent(f"{url}/v1")), settings=LOCAL, speed=FAST, virtual=False
        )
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP
    failed = [e for e in outcome.transcript if e["role"] == "tool_call_result" and not e["successful"]]
    assert failed and "launch_rocket" in failed[0]["content"]


def test_streamed_answer_text_and_tool_calls_are_put_back_together() -> None:
    def script(messages: list[Message], tools: list[dict[str, Any]]) -> Message:
        return {
            "content": "확인해 볼게요. 잠시만요.",
            "tool_calls": [
                tool_call("tc_a", "confirm_booking", '{"slot": "내일 오후 2시"}'),
                tool_call("tc_b", "end_call", ""),
            ],
        }

    fake = FakeLLM(script)

    async def run(url: str) -> list[str | Reply]:
        async with httpx.AsyncClient() as http:
            client = ChatClient(http, f"{url}/v1", None, "fake-model")
            stream = client.stream([{"role": "user", "content": "예약"}], [], 0.2)
            async with aclosing(stream) as parts:
                return [part async for part in parts]

    with serve_in_thread(fake.app) as url:
        parts = asyncio.run(run(url))
    assert fake.requests[0]["stream"] is True
    *pieces, reply = parts
    assert len(pieces) > 3 and all(isinstance(p, str) for p in pieces)  # it came in pieces
    assert "".join(str(p) for p in pieces) == "확인해 볼게요. 잠시만요."
    assert isinstance(reply, Reply) and reply.content == "확인해 볼게요. 잠시만요."
    assert reply.tool_calls == (
        ToolCall("tc_a", "confirm_booking", {"slot": "내일 오후 2시"}),
        ToolCall("tc_b", "end_call", {}),
    )


def test_the_first_sentence_is_spoken_before_the_answer_is_complete() -> None:
    """The fake model holds its stream open after the first sentence until the line has been
    told to speak it: an answer spoken only once complete never releases it."""
    answer = "안녕하세요, 예약 확인 전화입니다. 내일 오후 2시에 오실 수 있나요?"
    spoken = threading.Event()
    order: list[str] = []

    def seen(command: Command) -> None:
        if isinstance(command, Speak) and command.text:
            order.append(f"speak {command.text}")
            spoken.set()

    def between(n: int) -> None:
        if n == 8:  # well past the first sentence, before the second is complete
            order.append("model holds" if spoken.wait(10) else "model gave up waiting")

    fake = FakeLLM(
        lambda messages, tools: (
            {"content": answer}
            if messages[-1]["role"] == "system"
            else {"content": "네.", "tool_calls": [tool_call("t", "end_call", "")]}
        ),
        between=between,
    )
    with serve_in_thread(fake.app) as url:
        outcome, _ = conduct(
            a_call(), version_of(llm_agent(f"{url}/v1")), settings=LOCAL, speed=FAST, virtual=False, seen=seen
        )
    assert order[:3] == [
        "speak 안녕하세요, 예약 확인 전화입니다. ",
        "model holds",
        "speak 내일 오후 2시에 오실 수 있나요?",
    ]
    assert said(outcome, "agent")[0] == answer  # one utterance, heard to the end


class StubChat:
    """An in-process stand-in for ChatClient: answers stream a word per 10 ms of loop time."""

    def __init__(self, answers: list[Message]) -> None:
        self.answers = answers
        self.requests: list[list[Message]] = []

    async def stream(
        self, messages: list[Message], tools: list[ToolSpec], temperature: float
    ) -> AsyncGenerator[str | Reply, None]:
        self.requests.append([dict(m) for m in messages])
        answer = self.answers[len(self.requests) - 1]
        content = answer.get("content") or ""
        for word in content.split(" "):
            await asyncio.sleep(0.01)
            yield word + " "
        calls = tuple(ToolCall(c["id"], c["function"]["name"], {}) for c in answer.get("tool_calls", []))
        yield Reply(content, calls, {})


def test_a_callee_talking_over_a_streamed_answer_cuts_it_and_the_model_hears_where() -> None:
    long_answer = (
        "안녕하세요. 저는 콜플레인 치과의 예약 확인 도우미이고 "
        "오늘은 내일 진료 일정을 확인하려고 연락드렸습니다."
    )
    chat = StubChat(
        [
            {"content": long_answer, "tool_calls": [tool_call("never", "end_call", "")]},
            {"content": "네, 그럼 내일 뵙겠습니다.", "tool_calls": [tool_call("bye", "end_call", "")]},
        ]
    )
    agent = version_of(llm_agent("http://unused.invalid/v1"))
    config = parse_llm(agent.config)
    scenarios = parse_scenarios(
        {
            "scenarios": [
                {
                    "numbers": ["*"],
                    "persona": {"interrupt_agent_turn": 1, "interrupt_after_s": 2, "replies": ["네 갈게요"]},
                }
            ]
        }
    )

    async def run() -> Outcome:
        clock = LoopClock(EPOCH)
        async with httpx.AsyncClient() as http:
            runtime = LLMRuntime(config, chat, ToolRunner(http))  # type: ignore[arg-type]
            conductor = LineConductor(
                SimulatedProvider(scenarios, clock, speed=1.0), clock, lambda v: runtime
            )
            return await conductor.conduct(a_call(), agent, RecordingHooks())

    outcome = run_virtual(run())
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP, dumps(outcome)
    agent_said = said(outcome, "agent")
    assert agent_said[0] == long_answer[:20].strip()  # 2 s at 10 characters a second
    assert said(outcome, "user") == ["네 갈게요"]
    # The model is told what the callee heard, and the interrupted answer's tool call never ran.
    assert chat.requests[1][-2:] == [
        {"role": "assistant", "content": long_answer[:20].strip()},
        {"role": "user", "content": "네 갈게요"},
    ]
    assert [e["tool_call_id"] for e in outcome.transcript if e["role"] == "tool_call_invocation"] == [
        "call_1"
    ]
    assert [e["name"] for e in outcome.transcript if e["role"] == "tool_call_invocation"] == ["end_call"]


def test_an_agents_own_base_url_on_an_internal_address_gets_no_request() -> None:
    """Issue 15, defect 3: an agent whose `llm.base_url` names loopback (here it slipped past
    registration: the version is built directly) ends its call without POSTing the prompt there,
    and such a server's answer never becomes the agent's words."""
    internal = FakeLLM(lambda messages, tools: {"content": "internal secret"})
    with serve_in_thread(internal.app) as url:
        outcome, _ = conduct(a_call(), version_of(llm_agent(f"{url}/v1")), speed=FAST, virtual=False)
    assert (outcome.status, outcome.reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert (outcome.error_detail or "").startswith("destination not allowed")
    assert said(outcome, "agent") == []
    assert internal.requests == []


def test_the_operators_own_endpoint_is_trusted_configuration() -> None:
    """`CALLPLANE_LLM_BASE_URL` may be on the operator's private network: it is not guarded."""
    operators = FakeLLM(
        lambda messages, tools: {"content": "네.", "tool_calls": [tool_call("t", "end_call", "{}")]}
    )
    with serve_in_thread(operators.app) as url:
        settings = Settings(llm_base_url=f"{url}/v1")
        agent = version_of(llm_agent(None))
        outcome, _ = conduct(a_call(), agent, settings=settings, speed=FAST, virtual=False)
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP and len(operators.requests) >= 1
