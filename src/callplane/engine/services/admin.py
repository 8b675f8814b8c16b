"""Managing an organisation: keys, agents, numbers, policies, limits.

Shared by the admin API, the operator API and the CLI, so all enforce the same rules. Each
function is one transaction. Most methods act with the operator's full power (the CLI and the
operator API); the `tenant_*` methods, and the rules in `domain.principal`, are what an
organisation's own key may do (`api/admin.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from callplane.domain import bounds
from callplane.domain.agent import Agent, AgentVersion, TrafficSplit, parse_definition, validate_variants
from callplane.domain.errors import Forbidden, NotFound, ValidationFailed
from callplane.domain.money import parse_krw, to_minor
from callplane.domain.org import CallingWindow, Organization
from callplane.domain.principal import DEFAULT_SCOPES, TENANT_SETTINGS, Principal, Scope
from callplane.engine import egress
from callplane.engine.live.telephony import registry as providers
from callplane.engine.live.telephony.registry import SIMULATED
from callplane.store import agents as agent_store
from callplane.store import notify, queue
from callplane.store import numbers as number_store
from callplane.store import orgs as org_store
from callplane.store.db import Database
from callplane.store.numbers import OwnedNumber, PresentationNumber, Suppression
from callplane.store.orgs import CredentialInfo, IssuedCredential


@dataclass
class Admin:
    db: Database
    now: Callable[[], int]
    #: Let agent files name internal addresses (`CALLPLANE_ALLOW_PRIVATE_DESTINATIONS`).
    allow_private_destinations: bool = False

    # Organisations -------------------------------------------------------------------------

    def create_organization(self, name: str, **settings: Any) -> Organization:
        # One transaction: a setting refused leaves no half-made organisation behind.
        name = bounds.name(name)
        with self.db.write() as conn:
            org = org_store.create_organization(conn, name=name, now=self.now())
            if settings:
                org = _apply(org, settings)
                org_store.save_organization(conn, org)
        return org

    def organization(self, organization_id: str) -> Organization:
        with self.db.read() as conn:
            return org_store.get_organization(conn, organization_id)

    def organizations(self) -> list[Organization]:
        with self.db.read() as conn:
            return org_store.list_organizations(conn)

    def update_organization(self, organization_id: str, changes: dict[str, Any]) -> Organization:
        """Apply a partial update: `calling_window`, limits, `balance`, `rate_per_minute`, `name`."""
        with self.db.write() as conn:
            org = org_store.get_organization(conn, organization_id)
            org = _apply(org, changes)
            org_store.save_organization(conn, org)
            reopened = "calling_window" in changes and queue.due_now(conn, organization_id, self.now()) > 0
        if reopened:
            notify.send(self.db, notify.CREATED)  # workers in other processes look at once
        return org

    def tenant_update_organization(self, organization_id: str, changes: dict[str, Any]) -> Organization:
        """An organisation changing itself: its name and calling window, never billing or limits."""
        reserved = sorted(set(changes) & _OPERATOR_SETTINGS)
        if reserved:
            raise Forbidden(
                f"{', '.join(reserved)}: set by the operator, not by an organization's API key; "
                f"an organization may change only {', '.join(sorted(TENANT_SETTINGS))}"
            )
        return self.update_organization(organization_id, changes)

    # Credentials ---------------------------------------------------------------------------

    def issue_key(
        self,
        organization_id: str,
        name: str,
        *,
        kind: str = "bearer",
        scopes: frozenset[Scope] = DEFAULT_SCOPES,
        key: str | None = None,
        secret: str | None = None,
    ) -> IssuedCredential:
        name = bounds.name(name)
        with self.db.write() as conn:
            org_store.get_organization(conn, organization_id)
            return org_store.issue_credential(
                conn,
                organization_id,
                kind=kind,
                name=name,
                now=self.now(),
                scopes=scopes,
                key=key,
                secret=secret,
            )

    def tenant_issue_key(
        self, creator: Principal, name: str, *, kind: str, scopes: frozenset[Scope]
    ) -> IssuedCredential:
        """A key creating a key for its organisation: with no scope the creator does not hold."""
        return self.issue_key(creator.organization_id, name, kind=kind, scopes=creator.grant(scopes))

    def keys(self, organization_id: str) -> list[CredentialInfo]:
        with self.db.read() as conn:
            return org_store.list_credentials(conn, organization_id)

    def revoke_key(self, organization_id: str, credential_id: str) -> None:
        with self.db.write() as conn:
            org_store.revoke_credential(conn, organization_id, credential_id, self.now())

    # Agents --------------------------------------------------------------------------------

    def create_agent(self, organization_id: str, raw: object, agent_id: str | None = None) -> Agent:
        definition = parse_definition(raw)
        egress.vet_agent(definition, allow_private=self.allow_private_destinations)
        with self.db.write() as conn:
            return agent_store.create_agent(conn, organization_id, definition, self.now(), agent_id)

    def add_version(self, organization_id: str, agent_id: str, raw: object) -> AgentVersion:
        definition = parse_definition(raw)
        egress.vet_agent(definition, allow_private=self.allow_private_destinations)
        with self.db.write() as conn:
            number = agent_store.add_version(conn, organization_id, agent_id, definition, self.now())
            agent = agent_store.get_agent(conn, organization_id, agent_id)
            return agent_store.get_version(conn, organization_id, agent.id, number)

    def publish(self, organization_id: str, agent_id: str, version: int) -> tuple[int, int | None]:
        with self.db.write() as conn:
            previous = agent_store.publish(conn, organization_id, agent_id, version)
        return version, previous

    def agents(self, organization_id: str) -> list[Agent]:
        with self.db.read() as conn:
            return agent_store.list_agents(conn, organization_id)

    def agent(self, organization_id: str, agent_id: str) -> tuple[Agent, list[AgentVersion]]:
        with self.db.read() as conn:
            agent = agent_store.get_agent(conn, organization_id, agent_id)
            return agent, agent_store.list_versions(conn, organization_id, agent.id)

    # Numbers and policies ------------------------------------------------------------------

    def add_number(
        self,
        organization_id: str,
        number: str,
        label: str = "",
        *,
        provider: str = SIMULATED,
        inbound_agent_id: str | None = None,
    ) -> OwnedNumber:
        """Assign a number to an organisation (operator): 409 while another organisation owns it.
        `provider` is the carrier it is on; `inbound_agent_id` answers calls to it."""
        bounds.check_chars(label, bounds.MAX_NAME_CHARS, "label")
        if provider not in providers.names():
            raise ValidationFailed.single("provider", f"must be one of {', '.join(providers.names())}")
        with self.db.write() as conn:
            org_store.get_organization(conn, organization_id)
            if inbound_agent_id is not None:
                agent_store.get_agent(conn, organization_id, inbound_agent_id)
            return number_store.add_number(
                conn,
                organization_id,
                number,
                label,
                self.now(),
                provider=provider,
                inbound_agent_id=inbound_agent_id,
            )

    def set_inbound_agent(self, organization_id: str, number: str, agent_id: str | None) -> None:
        """The organisation's agent that answers calls to its number (None: reject them)."""
        with self.db.write() as conn:
            if agent_id is not None:
                agent_store.get_agent(conn, organization_id, agent_id)
            number_store.set_inbound_agent(conn, organization_id, number, agent_id)

    def remove_number(self, organization_id: str, number: str) -> None:
        with self.db.write() as conn:
            number_store.remove_number(conn, organization_id, number)

    def numbers(self, organization_id: str) -> list[OwnedNumber]:
        with self.db.read() as conn:
            return number_store.list_numbers(conn, organization_id)

    def request_presentation_number(self, organization_id: str, number: str) -> PresentationNumber:
        """An organisation asks for a caller ID; it is used only once the operator approves it."""
        with self.db.write() as conn:
            return number_store.request_presentation_number(conn, organization_id, number, self.now())

    def approve_presentation_number(
        self, organization_id: str, number: str, approved: bool = True
    ) -> PresentationNumber:
        """Approve (operator) or withdraw a caller ID: 409 while it is approved for another."""
        with self.db.write() as conn:
            org_store.get_organization(conn, organization_id)
            return number_store.set_presentation_approval(
                conn, organization_id, number, self.now(), approved=approved
            )

    def presentation_numbers(self, organization_id: str) -> list[PresentationNumber]:
        with self.db.read() as conn:
            return number_store.list_presentation_numbers(conn, organization_id)

    def set_traffic_split(
        self, organization_id: str, from_number: str, variants: list[dict[str, Any]]
    ) -> TrafficSplit:
        parsed = validate_variants(variants)
        with self.db.write() as conn:
            if not number_store.owns_number(conn, organization_id, from_number):
                raise ValidationFailed.single("from_number", "is not a number owned by this organization")
            for i, variant in enumerate(parsed):
                try:
                    agent = agent_store.get_agent(conn, organization_id, variant.agent_id)
                except NotFound:
                    raise ValidationFailed.single(f"variants[{i}].agent_id", "no such agent") from None
                agent.resolve(variant.version_spec, field=f"variants[{i}].agent_version")
                parsed = (*parsed[:i], replace(variant, agent_id=agent.id), *parsed[i + 1 :])
            return number_store.set_traffic_split(conn, organization_id, from_number, parsed, self.now())

    def remove_traffic_split(self, organization_id: str, from_number: str) -> None:
        with self.db.write() as conn:
            number_store.deactivate_traffic_split(conn, organization_id, from_number)

    def traffic_splits(self, organization_id: str) -> list[TrafficSplit]:
        with self.db.read() as conn:
            return number_store.list_traffic_splits(conn, organization_id)

    def suppress(self, organization_id: str, number: str, reason: str) -> Suppression:
        bounds.check_chars(reason, bounds.MAX_NAME_CHARS, "reason")
        with self.db.write() as conn:
            return number_store.suppress(conn, organization_id, number, reason, self.now())

    def unsuppress(self, organization_id: str, number: str) -> None:
        with self.db.write() as conn:
            number_store.unsuppress(conn, organization_id, number)

    def suppressions(self, organization_id: str) -> list[Suppression]:
        with self.db.read() as conn:
            return number_store.list_suppressions(conn, organization_id)


_LIMIT_FIELDS = ("max_concurrent_calls", "max_queue_wait_s", "hourly_call_limit", "daily_call_limit")
_OPERATOR_SETTINGS = frozenset({"balance", "rate_per_minute", *_LIMIT_FIELDS})


def _apply(org: Organization, changes: dict[str, Any]) -> Organization:
    unknown = set(changes) - TENANT_SETTINGS - _OPERATOR_SETTINGS
    if unknown:
        raise ValidationFailed.single(sorted(unknown)[0], "is not an organization setting")
    if "name" in changes:
        org = replace(org, name=bounds.name(changes["name"]))
    if "calling_window" in changes:
        org = replace(org, window=_read_window(changes["calling_window"], org.window))
    limit_changes: dict[str, Any] = {}
    for name in _LIMIT_FIELDS:
        if name in changes:
            value = changes[name]
            nullable = name != "max_concurrent_calls"
            valid = value is None and nullable
            valid = valid or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
            if not valid:
                raise ValidationFailed.single(
                    name, "must be a positive integer" + (" or null" if nullable else "")
                )
            limit_changes[name] = value
    org = replace(org, limits=replace(org.limits, **limit_changes))
    if "balance" in changes:
        balance = changes["balance"]
        org = replace(org, balance_minor=None if balance is None else to_minor(parse_krw(balance, "balance")))
    if "rate_per_minute" in changes:
        org = replace(org, rate_per_minute=parse_krw(changes["rate_per_minute"], "rate_per_minute"))
    return org


def _read_window(raw: object, current: CallingWindow) -> CallingWindow:
    """An organisation's calling window as clients write it:
    `{"timezone", "start": "08:00", "end": "20:00", "days": "12345"}`; omitted keys keep their value."""
    if not isinstance(raw, dict):
        raise ValidationFailed.single("calling_window", "must be an object")
    unknown = set(raw) - {"timezone", "start", "end", "days"}
    if unknown:
        raise ValidationFailed.single(f"calling_window.{sorted(unknown)[0]}", "is not a window setting")

    def minutes(key: str, default: int) -> int:
        value = raw.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
            raise ValidationFailed.single(
                f"calling_window.{key}", "must be HH:MM, e.g. 08:00 (24:00 for midnight)"
            )
        try:
            hours, mins = int(value[:2]), int(value[3:])
        except ValueError:
            raise ValidationFailed.single(f"calling_window.{key}", "must be HH:MM") from None
        total = hours * 60 + mins
        if not (0 <= mins < 60 and 0 <= total <= 1440):
            raise ValidationFailed.single(f"calling_window.{key}", "must be between 00:00 and 24:00")
        return total

    days = raw.get("days", current.days)
    if not isinstance(days, str):
        raise ValidationFailed.single("calling_window.days", "must be a string of ISO weekdays, e.g. 12345")
    timezone = raw.get("timezone", current.timezone)
    if not isinstance(timezone, str):
        raise ValidationFailed.single("calling_window.timezone", "must be an IANA time zone name")
    return CallingWindow(timezone, minutes("start", current.start_min), minutes("end", current.end_min), days)
