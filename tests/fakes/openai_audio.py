"""A local fake of OpenAI's audio API, speaking its real HTTP protocol on loopback.

- `POST /v1/audio/speech`: JSON `{model, input, voice, response_format: "wav" | "pcm"}` → a WAV
  (its length fields unknown, 0xFFFFFFFF, as a server streaming one writes them) or raw PCM16,
  at `rate` (24 kHz, OpenAI's; a self-hosted server's voice model may use another), streamed in
  pieces like OpenAI streams it;
- `POST /v1/audio/transcriptions`: a multipart form (`file` — a WAV —, `model`, `language`) →
  `{"text": …}`, or the text as `text/plain` (`plain_text=True`, as some self-hosted servers do).

So that what the fake says can be heard back exactly through resampling and μ-law, each phrase
is spoken as a tone of its own frequency (a codebook of 30), lasting `len(text) / 10` seconds;
transcription splits the audio into 100 ms windows, finds each window's frequency, and returns
each phrase heard cut to the time its tone lasted. Every request is recorded; `fail_next` makes the
next requests answer a given status.
"""

from __future__ import annotations

import asyncio
import io
import struct
import wave
from collections.abc import AsyncIterator
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

RATE = 24000
CHARS_PER_S = 10.0
_TONES = [400 + 100 * i for i in range(30)]  # 400–3300 Hz: inside the phone band
_WINDOW_S = 0.1


def streamed_wav_header(rate: int) -> bytes:
    """Mono PCM16 at `rate`, a `LIST` chunk before the data (as ffmpeg writes), lengths unknown."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    info = b"INFOISFT\x0e\x00\x00\x00Lavf61.7.100\x00\x00"
    return (
        struct.pack("<4sI4s", b"RIFF", 0xFFFFFFFF, b"WAVE")
        + struct.pack("<4sI", b"fmt ", 16)
        + fmt
        + struct.pack("<4sI", b"LIST", len(info))
        + info
        + struct.pack("<4sI", b"data", 0xFFFFFFFF)
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "server_error"}}, status)


class FakeOpenAIAudio:
    def __init__(
        self, *, api_key: str | None = None, rate: int = RATE, plain_text: bool = False, delay_s: float = 0.0
    ) -> None:
        self.api_key = api_key
        self.rate = rate
        self.plain_text = plain_text
        self.delay_s = delay_s  #: waited before each answer (an engine's own time)
        self.spoken: list[str] = []
        self.transcribed: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self.failures: list[int] = []
        self._by_tone: dict[int, str] = {}
        self.app = Starlette(
            routes=[
                Route("/v1/audio/speech", self.speech, methods=["POST"]),
                Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
            ]
        )

    def fail_next(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    def _refused(self, request: Request) -> Response | None:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": {"message": "Incorrect API key provided"}}, 401)
        if self.failures:
            status = self.failures.pop(0)
            response = _error(status, "The server is overloaded")
            if status == 429:
                response.headers["retry-after"] = "0"
            return response
        return None

    async def speech(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        fmt = body.get("response_format")
        if fmt not in ("wav", "pcm") or not isinstance(body.get("input"), str):
            return _error(400, "expected response_format wav or pcm and an input")
        text = body["input"]
        tone = _TONES[len(self.spoken) % len(_TONES)]
        self.spoken.append(text)
        self._by_tone[tone] = text
        await asyncio.sleep(self.delay_s)
        t = np.arange(round(len(text) / CHARS_PER_S * self.rate)) / self.rate
        pcm = (6000 * np.sin(2 * np.pi * tone * t)).astype("<i2").tobytes()
        if fmt == "wav":
            pcm = streamed_wav_header(self.rate) + pcm

        async def pieces() -> AsyncIterator[bytes]:
            for i in range(0, len(pcm), 4801):  # odd sizes: a client must carry the odd byte
                yield pcm[i : i + 4801]
                await asyncio.sleep(0)

        return StreamingResponse(pieces(), media_type="application/octet-stream")

    async def transcriptions(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        raw = await request.body()
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + raw)
        form: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            form[str(name)] = payload if part.get_filename() else payload.decode()
        self.forms.append({k: v for k, v in form.items() if k != "file"})
        if "file" not in form or "model" not in form:
            return _error(400, "file and model are required")
        with wave.open(io.BytesIO(form["file"])) as wav:
            rate = wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
        heard = self._hear(samples, rate)
        text = " ".join(phrase for phrase, _, _ in heard)
        self.transcribed.append(text)
        await asyncio.sleep(self.delay_s)
        if self.plain_text:
            return PlainTextResponse(text)
        if form.get("response_format") == "verbose_json":
            # Word granularity, as Whisper gives it: each phrase's words spread over its tone.
            words = []
            for phrase, start, end in heard:
                parts = phrase.split()
                step = (end - start) / len(parts)
                for i, word in enumerate(parts):
                    words.append({"word": word, "start": start + i * step, "end": start + (i + 1) * step})
            return JSONResponse({"text": text, "words": words})
        return JSONResponse({"text": text})

    def _hear(self, samples: np.ndarray[Any, Any], rate: int) -> list[tuple[str, float, float]]:
        """Each phrase heard (cut to the time its tone lasted), with its start and end in s."""
        size = int(rate * _WINDOW_S)
        runs: list[list[Any]] = []  # [tone, voiced samples, first sample, last sample]
        for start in range(0, len(samples), size):
            window = samples[start : start + size]
            voiced = np.flatnonzero(np.abs(window) > 1000)
            if len(voiced) == 0:
                continue
            spectrum = np.abs(np.fft.rfft(window, n=size))
            frequency = float(np.argmax(spectrum)) / _WINDOW_S
            tone = min(_TONES, key=lambda f: abs(f - frequency))
            span = int(voiced[-1] - voiced[0] + 1)
            if runs and runs[-1][0] == tone:
                runs[-1][1] += span
                runs[-1][3] = start + int(voiced[-1])
            else:
                runs.append([tone, span, start + int(voiced[0]), start + int(voiced[-1])])
        heard = []
        for tone, span, first, last in runs:
            phrase = self._by_tone.get(tone, "")[: round(span / rate * CHARS_PER_S)].strip()
            if phrase:
                heard.append((phrase, first / rate, (last + 1) / rate))
        return heard
