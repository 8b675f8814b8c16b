"""Rehearsals being watched: each runs `engine.services.rehearsal.rehearse` in a thread of its
own, on the wall clock, and its conversation is kept here as it grows, for the page to poll.

The registry is in memory, in the process that started the rehearsal — a rehearsal stores
nothing (it is no call), so there is nowhere else to read it from. With several API replicas
behind a load balancer, the browser's polls must reach the replica that started it: run them
with sticky sessions (affinity on the `callplane_session` cookie, or on the client address);
otherwise a poll that lands elsewhere is a 404. A restart forgets every rehearsal.

Bounded per organisation: a few running at once (each holds a thread, and an LLM agent's talks
to a paid endpoint), the last few finished kept for their pages.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from callplane.config import Settings
from callplane.domain.agent import AgentVersion
from callplane.domain.call import TranscriptEntry
from callplane.domain.errors import Conflict, DomainError, NotFound
from callplane.domain.ids import new_id, normalize_uuid
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.services import rehearsal
from callplane.engine.services.rehearsal import QuietHooks

log = logging.getLogger(__name__)

#: Rehearsals an organisation may run at once.
RUNNING = 3
#: Rehearsals kept per organisation, running and finished (the oldest finished go first).
KEPT = 10

Run = Callable[[Settings, AgentVersion, str, dict[str, Any], CallHooks], Outcome]


def _real_time(
    settings: Settings, version: AgentVersion, to: str, variables: dict[str, Any], hooks: CallHooks
) -> Outcome:
    return rehearsal.rehearse(settings, version, to, variables, hooks, real_time=True)


@dataclass(frozen=True, slots=True)
class Rehearsal:
    """What a rehearsal's page shows; a snapshot (`Rehearsals.get`), never changed in place."""

    id: str
    organization_id: str
    agent_id: str
    #: The form it was started with (version, to, vars), shown again on its page.
    form: dict[str, str]
    transcript: list[TranscriptEntry] = field(default_factory=list)
    collected: dict[str, Any] = field(default_factory=dict)
    answered_at: int | None = None
    outcome: Outcome | None = None
    #: Why it stopped without an outcome (the run raised).
    failure: str | None = None

    @property
    def finished(self) -> bool:
        return self.outcome is not None or self.failure is not None


class _Watched(QuietHooks):
    """The conversation's hooks: each change replaces the registry's snapshot."""

    def __init__(self, registry: Rehearsals, key: tuple[str, str]) -> None:
        self.registry, self.key = registry, key

    async def answered(self, at_ms: int) -> None:
        self.registry.note(self.key, answered_at=at_ms)

    def progress(self, transcript: list[TranscriptEntry], collected: dict[str, Any]) -> None:
        # The conversation hands over copies: nothing here is shared with the running call.
        self.registry.note(self.key, transcript=transcript, collected=collected)


@dataclass
class Rehearsals:
    run: Run = _real_time
    _by_org: dict[str, OrderedDict[str, Rehearsal]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def start(
        self,
        settings: Settings,
        version: AgentVersion,
        to: str,
        variables: dict[str, Any],
        form: dict[str, str],
    ) -> Rehearsal:
        """Start `version` on the simulated line in a thread; the snapshot it starts from."""
        organization_id = version.organization_id
        started = Rehearsal(new_id(), organization_id, version.agent_id, dict(form))
        with self._lock:
            mine = self._by_org.setdefault(organization_id, OrderedDict())
            if sum(not r.finished for r in mine.values()) >= RUNNING:
                raise Conflict(f"{RUNNING} rehearsals are running already; wait for one to finish")
            mine[started.id] = started
            for old in [r.id for r in mine.values() if r.finished][: max(0, len(mine) - KEPT)]:
                del mine[old]
        key = (organization_id, started.id)
        hooks = _Watched(self, key)
        thread = threading.Thread(
            target=self._run, args=(key, settings, version, to, variables, hooks), daemon=True
        )
        thread.start()
        return started

    def _run(
        self,
        key: tuple[str, str],
        settings: Settings,
        version: AgentVersion,
        to: str,
        variables: dict[str, Any],
        hooks: CallHooks,
    ) -> None:
        try:
            outcome = self.run(settings, version, to, variables, hooks)
        except DomainError as exc:
            self.note(key, failure=exc.message)
        except Exception:
            log.exception("rehearsal %s failed", key[1])
            self.note(key, failure="internal error")
        else:
            # The outcome's transcript is the whole record, including what came after the
            # last progress report.
            self.note(key, outcome=outcome, transcript=outcome.transcript, answered_at=outcome.answered_at)

    def note(self, key: tuple[str, str], **changes: Any) -> None:
        organization_id, rehearsal_id = key
        with self._lock:
            mine = self._by_org.get(organization_id)
            if mine is not None and rehearsal_id in mine:
                mine[rehearsal_id] = replace(mine[rehearsal_id], **changes)

    def get(self, organization_id: str, rehearsal_id: str) -> Rehearsal:
        """The rehearsal as it is now; NotFound for another organisation's, or one this process
        did not start (see the module's note on replicas)."""
        with self._lock:
            mine = self._by_org.get(organization_id)
            found = mine.get(normalize_uuid(rehearsal_id) or rehearsal_id) if mine else None
        if found is None:
            raise NotFound(f"rehearsal {rehearsal_id} not found")
        return found
