"""Transcript search predicates (see `callplane.domain.search` for the semantics)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, literal, true

from callplane.domain.search import normalize
from callplane.store.schema import calls


def condition(query: str, dialect: str) -> ColumnElement[bool]:
    needle = normalize(query)
    if not needle:
        return true()
    position = func.instr if dialect == "sqlite" else func.strpos
    return position(calls.c.search_text, literal(needle)) > 0
