"""Which engines a call uses: the deployment's defaults (settings), overridden per agent version.

Defaults: with `CALLPLANE_SPEECH_BASE_URL` set, the OpenAI-compatible pair at that URL (the
operator's, so trusted); otherwise the offline pair, espeak-ng and PocketSphinx. An agent
version's `voice` block (domain/voice.py) may choose the other pair, its own OpenAI-compatible
endpoint (a tenant's, so guarded), a voice and a language.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from callplane.config import Settings
from callplane.domain.voice import SpeechEngine, VoiceSpec
from callplane.engine.clock import Clock
from callplane.engine.live.session import RawTransport
from callplane.engine.live.speech.pipeline import SpeechPipeline, Tee
from callplane.engine.live.speech.protocols import Synthesizer, Transcriber, Voice
from callplane.engine.live.speech.registry import (
    SYNTHESIZERS,
    TRANSCRIBERS,
    VOICE_ACTIVITY,
    EngineConfig,
)
from callplane.engine.live.speech.turns import VadTurns


@dataclass(frozen=True, slots=True)
class SpeechStack:
    config: EngineConfig
    synthesizer: str
    transcriber: str
    vad: str = "webrtc"
    end_of_turn_ms: int = 700
    barge_in_ms: int = 100  #: speech before a turn starts (and barge-in stops the agent)

    @classmethod
    def from_settings(cls, settings: Settings) -> SpeechStack:
        cloud = settings.speech_base_url is not None
        config = EngineConfig(
            base_url=settings.speech_base_url,
            api_key=settings.speech_api_key,
            synthesis_model=settings.speech_synthesis_model,
            transcription_model=settings.speech_transcription_model,
            voice=settings.speech_voice,
            timeout_s=settings.speech_timeout_s,
            attempts=settings.speech_attempts,
            budget_s=settings.speech_budget_s,
            allow_private=settings.allow_private_destinations,
            streaming_url=settings.speech_streaming_url,
            streaming_api_key=settings.speech_streaming_api_key,
            streaming_model=settings.speech_streaming_model,
            word_timings=settings.speech_word_timings,
        )
        return cls(
            config,
            settings.speech_synthesizer or ("openai" if cloud else "espeak"),
            settings.speech_transcriber or ("openai" if cloud else "pocketsphinx"),
            settings.speech_vad,
            settings.speech_end_of_turn_ms,
            settings.speech_barge_in_ms,
        )

    def engines(self, spec: VoiceSpec) -> tuple[Synthesizer, Transcriber, Voice]:
        """The engine pair and voice for an agent version's `voice` block."""
        config, synthesizer, transcriber = self.config, self.synthesizer, self.transcriber
        if spec.engine is SpeechEngine.OFFLINE:
            synthesizer, transcriber = "espeak", "pocketsphinx"
        elif spec.engine is SpeechEngine.OPENAI:
            synthesizer, transcriber = "openai", "openai"
            if spec.base_url is not None:  # a tenant's endpoint: guarded at connect time
                config = replace(config, base_url=spec.base_url, api_key=spec.api_key, trusted=False)
        hearing = config
        if spec.transcriber is not None:  # the operator's streaming endpoint, the tenant's key if given
            transcriber = spec.transcriber.value
            hearing = replace(
                self.config, streaming_api_key=spec.transcriber_api_key or self.config.streaming_api_key
            )
        voice = Voice(spec.voice, spec.language)
        return SYNTHESIZERS.create(synthesizer, config), TRANSCRIBERS.create(transcriber, hearing), voice

    def pipeline(
        self, raw: RawTransport, clock: Clock, spec: VoiceSpec, tee: Tee | None = None
    ) -> SpeechPipeline:
        synthesizer, transcriber, voice = self.engines(spec)
        activity = VOICE_ACTIVITY.create(self.vad, self.config)
        turns = VadTurns(activity, start_ms=self.barge_in_ms, silence_ms=self.end_of_turn_ms)
        return SpeechPipeline(
            raw, clock, synthesizer=synthesizer, transcriber=transcriber, turns=turns, voice=voice, tee=tee
        )
