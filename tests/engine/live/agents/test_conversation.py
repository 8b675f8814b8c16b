"""The conversation on the session: what was heard, barge-in, DTMF, the hang-up while thinking."""

from __future__ import annotations

import asyncio
from typing import Any

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.live.agents.conversation import Conversation
from callplane.engine.live.session import (
    Command,
    Event,
    FinalTranscript,
    PlaybackMark,
    Speak,
    SpeechStarted,
    StopSpeaking,
)
from tests.engine.live.conversation_kit import EPOCH, a_call, conduct, demo_version, dumps, said, version_of


class StubTransport:
    """A transport whose callee is the test: it records commands and plays back given events."""

    telephony_id = "stub-1"

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.commands: list[Command] = []

    async def receive(self) -> Event:
        return await self.events.get()

    async def send(self, command: Command) -> None:
        self.commands.append(command)


def test_the_record_is_what_the_marks_say_was_heard_and_barge_in_stops_at_once() -> None:
    async def run() -> tuple[Conversation, StubTransport, str, str]:
        transport = StubTransport()
        async with Conversation(transport, LoopClock(EPOCH), {}, inactivity_timeout_s=5, reprompts=0) as conv:
            speaking = asyncio.create_task(conv.say("첫 문장입니다. 두 번째 문장은 아주 깁니다."))
            await asyncio.sleep(0)
            transport.events.put_nowait(PlaybackMark("u1", 0, EPOCH))
            await asyncio.sleep(1)
            transport.events.put_nowait(SpeechStarted(EPOCH + 1000))
            await asyncio.sleep(0)
            assert transport.commands[-1] == StopSpeaking()  # at once, before any other event
            # The transport says where playback stopped: 11 characters, not what was sent.
            transport.events.put_nowait(PlaybackMark("u1", 11, EPOCH + 1000, done=True))
            utterance = await speaking
            transport.events.put_nowait(FinalTranscript("잠깐만요", EPOCH + 1000, EPOCH + 1800))
            heard = await conv.hear()
        return conv, transport, utterance.heard, heard

    conv, transport, agent_heard, heard = run_virtual(run())
    assert agent_heard == "첫 문장입니다. 두" and heard == "잠깐만요"
    assert transport.commands == [
        Speak("u1", "첫 문장입니다. 두 번째 문장은 아주 깁니다."),
        Speak("u1", "", end=True),
        StopSpeaking(),
    ]
    assert conv.transcript == [
        {"role": "agent", "content": "첫 문장입니다. 두", "start_at": EPOCH, "end_at": EPOCH + 1000},
        {"role": "user", "content": "잠깐만요", "start_at": EPOCH + 1000, "end_at": EPOCH + 1800},
    ]


def test_a_callee_talking_over_the_greeting_is_heard_and_the_call_goes_on() -> None:
    outcome, _ = conduct(a_call("01000000015"), demo_version())
    assert (outcome.status, outcome.reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP), dumps(
        outcome
    )
    greeting = "안녕하세요, 홍길동님. 콜플레인 치과입니다. 2026-05-10 14:00에 예약하신 진료를 확인하려고"
    first, second = outcome.transcript[0], outcome.transcript[1]
    # Cut where the callee started, 3 s in: 30 characters at the agent's 10 a second.
    assert first["role"] == "agent" and first["content"] == greeting[:30].strip()
    assert first["end_at"] - first["start_at"] == 3000
    assert second == {
        "role": "user",
        "content": "네, 그 시간에 갈게요.",
        "start_at": first["end_at"],
        "end_at": second["end_at"],
    }
    assert outcome.collected == {"appointment_status": "confirmed"}
    assert "2026-05-10 14:00에 뵙겠습니다" in said(outcome, "agent")[-1]


def menu_agent() -> dict[str, Any]:
    return {
        "name": "menu",
        "type": "flow",
        "flow": {
            "start": "menu",
            "nodes": {
                "menu": {
                    "type": "conversation",
                    "say": "확인은 1번, 취소는 2번을 눌러 주세요.",
                    "edges": [
                        {"to": "confirmed", "when": {"user_says_any": ["1"]}},
                        {"to": "cancelled", "when": {"user_says_any": ["2"]}},
                    ],
                },
                "confirmed": {"type": "end", "say": "확인되었습니다."},
                "cancelled": {"type": "end", "say": "취소되었습니다."},
            },
        },
    }


def test_a_key_press_is_the_callees_answer_in_a_flow() -> None:
    scenarios = [{"numbers": ["0105555*"], "persona": {"replies": [{"dtmf": "2"}]}}]
    outcome, _ = conduct(a_call("01055550001"), version_of(menu_agent()), scenarios=scenarios)
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP, dumps(outcome)
    assert said(outcome, "user") == ["2"]
    assert said(outcome, "agent")[-1] == "취소되었습니다."
