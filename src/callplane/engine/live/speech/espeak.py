"""Offline synthesis with espeak-ng (the Debian package `espeak-ng`), run as a subprocess.

A subprocess rather than a binding: the binary is what the distribution ships and keeps
patched, it renders far faster than real time (~25×, `real-calls.md`), and a crash or a hang in
it cannot take the worker down; audio streams out of its stdout as it is rendered. Robotic, but
it speaks Korean and English with no model download.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

from callplane.engine.live.speech.protocols import AudioChunk, SpeechEngineError, Voice
from callplane.engine.live.speech.registry import EngineConfig

SAMPLE_RATE = 22050  #: espeak-ng's output rate
_WAV_HEADER = 44
_READ = 4410  #: 100 ms of audio per read


def espeak_voice(voice: Voice) -> str:
    """`ko-KR` → `ko`, `en-US` → `en-us`; an explicit `voice` wins (e.g. `en-us+f3`)."""
    if voice.voice:
        return voice.voice
    language = voice.language.lower()
    return language if language in ("en-us", "en-gb") else language.split("-")[0]


class EspeakSynthesizer:
    def __init__(self, config: EngineConfig | None = None, *, words_per_minute: int = 160) -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise SpeechEngineError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
        self.binary = binary
        self.words_per_minute = words_per_minute

    async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[AudioChunk]:
        process = await asyncio.create_subprocess_exec(
            self.binary,
            "--stdout",
            "-v",
            espeak_voice(voice),
            "-s",
            str(self.words_per_minute),
            "--",
            text,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            header = await process.stdout.readexactly(_WAV_HEADER)
            if not header.startswith(b"RIFF"):
                raise SpeechEngineError("espeak-ng wrote no WAV audio")
            carry = b""
            while chunk := await process.stdout.read(_READ):
                chunk = carry + chunk
                even = len(chunk) - len(chunk) % 2
                carry = chunk[even:]
                yield AudioChunk(chunk[:even], SAMPLE_RATE)
            if await process.wait() != 0:
                assert process.stderr is not None
                error = (await process.stderr.read()).decode(errors="replace").strip()
                raise SpeechEngineError(f"espeak-ng failed: {error[:200]}")
        except asyncio.IncompleteReadError:
            raise SpeechEngineError("espeak-ng ended before its audio") from None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
