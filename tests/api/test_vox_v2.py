"""Vox v2 list (seed 000) and get, through the real app."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from callplane.api.dialects.vox import render
from callplane.domain.query import CallQuery
from callplane.store import listing
from callplane.store.db import Database
from tests.factories import Tenant, call_body, ended_saying, insert_calls, random_call

SEED_000 = {
    "filter_criteria": {"agent_id": ["agent_123"], "call_type": ["outbound"]},
    "limit": 50,
    "sort_order": "descending",
}
V2_KEYS = {
    "agent_id",
    "call_id",
    "call_type",
    "call_from",
    "call_to",
    "dynamic_variables",
    "metadata",
    "disconnection_reason",
    "start_timestamp",
    "end_timestamp",
    "duration_ms",
    "transcript",
    "transcript_with_tool_calls",
    "recording_url",
    "call_cost",
    "call_analysis",
    "opt_out_sensitive_data_storage",
}


def test_seed_example_answers_the_documented_shape(client: TestClient, tenant: Tenant) -> None:
    client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers)
    response = client.post("/v2/calls/list", json=SEED_000, headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == {
        "calls": [],
        "next_cursor": None,
        "total_count": 0,
    }  # agent_123 is no agent of ours
    body = {**SEED_000, "filter_criteria": {**SEED_000["filter_criteria"], "agent_id": [tenant.agent_id]}}
    listed = client.post("/v2/calls/list", json=body, headers=tenant.headers).json()
    assert set(listed) == {"calls", "next_cursor", "total_count"}
    assert listed["total_count"] == 1
    call = listed["calls"][0]
    assert set(call) >= V2_KEYS
    assert call["call_from"] == "07011112222" and call["call_type"] == "outbound"
    assert call["transcript"] == [] and call["call_cost"] is None
    assert client.get(f"/v2/calls/{call['call_id']}", headers=tenant.headers).json() == call


def test_pagination_key_accepts_cursor_and_call_id(client: TestClient, tenant: Tenant) -> None:
    ids = [
        client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers).json()["id"]
        for _ in range(5)
    ]
    first = client.post("/v2/calls/list", json={"limit": 2}, headers=tenant.headers).json()
    assert first["total_count"] == 5 and len(first["calls"]) == 2
    by_cursor = client.post(
        "/v2/calls/list", json={"limit": 2, "pagination_key": first["next_cursor"]}, headers=tenant.headers
    ).json()
    by_id = client.post(
        "/v2/calls/list",
        json={"limit": 2, "pagination_key": first["calls"][-1]["call_id"]},
        headers=tenant.headers,
    ).json()
    assert [c["call_id"] for c in by_cursor["calls"]] == [c["call_id"] for c in by_id["calls"]]
    seen = {c["call_id"] for c in first["calls"]} | {c["call_id"] for c in by_cursor["calls"]}
    assert len(seen) == 4 and seen <= set(ids)


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "50"},
        {"sort_order": "newest"},
        {"pagination_key": "%%%"},
        {"pagination_key": "3c90c3cc-0d44-4b50-8888-8dd25736052a"},
        {"filter_criteria": {"call_type": ["outbound", "fax"]}},
        {"filter_criteria": {"call_status": ["running"]}},
        {"filter_criteria": {"agent_id": "not-a-list"}},
        {"filter_criteria": {"duration": {"lower_threshold": 10, "upper_threshold": 5}}},
        {"filter_criteria": {"start_timestamp": {"lower_threshold": "yesterday"}}},
        {"filter_criteria": {"call_to": ["0101234"]}},
        {"filter_criteria": {"unknown_filter": [1]}},
        {"filter_criteria": []},
    ],
)
def test_bad_list_input_is_a_vox_400(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> None:
    response = client.post("/v2/calls/list", json=body, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_every_documented_filter_is_accepted(client: TestClient, tenant: Tenant) -> None:
    client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers)
    body = {
        "filter_criteria": {
            "agent_id": [tenant.agent_id],
            "call_type": ["outbound", "web"],
            "call_status": ["queued", "ongoing"],
            "disconnection_reason": ["user_hangup", "dial_busy"],
            "user_sentiment": ["positive", "Negative"],
            "call_from": ["07011112222"],
            "call_to": ["01012345678"],
            "duration": {"lower_threshold": 0, "upper_threshold": 600000},
            "start_timestamp": {"lower_threshold": 0},
        },
        "sort_order": "ascending",
    }
    response = client.post("/v2/calls/list", json=body, headers=tenant.headers)
    assert response.status_code == 200
    # Sentiment/reason/duration need a finished call: the queued one is filtered out.
    assert response.json()["total_count"] == 0
    del body["filter_criteria"]["user_sentiment"], body["filter_criteria"]["disconnection_reason"]
    del body["filter_criteria"]["duration"], body["filter_criteria"]["start_timestamp"]
    assert client.post("/v2/calls/list", json=body, headers=tenant.headers).json()["total_count"] == 1


# Transcripts a v2 page passes through as stored (utterances only, the four keys) and ones it
# must rebuild: a tool call, a flow move, an utterance with `words`, a float time.
TRANSCRIPTS: list[list[dict[str, Any]]] = [
    [],
    [{"role": "agent", "content": "안녕하세요", "start_at": 1, "end_at": 2}],
    [
        {
            "role": "agent",
            "content": 'quote " back \\ slash\nline 한글 \u2028',
            "start_at": 1,
            "end_at": None,
        },
        {"role": "user", "content": "", "start_at": -5, "end_at": 10_000_000_000_000},
    ],
    [
        {
            "role": "user",
            "content": "네",
            "start_at": 1,
            "end_at": 2,
            "words": [{"word": "네", "start_at": 1, "end_at": 2}],
        },
        {
            "role": "tool_call_invocation",
            "tool_call_id": "t1",
            "name": "lookup",
            "arguments": {"a": 1},
            "at": 3,
        },
        {"role": "tool_call_result", "tool_call_id": "t1", "content": "ok", "successful": True, "at": 4},
        {"role": "node_transition", "from": "a", "to": "b", "at": 5},
        {"role": "agent", "content": "끝", "start_at": 6, "end_at": 7},
    ],
    [{"role": "agent", "content": "x", "start_at": 1.5, "end_at": 2}],
    [{"content": "x", "role": "agent", "start_at": 1, "end_at": 2}],
]


@pytest.mark.parametrize("transcript", TRANSCRIPTS)
def test_listed_transcripts_are_what_a_get_renders(
    client: TestClient, db: Database, tenant: Tenant, transcript: list[dict[str, Any]]
) -> None:
    """A list page may pass the stored transcript text through (`render._UTTERANCES`); what it
    answers is what rendering the entries answers, as GET does."""
    rng = random.Random(7)
    made = random_call(rng, tenant.organization_id, [tenant.agent_id], start_at=1_767_225_600_000)
    insert_calls(db, [replace(ended_saying(made, transcript), opt_out_sensitive_data_storage=False)])
    listed = client.post("/v2/calls/list", json={}, headers=tenant.headers).json()["calls"]
    assert len(listed) == 1
    got = client.get(f"/v2/calls/{made.id}", headers=tenant.headers).json()
    assert listed[0] == got
    utterances = [
        {k: e[k] for k in ("role", "content", "start_at", "end_at")}
        for e in transcript
        if e["role"] in ("agent", "user")
    ]
    assert got["transcript"] == utterances


@pytest.mark.parametrize("passed", [True, False])
def test_plain_utterances_are_passed_through(db: Database, tenant: Tenant, passed: bool) -> None:
    """The stored text of plain utterances is recognised in the form each database returns it."""
    transcript = TRANSCRIPTS[2] if passed else TRANSCRIPTS[3]
    made = random_call(
        random.Random(7), tenant.organization_id, [tenant.agent_id], start_at=1_767_225_600_000
    )
    insert_calls(db, [replace(ended_saying(made, transcript), opt_out_sensitive_data_storage=False)])
    with db.read() as conn:
        (call,) = listing.list_calls(conn, CallQuery(tenant.organization_id, include_transcript=True)).calls
    assert call.transcript == transcript and call.transcript_json is not None
    assert orjson.loads(call.transcript_json) == transcript
    spoken, full = render._v2_transcripts(call)
    if passed:
        assert isinstance(spoken, orjson.Fragment) and spoken is full
    else:
        assert isinstance(spoken, list) and isinstance(full, list)
