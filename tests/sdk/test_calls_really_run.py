"""A call created through each vendor's client really runs on the simulated line.

`callplane serve` as a user starts it (a real process with its embedded worker, the demo
organisation, the simulated line sped up): the official `vocode-api` and `retell-sdk` clients and
a Zudu request each create a call to the simulator's friendly callee, then read it back through
their own dialect until it reaches a terminal status, with a transcript.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from retell import Retell
from retell.types.phone_call_response import PhoneCallResponse

from tests.test_serve import Server, start_server

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # vocode-api's pydantic v1-style config, see test_vocode_sdk.py
    from vocode import Vocode

pytestmark = pytest.mark.slow

API_KEY = "cp_sdk_run_demo_key_0001"
KEY_ID = "cpk_sdk_run_demo_pair_01"
KEY_SECRET = "cps_sdk_run_demo_secret_01"
DEMO_AGENT = "7f3e9c12-4a8b-4d5e-9f1a-2b3c4d5e6f7a"
FROM, TO = "+827011112222", "+821012345678"  # the demo line; the simulator's friendly callee
VARIABLES = {"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"}
DEADLINE_S = 120


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(
        tmp_path,
        {
            "CALLPLANE_BOOTSTRAP_API_KEY": API_KEY,
            "CALLPLANE_BOOTSTRAP_KEY_ID": KEY_ID,
            "CALLPLANE_BOOTSTRAP_KEY_SECRET": KEY_SECRET,
            "CALLPLANE_SIMULATOR_SPEED": "1000",
            "CALLPLANE_WORKER_POLL_INTERVAL_S": "0.1",
        },
    )
    yield running
    running.stop()


def until(read: Callable[[], Any], done: Callable[[Any], bool], what: str) -> Any:
    """Read until `done`; the deadline only bounds a hung call, it measures nothing."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not finish: {value!r}")
        time.sleep(0.2)


def test_calls_created_through_each_client_run_to_the_end(server: Server) -> None:
    with (
        httpx.Client(timeout=60) as http,
        Retell(api_key=API_KEY, base_url=server.base_url, max_retries=0) as retell,
    ):
        vocode = Vocode(token=API_KEY, base_url=server.base_url, httpx_client=http)
        by_vocode = vocode.calls.create_call(
            from_number=FROM, to_number=TO, agent=DEMO_AGENT, context=VARIABLES
        )
        private = vocode.calls.create_call(
            from_number=FROM, to_number=TO, agent=DEMO_AGENT, context=VARIABLES, hipaa_compliant=True
        )
        by_retell = retell.call.create_phone_call(
            from_number=FROM,
            to_number=TO,
            override_agent_id=DEMO_AGENT,
            retell_llm_dynamic_variables=VARIABLES,
        )
        zudu_headers = {"X-API-KEY": KEY_ID, "X-API-SECRET": KEY_SECRET}
        by_zudu = http.post(
            f"{server.base_url}/api/calls/create-phone-call",
            json={
                "from_number": FROM,
                "to_number": TO,
                "override_agent_id": DEMO_AGENT,
                "dynamic_variables": VARIABLES,
            },
            headers=zudu_headers,
        )
        assert by_zudu.status_code == 200, by_zudu.text
        zudu_id = by_zudu.json()["data"]["call"]["id"]

        vocode_call = until(
            lambda: vocode.calls.get_call(id=by_vocode.id),
            lambda c: c.status in ("ended", "error"),
            "Vocode call",
        )
        assert vocode_call.status == "ended" and vocode_call.stage == "picked_up"
        assert (
            vocode_call.transcript
            and "BOT: " in vocode_call.transcript
            and "HUMAN: " in vocode_call.transcript
        )
        assert vocode_call.start_time is not None and vocode_call.end_time is not None

        retell_call = until(
            lambda: retell.call.retrieve(by_retell.call_id),
            lambda c: c.call_status in ("ended", "not_connected", "error"),
            "Retell call",
        )
        assert isinstance(retell_call, PhoneCallResponse)
        assert retell_call.call_status == "ended"
        assert retell_call.transcript and "Agent: " in retell_call.transcript
        assert retell_call.transcript_object and retell_call.duration_ms and retell_call.duration_ms > 0

        zudu_call = until(
            lambda: http.get(f"{server.base_url}/api/calls/{zudu_id}", headers=zudu_headers).json()["data"],
            lambda c: c["call_status"] in ("ENDED", "ERROR"),
            "Zudu call",
        )
        assert zudu_call["call_status"] == "ENDED" and zudu_call["transcript"]

        # hipaa_compliant: the call ran, and nothing of what was said was kept.
        kept = until(
            lambda: vocode.calls.get_call(id=private.id),
            lambda c: c.status in ("ended", "error"),
            "private call",
        )
        assert kept.status == "ended" and kept.stage == "picked_up" and kept.hipaa_compliant is True
        assert kept.transcript is None and kept.recording_available is False
        assert retell.call.retrieve(private.id).transcript is None

        # Each finished call reads the same through the other clients.
        listed = {c.id: c for c in vocode.calls.list_calls(size=10).items}
        assert {by_vocode.id, by_retell.call_id, zudu_id} <= set(listed)
        assert {listed[i].status for i in (by_vocode.id, by_retell.call_id, zudu_id)} == {"ended"}
        assert retell.call.retrieve(by_vocode.id).call_status == "ended"
