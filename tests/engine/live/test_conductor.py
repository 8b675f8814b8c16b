"""Every way a call can end on the simulated line, through the real conductor and flow runtime."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from callplane.config import Settings
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.live.agents.conversation import Conversation, Ending
from callplane.engine.live.conduct import Outcome
from callplane.engine.live.conductor import LineConductor, Runtimes
from callplane.engine.live.session import Carrier, CarrierStatus, Command, Event, HangUp, HungUp, Transport
from callplane.engine.live.telephony.provider import DialRequest
from callplane.engine.live.telephony.scenarios import builtin_scenarios
from callplane.engine.live.telephony.simulated import SimulatedProvider
from tests.engine.live.conversation_kit import (
    EPOCH,
    RecordingHooks,
    a_call,
    conduct,
    demo_version,
    dumps,
    said,
    version_of,
)


def test_demo_call_converses_in_korean_with_a_tool_call() -> None:
    outcome, hooks = conduct(a_call(), demo_version())
    assert outcome.status is CallStatus.ENDED
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP, dumps(outcome)
    agent = said(outcome, "agent")
    assert "홍길동" in agent[0] and "2026-05-10 14:00" in agent[0]
    assert said(outcome, "user") == ["네, 그 시간에 갈게요."]
    assert "2026-05-10 14:00에 뵙겠습니다" in agent[-1]
    invocation = next(e for e in outcome.transcript if e["role"] == "tool_call_invocation")
    result = next(e for e in outcome.transcript if e["role"] == "tool_call_result")
    assert invocation["name"] == "update_appointment" and invocation["arguments"] == {"decision": "confirmed"}
    assert result["tool_call_id"] == invocation["tool_call_id"]
    assert '"status": "confirmed"' in result["content"] and "2026-05-10 14:00" in result["content"]
    assert outcome.collected == {"appointment_status": "confirmed"}
    assert [e[0] for e in hooks.events] == ["ringing", "answered"]
    utterances = [e for e in outcome.transcript if e["role"] in ("agent", "user")]
    times = [t for e in utterances for t in (e["start_at"], e["end_at"])]
    assert times == sorted(times) and times[0] >= outcome.answered_at  # one ordered timeline
    assert all(e["end_at"] > e["start_at"] for e in utterances)
    assert outcome.ended_at >= times[-1]


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("01000000001", DisconnectionReason.DIAL_BUSY),
        ("01000000002", DisconnectionReason.DIAL_NO_ANSWER),
        ("01000000003", DisconnectionReason.DIAL_DECLINED),
        ("01000000004", DisconnectionReason.DIAL_FAILED),
    ],
)
def test_carrier_outcomes_are_not_connected(number: str, reason: DisconnectionReason) -> None:
    outcome, hooks = conduct(a_call(number), demo_version())
    assert (outcome.status, outcome.reason) == (CallStatus.NOT_CONNECTED, reason)
    assert outcome.answered_at is None and outcome.transcript == []
    assert "answered" not in [e[0] for e in hooks.events]


def test_no_answer_waits_for_the_ring_timeout_on_the_engine_clock() -> None:
    outcome, _ = conduct(a_call("01000000002"), demo_version())
    assert outcome.ended_at - EPOCH == pytest.approx(30_000, abs=50)  # the demo agent's ring_timeout_s


def test_voicemail_is_reached_and_its_greeting_recorded() -> None:
    outcome, _ = conduct(a_call("01000000005"), demo_version())
    assert (outcome.status, outcome.reason) == (CallStatus.ENDED, DisconnectionReason.VOICEMAIL_REACHED)
    assert "메시지를 남겨" in said(outcome, "user")[0]
    assert said(outcome, "agent") == []


def test_silence_re_prompts_then_ends_with_inactivity() -> None:
    outcome, _ = conduct(a_call("01000000006"), demo_version())
    assert outcome.reason is DisconnectionReason.INACTIVITY
    agent = said(outcome, "agent")
    assert len(agent) == 2 and "들리시나요" in agent[1]  # the greeting, then the node's re-prompt
    # Two silences of the agent's inactivity_timeout_s (8 s) each.
    assert outcome.ended_at - outcome.transcript[-1]["end_at"] == pytest.approx(8_000, abs=50)


def test_hang_up_mid_sentence_keeps_what_was_said() -> None:
    outcome, _ = conduct(a_call("01000000007"), demo_version())
    assert outcome.reason is DisconnectionReason.USER_HANGUP
    greeting = said(outcome, "agent")[0]
    assert greeting.startswith("안녕하세요, 홍길동님") and not greeting.endswith("있을까요?")


def test_hang_up_after_one_answer() -> None:
    outcome, _ = conduct(a_call("01000000008"), demo_version())
    assert outcome.reason is DisconnectionReason.USER_HANGUP
    assert said(outcome, "user") == ["누구시라고요? 잘 안 들려요."]


@pytest.mark.parametrize(
    ("number", "decision", "last_words"),
    [("01000000009", "cancel", "취소해 드렸습니다"), ("01000000010", "reschedule", "다시 연락드리겠습니다")],
)
def test_persona_choices_take_their_branch(number: str, decision: str, last_words: str) -> None:
    outcome, _ = conduct(a_call(number), demo_version())
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP
    assert outcome.collected == {"appointment_status": decision}
    assert last_words in said(outcome, "agent")[-1]


def test_off_script_callee_leaves_the_flow_stuck() -> None:
    outcome, _ = conduct(a_call("01000000011"), demo_version())
    assert (outcome.status, outcome.reason) == (CallStatus.ERROR, DisconnectionReason.FLOW_ERROR)
    assert "stuck at node 'greet'" in (outcome.error_detail or "")
    assert len(said(outcome, "user")) == 3  # max_fallbacks 2 → the third miss is fatal


def test_transfer_to_staff() -> None:
    outcome, _ = conduct(a_call("01000000012"), demo_version())
    assert (outcome.status, outcome.reason) == (CallStatus.ENDED, DisconnectionReason.CALL_TRANSFER)
    invocation = [e for e in outcome.transcript if e["role"] == "tool_call_invocation"]
    assert [e["name"] for e in invocation] == ["transfer_to_staff"]


def looping_agent(max_duration_s: int = 60) -> dict[str, Any]:
    return {
        "name": "loop",
        "type": "flow",
        "settings": {"max_duration_s": max_duration_s, "inactivity_timeout_s": 30},
        "flow": {
            "start": "ask",
            "nodes": {
                "ask": {
                    "type": "conversation",
                    "say": "계속 말씀하세요.",
                    "edges": [{"to": "ask", "when": {"always": True}}],
                }
            },
        },
    }


def test_max_duration_reached_on_virtual_time() -> None:
    outcome, _ = conduct(a_call("01000000013"), version_of(looping_agent(600)))
    assert outcome.reason is DisconnectionReason.MAX_DURATION_REACHED
    assert outcome.answered_at is not None
    assert outcome.ended_at - outcome.answered_at == pytest.approx(600_000, abs=50)
    assert len(said(outcome, "user")) > 50  # a ten-minute conversation really happened


def test_end_requested_through_the_api() -> None:
    outcome, _ = conduct(
        a_call("01000000013"), version_of(looping_agent()), RecordingHooks(end_after_answer=True)
    )
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP
    assert outcome.error_detail == "ended through the API"


def test_condition_that_cannot_be_evaluated_is_a_flow_error() -> None:
    agent = {
        "name": "bad condition",
        "type": "flow",
        "flow": {
            "start": "route",
            "nodes": {
                "route": {
                    "type": "logic",
                    "edges": [{"to": "bye", "when": {"variable": "age", "gt": 20}}],
                    "else": "bye",
                },
                "bye": {"type": "end", "say": "안녕히 계세요."},
            },
        },
    }
    outcome, _ = conduct(a_call(customer_name="홍길동", age="스물"), version_of(agent))
    assert outcome.reason is DisconnectionReason.FLOW_ERROR
    assert "not a number" in (outcome.error_detail or "")


def test_logic_loop_without_speech_is_a_flow_error() -> None:
    agent = {
        "name": "spin",
        "type": "flow",
        "flow": {
            "start": "a",
            "nodes": {
                "a": {"type": "logic", "edges": [{"to": "b", "when": {"always": True}}], "else": "b"},
                "b": {"type": "logic", "edges": [{"to": "a", "when": {"always": True}}], "else": "bye"},
                "bye": {"type": "end"},
            },
        },
    }
    outcome, _ = conduct(a_call(), version_of(agent))
    assert outcome.reason is DisconnectionReason.FLOW_ERROR
    assert "without speaking" in (outcome.error_detail or "")


def test_variables_default_from_the_flow_and_are_overridden_by_the_call() -> None:
    outcome, _ = conduct(a_call(customer_name="김민수"), demo_version())
    assert said(outcome, "agent")[0].startswith("안녕하세요, 김민수님")
    assert "예약하신 시간에 예약하신" in said(outcome, "agent")[0]  # appointment_at fell back to the default


class TimedHooks(RecordingHooks):
    """Hooks that note the loop time of the first ring (the LoopClock follows the loop from 0)."""

    rang_at: int | None = None

    async def ringing(self, telephony_id: str) -> None:
        if self.rang_at is None:
            self.rang_at = EPOCH + round(asyncio.get_running_loop().time() * 1000)
        await super().ringing(telephony_id)


def test_an_end_requested_while_ringing_hangs_up_at_once_unanswered() -> None:
    # Five rings, then the callee would answer: the end asked for at the first ring comes first.
    scenarios = [{"name": "slow", "numbers": ["01055550000"], "rings": 5}]
    commands: list[Command] = []
    hooks = TimedHooks(end_while_ringing=True)
    outcome, _ = conduct(
        a_call("01055550000"), demo_version(), hooks, scenarios=scenarios, seen=commands.append
    )
    assert (outcome.status, outcome.reason) == (CallStatus.CANCELED, DisconnectionReason.CANCELED_BY_USER)
    assert outcome.answered_at is None and outcome.transcript == []
    assert [e[0] for e in hooks.events] == ["ringing"]  # never answered
    assert any(isinstance(c, HangUp) for c in commands)  # the carrier's attempt is hung up
    assert hooks.rang_at is not None and 0 <= outcome.ended_at - hooks.rang_at <= 1000


def test_the_record_is_reported_as_the_call_goes() -> None:
    outcome, hooks = conduct(a_call(), demo_version())
    assert hooks.records, "no progress was reported"
    transcripts = [transcript for transcript, _ in hooks.records]
    # Each report holds the one before it (an entry may only grow: an agent's utterance as it
    # plays), and the last is the outcome's record.
    for before, after in itertools.pairwise(transcripts):
        assert len(after) >= len(before)
        assert [e["role"] for e in after[: len(before)]] == [e["role"] for e in before]
    assert transcripts[-1] == outcome.transcript
    assert hooks.records[-1][1] == outcome.collected == {"appointment_status": "confirmed"}
    first_user = next(i for i, t in enumerate(transcripts) if any(e["role"] == "user" for e in t))
    assert first_user < len(transcripts) - 1  # reported when it was said, not only at the end


def test_custom_scenario_by_number_pattern() -> None:
    scenarios = [{"name": "mine", "numbers": ["0105555*"], "persona": {"replies": ["상담원 바꿔 주세요"]}}]
    outcome, _ = conduct(a_call("01055551234"), demo_version(), scenarios=scenarios)
    assert outcome.reason is DisconnectionReason.CALL_TRANSFER


class CountedLine:
    """A simulated line that records our hang-ups."""

    def __init__(self, inner: Transport, hangups: list[str]) -> None:
        self._inner = inner
        self._hangups = hangups

    @property
    def telephony_id(self) -> str:
        return self._inner.telephony_id

    async def receive(self) -> Event:
        return await self._inner.receive()

    async def send(self, command: Command) -> None:
        if isinstance(command, HangUp):
            self._hangups.append(self._inner.telephony_id)
        await self._inner.send(command)


class CountingProvider:
    name = "simulated"

    def __init__(self, inner: SimulatedProvider) -> None:
        self.inner = inner
        self.hangups: list[str] = []

    async def dial(self, request: DialRequest) -> Transport:
        return CountedLine(await self.inner.dial(request), self.hangups)


@pytest.mark.parametrize(("number", "after"), [("01012345678", "answered"), ("01000000002", "ringing")])
def test_a_cancelled_call_hangs_up_the_line(number: str, after: str) -> None:
    """A worker that stops or loses the lease cancels the call: the carrier's call must end too."""

    async def run() -> tuple[list[str], RecordingHooks]:
        clock = LoopClock(EPOCH)
        provider = CountingProvider(SimulatedProvider(builtin_scenarios(), clock, speed=1.0))
        runtimes = Runtimes(Settings())
        hooks = RecordingHooks()
        task = asyncio.create_task(
            LineConductor(provider, clock, runtimes.build).conduct(a_call(number), demo_version(), hooks)
        )
        for _ in range(600):  # a minute of virtual time
            if after in [e[0] for e in hooks.events]:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        assert not task.done() and provider.hangups == []
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await runtimes.close()
        return provider.hangups, hooks

    hangups, hooks = run_virtual(run())
    assert len(hangups) == 1 and hangups[0] == hooks.events[0][1]  # the line that rang


class HangsUpWhileTheAgentThinks:
    """A line answered at once whose callee hangs up after 5 s; the agent never says a word."""

    name = "stub"

    def __init__(self, clock: LoopClock) -> None:
        self.clock = clock
        self.sent: list[Command] = []
        self.answered = False

    async def dial(self, request: DialRequest) -> Transport:
        return self

    @property
    def telephony_id(self) -> str:
        return "stub-1"

    async def receive(self) -> Event:
        if not self.answered:
            self.answered = True
            return Carrier(CarrierStatus.ANSWERED, self.clock.now_ms())
        await asyncio.sleep(5)
        return HungUp(self.clock.now_ms())

    async def send(self, command: Command) -> None:
        self.sent.append(command)


class Ponders:
    def initial_variables(self, dynamic_variables: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def run(self, conv: Conversation) -> Ending:
        await asyncio.sleep(600)  # a model that takes its time
        return Ending(DisconnectionReason.AGENT_HANGUP)


def test_a_hang_up_while_the_agent_thinks_ends_the_call_then() -> None:
    async def run() -> tuple[Outcome, list[Command]]:
        clock = LoopClock(EPOCH)
        line = HangsUpWhileTheAgentThinks(clock)
        conductor = LineConductor(line, clock, lambda version: Ponders())
        return await conductor.conduct(a_call(), demo_version(), RecordingHooks()), line.sent

    outcome, sent = run_virtual(run())
    assert outcome.reason is DisconnectionReason.USER_HANGUP
    assert outcome.ended_at - EPOCH == pytest.approx(5_000, abs=600)  # noticed within end_check_s
    assert sent == [HangUp()]
