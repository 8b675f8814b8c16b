"""The registry of watched rehearsals: the conversation visible while it runs, the outcome at the
end, per organisation, bounded. The run is a stand-in paced by the test (the real one, on the
simulated line, is in test_admin.py and the browser test)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from callplane.config import Settings
from callplane.domain.agent import AgentVersion, parse_definition
from callplane.domain.call import CallStatus, DisconnectionReason, TranscriptEntry
from callplane.domain.errors import Conflict, NotFound, ValidationFailed
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.web.rehearsals import KEPT, RUNNING, Rehearsal, Rehearsals
from tests.factories import FLOW_AGENT


def _version(organization_id: str) -> AgentVersion:
    return parse_definition(FLOW_AGENT).version(organization_id, "agent", 1, 0)


class Paced:
    """A rehearsal that says one line each time the test lets it."""

    def __init__(self) -> None:
        self.steps = threading.Semaphore(0)

    def __call__(
        self, settings: Settings, version: AgentVersion, to: str, variables: dict[str, Any], hooks: CallHooks
    ) -> Outcome:
        if to == "boom":
            raise ValidationFailed.single("to", "is not a number")
        asyncio.run(hooks.answered(1000))
        said: list[TranscriptEntry] = []
        for n in range(2):
            self.steps.acquire()
            said.append({"role": "agent", "content": f"line {n}", "start_at": 1000 + n * 1000})
            hooks.progress(list(said), {"n": n})
        self.steps.acquire()
        return Outcome(CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP, 3000, 1000, transcript=said)


def _until(registry: Rehearsals, org: str, rid: str, ok: Any) -> Rehearsal:
    deadline = time.monotonic() + 10
    while not ok(found := registry.get(org, rid)):
        assert time.monotonic() < deadline, found
        time.sleep(0.01)
    return found


def test_the_conversation_shows_as_it_grows() -> None:
    run = Paced()
    registry = Rehearsals(run)
    started = registry.start(Settings(), _version("org_a"), "01012345678", {}, {"to": "01012345678"})
    assert started.transcript == [] and not started.finished
    run.steps.release()
    first = _until(registry, "org_a", started.id, lambda r: len(r.transcript) == 1)
    assert first.answered_at == 1000 and not first.finished and first.form == {"to": "01012345678"}
    run.steps.release()
    _until(registry, "org_a", started.id, lambda r: len(r.transcript) == 2)
    assert not registry.get("org_a", started.id).finished
    run.steps.release()
    done = _until(registry, "org_a", started.id, lambda r: r.finished)
    assert done.outcome is not None and done.outcome.status is CallStatus.ENDED
    assert [e["content"] for e in done.transcript] == ["line 0", "line 1"]
    # Another organisation's rehearsal is not found, like one this process never started.
    with pytest.raises(NotFound):
        registry.get("org_b", started.id)
    with pytest.raises(NotFound):
        registry.get("org_a", "01a23ac0-3e03-7386-bca1-60a067903c81")


def test_a_failed_run_says_why() -> None:
    registry = Rehearsals(Paced())
    started = registry.start(Settings(), _version("org_a"), "boom", {}, {})
    done = _until(registry, "org_a", started.id, lambda r: r.finished)
    assert done.outcome is None and done.failure == "to: is not a number"


def test_running_and_kept_rehearsals_are_bounded() -> None:
    run = Paced()
    registry = Rehearsals(run)
    running = [registry.start(Settings(), _version("org_a"), "x", {}, {}) for _ in range(RUNNING)]
    with pytest.raises(Conflict):
        registry.start(Settings(), _version("org_a"), "x", {}, {})
    # Another organisation has its own allowance.
    other = registry.start(Settings(), _version("org_b"), "boom", {}, {})
    for _ in range(3 * RUNNING):
        run.steps.release()
    for r in running:
        _until(registry, "org_a", r.id, lambda r: r.finished)
    _until(registry, "org_b", other.id, lambda r: r.finished)
    finished = [registry.start(Settings(), _version("org_a"), "boom", {}, {}) for _ in range(KEPT)]
    for r in finished:
        _until(registry, "org_a", r.id, lambda r: r.finished)
    registry.start(Settings(), _version("org_a"), "boom", {}, {})
    # The oldest finished went; the newest are all there.
    with pytest.raises(NotFound):
        registry.get("org_a", running[0].id)
    assert all(registry.get("org_a", r.id).finished for r in finished[1:])
