"""One live conversation as the agent runtimes see it: speak, hear, use tools, keep the record.

`Conversation` wraps a provider `Line` and owns what every runtime shares: the transcript
timeline (utterances with Unix-ms `start_at`/`end_at`, tool invocations and results, flow node
transitions), the call's variables, the values the agent collected, and the inactivity policy —
`hear()` re-prompts after each silence and ends the call with `inactivity` once the re-prompts
are used up. Ending is signalled by exceptions, so a runtime's code reads as the conversation
it holds: `CallerHungUp` when the callee leaves, `EndCall` when the agent (or a rule) ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callplane.domain.call import DisconnectionReason, TranscriptEntry
from callplane.engine.clock import Clock
from callplane.engine.live.telephony.provider import HeardKind, Line

DEFAULT_REPROMPT = "여보세요, 제 말씀 들리시나요?"


@dataclass(frozen=True, slots=True)
class Ending:
    reason: DisconnectionReason
    detail: str | None = None


class CallerHungUp(Exception):
    """The callee hung up."""


class EndCall(Exception):
    """The agent, a tool or a rule ends the call."""

    def __init__(self, reason: DisconnectionReason, detail: str | None = None) -> None:
        super().__init__(detail or reason.value)
        self.ending = Ending(reason, detail)


class FlowError(EndCall):
    """The flow is broken or stuck; the call ends with `flow_error`."""

    def __init__(self, detail: str) -> None:
        super().__init__(DisconnectionReason.FLOW_ERROR, detail)


class Conversation:
    def __init__(
        self,
        line: Line,
        clock: Clock,
        variables: dict[str, Any],
        *,
        inactivity_timeout_s: float,
        reprompts: int,
    ) -> None:
        self.line = line
        self.clock = clock
        self.variables = variables
        self.inactivity_timeout_s = inactivity_timeout_s
        self.reprompts = reprompts
        self.transcript: list[TranscriptEntry] = []
        self.collected: dict[str, Any] = {}
        self._tool_calls = 0

    async def say(self, text: str) -> None:
        said = await self.line.say(text)
        if said.spoken:
            self.transcript.append(
                {"role": "agent", "content": said.spoken, "start_at": said.start_at, "end_at": said.end_at}
            )
        if not said.completed:
            raise CallerHungUp

    async def hear(self, reprompt: str | None = None) -> str:
        """The callee's next utterance; re-prompts after silences, then ends with `inactivity`."""
        silences = 0
        while True:
            heard = await self.line.listen(self.inactivity_timeout_s)
            if heard.kind is HeardKind.SPEECH:
                self.transcript.append(
                    {
                        "role": "user",
                        "content": heard.text,
                        "start_at": heard.start_at,
                        "end_at": heard.end_at,
                    }
                )
                return heard.text
            if heard.kind is HeardKind.HANGUP:
                raise CallerHungUp
            silences += 1
            if silences > self.reprompts:
                raise EndCall(
                    DisconnectionReason.INACTIVITY, f"no answer after {self.reprompts} re-prompt(s)"
                )
            await self.say(reprompt or DEFAULT_REPROMPT)

    def tool_invoked(self, name: str, arguments: dict[str, Any]) -> str:
        self._tool_calls += 1
        tool_call_id = f"call_{self._tool_calls}"
        self.transcript.append(
            {
                "role": "tool_call_invocation",
                "tool_call_id": tool_call_id,
                "name": name,
                "arguments": arguments,
                "at": self.clock.now_ms(),
            }
        )
        return tool_call_id

    def tool_returned(self, tool_call_id: str, content: str, *, ok: bool) -> None:
        self.transcript.append(
            {
                "role": "tool_call_result",
                "tool_call_id": tool_call_id,
                "content": content,
                "successful": ok,
                "at": self.clock.now_ms(),
            }
        )

    def moved(self, source: str, target: str) -> None:
        self.transcript.append(
            {"role": "node_transition", "from": source, "to": target, "at": self.clock.now_ms()}
        )

    def collect(self, values: dict[str, Any]) -> None:
        self.variables.update(values)
        self.collected.update(values)
