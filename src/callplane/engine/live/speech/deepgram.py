"""Streaming transcription over Deepgram's WebSocket protocol (`/v1/listen`; it speaks Korean).

One connection per callee turn: the query names the audio (`encoding=linear16`, the line's
`sample_rate`, one channel), the model, the language and `interim_results=true`; the turn's
frames go up as binary messages as they arrive, and `Results` messages come down — interim ones
(`is_final: false`) are reported as partial text, final ones are joined into the turn's text
with their word timings. At the end of the turn `{"type": "CloseStream"}` makes the server flush
its last results and close. The pre-roll is sent at once, so the connection's set-up overlaps
the callee's first words instead of adding to the turn's latency. Deepgram closes a connection
that hears nothing for 10 s (`NET-0001`); whenever no audio went up for `keepalive_s` (the
carrier's stream stalled), `{"type": "KeepAlive"}` is sent, as Deepgram's docs ask (every 3–5 s).

The operator's endpoint (`CALLPLANE_SPEECH_STREAMING_URL`, Deepgram's own by default) is trusted;
a failure to connect is retried up to `attempts` times within the turn's budget (`budget_s`, as
the OpenAI-compatible engines do), then the call ends with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from callplane.engine.live.agents.retry import Retryable, Turn
from callplane.engine.live.speech.protocols import Recognized, SpeechEngineError, Voice, WordTiming
from callplane.engine.live.speech.registry import EngineConfig, retry_policy, tls


class DeepgramTranscriber:
    def __init__(self, config: EngineConfig) -> None:
        if not config.streaming_api_key:
            raise SpeechEngineError("no Deepgram key: set CALLPLANE_SPEECH_STREAMING_API_KEY")
        self.config = config

    async def open(self, sample_rate: int, voice: Voice, on_partial: Callable[[str], None]) -> DeepgramStream:
        query = urlencode(
            {
                "encoding": "linear16",
                "sample_rate": sample_rate,
                "channels": 1,
                "model": self.config.streaming_model,
                "language": voice.language.split("-")[0].lower(),
                "interim_results": "true",
                "punctuate": "true",
            }
        )
        url = f"{self.config.streaming_url}?{query}"
        headers = {"Authorization": f"Token {self.config.streaming_api_key}"}
        turn = Turn(retry_policy(self.config))
        while True:
            try:
                socket = await connect(
                    url,
                    additional_headers=headers,
                    open_timeout=min(self.config.timeout_s, turn.remaining_s()),
                    proxy=None,
                    ssl=tls() if url.startswith("wss:") else None,
                )
                return DeepgramStream(
                    socket, on_partial, self.config.timeout_s, self.config.streaming_keepalive_s
                )
            except (OSError, TimeoutError, WebSocketException) as exc:
                failure = Retryable(str(exc) or type(exc).__name__)
            try:
                await turn.failed(failure)
            except Retryable:
                raise SpeechEngineError(
                    f"streaming transcription failed after {turn.made} attempt(s): {failure.message}"
                ) from None

    async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized:
        stream = await self.open(sample_rate, voice, lambda text: None)
        try:
            await stream.send(pcm)
            return await stream.finish()
        finally:
            await stream.aclose()


class DeepgramStream:
    def __init__(
        self,
        socket: ClientConnection,
        on_partial: Callable[[str], None],
        timeout_s: float,
        keepalive_s: float = 4.0,
    ) -> None:
        self.socket = socket
        self.on_partial = on_partial
        self.timeout_s = timeout_s
        self.keepalive_s = keepalive_s
        self.keepalives = 0  #: sent so far
        loop = asyncio.get_running_loop()
        self._sent_at = loop.time()
        self._finals: list[dict[str, Any]] = []
        self._reader = loop.create_task(self._read())
        self._keeper = loop.create_task(self._keep_alive())

    async def send(self, pcm: bytes) -> None:
        self._sent_at = asyncio.get_running_loop().time()
        try:
            await self.socket.send(pcm)
        except WebSocketException as exc:
            raise SpeechEngineError(f"streaming transcription broke off: {exc}") from None

    async def _keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(WebSocketException):  # a broken socket is `send`'s to report
            while True:
                await asyncio.sleep(max(0.0, self._sent_at + self.keepalive_s - loop.time()))
                if loop.time() - self._sent_at >= self.keepalive_s:
                    self._sent_at = loop.time()
                    self.keepalives += 1
                    await self.socket.send(json.dumps({"type": "KeepAlive"}))

    async def finish(self) -> Recognized:
        self._keeper.cancel()
        try:
            await self.socket.send(json.dumps({"type": "CloseStream"}))
            async with asyncio.timeout(self.timeout_s):
                await self._reader
        except TimeoutError:
            raise SpeechEngineError(
                f"streaming transcription: no final result within {self.timeout_s:g} s"
            ) from None
        except WebSocketException as exc:
            raise SpeechEngineError(f"streaming transcription broke off: {exc}") from None
        text = " ".join(t for r in self._finals if (t := r["transcript"].strip()))
        words = tuple(w for r in self._finals for w in r["words"])
        return Recognized(text, words)

    async def aclose(self) -> None:
        self._keeper.cancel()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketException):
            await self._reader
        await self.socket.close()

    async def _read(self) -> None:
        with contextlib.suppress(WebSocketException):  # the server closes after CloseStream
            async for message in self.socket:
                result = _result(message)
                if result is None:
                    continue
                if result["final"]:
                    self._finals.append(result)
                elif result["transcript"]:
                    self.on_partial(
                        " ".join([*(r["transcript"] for r in self._finals), result["transcript"]])
                    )


def _result(message: str | bytes) -> dict[str, Any] | None:
    """A `Results` message's best alternative; None for metadata and other messages."""
    try:
        body = json.loads(message)
        if body.get("type") != "Results":
            return None
        best = body["channel"]["alternatives"][0]
        words = tuple(
            WordTiming(
                w.get("punctuated_word") or w["word"],
                round(float(w["start"]) * 1000),
                round(float(w["end"]) * 1000),
            )
            for w in best.get("words", [])
        )
        return {
            "final": bool(body.get("is_final")),
            "transcript": str(best.get("transcript", "")),
            "words": words,
        }
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
