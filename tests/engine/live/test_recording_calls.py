"""The recorder attached to whole calls on the simulated line (scripted engines, virtual time):
what the callee never heard of a cut sentence is not in the recording; opted-out and text calls
have none."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from callplane.config import Settings
from callplane.domain.call import DisconnectionReason
from tests.engine.live.conversation_kit import a_call, conduct, demo_version, dumps

SCRIPTED = Settings(
    simulator_audio=True, speech_synthesizer="scripted", speech_transcriber="scripted", speech_vad="energy"
)


def test_a_barge_in_cuts_the_agents_track_where_playback_stopped() -> None:
    outcome, _ = conduct(a_call("01000000015"), demo_version(), settings=SCRIPTED)
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP, dumps(outcome)
    assert outcome.recording is not None and outcome.answered_at is not None
    with outcome.recording.open() as stream:
        stereo = np.frombuffer(stream.read()[44:], dtype="<i2")  # past the WAV's header
    agent, callee = stereo[0::2], stereo[1::2]

    def at(ms: int) -> int:  # sample index on the recording's timeline (it opens at the answer)
        return (ms - outcome.answered_at) * 8  # type: ignore[operator]

    spoken = [e for e in outcome.transcript if e["role"] in ("agent", "user")]
    cut, answer, after = spoken[:3]
    assert (cut["role"], answer["role"], after["role"]) == ("agent", "user", "agent")
    # The greeting played until the cut, and nothing of its rest follows: the agent's track is
    # silent from shortly after the cut until the agent's next sentence.
    assert np.abs(agent[at(cut["start_at"]) : at(cut["end_at"])]).max() > 0
    assert np.abs(agent[at(cut["end_at"]) + 800 : at(after["start_at"]) - 160]).max() == 0
    assert np.abs(agent[at(after["start_at"]) : at(after["end_at"])]).max() > 0
    # The callee's answer is on its own channel, where the transcript says it was.
    assert np.abs(callee[at(answer["start_at"]) : at(answer["end_at"])]).max() > 0


def test_opted_out_and_text_calls_have_no_recording() -> None:
    opted_out = replace(a_call(), opt_out_sensitive_data_storage=True)
    outcome, _ = conduct(opted_out, demo_version(), settings=SCRIPTED)
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP and outcome.recording is None
    outcome, _ = conduct(a_call(), demo_version(), settings=Settings())
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP and outcome.recording is None
    outcome, _ = conduct(a_call(), demo_version(), settings=SCRIPTED)
    assert outcome.recording is not None and outcome.recording.duration_ms > 0
