"""Speech engines by name: one registry per interface, implementations loaded on first use.

The built-in entries name their class as `module:attribute` and are imported only when chosen,
so naming `pocketsphinx` costs nothing on a deployment that never uses it (and one installed
without the `speech` extra still starts). `register()` adds an engine — a plug-in or a test
double — under a new name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from callplane.engine.live.speech.protocols import Synthesizer, Transcriber, VoiceActivity

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What an engine may need to start; each uses the parts it knows."""

    base_url: str | None = None  #: an HTTP engine's API root, e.g. `https://api.openai.com/v1`
    api_key: str | None = None
    synthesis_model: str = "gpt-4o-mini-tts"
    transcription_model: str = "gpt-4o-mini-transcribe"
    voice: str = "alloy"
    timeout_s: float = 10.0
    attempts: int = 3
    #: A streaming transcriber's WebSocket endpoint (Deepgram's `/v1/listen` protocol).
    streaming_url: str = "wss://api.deepgram.com/v1/listen"
    streaming_api_key: str | None = None
    streaming_model: str = "nova-3"
    #: Silence on the stream after which a streaming transcriber says it is still there.
    streaming_keepalive_s: float = 4.0
    #: Ask an OpenAI-compatible transcriber for word timings (`verbose_json`, word granularity):
    #: only models that support it (`whisper-1`, most self-hosted Whisper servers) accept it.
    word_timings: bool = False
    trusted: bool = True  #: the operator's URL; False: a tenant's, guarded by engine/egress.py
    allow_private: bool = False  #: for an untrusted URL: whether internal addresses are allowed


class UnknownEngine(LookupError):
    pass


Factory = Callable[[EngineConfig], T]


class Registry(Generic[T]):
    def __init__(self, kind: str, builtin: dict[str, str]) -> None:
        self.kind = kind
        self._builtin = dict(builtin)
        self._factories: dict[str, Factory[T]] = {}

    def names(self) -> list[str]:
        return sorted({*self._builtin, *self._factories})

    def register(self, name: str, factory: Factory[T]) -> None:
        self._factories[name] = factory

    def create(self, name: str, config: EngineConfig) -> T:
        factory = self._factories.get(name)
        if factory is None:
            target = self._builtin.get(name)
            if target is None:
                raise UnknownEngine(f"no {self.kind} named {name!r}; known: {', '.join(self.names())}")
            module, _, attribute = target.partition(":")
            factory = getattr(importlib.import_module(module), attribute)
            self._factories[name] = factory
        return factory(config)


_PKG = "callplane.engine.live.speech"

SYNTHESIZERS: Registry[Synthesizer] = Registry(
    "synthesizer",
    {
        "scripted": f"{_PKG}.scripted:ScriptedSynthesizer",
        "espeak": f"{_PKG}.espeak:EspeakSynthesizer",
        "openai": f"{_PKG}.openai:OpenAISynthesizer",
    },
)
TRANSCRIBERS: Registry[Transcriber] = Registry(
    "transcriber",
    {
        "scripted": f"{_PKG}.scripted:ScriptedTranscriber",
        "pocketsphinx": f"{_PKG}.sphinx:SphinxTranscriber",
        "openai": f"{_PKG}.openai:OpenAITranscriber",
        "deepgram": f"{_PKG}.deepgram:DeepgramTranscriber",
    },
)
VOICE_ACTIVITY: Registry[VoiceActivity] = Registry(
    "voice activity detector",
    {
        "energy": f"{_PKG}.turns:EnergyActivity",
        "webrtc": f"{_PKG}.turns:WebRtcActivity",
    },
)
