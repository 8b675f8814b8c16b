"""`store.prepared`: a statement compiled for one engine never runs on another's connections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Engine, Integer, MetaData, Table, create_engine, insert, select, text

from callplane.store.db import Database
from callplane.store.prepared import Prepared, param

_METADATA = MetaData()
_NOTES = Table("notes", _METADATA, Column("id", Integer, primary_key=True), Column("body", JSON))


def _insert(_dialect: str) -> Any:
    return insert(_NOTES).values(id=param("id", Integer()), body=param("body", JSON()))


def _engine(path: Path, serializer: Any) -> Engine:
    engine = create_engine(f"sqlite:///{path}", json_serializer=serializer)
    _METADATA.create_all(engine)
    return engine


def test_two_engines_of_one_dialect_each_run_their_own_form(tmp_path: Path) -> None:
    # Same dialect name, different JSON serializers: each engine's rows must be written by its
    # own (a form cached by dialect name ran the first engine's bind processors on the second).
    compact = _engine(tmp_path / "a.db", lambda v: orjson.dumps(v).decode())
    spaced = _engine(tmp_path / "b.db", lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2).decode())
    statement = Prepared(_insert)
    body = {"a": 1}
    try:
        for engine in (compact, spaced):
            with engine.begin() as conn:
                statement.rowcount(conn, id=1, body=body)
        stored = []
        for engine in (compact, spaced):
            with engine.connect() as conn:
                raw = conn.execute(text("SELECT body FROM notes")).scalar_one()
                assert conn.execute(select(_NOTES.c.body)).scalar_one() == body
            stored.append(raw)
        assert stored == ['{"a":1}', '{\n  "a": 1\n}']
    finally:
        compact.dispose()
        spaced.dispose()


def test_rows_come_back_for_a_select_and_a_returning_and_none_for_an_insert(db: Database) -> None:
    returning = Prepared(lambda dialect: _insert(dialect).returning(_NOTES.c.id))
    plain = Prepared(_insert)
    read = Prepared(lambda _: select(_NOTES.c.id, _NOTES.c.body).where(_NOTES.c.id == param("id", Integer())))
    with db.write() as conn:
        _NOTES.create(conn, checkfirst=True)
        try:
            assert plain.execute(conn, {"id": 1, "body": {"a": 1}}) == (1, [])
            assert [tuple(r) for r in returning.execute(conn, {"id": 2, "body": None})[1]] == [(2,)]
            assert [tuple(r) for r in read.execute(conn, {"id": 1})[1]] in ([(1, {"a": 1})], [(1, '{"a":1}')])
            assert read.first(conn, id=3) is None
        finally:
            _NOTES.drop(conn)
