"""The LLM runtime against a local fake OpenAI-compatible server (real HTTP on loopback)."""

from __future__ import annotations

from typing import Any

from callplane.config import Settings
from callplane.domain.call import CallStatus, DisconnectionReason
from tests.engine.live.conversation_kit import a_call, conduct, said, version_of
from tests.fakes.openai_server import FakeLLM, Message, tool_call
from tests.fakes.server import free_port, serve_in_thread

FAST = 200.0  # the simulated line talks 200x faster than people: real-time loop, short test


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
        outcome, _ = conduct(a_call(), version_of(agent), speed=FAST, virtual=False)
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
        outcome, _ = conduct(a_call(), version_of(llm_agent(f"{url}/v1")), speed=FAST, virtual=False)
    assert (outcome.status, outcome.reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert "HTTP 500" in (outcome.error_detail or "")


def test_unreachable_or_missing_llm_endpoint() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    outcome, _ = conduct(a_call(), version_of(llm_agent(dead)), speed=FAST, virtual=False)
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
        outcome, _ = conduct(a_call(), version_of(llm_agent(f"{url}/v1")), speed=FAST, virtual=False)
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP
    failed = [e for e in outcome.transcript if e["role"] == "tool_call_result" and not e["successful"]]
    assert failed and "launch_rocket" in failed[0]["content"]
