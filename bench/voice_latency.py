"""Voice latency per turn, memory and CPU per live audio call, and the offline engines' speed.

For every callee turn: from the callee's end of speech to the first agent audio frame handed to
the line, split into turn detection (end of speech → the pipeline deciding the turn is over: the
`CALLPLANE_SPEECH_END_OF_TURN_MS` silence, read from the events' audio timestamps),
transcription, the agent (flow or LLM), synthesis time-to-first-audio and the rest, which is
callplane's overhead (queues, tasks, resampling, μ-law, marks, the conversation, and — with
real engine clients — their HTTP and WebSocket work). Calls run on the simulated audio line on a
real event loop, many at once. `--engines` chooses what speaks and hears on both sides:

- `standin` (default): the scripted engines in-process, answering after a fixed delay;
- `openai`: the real OpenAI-compatible clients (engine/live/speech/openai.py) against a loopback
  server speaking OpenAI's audio API with that fixed delay (bench/fake_speech.py, a process of
  its own, so its CPU is not the bench's);
- `deepgram`: the agent hears through the real Deepgram streaming client against that server's
  `/v1/listen` WebSocket (the delay after `CloseStream`); speech as with `openai`;
- `offline`: espeak-ng and PocketSphinx (heavy: a few calls only; Korean is not recognised, so
  the conversation goes where misheard answers take it).

Only the agent's engines are timed; the simulated callee's go through the same engines, untimed.
`--offline N` also times the offline engines themselves (espeak-ng to first audio, PocketSphinx on
a spoken sentence).

    .venv/bin/python -m bench.voice_latency --calls 100 --concurrency 100 --one-core --engines openai

Self-contained (it imports nothing from `tests/`). Wall-clock figures: note `uptime` with them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

from callplane.cli.demo import demo_agent_file
from callplane.config import Settings
from callplane.domain.agent import AgentVersion, parse_definition
from callplane.domain.call import AgentRef, Call, CallStatus, CallType, Direction
from callplane.domain.ids import new_id
from callplane.domain.phone import parse_kr
from callplane.engine.clock import Clock, SystemClock
from callplane.engine.live.conductor import LineConductor, Runtimes
from callplane.engine.live.session import Command, Event, FinalTranscript, Speak, SpeechStopped, Transport
from callplane.engine.live.speech.deepgram import DeepgramTranscriber
from callplane.engine.live.speech.espeak import EspeakSynthesizer
from callplane.engine.live.speech.openai import OpenAISynthesizer, OpenAITranscriber
from callplane.engine.live.speech.protocols import (
    AudioChunk,
    Recognized,
    StreamingTranscriber,
    Synthesizer,
    Transcriber,
    TranscriptionStream,
    Voice,
)
from callplane.engine.live.speech.registry import SYNTHESIZERS, TRANSCRIBERS, EngineConfig
from callplane.engine.live.speech.scripted import ScriptedSynthesizer, ScriptedTranscriber
from callplane.engine.live.speech.sphinx import SphinxTranscriber
from callplane.engine.live.speech.stack import SpeechStack
from callplane.engine.live.telephony.provider import DialRequest
from callplane.engine.live.telephony.scenarios import Scenario, builtin_scenarios
from callplane.engine.live.telephony.simulated import SimulatedProvider
from callplane.engine.live.telephony.simulated_audio import CalleeEars, SimulatedAudio, SimulatedAudioLine
from callplane.engine.services.rehearsal import QuietHooks

EPOCH = 1_778_400_000_000


def demo_version() -> AgentVersion:
    return parse_definition(demo_agent_file()).version("org-bench", new_id(), 1, EPOCH)


def a_call() -> Call:
    return Call(
        id=new_id(),
        organization_id="org-bench",
        agent=AgentRef(new_id(), "current", 1),
        call_type=CallType.OUTBOUND,
        direction=Direction.OUTBOUND,
        status=CallStatus.DIALING,
        from_number=parse_kr("07011112222", "from"),
        to_number=parse_kr("01012345678", "to"),
        presentation_number=None,
        created_at=EPOCH,
        updated_at=EPOCH,
        due_at=EPOCH,
        metadata={},
        dynamic_variables={"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"},
        attempt=1,
    )


@dataclass
class Turn:
    detection_ms: int = 0  #: callee's end of speech → the turn ends (audio time)
    stopped_at: int = 0  #: SpeechStopped's audio timestamp
    stopped: float = 0.0
    transcribed: float = 0.0  #: transcriber's own time
    final: float = 0.0
    speak: float = 0.0
    synth_started: float = 0.0
    synth_first: float = 0.0
    first_frame: float = 0.0


@dataclass
class CallLog:
    turns: list[Turn] = field(default_factory=list)

    def current(self) -> Turn | None:
        return self.turns[-1] if self.turns else None


class Delayed:
    """Scripted engines answering after a fixed delay (the `standin` engines)."""

    def __init__(self, transcribe_s: float, synth_ts: float) -> None:
        self.transcribe_s = transcribe_s
        self.synth_ttfb_s = synth_ts

    def transcriber(self) -> Transcriber:
        delay = self.transcribe_s

        class Slow(ScriptedTranscriber):
            async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized:
                await asyncio.sleep(delay)
                return await super().transcribe(pcm, sample_rate, voice)

        return Slow()

    def synthesizer(self) -> Synthesizer:
        delay = self.synth_ttfb_s

        class Slow(ScriptedSynthesizer):
            async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[AudioChunk]:
                await asyncio.sleep(delay)
                async for chunk in super().synthesize(text, voice):
                    yield chunk

        return Slow()


class TimedSynthesizer:
    """The agent's synthesizer, noting when a turn's first synthesis starts and first sounds."""

    def __init__(self, inner: Synthesizer, log: CallLog) -> None:
        self.inner = inner
        self.log = log

    async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[AudioChunk]:
        turn = self.log.current()
        first = turn is not None and turn.final and not turn.synth_started
        if first and turn is not None:
            turn.synth_started = time.perf_counter()
        async for chunk in self.inner.synthesize(text, voice):
            if first and turn is not None and not turn.synth_first:
                turn.synth_first = time.perf_counter()
            yield chunk


class TimedTranscriber:
    """The agent's transcriber, noting how long the turn's transcription took."""

    def __init__(self, inner: Transcriber, log: CallLog) -> None:
        self.inner = inner
        self.log = log

    def took(self, started: float) -> None:
        if (turn := self.log.current()) is not None:
            turn.transcribed = time.perf_counter() - started

    async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized:
        started = time.perf_counter()
        result = await self.inner.transcribe(pcm, sample_rate, voice)
        self.took(started)
        return result


class TimedStreamingTranscriber(TimedTranscriber):
    """A streaming transcriber's time is what follows the turn's end: `finish` to the text."""

    def __init__(self, inner: StreamingTranscriber, log: CallLog) -> None:
        super().__init__(inner, log)
        self.streaming = inner

    async def open(
        self, sample_rate: int, voice: Voice, on_partial: Callable[[str], None]
    ) -> TranscriptionStream:
        stream = await self.streaming.open(sample_rate, voice, on_partial)
        timer = self

        class Timed:
            async def send(self, pcm: bytes) -> None:
                await stream.send(pcm)

            async def finish(self) -> Recognized:
                started = time.perf_counter()
                result = await stream.finish()
                timer.took(started)
                return result

            async def aclose(self) -> None:
                await stream.aclose()

        return Timed()


class Engines:
    """What speaks and hears on each side of a call, by `--engines` name."""

    def __init__(self, name: str, transcribe_s: float, synth_s: float, fake_url: str | None) -> None:
        self.name = name
        self.standin = Delayed(transcribe_s, synth_s)
        self.config = EngineConfig(
            base_url=f"{fake_url}/v1",
            streaming_url=f"{(fake_url or '').replace('http', 'ws', 1)}/v1/listen",
            streaming_api_key="bench",
        )

    def pair(self, agent: bool) -> tuple[Synthesizer, Transcriber]:
        if self.name == "standin":
            return self.standin.synthesizer(), self.standin.transcriber()
        if self.name == "offline":
            return EspeakSynthesizer(), SphinxTranscriber()
        hearing: Transcriber = OpenAITranscriber(self.config)
        if agent and self.name == "deepgram":
            hearing = DeepgramTranscriber(self.config)
        return OpenAISynthesizer(self.config), hearing


class Measured:
    """The agent's side of one call, timed at the pipeline's edges."""

    def __init__(self, inner: Transport, log: CallLog) -> None:
        self.inner = inner
        self.log = log

    @property
    def telephony_id(self) -> str:
        return self.inner.telephony_id

    async def receive(self) -> Event:
        event = await self.inner.receive()
        now = time.perf_counter()
        if isinstance(event, SpeechStopped):
            self.log.turns.append(Turn(stopped_at=event.at, stopped=now))
        elif isinstance(event, FinalTranscript) and (turn := self.log.current()) is not None:
            turn.final = now
            turn.detection_ms = turn.stopped_at - event.end_at
        return event

    async def send(self, command: Command) -> None:
        turn = self.log.current()
        if isinstance(command, Speak) and turn is not None and turn.final and not turn.speak:
            turn.speak = time.perf_counter()
        await self.inner.send(command)


class BenchAudio(SimulatedAudio):
    def __init__(self, stack: SpeechStack, engines: Engines) -> None:
        super().__init__(stack)
        self.engines = engines
        self.logs: list[CallLog] = []

    def dial(self, request: DialRequest, scenario: Scenario, clock: Clock, speed: float) -> Transport:
        log = CallLog()
        self.logs.append(log)
        name = f"bench-{len(self.logs)}"
        synthesizer, transcriber = self.engines.pair(agent=True)
        timed = (
            TimedStreamingTranscriber(transcriber, log)
            if isinstance(transcriber, StreamingTranscriber)
            else TimedTranscriber(transcriber, log)
        )
        SYNTHESIZERS.register(name, lambda c: TimedSynthesizer(synthesizer, log))
        TRANSCRIBERS.register(name, lambda c: timed)
        stack = SpeechStack(EngineConfig(), name, name, "energy", self.stack.end_of_turn_ms)

        def tee(channel: str, pcm: bytes, at: int) -> None:
            turn = log.current()
            if channel == "agent" and turn is not None and turn.synth_first and not turn.first_frame:
                turn.first_frame = time.perf_counter()

        voice = Voice(language=request.voice.language)
        ears = CalleeEars(*self.engines.pair(agent=False), voice)
        line = SimulatedAudioLine(request, scenario, clock, speed, ears)
        line.start()
        return Measured(stack.pipeline(line, clock, request.voice, tee), log)


@contextlib.contextmanager
def fake_speech(transcribe_ms: float, synthesis_ms: float) -> Iterator[str]:
    """bench/fake_speech.py in a process of its own; yields its base URL."""
    command = [sys.executable, "-m", "bench.fake_speech", "--transcribe-ms", str(transcribe_ms)]
    command += ["--synthesis-ms", str(synthesis_ms)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        for _ in range(100):  # until it accepts connections
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", int(url.rsplit(":")[-1]))),
            ):
                break
            time.sleep(0.05)
        yield url
        ticks = os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{server.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        print(f"fake engines' process CPU: {cpu:.1f} s (not counted above)")
    finally:
        server.terminate()
        server.wait(timeout=10)


def percentiles(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms"


async def main(
    calls: int, concurrency: int, speed: float, transcribe_s: float, synth_s: float, engines: Engines
) -> None:
    settings = Settings(simulator_audio=True)
    clock = SystemClock()
    audio = BenchAudio(SpeechStack.from_settings(settings), engines)
    provider = SimulatedProvider(builtin_scenarios(), clock, speed=speed, audio=audio, audio_by_default=True)
    runtimes = Runtimes(settings)
    conductor = LineConductor(provider, clock, runtimes.build)
    version = demo_version()
    slots = asyncio.Semaphore(concurrency)

    stagger = random.Random(7)
    durations: list[float] = []

    async def one() -> None:
        # Calls start spread over 5 s, as traffic does: started together, every call's turns
        # would fall on the same instants and the bench would measure that coincidence.
        await asyncio.sleep(stagger.uniform(0, 5))
        async with slots:
            began = time.perf_counter()
            await conductor.conduct(a_call(), version, QuietHooks())
            durations.append(time.perf_counter() - began)

    lags: list[float] = []

    async def watch_loop() -> None:
        """How late a 10 ms sleep wakes up: the loop's own backlog, felt by every call on it."""
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    watcher = asyncio.get_running_loop().create_task(watch_loop())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(calls)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    watcher.cancel()
    await runtimes.close()
    turns = [t for log in audio.logs for t in log.turns if t.first_frame]
    print(f"{calls} calls, {concurrency} at once, speed {speed:g}: {len(turns)} turns in {elapsed:.1f} s")
    print(
        f"engines {engines.name}: transcription {transcribe_s * 1000:.0f} ms, "
        f"synthesis first audio {synth_s * 1000:.0f} ms"
    )
    detection = [t.detection_ms / 1000 for t in turns]
    total = [d + t.first_frame - t.stopped for d, t in zip(detection, turns, strict=True)]
    transcription = [t.transcribed for t in turns]
    agent = [t.speak - t.final for t in turns]
    synthesis = [t.synth_first - t.synth_started for t in turns]
    overhead = [
        tot - de - tr - ag - sy
        for tot, de, tr, ag, sy in zip(total, detection, transcription, agent, synthesis, strict=True)
    ]
    print(f"event loop lag (10 ms probe)  {percentiles(lags)}")
    call_seconds = sum(durations)
    rss_grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before  # KiB on Linux
    print(
        f"peak RSS grew {rss_grew / 1024:.1f} MiB over the run: "
        f"≤ {rss_grew / 1024 / concurrency:.2f} MiB a call"
    )
    share = cpu / call_seconds * 100
    print(f"process CPU: {cpu:.1f} s for ~{call_seconds:.0f} call-seconds = {share:.1f}% of a core per call")
    for name, values in [
        ("end of speech → first frame", total),
        ("  turn detection", detection),
        ("  transcription", transcription),
        ("  agent", agent),
        ("  synthesis to first audio", synthesis),
        ("  callplane overhead", overhead),
    ]:
        print(f"{name:28} {percentiles(values)}")


async def offline(repeats: int) -> None:
    """The offline engines' own time: espeak-ng to first audio, PocketSphinx on a sentence."""
    espeak, sphinx = EspeakSynthesizer(), SphinxTranscriber()
    korean, english = Voice(language="ko-KR"), Voice(language="en-US")
    first: list[float] = []
    for _ in range(repeats):
        began = time.perf_counter()
        async for _chunk in espeak.synthesize("안녕하세요, 예약 확인 전화입니다.", korean):
            first.append(time.perf_counter() - began)
            break
    chunks = [c async for c in espeak.synthesize("hello how are you today", english)]
    pcm, rate = b"".join(c.pcm for c in chunks), chunks[0].sample_rate
    heard: list[float] = []
    for _ in range(repeats):
        began = time.perf_counter()
        await sphinx.transcribe(pcm, rate, english)
        heard.append(time.perf_counter() - began)
    seconds = len(pcm) / 2 / rate
    print(f"offline: espeak-ng to first audio (Korean sentence)   {percentiles(first)}")
    print(f"offline: PocketSphinx on {seconds:.1f} s of English speech  {percentiles(heard)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--transcribe-ms", type=float, default=150)
    parser.add_argument("--synthesis-ms", type=float, default=100)
    parser.add_argument("--one-core", action="store_true", help="pin the process to one CPU")
    parser.add_argument(
        "--offline", type=int, default=0, metavar="N", help="time the offline engines N times"
    )
    parser.add_argument("--engines", choices=["standin", "openai", "deepgram", "offline"], default="standin")
    args = parser.parse_args()
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    with contextlib.ExitStack() as stack:
        fake_url = None
        if args.engines in ("openai", "deepgram"):  # started before pinning: it keeps its own core
            fake_url = stack.enter_context(fake_speech(args.transcribe_ms, args.synthesis_ms))
        if args.one_core:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        if args.offline:
            asyncio.run(offline(args.offline))
        transcribe_s, synth_s = args.transcribe_ms / 1000, args.synthesis_ms / 1000
        engines = Engines(args.engines, transcribe_s, synth_s, fake_url)
        asyncio.run(main(args.calls, args.concurrency, args.speed, transcribe_s, synth_s, engines))
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
