"""Engines behind an OpenAI-compatible audio API: OpenAI itself, or a self-hosted server that
speaks the same HTTP API.

- synthesis: `POST {base}/audio/speech` with JSON `{model, input, voice, response_format: "wav"}`;
  the answer is streamed, so playback starts with its first bytes. WAV rather than `pcm` because
  `pcm` is headerless and its rate is the server's choice (OpenAI's is 24 kHz, but self-hosted
  servers answer at their voice model's rate — Piper's 22.05 kHz, Kokoro's 24 kHz); the WAV
  header says the rate. A streamed WAV's length fields are unknown when it starts (0 or
  0xFFFFFFFF), so they are not trusted; the data chunk runs to the end of the answer;
- transcription: `POST {base}/audio/transcriptions`, a multipart form with the utterance as a WAV
  `file`, `model` and `language`; the JSON answer's `text` (and `words`, where the server gives
  word timings) is the result — or the body itself when a server answers `text/plain`.

Timeouts, connection failures, 429 and 5xx answers are tried again within the turn's budget
(`budget_s`, `agents/retry.py`'s `Turn`): at most `attempts` tries, each waiting no longer than
`timeout_s` nor than what is left of the budget, after a short jittered pause or the server's
`Retry-After` when it fits in the budget — and then the engine gives up with a
`SpeechEngineError` that says what failed; the call ends with it. Once audio has started to play
a synthesis is not retried: what was played cannot be taken back.

An operator's URL is trusted; a tenant's (an agent's `voice.base_url`) goes through the
outbound-destination guard on every connection. Requests share one HTTP client per event loop
and kind of endpoint (connections are reused) and one TLS context per process (`registry.tls`).
"""

from __future__ import annotations

import asyncio
import io
import struct
import wave
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from callplane.engine import egress
from callplane.engine.live.agents.retry import RETRY_STATUSES, Retryable, Turn, retry_after_s
from callplane.engine.live.speech.protocols import (
    AudioChunk,
    Recognized,
    SpeechEngineError,
    Voice,
    WordTiming,
)
from callplane.engine.live.speech.registry import EngineConfig, retry_policy, tls

T = TypeVar("T")


#: Every call on the loop shares the client: no cap on connections (httpx's default of 100 would
#: queue the turns of a busy worker behind each other), and idle ones kept for the next turn.
_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=256, keepalive_expiry=30)
#: Each event loop's clients, by (trusted, allow_private), with what closes them.
_CLIENTS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[bool, bool], tuple[httpx.AsyncClient, AsyncGenerator[None]]]
] = weakref.WeakKeyDictionary()


async def _closed_with_the_loop(client: httpx.AsyncClient) -> AsyncGenerator[None]:
    """Started on the loop, an async generator is closed by `asyncio.run` as the loop shuts down
    (`loop.shutdown_asyncgens`): the client's connections close with it, on that loop."""
    try:
        yield
    finally:
        await client.aclose()


class _OpenAIEngine:
    what = "speech"

    def __init__(self, config: EngineConfig) -> None:
        if config.base_url is None:
            raise SpeechEngineError("no speech endpoint: set CALLPLANE_SPEECH_BASE_URL or voice.base_url")
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.headers = {"authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.policy = retry_policy(config)

    async def _client(self) -> httpx.AsyncClient:
        """The event loop's client for this kind of endpoint (trusted or guarded): one per loop,
        so calls reuse its connections (no TCP or TLS set-up per request)."""
        loop = asyncio.get_running_loop()
        clients = _CLIENTS.setdefault(loop, {})
        key = (self.config.trusted, self.config.allow_private)
        if key not in clients:
            timeout = httpx.Timeout(self.config.timeout_s)
            shared: dict[str, Any] = {"timeout": timeout, "verify": tls(), "limits": _LIMITS}
            if self.config.trusted:
                client = httpx.AsyncClient(**shared)
            else:
                client = egress.guarded_client(allow_private=self.config.allow_private, **shared)
            closer = _closed_with_the_loop(client)
            await anext(closer)
            clients[key] = (client, closer)
        return clients[key][0]

    async def _with_retries(self, attempt: Callable[[httpx.AsyncClient, httpx.Timeout], Awaitable[T]]) -> T:
        """`attempt(client, limit)` until it succeeds, fails for good, or the budget is spent."""
        turn = Turn(self.policy)
        client = await self._client()
        while True:
            timeout_s = min(self.config.timeout_s, turn.remaining_s())
            try:
                return await attempt(client, httpx.Timeout(timeout_s))
            except Retryable as exc:
                failure = exc
            except httpx.TimeoutException:
                failure = Retryable(f"no answer within {timeout_s:g} s")
            except httpx.TransportError as exc:
                failure = Retryable(f"cannot connect: {exc}")
            try:
                await turn.failed(failure)
            except Retryable:
                raise SpeechEngineError(
                    f"{self.what} failed after {turn.made} attempt(s): {failure.message}"
                ) from None

    @staticmethod
    def _check(response: httpx.Response, body: bytes) -> None:
        if response.is_success:
            return
        detail = f"HTTP {response.status_code}: {body[:200].decode(errors='replace')}"
        if response.status_code in RETRY_STATUSES:
            raise Retryable(detail, retry_after_s(response.headers.get("retry-after")))
        raise SpeechEngineError(detail)


class _WavStream:
    """A streamed WAV, read as it arrives: the header's chunks (`fmt ` gives the rate) until the
    `data` chunk, then PCM16 in even-sized pieces to the end of the stream."""

    def __init__(self) -> None:
        self.rate: int | None = None
        self._buffer = b""
        self._in_data = False

    def feed(self, piece: bytes) -> bytes:
        """The PCM in what has arrived so far (carrying an odd byte to the next piece)."""
        self._buffer += piece
        if not self._in_data and not self._header():
            return b""
        even = len(self._buffer) - len(self._buffer) % 2
        pcm, self._buffer = self._buffer[:even], self._buffer[even:]
        return pcm

    def _header(self) -> bool:
        """Consume the header's chunks that have arrived whole; True once in the data chunk."""
        if len(self._buffer) < 12:
            return False
        if self._buffer[:4] != b"RIFF" or self._buffer[8:12] != b"WAVE":
            raise SpeechEngineError("speech synthesis answered with something other than a WAV")
        at = 12
        while len(self._buffer) >= at + 8:
            kind, size = self._buffer[at : at + 4], struct.unpack("<I", self._buffer[at + 4 : at + 8])[0]
            if kind == b"data":
                if self.rate is None:
                    raise SpeechEngineError("speech synthesis answered a WAV without its format")
                self._buffer, self._in_data = self._buffer[at + 8 :], True
                return True
            if len(self._buffer) < at + 8 + size:
                return False
            if kind == b"fmt ":
                self._format(self._buffer[at + 8 : at + 8 + size])
            at += 8 + size + size % 2  # chunks are padded to even sizes
        return False

    def _format(self, fmt: bytes) -> None:
        tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
        if tag not in (1, 0xFFFE) or channels != 1 or bits != 16:
            raise SpeechEngineError(
                f"speech synthesis answered a WAV this line cannot play ({channels} channel(s), "
                f"{bits}-bit, format {tag:#x}): mono 16-bit PCM is needed"
            )
        self.rate = rate


class OpenAISynthesizer(_OpenAIEngine):
    what = "speech synthesis"

    async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[AudioChunk]:
        payload = {
            "model": self.config.synthesis_model,
            "input": text,
            "voice": voice.voice or self.config.voice,
            "response_format": "wav",
        }
        queue: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        started = False

        async def attempt(client: httpx.AsyncClient, limit: httpx.Timeout) -> None:
            nonlocal started
            url = f"{self.base_url}/audio/speech"
            try:
                async with client.stream(
                    "POST", url, json=payload, headers=self.headers, timeout=limit
                ) as response:
                    if not response.is_success:
                        self._check(response, await response.aread())
                    wav = _WavStream()
                    async for piece in response.aiter_bytes():
                        pcm = wav.feed(piece)
                        if pcm and wav.rate is not None:
                            started = True
                            queue.put_nowait(AudioChunk(pcm, wav.rate))
            except (Retryable, httpx.TransportError) as exc:
                if started:  # part of it has been played: a retry would say it twice
                    raise SpeechEngineError(f"speech synthesis broke off: {exc}") from None
                raise

        async def run() -> None:
            try:
                await self._with_retries(attempt)
            finally:
                queue.put_nowait(None)

        task = asyncio.get_running_loop().create_task(run())
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            await task  # raises what the request raised
        finally:
            task.cancel()


class OpenAITranscriber(_OpenAIEngine):
    what = "transcription"

    async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized:
        form = {"model": self.config.transcription_model, "language": voice.language.split("-")[0].lower()}
        if self.config.word_timings:
            form |= {"response_format": "verbose_json", "timestamp_granularities[]": "word"}
        files = {"file": ("utterance.wav", _wav(pcm, sample_rate), "audio/wav")}

        async def attempt(client: httpx.AsyncClient, limit: httpx.Timeout) -> dict[str, Any]:
            url = f"{self.base_url}/audio/transcriptions"
            response = await client.post(url, data=form, files=files, headers=self.headers, timeout=limit)
            self._check(response, response.content)
            if response.headers.get("content-type", "").startswith("text/plain"):
                return {"text": response.text}  # what `response_format: text` answers; some servers' default
            try:
                body = response.json()
            except ValueError:
                raise SpeechEngineError("transcription answered with something other than JSON") from None
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                raise SpeechEngineError("transcription answer has no text")
            return body

        body = await self._with_retries(attempt)
        return Recognized(body["text"].strip(), _words(body.get("words")))


def _words(raw: object) -> tuple[WordTiming, ...]:
    """`verbose_json` word timings (seconds), where the server gives them."""
    if not isinstance(raw, list):
        return ()
    out = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("word"), str):
            try:
                out.append(
                    WordTiming(
                        item["word"], round(float(item["start"]) * 1000), round(float(item["end"]) * 1000)
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
    return tuple(out)


def _wav(pcm: bytes, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()
