"""Vocode requests → `NewCall` and `CallQuery`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from callplane.api.dialects import common
from callplane.domain.errors import ValidationFailed
from callplane.domain.phone import parse_any
from callplane.domain.query import SortField
from callplane.engine.services.calls import NewCall

DEFAULT_SIZE = 10
MAX_SIZE = 100
SORT_COLUMNS = {
    "start_time": SortField.START,
    "end_time": SortField.END,
    "created_at": SortField.CREATED,
    "id": SortField.ID,
}
CORE_FIELDS = {"agent": "agent", "agent.agent_id": "agent", "agent.agent_version": "agent"}


class CreateCall(BaseModel):
    """`POST /v1/calls/create` — Vocode's body; FastAPI's usual (lax) parsing, as Vocode's.

    The fields are those of Vocode's documented request (the `vocode-api` SDK's `create_call`
    sends exactly these); any other field is a 422 `extra_forbidden` naming it.
    """

    model_config = ConfigDict(extra="forbid")

    from_number: str = Field(description="A number this organization owns: E.164 or Korean domestic digits.")
    to_number: str = Field(description="The callee: E.164 or Korean domestic digits.")
    agent: str | dict[str, Any] = Field(
        description="The id (UUID) of a callplane agent. Inline agent definitions are refused (422)."
    )
    on_no_human_answer: Literal["continue", "hangup"] | None = Field(
        default=None, description="Only `hangup`: callplane ends a call a machine answers."
    )
    run_do_not_call_detection: bool | None = Field(
        default=None, description="Accepted; the do-not-call list is always checked."
    )
    hipaa_compliant: bool | None = Field(
        default=None, description="true: keep no transcript, recording or analysis of this call."
    )
    context: dict[str, str | None] | None = Field(default=None, description="The agent's prompt variables.")
    telephony_params: dict[str, str | None] | None = Field(
        default=None, description="Accepted and unused (the simulated line takes no parameters)."
    )


def new_call(body: CreateCall, idempotency_key: str | None) -> NewCall:
    m = common.Mistakes()
    from_number = m.attempt(parse_any, body.from_number, "from_number")
    to_number = m.attempt(parse_any, body.to_number, "to_number")
    agent_id = None
    if isinstance(body.agent, dict):
        m.add(
            "agent",
            "inline agent definitions are not supported: create the agent with "
            "`callplane agents create` and pass its id",
        )
    else:
        agent_id = m.attempt(
            common.agent_uuid, body.agent, "agent", "must be the id (UUID) of an agent of this organization"
        )
    if body.on_no_human_answer == "continue":
        m.add(
            "on_no_human_answer",
            "only 'hangup' is supported: callplane ends a call that a machine answers",
            ["hangup"],
        )
    variables = m.attempt(common.freeform, body.context, "context") or {}
    m.attempt(common.idempotency_key, idempotency_key, "Idempotency-Key")
    m.raise_any()
    assert from_number is not None and to_number is not None, "raise_any() would have raised"
    return NewCall(
        from_number=from_number,
        to_number=to_number,
        agent_id=agent_id,
        dynamic_variables=variables,
        idempotency_key=idempotency_key,
        opt_out_sensitive_data_storage=bool(body.hipaa_compliant),
    )


def sort_column(value: str | None) -> SortField:
    if value is None:
        return SortField.START
    if value not in SORT_COLUMNS:
        raise ValidationFailed.single(
            "sort_column", f"{value!r} is not a sortable column", list(SORT_COLUMNS)
        )
    return SORT_COLUMNS[value]
