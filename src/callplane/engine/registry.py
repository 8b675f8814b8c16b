"""Implementations of a narrow protocol chosen by name (procrastinate's connector style).

The built-in entries name their factory as `module:attribute` and are imported only when chosen,
so naming an engine or store whose extra is not installed costs nothing until it is used (and a
deployment without that extra still starts). `register()` adds one — a plug-in or a test double —
under a new name. Speech engines (engine/live/speech/registry.py) and blob stores
(engine/blobs) are chosen this way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

C = TypeVar("C")  #: what a factory needs to start (each implementation uses the parts it knows)
T = TypeVar("T")


class UnknownName(LookupError):
    pass


class Registry(Generic[C, T]):
    def __init__(self, kind: str, builtin: dict[str, str]) -> None:
        self.kind = kind
        self._builtin = dict(builtin)
        self._factories: dict[str, Callable[[C], T]] = {}

    def names(self) -> list[str]:
        return sorted({*self._builtin, *self._factories})

    def register(self, name: str, factory: Callable[[C], T]) -> None:
        self._factories[name] = factory

    def create(self, name: str, config: C) -> T:
        factory = self._factories.get(name)
        if factory is None:
            target = self._builtin.get(name)
            if target is None:
                raise UnknownName(f"no {self.kind} named {name!r}; known: {', '.join(self.names())}")
            module, _, attribute = target.partition(":")
            factory = getattr(importlib.import_module(module), attribute)
            self._factories[name] = factory
        return factory(config)
