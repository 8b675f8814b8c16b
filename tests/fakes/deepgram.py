"""A local fake of Deepgram's streaming recognition, speaking its WebSocket protocol on loopback.

`/v1/listen?encoding=linear16&sample_rate=…&language=…&interim_results=true` with an
`Authorization: Token …` header; binary messages are audio; every 300 ms of new audio the fake
sends an interim `Results` (`is_final: false`); the text message `{"type": "CloseStream"}` gets
the final `Results` (`is_final: true`, word timings), a `Metadata` message, and a close;
`{"type": "KeepAlive"}` is counted. Like Deepgram, it closes a stream that sent nothing (audio or
KeepAlive) for `idle_timeout_s` (10 s) with code 1011. What it "recognises" is the scripted
engines' audio (`engine/live/speech/scripted.py`), exactly.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from callplane.engine.live.speech import scripted


class FakeDeepgram:
    def __init__(self, api_key: str = "dg-test", idle_timeout_s: float = 10.0) -> None:
        self.api_key = api_key
        self.idle_timeout_s = idle_timeout_s
        self.keepalives = 0
        self.timed_out = 0
        self.queries: list[dict[str, str]] = []
        self.app = Starlette(routes=[WebSocketRoute("/v1/listen", self.listen)])

    async def listen(self, socket: WebSocket) -> None:
        if socket.headers.get("authorization") != f"Token {self.api_key}":
            await socket.close(code=1008)  # before accepting: the client sees a refused handshake
            return
        query = dict(socket.query_params)
        self.queries.append(query)
        rate = int(query["sample_rate"])
        await socket.accept()
        pcm = b""
        reported = 0
        while True:
            try:
                message = await asyncio.wait_for(socket.receive(), self.idle_timeout_s)
            except TimeoutError:
                self.timed_out += 1
                await socket.close(code=1011, reason="NET-0001")
                return
            if message.get("text") and json.loads(message["text"]).get("type") == "KeepAlive":
                self.keepalives += 1
            elif message.get("bytes"):
                pcm += message["bytes"]
                if len(pcm) - reported >= rate * 2 * 3 // 10:
                    reported = len(pcm)
                    text = scripted.read(pcm)
                    if text:
                        await socket.send_text(json.dumps(_results(text, pcm, rate, final=False)))
            elif message.get("text") and json.loads(message["text"]).get("type") == "CloseStream":
                await socket.send_text(json.dumps(_results(scripted.read(pcm), pcm, rate, final=True)))
                await socket.send_text(json.dumps({"type": "Metadata", "request_id": "fake"}))
                await socket.close()
                return
            elif message["type"] == "websocket.disconnect":
                return


def _results(text: str, pcm: bytes, rate: int, *, final: bool) -> dict[str, Any]:
    seconds = len(pcm) / 2 / rate
    words = text.split()
    step = seconds / max(len(words), 1)
    return {
        "type": "Results",
        "is_final": final,
        "speech_final": final,
        "start": 0.0,
        "duration": seconds,
        "channel": {
            "alternatives": [
                {
                    "transcript": text,
                    "confidence": 0.99,
                    "words": [
                        {
                            "word": w.strip(",.?"),
                            "punctuated_word": w,
                            "start": i * step,
                            "end": (i + 1) * step,
                        }
                        for i, w in enumerate(words)
                    ],
                }
            ]
        },
    }
