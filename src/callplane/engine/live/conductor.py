"""The conductor: one call from dial to hang-up, with the agent runtime the call is pinned to.

It dials (the provider hands back the call's session `Transport`), follows the carrier events
(ringing → answered, or a not-connected outcome; an end asked for through the API meanwhile
hangs the attempt up: `canceled`, never billed), then runs the runtime on a `Conversation`
over that transport inside the call's limits — `max_duration_s` (`max_duration_reached`), an
end requested through the API (`agent_hangup`) and the callee hanging up while the agent thinks,
both checked every `end_check_s` — and turns however the conversation stopped into an `Outcome`:

| stopped by | status | reason |
|---|---|---|
| busy, no answer, declined, carrier failure | not_connected | dial_busy, dial_no_answer, … |
| API end while dialling or ringing | canceled | canceled_by_user |
| a machine answered | ended | voicemail_reached |
| the callee hung up | ended | user_hangup |
| end node, `end_call` tool, API end | ended | agent_hangup |
| transfer | ended | call_transfer |
| silence after every re-prompt | ended | inactivity |
| maximum duration | ended | max_duration_reached |
| broken or stuck flow | error | flow_error |
| LLM endpoint failure, any bug | error | error_voxai |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import httpx

from callplane.config import Settings
from callplane.domain.agent import AgentKind, AgentVersion, VersionKey
from callplane.domain.call import Call, CallStatus, Direction, DisconnectionReason
from callplane.domain.flow import Flow, parse_flow
from callplane.domain.llm import parse_llm
from callplane.domain.voice import parse_voice
from callplane.engine import egress
from callplane.engine.clock import Clock
from callplane.engine.live.agents.conversation import CallerHungUp, Conversation, EndCall, Ending
from callplane.engine.live.agents.flow import FlowRuntime
from callplane.engine.live.agents.llm import ChatClient, LLMRuntime
from callplane.engine.live.agents.tools import ToolRunner
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.live.recorder import Recorder
from callplane.engine.live.session import Carrier, CarrierStatus, HangUp, Transport
from callplane.engine.live.telephony.provider import DialRequest, Provider, ProviderUnavailable
from callplane.engine.live.telephony.registry import Carriers
from callplane.engine.memo import Memo

log = logging.getLogger(__name__)

T = TypeVar("T")

_ERROR_REASONS = frozenset({DisconnectionReason.FLOW_ERROR, DisconnectionReason.ERROR_VOXAI})


class Runtime(Protocol):
    def initial_variables(self, dynamic_variables: dict[str, Any]) -> dict[str, Any]: ...

    async def run(self, conv: Conversation) -> Ending: ...


class _Unconfigured:
    """An LLM agent with no endpoint anywhere: ends at once, saying why."""

    def __init__(self, detail: str) -> None:
        self.detail = detail

    def initial_variables(self, dynamic_variables: dict[str, Any]) -> dict[str, Any]:
        return dict(dynamic_variables)

    async def run(self, conv: Conversation) -> Ending:
        raise EndCall(DisconnectionReason.ERROR_VOXAI, self.detail)


class Runtimes:
    """Builds the runtime an agent version asks for (versions are immutable: parsed graphs are cached)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._http: httpx.AsyncClient | None = None
        self._guarded: httpx.AsyncClient | None = None
        self._flows: Memo[VersionKey, Flow] = Memo()

    @property
    def http(self) -> httpx.AsyncClient:
        """For the operator's own endpoint (`CALLPLANE_LLM_BASE_URL`): trusted, not guarded."""
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        return self._http

    @property
    def guarded(self) -> httpx.AsyncClient:
        """For every URL a tenant wrote (tools, `llm.base_url`): through the egress guard."""
        if self._guarded is None:
            self._guarded = egress.guarded_client(allow_private=self.settings.allow_private_destinations)
        return self._guarded

    def tools(self) -> ToolRunner:
        return ToolRunner(self.guarded)

    def build(self, version: AgentVersion) -> Runtime:
        if version.kind is AgentKind.FLOW:
            flow = self._flows.get(version.key, lambda: parse_flow(version.config))
            return FlowRuntime(flow, self.tools())
        config = parse_llm(version.config)
        base_url = config.base_url or self.settings.llm_base_url
        if base_url is None:
            return _Unconfigured("no LLM endpoint: set llm.base_url in the agent or CALLPLANE_LLM_BASE_URL")
        client = ChatClient(
            self.guarded if config.base_url else self.http,
            base_url,
            config.api_key or self.settings.llm_api_key,
            config.model or self.settings.llm_model,
        )
        return LLMRuntime(config, client, self.tools())

    async def close(self) -> None:
        for client in (self._http, self._guarded):
            if client is not None:
                await client.aclose()
        self._http = self._guarded = None


class LineConductor:
    def __init__(
        self,
        provider: Provider,
        clock: Clock,
        runtimes: Callable[[AgentVersion], Runtime],
        *,
        end_check_s: float = 0.5,
    ) -> None:
        self.provider = provider
        self.clock = clock
        self.runtimes = runtimes
        self.end_check_s = end_check_s

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        assert call.from_number is not None and call.to_number is not None
        # An opted-out call records nothing, anywhere: it gets no recorder at all. The bound is
        # the call's own limit plus a minute (ringing is not recorded; this is slack).
        opted_out = call.opt_out_sensitive_data_storage
        recorder = None if opted_out else Recorder(version.max_duration_s * 1000 + 60_000)
        request = DialRequest(
            call.id,
            call.attempt,
            call.from_number,
            call.to_number,
            call.presentation_number,
            version.ring_timeout_s,
            parse_voice(version.config),
            organization_id=call.organization_id,
            inbound=call.direction is Direction.INBOUND,
            tee=None if recorder is None else recorder.tee,
        )
        try:
            line = await self.provider.dial(request)
        except ProviderUnavailable as exc:  # ours to fix, not the callee's: an error, saying why
            return Outcome(
                CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI, self.clock.now_ms(), error_detail=str(exc)
            )
        except Exception as exc:  # a provider failure is this call's outcome, not the worker's crash
            return self._dial_failed(call, exc)
        try:
            return await self._on_the_line(line, call, version, hooks, recorder)
        except BaseException:
            # Cancelled (the worker stops or lost the call's lease) or a bug: either way the
            # carrier's call must not outlive our interest in it.
            await _hang_up(line)
            raise

    def _dial_failed(self, call: Call, exc: Exception) -> Outcome:
        log.error("dialing call %s failed", call.id, exc_info=exc)
        return Outcome(
            CallStatus.NOT_CONNECTED,
            DisconnectionReason.DIAL_FAILED,
            self.clock.now_ms(),
            error_detail=repr(exc),
        )

    async def _on_the_line(
        self, line: Transport, call: Call, version: AgentVersion, hooks: CallHooks, recorder: Recorder | None
    ) -> Outcome:
        try:
            event = await self._connect(line, hooks)
        except Exception as exc:
            await _hang_up(line)
            return self._dial_failed(call, exc)
        if event is None:  # ended through the API before anyone answered: hang the attempt up
            await _hang_up(line)
            return Outcome(
                CallStatus.CANCELED,
                DisconnectionReason.CANCELED_BY_USER,
                self.clock.now_ms(),
                telephony_id=line.telephony_id,
                error_detail="ended through the API before it was answered",
            )
        not_connected = event.not_connected_reason
        if not_connected is not None:
            return Outcome(
                CallStatus.NOT_CONNECTED, not_connected, self.clock.now_ms(), telephony_id=line.telephony_id
            )
        answered_at = self.clock.now_ms()
        await hooks.answered(answered_at)
        runtime = self.runtimes(version)
        async with Conversation(
            line,
            self.clock,
            runtime.initial_variables(dict(call.dynamic_variables)),
            inactivity_timeout_s=version.inactivity_timeout_s,
            reprompts=version.inactivity_reprompts,
            progress=hooks.progress,
        ) as conv:
            if event is CarrierStatus.MACHINE:
                ending = await self._voicemail(conv)
            else:
                ending = await self._converse(runtime, conv, version, hooks)
        await _hang_up(line)
        ended_at = self.clock.now_ms()
        return Outcome(
            CallStatus.ERROR if ending.reason in _ERROR_REASONS else CallStatus.ENDED,
            ending.reason,
            ended_at,
            answered_at=answered_at,
            telephony_id=line.telephony_id,
            transcript=conv.transcript,
            collected=conv.collected,
            error_detail=ending.detail,
            recording=None if recorder is None else recorder.finish(ended_at),
        )

    async def _connect(self, line: Transport, hooks: CallHooks) -> CarrierStatus | None:
        """The carrier's first status past ringing; None if an end was asked for before it."""
        while True:
            event = await _unless(_carrier(line), hooks.end_requested, self.end_check_s)
            if event is not CarrierStatus.RINGING:
                return event
            await hooks.ringing(line.telephony_id)

    async def _voicemail(self, conv: Conversation) -> Ending:
        with contextlib.suppress(CallerHungUp, EndCall):
            await conv.hear()  # the machine's greeting, for the record
        return Ending(DisconnectionReason.VOICEMAIL_REACHED)

    async def _converse(
        self, runtime: Runtime, conv: Conversation, version: AgentVersion, hooks: CallHooks
    ) -> Ending:
        try:
            async with asyncio.timeout(version.max_duration_s):
                return await self._watch(runtime.run(conv), conv, hooks)
        except TimeoutError:
            return Ending(DisconnectionReason.MAX_DURATION_REACHED, f"reached {version.max_duration_s}s")
        except CallerHungUp:
            return Ending(DisconnectionReason.USER_HANGUP)
        except EndCall as end:
            return end.ending
        except Exception as exc:
            log.exception("agent runtime failed")
            return Ending(DisconnectionReason.ERROR_VOXAI, f"{type(exc).__name__}: {exc}")

    async def _watch(self, work: Coroutine[Any, Any, Ending], conv: Conversation, hooks: CallHooks) -> Ending:
        """Run the runtime; stop it when the API asks, or when the callee hung up while it was
        busy elsewhere (waiting on the model or a tool) and would only notice later."""
        ending = await _unless(work, lambda: hooks.end_requested() or conv.hung_up, self.end_check_s)
        if ending is not None:
            return ending
        if hooks.end_requested():
            return Ending(DisconnectionReason.AGENT_HANGUP, "ended through the API")
        raise CallerHungUp


async def _unless(work: Coroutine[Any, Any, T], stop: Callable[[], bool], every_s: float) -> T | None:
    """`work`'s result, or None (and `work` cancelled) once `stop()` says so, asked every `every_s`."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every_s)
            if done:
                return task.result()
            if stop():
                return None
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _carrier(line: Transport) -> CarrierStatus:
    """The next carrier status; nothing else is said before the call connects."""
    while True:
        event = await line.receive()
        if isinstance(event, Carrier):
            return event.status


async def _hang_up(line: Transport) -> None:
    try:
        await line.send(HangUp())
    except Exception:  # the call is over either way; a failed hang-up must not lose the outcome
        log.exception("hang-up failed")


def build_conductor(
    settings: Settings,
    clock: Clock,
    runtimes: Runtimes | None = None,
    carriers: Carriers | None = None,
) -> LineConductor:
    """The conductor `serve` and `worker` use: each call goes through the provider its
    from_number is on (`carriers`; without one, the simulated line). Whoever passes `runtimes`
    or `carriers` closes them (`Runtimes.close`, `Carriers.aclose`) when the conductor is done."""
    return LineConductor(carriers or Carriers(settings, clock), clock, (runtimes or Runtimes(settings)).build)
