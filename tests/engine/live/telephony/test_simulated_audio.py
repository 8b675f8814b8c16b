"""Whole calls on the simulated audio line: the callee speaks and hears through speech engines,
the agent through the speech pipeline, both over μ-law frames. Scripted engines on virtual time;
the offline engines end to end in the `slow` test."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import pytest

from callplane.api.dialects.retell.render import call_object
from callplane.config import Settings
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.engine.live.session import Command, StopSpeaking
from callplane.engine.live.speech.protocols import Recognized, SpeechEngineError, Voice, WordTiming
from callplane.engine.live.speech.registry import TRANSCRIBERS
from callplane.engine.live.speech.scripted import ScriptedTranscriber
from tests.engine.live.conversation_kit import a_call, conduct, demo_version, dumps, said, version_of

SCRIPTED = Settings(
    simulator_audio=True, speech_synthesizer="scripted", speech_transcriber="scripted", speech_vad="energy"
)


def test_the_demo_call_in_audio_hears_the_callee_and_ends() -> None:
    outcome, _ = conduct(a_call(), demo_version(), settings=SCRIPTED)
    assert (outcome.status, outcome.reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP), dumps(
        outcome
    )
    assert said(outcome, "user") == ["네, 그 시간에 갈게요."]
    assert "2026-05-10 14:00에 뵙겠습니다" in said(outcome, "agent")[-1]
    user = next(e for e in outcome.transcript if e["role"] == "user")
    assert 1000 <= user["end_at"] - user["start_at"] <= 1500  # 12 characters at 10 a second


class CountingTranscriber(ScriptedTranscriber):
    heard: ClassVar[list[str]] = []

    async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized:
        result = await super().transcribe(pcm, sample_rate, voice)
        self.heard.append(result.text)
        return result


def test_a_scenario_can_switch_audio_on_for_its_number() -> None:
    TRANSCRIBERS.register("counting", CountingTranscriber)
    settings = Settings(speech_synthesizer="scripted", speech_transcriber="counting", speech_vad="energy")
    scenarios = [
        {"numbers": ["01055550000"], "audio": True, "persona": {"replies": ["네, 맞아요."]}},
        {"numbers": ["01055550002"], "persona": {"replies": ["네, 맞아요."]}},
    ]
    CountingTranscriber.heard.clear()
    outcome, _ = conduct(a_call("01055550002"), demo_version(), settings=settings, scenarios=scenarios)
    assert said(outcome, "user")[0] == "네, 맞아요." and CountingTranscriber.heard == []
    outcome, _ = conduct(a_call("01055550000"), demo_version(), settings=settings, scenarios=scenarios)
    assert said(outcome, "user")[0] == "네, 맞아요.", dumps(outcome)
    assert "네, 맞아요." in CountingTranscriber.heard  # the agent heard it from audio


def test_talking_over_the_greeting_in_audio_cuts_it_where_the_callee_started_and_goes_on() -> None:
    seen: list[Command] = []
    outcome, _ = conduct(a_call("01000000015"), demo_version(), settings=SCRIPTED, seen=seen.append)
    assert (outcome.status, outcome.reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP), dumps(
        outcome
    )
    assert StopSpeaking() in seen
    greeting = "안녕하세요, 홍길동님. 콜플레인 치과입니다. 2026-05-10 14:00에 예약하신 진료를 확인하려고"
    first, second = outcome.transcript[0], outcome.transcript[1]
    # The callee started 3 s in: 30 characters at 10 a second; marks every 200 ms (2 characters),
    # plus the turn detector's 100 ms before it calls it speech.
    assert first["role"] == "agent" and greeting.startswith(first["content"])
    assert 27 <= len(first["content"]) <= 32, first
    assert second["role"] == "user" and second["content"] == "네, 그 시간에 갈게요."
    assert outcome.collected == {"appointment_status": "confirmed"}


def test_a_silent_callee_in_audio_ends_with_inactivity() -> None:
    outcome, _ = conduct(a_call("01000000006"), demo_version(), settings=SCRIPTED)
    assert outcome.reason is DisconnectionReason.INACTIVITY, dumps(outcome)


def english_agent() -> dict[str, Any]:
    return {
        "name": "english",
        "type": "flow",
        "flow": {
            "voice": {"language": "en-US"},
            "start": "ask",
            "nodes": {
                "ask": {
                    "type": "conversation",
                    "say": "Hello. This is the clinic calling about your appointment.",
                    "edges": [{"to": "bye", "when": {"user_says_any": ["you"]}}],
                    "else": "bye",
                },
                "bye": {"type": "end", "say": "Thank you. Goodbye."},
            },
        },
    }


@pytest.mark.slow
def test_offline_engines_recognise_an_english_callee_from_audio() -> None:
    """espeak-ng speaks both sides, PocketSphinx hears them, WebRTC VAD finds the turns; on a
    real loop (the recogniser runs in a thread)."""
    scenarios = [{"numbers": ["01055550001"], "persona": {"replies": ["hello how are you"], "think_s": 0.3}}]
    outcome, _ = conduct(
        a_call("01055550001"),
        version_of(english_agent()),
        settings=Settings(simulator_audio=True),
        scenarios=scenarios,
        speed=4.0,
        virtual=False,
    )
    assert outcome.status is CallStatus.ENDED, dumps(outcome)
    heard = " ".join(said(outcome, "user")).split()
    assert {"how", "are", "you"} <= set(heard), dumps(outcome)


def test_word_timings_from_a_transcriber_reach_the_record_and_retells_words() -> None:
    """PocketSphinx gives word timings; they are kept on the callee's utterance and Retell shows
    them in seconds from the call's start."""
    TRANSCRIBERS.register("timed", TimedTranscriber)
    settings = Settings(
        simulator_audio=True, speech_synthesizer="scripted", speech_transcriber="timed", speech_vad="energy"
    )
    outcome, _ = conduct(a_call(), demo_version(), settings=settings)
    user = next(e for e in outcome.transcript if e["role"] == "user")
    words = user["words"]
    assert [w["word"] for w in words] == user["content"].split()
    # Placed on the call's clock: the turn's audio runs from its pre-roll (up to 300 ms before the
    # speech) to the 700 ms of silence that ended it, which this transcriber shares out too.
    assert user["start_at"] - 300 <= words[0]["start_at"] < words[-1]["end_at"] <= user["end_at"] + 700
    call = replace(a_call(), transcript=outcome.transcript, start_at=words[0]["start_at"] - 2000)
    retell_words = call_object(call)["transcript_object"][1]["words"]
    assert retell_words[0] == {"word": words[0]["word"], "start": 2.0, "end": retell_words[0]["end"]}


class TimedTranscriber(ScriptedTranscriber):
    """The scripted transcriber, with each word given an even share of the audio."""

    async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized:
        result = await super().transcribe(pcm, sample_rate, voice)
        words = result.text.split()
        step = len(pcm) // 2 * 1000 // sample_rate // max(len(words), 1)
        timed = tuple(WordTiming(w, i * step, (i + 1) * step) for i, w in enumerate(words))
        return Recognized(result.text, timed)


class FailingOnTheCallee(ScriptedTranscriber):
    """The scripted transcriber, giving up (as an engine does after its retries) on the callee's
    answer; the simulated callee's own hearing of the agent works."""

    async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized:
        result = await super().transcribe(pcm, sample_rate, voice)
        if result.text.startswith("네"):
            raise SpeechEngineError("transcription failed after 3 attempt(s): HTTP 503")
        return result


def test_an_engine_that_gives_up_ends_the_call_with_the_reason_and_keeps_what_was_said() -> None:
    TRANSCRIBERS.register("failing", FailingOnTheCallee)
    settings = Settings(
        simulator_audio=True, speech_synthesizer="scripted", speech_transcriber="failing", speech_vad="energy"
    )
    outcome, hooks = conduct(a_call(), demo_version(), settings=settings)
    assert (outcome.status, outcome.reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert outcome.error_detail is not None
    assert "SpeechEngineError" in outcome.error_detail and "HTTP 503" in outcome.error_detail
    assert "홍길동" in said(outcome, "agent")[0]  # the greeting the callee heard is on the record
    assert hooks.records and hooks.records[-1][0] == outcome.transcript
