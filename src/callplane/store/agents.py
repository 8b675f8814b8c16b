"""Agents and their immutable numbered versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from callplane.domain.agent import Agent, AgentDefinition, AgentVersion, version_from_definition
from callplane.domain.errors import NotFound, ValidationFailed
from callplane.domain.ids import new_id, normalize_uuid
from callplane.store.schema import agent_versions, agents


def _agent(row: Any) -> Agent:
    return Agent(
        row.id, row.organization_id, row.name, row.current_version, row.production_version, row.created_at
    )


def create_agent(
    conn: Connection, organization_id: str, definition: AgentDefinition, now: int, agent_id: str | None = None
) -> Agent:
    """A new agent with its first version. `agent_id` lets setups choose a stable id."""
    if agent_id is not None:
        canonical = normalize_uuid(agent_id)
        if canonical is None:
            raise ValidationFailed.single("id", "must be a UUID")
        agent_id = canonical
        exists = conn.execute(
            select(agents.c.id).where(agents.c.organization_id == organization_id, agents.c.id == agent_id)
        ).first()
        if exists is not None:
            raise ValidationFailed.single("id", "an agent with this id exists")
    agent = Agent(agent_id or new_id(), organization_id, definition.name, 1, None, now)
    conn.execute(
        insert(agents).values(
            organization_id=organization_id,
            id=agent.id,
            name=agent.name,
            current_version=1,
            production_version=None,
            created_at=now,
        )
    )
    _insert_version(conn, organization_id, agent.id, 1, definition, now)
    return agent


def add_version(
    conn: Connection, organization_id: str, agent_id: str, definition: AgentDefinition, now: int
) -> int:
    agent = get_agent(conn, organization_id, agent_id)
    number = agent.current_version + 1
    _insert_version(conn, organization_id, agent.id, number, definition, now)
    conn.execute(
        update(agents)
        .where(agents.c.organization_id == organization_id, agents.c.id == agent.id)
        .values(current_version=number, name=definition.name)
    )
    return number


def _insert_version(
    conn: Connection, organization_id: str, agent_id: str, number: int, definition: AgentDefinition, now: int
) -> None:
    conn.execute(
        insert(agent_versions).values(
            organization_id=organization_id,
            agent_id=agent_id,
            version=number,
            kind=definition.kind.value,
            definition=definition.raw,
            description=definition.description,
            created_at=now,
        )
    )


def publish(conn: Connection, organization_id: str, agent_id: str, version: int) -> int | None:
    """Make `version` the production version; returns the previous one."""
    agent = get_agent(conn, organization_id, agent_id)
    if not 1 <= version <= agent.current_version:
        raise ValidationFailed.single("version", f"must be between 1 and {agent.current_version}")
    conn.execute(
        update(agents)
        .where(agents.c.organization_id == organization_id, agents.c.id == agent.id)
        .values(production_version=version)
    )
    return agent.production_version


def get_agent(conn: Connection, organization_id: str, agent_id: str) -> Agent:
    canonical = normalize_uuid(agent_id)
    row = None
    if canonical is not None:
        row = conn.execute(
            select(agents).where(agents.c.organization_id == organization_id, agents.c.id == canonical)
        ).first()
    if row is None:
        raise NotFound(f"agent {agent_id} not found")
    return _agent(row)


def list_agents(conn: Connection, organization_id: str) -> list[Agent]:
    rows = conn.execute(
        select(agents).where(agents.c.organization_id == organization_id).order_by(agents.c.created_at)
    ).all()
    return [_agent(r) for r in rows]


def get_version(conn: Connection, organization_id: str, agent_id: str, version: int) -> AgentVersion:
    row = conn.execute(
        select(agent_versions).where(
            agent_versions.c.organization_id == organization_id,
            agent_versions.c.agent_id == agent_id,
            agent_versions.c.version == version,
        )
    ).first()
    if row is None:
        raise NotFound(f"agent {agent_id} has no version {version}")
    return version_from_definition(
        row.organization_id, row.agent_id, row.version, row.definition, row.created_at
    )


def list_versions(conn: Connection, organization_id: str, agent_id: str) -> list[AgentVersion]:
    rows = conn.execute(
        select(agent_versions)
        .where(agent_versions.c.organization_id == organization_id, agent_versions.c.agent_id == agent_id)
        .order_by(agent_versions.c.version)
    ).all()
    return [
        version_from_definition(r.organization_id, r.agent_id, r.version, r.definition, r.created_at)
        for r in rows
    ]
