"""Telephony providers by name, and the router that dials each call through its number's provider.

An owned number names its provider (`phone_numbers.provider`); `Carriers` is the one `Provider`
the conductor holds: it asks `line_of(from_number)` which provider the number is on and hands the
request to that provider, built on first use from its registry entry. Entries import their module
only when chosen, so a deployment that never uses Twilio never loads its code.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable

from callplane.config import Settings
from callplane.engine.clock import Clock
from callplane.engine.live.session import Transport
from callplane.engine.live.speech.stack import SpeechStack
from callplane.engine.live.telephony.provider import CarrierProvider, DialRequest
from callplane.engine.live.telephony.scenarios import load_scenarios
from callplane.engine.live.telephony.simulated import SimulatedProvider
from callplane.engine.live.telephony.simulated_audio import SimulatedAudio

#: Builds a provider from the deployment's settings.
ProviderFactory = Callable[[Settings, Clock], CarrierProvider]

SIMULATED = "simulated"


def _simulated(settings: Settings, clock: Clock) -> CarrierProvider:
    return SimulatedProvider(
        load_scenarios(settings.simulator_scenarios),
        clock,
        speed=settings.simulator_speed,
        audio=SimulatedAudio(SpeechStack.from_settings(settings)),
        audio_by_default=settings.simulator_audio,
    )


_BUILTIN = {"twilio": "callplane.engine.live.telephony.twilio.provider:from_settings"}
_registered: dict[str, ProviderFactory] = {SIMULATED: _simulated}


class UnknownProvider(LookupError):
    pass


def names() -> list[str]:
    return sorted({*_BUILTIN, *_registered})


def register(name: str, factory: ProviderFactory) -> None:
    """Add a provider (a plug-in, or a test double) under a new name."""
    _registered[name] = factory


def factory(name: str) -> ProviderFactory:
    found = _registered.get(name)
    if found is not None:
        return found
    target = _BUILTIN.get(name)
    if target is None:
        raise UnknownProvider(f"no telephony provider named {name!r}; known: {', '.join(names())}")
    module, _, attribute = target.partition(":")
    built: ProviderFactory = getattr(importlib.import_module(module), attribute)
    return built


class Carriers:
    """Dials each call through the provider its from_number is on, and answers an incoming one
    through the provider its to_number is on (`simulated` when unknown)."""

    name = "carriers"

    def __init__(self, settings: Settings, clock: Clock, line_of: Callable[[str], str] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.line_of = line_of or (lambda _number: SIMULATED)
        self._providers: dict[str, CarrierProvider] = {}

    def provider(self, name: str) -> CarrierProvider:
        if name not in self._providers:
            self._providers[name] = factory(name)(self.settings, self.clock)
        return self._providers[name]

    async def dial(self, request: DialRequest) -> Transport:
        ours = request.to_number if request.inbound else request.from_number
        return await self.provider(await self._line(ours)).dial(request)

    async def hang_up_orphan(self, from_number: str, telephony_id: str) -> None:
        """End a carrier call whose worker died (the reaper's clean-up), through the provider its
        number is on."""
        await self.provider(await self._line(from_number)).hang_up_orphan(telephony_id)

    async def _line(self, number: str) -> str:
        # `line_of` reads the database (`services.carrier.line_of`): off the loop, which carries
        # every live call's audio meanwhile.
        return await asyncio.to_thread(self.line_of, number)

    async def aclose(self) -> None:
        """Close what the providers hold open (HTTP clients)."""
        for provider in self._providers.values():
            await provider.aclose()
