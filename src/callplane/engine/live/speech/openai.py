"""Engines behind an OpenAI-compatible audio API: OpenAI itself, or a self-hosted server that
speaks the same HTTP API.

- synthesis: `POST {base}/audio/speech` with JSON `{model, input, voice, response_format: "pcm"}`;
  the answer is raw PCM16 at 24 kHz, streamed, so playback starts with its first bytes;
- transcription: `POST {base}/audio/transcriptions`, a multipart form with the utterance as a WAV
  `file`, `model` and `language`; the JSON answer's `text` (and `words`, where the server gives
  word timings) is the result.

Timeouts, connection failures, 429 and 5xx answers are tried again — `attempts` tries of
`timeout_s` each, after a short pause (a 429's `Retry-After` when it is short) — and then the
engine gives up with a `SpeechEngineError` that says what failed; the call ends with it. Once
audio has started to play a synthesis is not retried: what was played cannot be taken back.

An operator's URL is trusted; a tenant's (an agent's `voice.base_url`) goes through the
outbound-destination guard on every connection.
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from callplane.engine import egress
from callplane.engine.live.speech.protocols import (
    AudioChunk,
    Recognized,
    SpeechEngineError,
    Voice,
    WordTiming,
)
from callplane.engine.live.speech.registry import EngineConfig

SPEECH_RATE = 24000  #: OpenAI's `pcm` response format
_RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}
_MAX_PAUSE_S = 2.0
T = TypeVar("T")


class _Retryable(Exception):
    def __init__(self, detail: str, pause_s: float) -> None:
        super().__init__(detail)
        self.pause_s = pause_s


class _OpenAIEngine:
    what = "speech"

    def __init__(self, config: EngineConfig) -> None:
        if config.base_url is None:
            raise SpeechEngineError("no speech endpoint: set CALLPLANE_SPEECH_BASE_URL or voice.base_url")
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.headers = {"authorization": f"Bearer {config.api_key}"} if config.api_key else {}

    def _client(self) -> httpx.AsyncClient:
        timeout = httpx.Timeout(self.config.timeout_s)
        if self.config.trusted:
            return httpx.AsyncClient(timeout=timeout)
        return egress.guarded_client(allow_private=self.config.allow_private, timeout=timeout)

    async def _with_retries(self, attempt: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        last = ""
        async with self._client() as client:
            for n in range(self.config.attempts):
                try:
                    return await attempt(client)
                except _Retryable as exc:
                    last, pause = str(exc), exc.pause_s
                except httpx.TimeoutException:
                    last, pause = f"no answer within {self.config.timeout_s:g} s", 0.0
                except httpx.TransportError as exc:
                    last, pause = f"cannot connect: {exc}", 0.2 * 2**n
                if n + 1 < self.config.attempts:
                    await asyncio.sleep(min(pause, _MAX_PAUSE_S))
        raise SpeechEngineError(f"{self.what} failed after {self.config.attempts} attempt(s): {last}")

    @staticmethod
    def _check(response: httpx.Response, body: bytes) -> None:
        if response.is_success:
            return
        detail = f"HTTP {response.status_code}: {body[:200].decode(errors='replace')}"
        if response.status_code in _RETRY_STATUSES:
            raise _Retryable(detail, _retry_after(response))
        raise SpeechEngineError(detail)


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("retry-after", "0.2"))
    except ValueError:
        return 0.2


class OpenAISynthesizer(_OpenAIEngine):
    what = "speech synthesis"

    async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[AudioChunk]:
        payload = {
            "model": self.config.synthesis_model,
            "input": text,
            "voice": voice.voice or self.config.voice,
            "response_format": "pcm",
        }
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        started = False

        async def attempt(client: httpx.AsyncClient) -> None:
            nonlocal started
            url = f"{self.base_url}/audio/speech"
            try:
                async with client.stream("POST", url, json=payload, headers=self.headers) as response:
                    if not response.is_success:
                        self._check(response, await response.aread())
                    carry = b""
                    async for piece in response.aiter_bytes():
                        piece = carry + piece
                        even = len(piece) - len(piece) % 2
                        carry = piece[even:]
                        if even:
                            started = True
                            queue.put_nowait(piece[:even])
            except (_Retryable, httpx.TransportError) as exc:
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
            while (pcm := await queue.get()) is not None:
                yield AudioChunk(pcm, SPEECH_RATE)
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

        async def attempt(client: httpx.AsyncClient) -> dict[str, Any]:
            url = f"{self.base_url}/audio/transcriptions"
            response = await client.post(url, data=form, files=files, headers=self.headers)
            self._check(response, response.content)
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
