"""The session vocabulary: what a transport says and is told."""

from __future__ import annotations

import dataclasses

import pytest

from callplane.domain.call import DisconnectionReason
from callplane.engine.live.session import (
    AudioFrame,
    Carrier,
    CarrierStatus,
    Codec,
    FinalTranscript,
    PlaybackMark,
    Speak,
    Word,
)


def test_only_final_dial_failures_are_not_connected() -> None:
    assert {s: s.not_connected_reason for s in CarrierStatus if s.not_connected_reason} == {
        CarrierStatus.BUSY: DisconnectionReason.DIAL_BUSY,
        CarrierStatus.NO_ANSWER: DisconnectionReason.DIAL_NO_ANSWER,
        CarrierStatus.DECLINED: DisconnectionReason.DIAL_DECLINED,
        CarrierStatus.FAILED: DisconnectionReason.DIAL_FAILED,
    }


def test_events_and_commands_are_values() -> None:
    """Frozen and comparable: transports and tests can pass, queue and compare them freely."""
    frame = AudioFrame(b"\xff" * 160, Codec.MULAW, 8000, 20)  # 20 ms of Twilio's μ-law
    final = FinalTranscript(
        "네 맞아요", 1_000, 1_800, (Word("네", 1_000, 1_200), Word("맞아요", 1_300, 1_800))
    )
    for value in (frame, final, PlaybackMark("u1", 4, 900, done=True), Speak("u1", "네. ", end=False)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, dataclasses.fields(value)[0].name, None)
    assert final.at == 1_800  # a final transcript is known once the utterance ended
    assert Carrier(CarrierStatus.RINGING, 5) == Carrier(CarrierStatus.RINGING, 5)
    assert {Speak("u1", "a"), Speak("u1", "a")} == {Speak("u1", "a")}
