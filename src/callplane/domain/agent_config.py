"""Kind-specific validation of an agent version's configuration (flow graph, LLM block)."""

from __future__ import annotations

from typing import Any

from callplane.domain.agent import AgentKind
from callplane.domain.errors import ValidationFailed


def validate_config(kind: AgentKind, config: dict[str, Any]) -> None:
    if kind is AgentKind.FLOW:
        if not isinstance(config.get("nodes"), dict) or not config["nodes"]:
            raise ValidationFailed.single("flow.nodes", "a flow needs at least one node")
    elif kind is AgentKind.LLM and not str(config.get("prompt") or "").strip():
        raise ValidationFailed.single("llm.prompt", "is required")
