"""Speech engines by name: one registry (engine/registry.py) per interface.

Engines are imported only when chosen, so naming `pocketsphinx` costs nothing on a deployment
that never uses it (and one installed without the `speech` extra still starts).
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass

import httpx

from callplane.engine.live.agents.retry import RetryPolicy
from callplane.engine.live.speech.protocols import Synthesizer, Transcriber, VoiceActivity
from callplane.engine.registry import Registry


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What an engine may need to start; each uses the parts it knows."""

    base_url: str | None = None  #: an HTTP engine's API root, e.g. `https://api.openai.com/v1`
    api_key: str | None = None
    synthesis_model: str = "gpt-4o-mini-tts"
    transcription_model: str = "gpt-4o-mini-transcribe"
    voice: str = "alloy"
    timeout_s: float = 10.0  #: one attempt's longest wait
    attempts: int = 3
    #: A turn's time for all the attempts of one engine request and the pauses between them.
    budget_s: float = 20.0
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


def retry_policy(config: EngineConfig) -> RetryPolicy:
    """How an engine request is retried within a turn: short jittered pauses (a caller is
    waiting), at most `attempts` tries within `budget_s`."""
    return RetryPolicy(attempts=config.attempts, budget_s=config.budget_s, base_s=0.2, max_wait_s=2.0)


@functools.cache
def tls() -> ssl.SSLContext:
    """One TLS context for every engine connection of the process. httpx and websockets build a
    new one (loading the CA bundle) for each client or connection unless given one: ~50 ms of
    CPU on the event loop that carries the calls' audio, each time, on a loaded 2-core host."""
    return httpx.create_ssl_context()


_PKG = "callplane.engine.live.speech"

SYNTHESIZERS: Registry[EngineConfig, Synthesizer] = Registry(
    "synthesizer",
    {
        "scripted": f"{_PKG}.scripted:ScriptedSynthesizer",
        "espeak": f"{_PKG}.espeak:EspeakSynthesizer",
        "openai": f"{_PKG}.openai:OpenAISynthesizer",
    },
)
TRANSCRIBERS: Registry[EngineConfig, Transcriber] = Registry(
    "transcriber",
    {
        "scripted": f"{_PKG}.scripted:ScriptedTranscriber",
        "pocketsphinx": f"{_PKG}.sphinx:SphinxTranscriber",
        "openai": f"{_PKG}.openai:OpenAITranscriber",
        "deepgram": f"{_PKG}.deepgram:DeepgramTranscriber",
    },
)
VOICE_ACTIVITY: Registry[EngineConfig, VoiceActivity] = Registry(
    "voice activity detector",
    {
        "energy": f"{_PKG}.turns:EnergyActivity",
        "webrtc": f"{_PKG}.turns:WebRtcActivity",
    },
)
