"""Loopback speech engines for bench/voice_latency.py: OpenAI's audio API and Deepgram's `/v1/listen`
WebSocket, answering after a fixed delay (what a cloud engine's own time adds).

Run as its own process (`python -m bench.fake_speech --transcribe-ms 150 --synthesis-ms 100`),
so its CPU is not counted as the bench's and `--one-core` pins the bench alone; it prints its
base URL on the first line. Audio is the scripted engines' (engine/live/speech/scripted.py): a
phrase's number in a header that survives the line's μ-law exactly, so what one side says the
other side's transcription reads back — both sides' engines go through this process, which holds
the phrasebook. It speaks at 8 kHz, the line's rate, so nothing is resampled on the way.

- `POST /v1/audio/speech` (JSON `{input, response_format: "wav" | "pcm"}`): after the delay, a
  WAV with unknown lengths (as streamed WAVs are) or raw PCM16, in pieces;
- `POST /v1/audio/transcriptions` (multipart, `file` a WAV): after the delay, `{"text"}`;
- `WS /v1/listen?encoding=linear16&sample_rate=…`: binary audio up; on `{"type": "CloseStream"}`,
  after the delay, one final `Results` message for all of it, then the server closes.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
import struct
import wave
from collections.abc import AsyncIterator
from email.parser import BytesParser
from email.policy import HTTP

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from callplane.engine.live.speech import audio, scripted

RATE = scripted.SAMPLE_RATE
_PIECE = 4801  # odd: a client must carry the odd byte between pieces


def _wav_header(rate: int) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        struct.pack("<4sI4s4sI", b"RIFF", 0xFFFFFFFF, b"WAVE", b"fmt ", 16)
        + fmt
        + struct.pack("<4sI", b"data", 0xFFFFFFFF)
    )


def app(transcribe_s: float, synthesis_s: float) -> Starlette:
    async def speech(request: Request) -> Response:
        body = await request.json()
        fmt = body.get("response_format")
        if fmt not in ("wav", "pcm") or not isinstance(body.get("input"), str):
            return JSONResponse({"error": {"message": "expected response_format wav or pcm"}}, 400)
        pcm = scripted.render(body["input"])
        data = (_wav_header(RATE) if fmt == "wav" else b"") + pcm

        async def pieces() -> AsyncIterator[bytes]:
            await asyncio.sleep(synthesis_s)
            for i in range(0, len(data), _PIECE):
                yield data[i : i + _PIECE]

        return StreamingResponse(pieces(), media_type="audio/wav")

    async def transcriptions(request: Request) -> Response:
        raw = await request.body()
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        upload = b""
        for part in BytesParser(policy=HTTP).parsebytes(head + raw).iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                upload = bytes(part.get_payload(decode=True))
        with wave.open(io.BytesIO(upload)) as wav:
            pcm = audio.resample(wav.readframes(wav.getnframes()), wav.getframerate(), RATE)
        await asyncio.sleep(transcribe_s)
        return JSONResponse({"text": scripted.read(pcm)})

    async def listen(socket: WebSocket) -> None:
        rate = int(socket.query_params.get("sample_rate", RATE))
        await socket.accept()
        heard = bytearray()
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes"):
                    heard += message["bytes"]
                elif json.loads(message.get("text") or "{}").get("type") == "CloseStream":
                    break
        except WebSocketDisconnect:
            return
        await asyncio.sleep(transcribe_s)
        text = scripted.read(audio.resample(bytes(heard), rate, RATE))
        duration = len(heard) / 2 / rate
        result = {
            "type": "Results",
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.99, "words": []}]},
            "is_final": True,
            "speech_final": True,
            "from_finalize": True,
            "start": 0.0,
            "duration": duration,
        }
        await socket.send_text(json.dumps(result))
        await socket.close()

    return Starlette(
        routes=[
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
            WebSocketRoute("/v1/listen", listen),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcribe-ms", type=float, default=150)
    parser.add_argument("--synthesis-ms", type=float, default=100)
    args = parser.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    print(f"http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        app(args.transcribe_ms / 1000, args.synthesis_ms / 1000), log_level="warning", lifespan="off"
    )
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
