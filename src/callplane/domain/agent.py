"""Agents, their immutable numbered versions, and traffic-split policies.

A version spec names a version the way Vox does: `current` is the newest version,
`production` the published one, `v<N>` exactly version N. A call is pinned to the number the
spec resolved to when it was created, so publishing a new version never changes a queued call.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from callplane.domain import bounds
from callplane.domain.errors import ValidationFailed
from callplane.domain.flow import parse_flow
from callplane.domain.llm import parse_llm
from callplane.domain.money import parse_krw
from callplane.domain.voice import parse_voice

_VERSION_SPEC = re.compile(r"current|production|v[1-9][0-9]{0,8}")
VERSION_SPEC_FORMS = ("current", "production", "v<N>")

#: What identifies an agent version: (organization_id, agent_id, version).
VersionKey = tuple[str, str, int]


class AgentKind(enum.StrEnum):
    FLOW = "flow"  #: a validated JSON node graph; runs offline
    LLM = "llm"  #: an OpenAI-compatible chat-completions endpoint with tools


def parse_version_spec(value: object, field: str = "agent.agent_version") -> str:
    """Validate `current|production|v<N>` (an int N is accepted and normalised to `v<N>`)."""
    if isinstance(value, bool):
        raise ValidationFailed.single(field, "must be a version name", VERSION_SPEC_FORMS)
    if isinstance(value, int):
        value = f"v{value}"
    if not isinstance(value, str) or not _VERSION_SPEC.fullmatch(value):
        raise ValidationFailed.single(field, "must be a version name", VERSION_SPEC_FORMS)
    return value


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    organization_id: str
    name: str
    current_version: int
    production_version: int | None
    created_at: int

    def resolve(self, spec: str, field: str = "agent.agent_version") -> int:
        """The version number a spec names, or ValidationFailed if it names none."""
        if spec == "current":
            return self.current_version
        if spec == "production":
            if self.production_version is None:
                raise ValidationFailed.single(field, "the agent has no published production version")
            return self.production_version
        number = int(spec[1:])
        if number > self.current_version:
            raise ValidationFailed.single(
                field, f"version {number} does not exist (latest is v{self.current_version})"
            )
        return number


@dataclass(frozen=True, slots=True)
class AgentVersion:
    """One immutable version of an agent: what it does and how it is billed and limited.

    Agent ids are unique only within an organisation (clients may choose them), so a version is
    identified by `key` — organisation, agent, number — and anything remembered about a version
    is keyed by it: a key without the organisation once let one tenant's flow speak in another's
    calls.
    """

    organization_id: str
    agent_id: str
    version: int
    kind: AgentKind
    config: dict[str, Any]  #: the kind's own definition (flow graph, LLM prompt and tools)
    description: str = ""
    max_duration_s: int = 900  #: Vox's callTimeoutInSeconds default
    inactivity_timeout_s: int = 30  #: silence before a re-prompt (Vox silenceCallTimeoutInSeconds)
    inactivity_reprompts: int = 1  #: re-prompts before the call ends with `inactivity`
    ring_timeout_s: int = 30  #: Vox ringDurationInSeconds
    opt_out_sensitive_data_storage: bool = False
    rate_per_minute: Decimal | None = None  #: KRW; overrides the organisation's rate
    analysis_fields: list[dict[str, Any]] = field(default_factory=list)
    webhook_url: str | None = None
    created_at: int = 0

    @property
    def key(self) -> VersionKey:
        return (self.organization_id, self.agent_id, self.version)


@dataclass(frozen=True, slots=True)
class SplitVariant:
    agent_id: str
    version_spec: str
    weight: int
    label: str


@dataclass(frozen=True, slots=True)
class TrafficSplit:
    """Weighted variants for calls from one number that name no agent; the pick is recorded."""

    id: str
    organization_id: str
    from_number: str
    variants: tuple[SplitVariant, ...]
    active: bool = True

    def pick(self, draw: float) -> SplitVariant:
        """The variant a uniform draw in [0, 1) lands on, in proportion to the weights."""
        total = sum(v.weight for v in self.variants)
        point = draw * total
        for variant in self.variants:
            if point < variant.weight:
                return variant
            point -= variant.weight
        return self.variants[-1]


def validate_variants(raw: Sequence[dict[str, Any]]) -> tuple[SplitVariant, ...]:
    if not raw:
        raise ValidationFailed.single("variants", "needs at least one variant")
    variants = []
    labels: set[str] = set()
    for i, item in enumerate(raw):
        where = f"variants[{i}]"
        weight = item.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0:
            raise ValidationFailed.single(f"{where}.weight", "must be a positive integer")
        label = item.get("label")
        if not isinstance(label, str) or not label or label in labels:
            raise ValidationFailed.single(f"{where}.label", "must be a unique, non-empty string")
        labels.add(label)
        agent_id = item.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id:
            raise ValidationFailed.single(f"{where}.agent_id", "is required")
        spec = parse_version_spec(item.get("agent_version", "current"), f"{where}.agent_version")
        variants.append(SplitVariant(agent_id, spec, weight, label))
    return tuple(variants)


_SETTINGS_BOUNDS = {
    "max_duration_s": (10, 43_200),
    "inactivity_timeout_s": (1, 600),
    "inactivity_reprompts": (0, 10),
    "ring_timeout_s": (5, 120),
}


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    """An agent file, validated: what `agents create --file` and the admin API accept."""

    name: str
    kind: AgentKind
    config: dict[str, Any]
    description: str
    raw: dict[str, Any]

    def version(self, organization_id: str, agent_id: str, number: int, created_at: int) -> AgentVersion:
        return version_from_definition(organization_id, agent_id, number, self.raw, created_at)


def parse_definition(raw: object) -> AgentDefinition:
    """Validate an agent file. Kind-specific checks (the flow graph, the LLM block) run here too."""
    if not isinstance(raw, dict):
        raise ValidationFailed.single("agent", "must be a JSON object")
    name = bounds.name(raw.get("name"))
    try:
        kind = AgentKind(raw.get("type", ""))
    except ValueError:
        raise ValidationFailed.single("type", "is required", [k.value for k in AgentKind]) from None
    config = raw.get(kind.value)
    if not isinstance(config, dict):
        raise ValidationFailed.single(kind.value, f"an agent of type {kind} needs a {kind} object")
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise ValidationFailed.single("settings", "must be an object")
    for key, value in settings.items():
        if key == "opt_out_sensitive_data_storage":
            if not isinstance(value, bool):
                raise ValidationFailed.single(f"settings.{key}", "must be true or false")
            continue
        if key not in _SETTINGS_BOUNDS:
            raise ValidationFailed.single(
                f"settings.{key}", "unknown setting", [*_SETTINGS_BOUNDS, "opt_out_sensitive_data_storage"]
            )
        low, high = _SETTINGS_BOUNDS[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValidationFailed.single(f"settings.{key}", f"must be an integer from {low} to {high}")
    rate = raw.get("pricing", {}).get("rate_per_minute") if isinstance(raw.get("pricing"), dict) else None
    if rate is not None:
        parse_krw(rate, "pricing.rate_per_minute")
    webhook_url = raw.get("webhook_url")
    if webhook_url is not None and (
        not isinstance(webhook_url, str) or not webhook_url.startswith(("http://", "https://"))
    ):
        raise ValidationFailed.single("webhook_url", "must be an http(s) URL")
    _validate_analysis_fields(raw.get("analysis", {}))
    if kind is AgentKind.FLOW:
        parse_flow(config)
    else:
        parse_llm(config)
    parse_voice(config, f"{kind.value}.voice")
    description = bounds.description(raw.get("description", ""))
    return AgentDefinition(name, kind, config, description, raw)


ANALYSIS_FIELD_TYPES = ("string", "enum", "boolean", "number")


def _validate_analysis_fields(analysis: object) -> None:
    if not isinstance(analysis, dict):
        raise ValidationFailed.single("analysis", "must be an object")
    fields = analysis.get("fields", [])
    if not isinstance(fields, list):
        raise ValidationFailed.single("analysis.fields", "must be a list")
    seen: set[str] = set()
    for i, item in enumerate(fields):
        where = f"analysis.fields[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ValidationFailed.single(f"{where}.name", "is required")
        if item["name"] in seen:
            raise ValidationFailed.single(f"{where}.name", "is used twice")
        seen.add(item["name"])
        if item.get("type") not in ANALYSIS_FIELD_TYPES:
            raise ValidationFailed.single(f"{where}.type", "is required", ANALYSIS_FIELD_TYPES)
        if item["type"] == "enum":
            options = item.get("enum_options")
            if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
                raise ValidationFailed.single(
                    f"{where}.enum_options", "an enum field needs a list of strings"
                )


def version_from_definition(
    organization_id: str, agent_id: str, number: int, raw: dict[str, Any], created_at: int
) -> AgentVersion:
    kind = AgentKind(raw["type"])
    settings = raw.get("settings", {})
    pricing = raw.get("pricing") or {}
    rate = pricing.get("rate_per_minute")
    return AgentVersion(
        organization_id=organization_id,
        agent_id=agent_id,
        version=number,
        kind=kind,
        config=raw[kind.value],
        description=raw.get("description", ""),
        max_duration_s=settings.get("max_duration_s", 900),
        inactivity_timeout_s=settings.get("inactivity_timeout_s", 30),
        inactivity_reprompts=settings.get("inactivity_reprompts", 1),
        ring_timeout_s=settings.get("ring_timeout_s", 30),
        opt_out_sensitive_data_storage=settings.get("opt_out_sensitive_data_storage", False),
        rate_per_minute=parse_krw(rate, "pricing.rate_per_minute") if rate is not None else None,
        analysis_fields=list((raw.get("analysis") or {}).get("fields", [])),
        webhook_url=raw.get("webhook_url"),
        created_at=created_at,
    )
