"""Scripted callees for the simulated line, chosen by the number dialled.

A scenario file is JSON: `{"scenarios": [{"name", "numbers": [patterns], "answer", "rings",
"persona": {…}}, …]}`. The first scenario with a pattern matching the callee's domestic digits
or E.164 (shell-style `*`/`?` wildcards) decides how the call goes.

`answer`: `human` (default), `voicemail`, `no_answer`, `busy`, `declined`, `failed`.
`audio` (optional): `true` makes this callee talk through speech engines (audio frames, see
`simulated_audio.py`), `false` keeps it on text; unset follows `CALLPLANE_SIMULATOR_AUDIO`.
`rings`: rings before the answer (a ring is `ring_s` seconds; more than the ring timeout allows
is a no-answer).

`persona` — how the callee talks once connected:
- `keywords`: `[{"heard": ["방문", "오시"], "say": "네, 갈게요."}]` — a reply triggered by words in
  what the agent said since the callee last spoke; checked first, in order;
- `replies`: scripted replies used in order when no keyword fires; a reply may be
  `{"dtmf": "1"}`: the callee presses those keys instead of speaking (one `Dtmf` event a key);
- `after_replies`: when the script runs out — `hangup` (default), `silent` or `repeat_last`;
- `silent`: never says anything (the agent's inactivity handling ends the call);
- `hangup_after_replies`: hang up instead of giving the next reply after N replies;
- `hangup_during_agent_turn`: hang up halfway through the agent's N-th utterance;
- `interrupt_agent_turn`: talk over the agent's N-th utterance (barge-in) with the next reply,
  `interrupt_after_s` (default 1) seconds after it started playing;
- `think_s` (default 0.7) and `chars_per_s` (default 8): pause before speaking and speaking rate;
- `voicemail_greeting`: what the machine says (answer `voicemail`);
- `transfer`: `accept` (default) or `reject`.
"""

from __future__ import annotations

import enum
import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from callplane.domain.errors import ValidationFailed
from callplane.domain.phone import to_domestic

VOICEMAIL_GREETING = "지금은 전화를 받을 수 없습니다. 삐 소리가 나면 메시지를 남겨 주세요."


class Answer(enum.StrEnum):
    HUMAN = "human"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    DECLINED = "declined"
    FAILED = "failed"


class AfterReplies(enum.StrEnum):
    HANGUP = "hangup"
    SILENT = "silent"
    REPEAT_LAST = "repeat_last"


@dataclass(frozen=True, slots=True)
class Keys:
    """A reply made of key presses (DTMF) instead of words."""

    digits: str


class _Hangup(enum.Enum):
    HANGUP = "hangup"


#: What the callee does instead of replying: hang up now.
HANGUP = _Hangup.HANGUP

Reply = str | Keys


@dataclass(frozen=True, slots=True)
class KeywordReply:
    heard: tuple[str, ...]
    say: str


@dataclass(frozen=True, slots=True)
class Persona:
    keywords: tuple[KeywordReply, ...] = ()
    replies: tuple[Reply, ...] = ()
    after_replies: AfterReplies = AfterReplies.HANGUP
    silent: bool = False
    hangup_after_replies: int | None = None
    hangup_during_agent_turn: int | None = None
    interrupt_agent_turn: int | None = None
    interrupt_after_s: float = 1.0
    think_s: float = 0.7
    chars_per_s: float = 8.0
    voicemail_greeting: str = VOICEMAIL_GREETING
    transfer_accepted: bool = True


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    numbers: tuple[str, ...]
    answer: Answer = Answer.HUMAN
    rings: int = 1
    persona: Persona = field(default_factory=Persona)
    audio: bool | None = None  #: None: the deployment's `simulator_audio` decides

    def matches(self, e164: str) -> bool:
        candidates = (e164, to_domestic(e164))
        return any(fnmatch.fnmatchcase(n, pattern) for pattern in self.numbers for n in candidates)


def _persona(raw: dict[str, Any], where: str) -> Persona:
    known = {
        "keywords",
        "replies",
        "after_replies",
        "silent",
        "hangup_after_replies",
        "hangup_during_agent_turn",
        "interrupt_agent_turn",
        "interrupt_after_s",
        "think_s",
        "chars_per_s",
        "voicemail_greeting",
        "transfer",
    }
    unknown = set(raw) - known
    if unknown:
        raise ValidationFailed.single(
            f"{where}.{sorted(unknown)[0]}", "is not a persona setting", sorted(known)
        )
    keywords = tuple(KeywordReply(tuple(k["heard"]), k["say"]) for k in raw.get("keywords", []))
    try:
        return Persona(
            keywords=keywords,
            replies=tuple(_reply(r) for r in raw.get("replies", [])),
            after_replies=AfterReplies(raw.get("after_replies", "hangup")),
            silent=bool(raw.get("silent", False)),
            hangup_after_replies=raw.get("hangup_after_replies"),
            hangup_during_agent_turn=raw.get("hangup_during_agent_turn"),
            interrupt_agent_turn=raw.get("interrupt_agent_turn"),
            interrupt_after_s=float(raw.get("interrupt_after_s", 1.0)),
            think_s=float(raw.get("think_s", 0.7)),
            chars_per_s=float(raw.get("chars_per_s", 8.0)),
            voicemail_greeting=raw.get("voicemail_greeting", VOICEMAIL_GREETING),
            transfer_accepted=raw.get("transfer", "accept") == "accept",
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed.single(where, f"invalid persona: {exc}") from None


def _reply(raw: object) -> Reply:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict) and set(raw) == {"dtmf"} and isinstance(raw["dtmf"], str) and raw["dtmf"]:
        return Keys(raw["dtmf"])
    raise TypeError(f"a reply is a string or {{'dtmf': '<keys>'}}, not {raw!r}")


def parse_scenarios(raw: object, source: str = "scenarios") -> tuple[Scenario, ...]:
    if not isinstance(raw, dict) or not isinstance(raw.get("scenarios"), list):
        raise ValidationFailed.single(source, 'must be {"scenarios": [...]}')
    out = []
    for i, item in enumerate(raw["scenarios"]):
        where = f"{source}.scenarios[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("numbers"), list) or not item["numbers"]:
            raise ValidationFailed.single(f"{where}.numbers", "needs a list of number patterns")
        try:
            answer = Answer(item.get("answer", "human"))
        except ValueError:
            raise ValidationFailed.single(
                f"{where}.answer", "is not an answer", [a.value for a in Answer]
            ) from None
        rings = item.get("rings", 1)
        if isinstance(rings, bool) or not isinstance(rings, int) or rings < 0:
            raise ValidationFailed.single(f"{where}.rings", "must be a non-negative integer")
        audio = item.get("audio")
        if audio is not None and not isinstance(audio, bool):
            raise ValidationFailed.single(f"{where}.audio", "must be true or false")
        out.append(
            Scenario(
                name=str(item.get("name", f"scenario {i}")),
                numbers=tuple(str(n) for n in item["numbers"]),
                answer=answer,
                rings=rings,
                persona=_persona(item.get("persona", {}), f"{where}.persona"),
                audio=audio,
            )
        )
    return tuple(out)


def builtin_scenarios() -> tuple[Scenario, ...]:
    text = (
        resources.files("callplane.engine.live.telephony")
        .joinpath("scenarios.json")
        .read_text(encoding="utf-8")
    )
    return parse_scenarios(json.loads(text), "built-in scenarios")


def load_scenarios(path: Path | None) -> tuple[Scenario, ...]:
    """The user's scenarios (if any) first, then the built-in ones as the fallback."""
    builtin = builtin_scenarios()
    if path is None:
        return builtin
    return parse_scenarios(json.loads(path.read_text(encoding="utf-8")), str(path)) + builtin


def pick(scenarios: Sequence[Scenario], e164: str) -> Scenario:
    for scenario in scenarios:
        if scenario.matches(e164):
            return scenario
    return Scenario("unscripted", ("*",))


class ScriptedCallee:
    """What a persona says next, given what it has heard of the agent since it last replied."""

    def __init__(self, persona: Persona) -> None:
        self.persona = persona
        self._heard: list[str] = []
        self._replies_given = 0
        self._script_index = 0

    def hear(self, text: str) -> None:
        self._heard.append(text)

    def next_reply(self) -> Reply | _Hangup | None:
        """The next reply, HANGUP, or None (stays silent this turn)."""
        reply = self._choose()
        if isinstance(reply, (str, Keys)):
            self._replies_given += 1
            self._heard.clear()
        return reply

    def _choose(self) -> Reply | _Hangup | None:
        persona = self.persona
        if persona.silent:
            return None
        if persona.hangup_after_replies is not None and self._replies_given >= persona.hangup_after_replies:
            return HANGUP
        heard = "".join(self._heard)
        for rule in persona.keywords:
            if any(word in heard for word in rule.heard):
                return rule.say
        if self._script_index < len(persona.replies):
            self._script_index += 1
            return persona.replies[self._script_index - 1]
        if persona.after_replies is AfterReplies.REPEAT_LAST and persona.replies:
            return persona.replies[-1]
        if persona.after_replies is AfterReplies.SILENT:
            return None
        return HANGUP
