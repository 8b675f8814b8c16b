"""Transcript search: the gram index, and the predicate that uses it.

The semantics are in `callplane.domain.search`: a case-insensitive substring of the NFC-normalised,
casefolded transcript text (`calls.search_text`). This module makes that exact search cheap.

The index. For every call with non-empty search text the application computes its *terms*: every
distinct 1- and 2-character gram of the text's word runs (`domain.search.grams`) plus one
*tenant token* (`t` + 16 hex digits of a hash of the organisation id, never a gram: grams are 1–2
characters). SQLite keeps them in a contentless FTS5 table `call_grams` (rowid = `calls.rid`,
tokenizer `ascii`, under which each term is exactly one token: ASCII letters and digits and
every non-ASCII character are token characters, and terms hold nothing else); PostgreSQL in a
`tsvector` column `calls.search_grams` built from the term list (no parser, no dictionary) under
a GIN index, queried with a literal `tsquery`. The tenant token makes every index lookup
tenant-scoped: a word common elsewhere but rare in this organisation stays cheap.

Why no trigram index. pg_trgm and FTS5 `trigram` extract nothing from 2-character queries (most
Korean nouns) and pg_trgm indexes no Hangul in a database whose LC_CTYPE is `C`. Here the
database never classifies characters: Python computes grams and query grams alike, and the
tsvector is built by `array_to_tsvector`-equivalent input of quoted lexemes, so the result does
not depend on the database's locale (only on UTF8 encoding, which `db.check_postgres` asserts).

A query's terms are the tenant token plus `query_grams` of the query: every text containing the
query holds them all (tests/domain/test_search_grams.py), so the index gives a superset and a
substring recheck (`instr`/`strpos`) makes it exact. A query that is a single word run of one or
two characters is answered by its gram alone: candidates and matches are the same set, so the
recheck is skipped. A query with no letters or digits at all (`%`, `'`) has only the tenant token:
it always walks, which for a rare one means reading the whole tenant (or the other filters' range).

Choosing the path (`listing.route`). A rare search fetches its candidates through the index,
rechecks and sorts them: cost bounded by the candidates. A common one walks the tenant's
newest-first b-tree with the substring filter and stops after the page: cost about
`(limit + 1) / density` rows, whatever the tenant's size. SQLite tells them apart with a capped
FTS5 count of the tenant's candidates (FTS5 stops counting at the cap; ≤ INDEX_MAX_CANDIDATES →
index). PostgreSQL cannot: a GIN bitmap scan always completes, 50–80 ms at 1M calls for a common
word, so it samples the first rows the walk would read instead (`listing.SAMPLE_ROWS`; dense →
walk). Either way PostgreSQL sees the literal values at plan time (no server-side prepares,
`force_custom_plan`, see db.py). A 1-character query is a gram like any other: indexed when
rare, walked when common.

Every path that stores a transcript goes through `index_transcript` (or `insert_calls` for new
rows), so the index changes in the same transaction as the text. Calls are never deleted today;
a future delete must remove the call's terms first (SQLite: the FTS5 'delete' command with the
old terms, which `_delete_terms` shows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    bindparam,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR

from callplane.domain.search import grams, normalize, query_grams, search_text
from callplane.store.prepared import Prepared
from callplane.store.schema import calls

#: Up to this many index candidates in the tenant, search through the index; above, walk.
INDEX_MAX_CANDIDATES = 2_000
#: SQLite: above INDEX_MAX_CANDIDATES and up to this many, walk with the candidates as a filter
#: tested before the text (`SearchPlan.filter_walk`); above, walk with the text alone.
FILTER_MAX_CANDIDATES = 6_000

#: PostgreSQL only: the gram column. Like SQLite's `rid`, not part of `schema.calls`.
_pg_calls = table(
    "calls",
    column("organization_id"),
    column("id"),
    column("search_text"),
    column("search_grams", TSVECTOR),
)
#: For reading: a bare `calls.search_grams` (a column of `_pg_calls` would be a second FROM).
search_grams = literal_column("calls.search_grams", TSVECTOR)
#: PostgreSQL's insert target for new calls: every column of `schema.calls` plus the grams.
_pg_insert_target = table(
    "calls", *(column(c.name, c.type) for c in calls.c), column("search_grams", TSVECTOR)
)

FTS_TABLE = "call_grams"
SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "terms, content='', detail='none', columnsize=0, tokenize='ascii')"
)
PG_INDEX = "ix_calls_search_grams"
#: fastupdate off: each transcript's ~300 grams go straight into the index (a millisecond or two
#: per call end) instead of a pending list that every search must scan and that an unlucky insert
#: flushes (a ~100 ms stall).
PG_INDEX_DDL = (
    f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON calls USING gin (search_grams) WITH (fastupdate = off)"
)


def tenant_token(organization_id: str) -> str:
    return "t" + hashlib.blake2b(organization_id.encode(), digest_size=8).hexdigest()


def terms(organization_id: str, normalized_text: str) -> list[str]:
    """The index terms of a call, in a fixed order (SQLite's delete must repeat the insert)."""
    return [tenant_token(organization_id), *sorted(grams(normalized_text))]


def _fts_document(found: Sequence[str]) -> str:
    return " ".join(found)


def _tsvector_literal(found: Sequence[str]) -> str:
    # Terms are letters, digits and hex: no quote or backslash needs escaping.
    return " ".join(f"'{t}'" for t in found)


def _tsquery_literal(found: Sequence[str]) -> str:
    return " & ".join(f"'{t}'" for t in found)


def _fts_query(found: Sequence[str]) -> str:
    return " ".join(f'"{t}"' for t in found)


# --- writing ------------------------------------------------------------------------------


def text_of(transcript: Iterable[Mapping[str, Any]] | None) -> str | None:
    """`calls.search_text` for a transcript (None: nothing stored, e.g. opted out)."""
    return search_text(transcript) if transcript else None


def pg_insert_values(organization_id: str, text_value: str | None) -> dict[str, Any]:
    """Extra column values for a PostgreSQL insert into calls (see `insert_target`)."""
    if not text_value:
        return {"search_grams": None}
    return {"search_grams": _tsvector_literal(terms(organization_id, text_value))}


def insert_target(dialect: str, base: Table) -> Any:
    """The insert target for new call rows: on PostgreSQL the calls table with its gram column."""
    return _pg_insert_target if dialect == "postgresql" else base


def index_new_calls(conn: Connection, rows: Sequence[tuple[str, str, str | None]]) -> None:
    """Index freshly inserted calls, given (organization_id, id, search_text) of each.

    PostgreSQL rows already carry their grams (`pg_insert_values`); SQLite adds FTS5 documents.
    """
    if conn.dialect.name != "sqlite":
        return
    params = [
        {"o": org, "i": call_id, "d": _fts_document(terms(org, value))}
        for org, call_id, value in rows
        if value
    ]
    if len(params) == 1:
        # A worker's call end: the driver's cursor, not Core's per-statement overhead.
        _FTS_INSERT.execute(conn, params[0])
    elif params:
        conn.execute(_FTS_INSERT_SQL, params)


_FTS_INSERT_SQL = text(
    f"INSERT INTO {FTS_TABLE}(rowid, terms) SELECT rid, :d FROM calls WHERE organization_id = :o AND id = :i"
)
_FTS_INSERT = Prepared(lambda _dialect: _FTS_INSERT_SQL)


def index_transcript(
    conn: Connection, organization_id: str, call_id: str, transcript: Iterable[Mapping[str, Any]] | None
) -> None:
    """Store a call's searchable text and its index terms (None for no transcript, e.g. opted out)."""
    value = text_of(transcript)
    if conn.dialect.name == "sqlite":
        row = conn.execute(
            text("SELECT rid, search_text FROM calls WHERE organization_id = :o AND id = :i"),
            {"o": organization_id, "i": call_id},
        ).first()
        if row is None:
            return
        if row.search_text:
            _delete_terms(conn, row.rid, terms(organization_id, row.search_text))
        conn.execute(
            update(calls)
            .where(calls.c.organization_id == organization_id, calls.c.id == call_id)
            .values(search_text=value)
        )
        if value:
            conn.execute(
                text(f"INSERT INTO {FTS_TABLE}(rowid, terms) VALUES (:r, :d)"),
                {"r": row.rid, "d": _fts_document(terms(organization_id, value))},
            )
        return
    conn.execute(
        update(_pg_calls)
        .where(_pg_calls.c.organization_id == organization_id, _pg_calls.c.id == call_id)
        .values(search_text=value, **pg_insert_values(organization_id, value))
    )


def _delete_terms(conn: Connection, rid: int, old: Sequence[str]) -> None:
    # A contentless FTS5 table forgets a document only when told its exact terms again.
    conn.execute(
        text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, terms) VALUES ('delete', :r, :d)"),
        {"r": rid, "d": _fts_document(old)},
    )


# --- maintenance (migration backfill, bulk loads) -----------------------------------------


def create_index_objects(conn: Connection) -> None:
    """The FTS5 table (SQLite) or the column and GIN index (PostgreSQL); idempotent."""
    if conn.dialect.name == "sqlite":
        conn.execute(text(SQLITE_DDL))
    else:
        conn.execute(text("ALTER TABLE calls ADD COLUMN IF NOT EXISTS search_grams tsvector"))
        conn.execute(text(PG_INDEX_DDL))


def drop_pg_index(conn: Connection) -> None:
    """Bulk loads on PostgreSQL: drop the GIN index (rebuild with `create_index_objects`).

    Building it once after a load is ~50x faster than 700 GIN insertions per row.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DROP INDEX IF EXISTS {PG_INDEX}"))


def optimize(conn: Connection) -> None:
    """After a bulk load: merge SQLite's FTS5 segments into one (faster lookups)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')"))


def backfill(conn: Connection, batch: int = 2_000) -> int:
    """(Re)compute search text and index terms of every stored call with a transcript.

    Used by migration 0003 on an index that is empty; returns the number of calls indexed.
    """
    sqlite = conn.dialect.name == "sqlite"
    key = literal_column("rid") if sqlite else calls.c.id
    done = 0
    last: Any = None
    last_org: str | None = None
    while True:
        stmt = select(calls.c.organization_id, calls.c.id, calls.c.transcript, key.label("k"))
        if sqlite:
            stmt = stmt.order_by(key)
            if last is not None:
                stmt = stmt.where(key > last)
        else:
            stmt = stmt.order_by(calls.c.organization_id, calls.c.id)
            if last is not None:
                stmt = stmt.where(
                    tuple_(calls.c.organization_id, calls.c.id) > tuple_(literal(last_org), literal(last))
                )
        rows = conn.execute(stmt.limit(batch)).all()
        if not rows:
            return done
        texts = [(row, text_of(row.transcript)) for row in rows]
        if sqlite:
            conn.execute(
                text("UPDATE calls SET search_text = :t WHERE rid = :r"),
                [{"t": value, "r": row.k} for row, value in texts],
            )
            documents = [
                {"r": row.k, "d": _fts_document(terms(row.organization_id, value))}
                for row, value in texts
                if value
            ]
            if documents:
                conn.execute(text(f"INSERT INTO {FTS_TABLE}(rowid, terms) VALUES (:r, :d)"), documents)
        else:
            params = [
                {
                    "t": value,
                    "o": row.organization_id,
                    "i": row.id,
                    **pg_insert_values(row.organization_id, value),
                }
                for row, value in texts
            ]
            conn.execute(
                text(
                    "UPDATE calls SET search_text = :t, search_grams = :search_grams "
                    "WHERE organization_id = :o AND id = :i"
                ),
                params,
            )
        done += sum(1 for _, value in texts if value)
        last, last_org = rows[-1].k, rows[-1].organization_id


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchPlan:
    needle: str  #: the normalised query
    terms: tuple[str, ...]  #: tenant token + query grams
    use_index: bool  #: fetch candidates through the index (else walk with the substring filter)
    gram_exact: bool  #: the query is one 1–2 character word run: a candidate is a match
    candidates: int | None  #: tenant candidates, capped at INDEX_MAX_CANDIDATES + 1 (None: not counted)
    density: float | None = None  #: PostgreSQL: share of the sampled rows that matched
    #: SQLite: walk, testing each call's rowid against the index's candidates before reading
    #: its text. For a word too frequent to sort all its candidates (each read and rechecked:
    #: ~4,300 at 1M calls for `재약정`, 1.3%) yet too rare to walk by text (~3,900 texts read
    #: for a page): at 100k, 1.5 ms where the index took 9 and the text walk 52.
    filter_walk: bool = False

    @property
    def only_token(self) -> bool:
        """No letters or digits in the query: every call with text is a candidate."""
        return len(self.terms) == 1


def prepare(organization_id: str, query: str) -> SearchPlan | None:
    """A walking plan for the query, before any decision (None: empty after normalising)."""
    needle = normalize(query)
    if not needle:
        return None
    query_terms = (tenant_token(organization_id), *sorted(query_grams(needle)))
    gram_exact = len(needle) <= 2 and needle.isalnum()
    return SearchPlan(needle, query_terms, False, gram_exact and len(query_terms) > 1, None)


def plan(conn: Connection, organization_id: str, query: str) -> SearchPlan | None:
    """SQLite: decide by the tenant's candidate count in FTS5 (a capped, early-stopping count).

    PostgreSQL decides in `listing.route` instead, by sampling the walk: a GIN bitmap scan cannot
    stop early, so counting a common word's candidates there costs 50–80 ms at 1M calls.
    """
    prepared = prepare(organization_id, query)
    if prepared is None or prepared.only_token:
        # No grams: the tenant token alone matches every call with text; walk.
        return prepared
    found = count_candidates(conn, prepared.terms, max(INDEX_MAX_CANDIDATES, FILTER_MAX_CANDIDATES) + 1)
    use_index = found <= INDEX_MAX_CANDIDATES
    return replace(
        prepared,
        use_index=use_index,
        filter_walk=conn.dialect.name == "sqlite" and not use_index and found <= FILTER_MAX_CANDIDATES,
        candidates=found,
    )


def walk_plan(query: str) -> SearchPlan | None:
    """A plan that never touches the index: the substring filter alone."""
    needle = normalize(query)
    return SearchPlan(needle, (), False, False, None) if needle else None


def substring(p: SearchPlan, dialect: str, text_column: Any = calls.c.search_text) -> ColumnElement[bool]:
    position = func.instr if dialect == "sqlite" else func.strpos
    found: ColumnElement[bool] = position(text_column, literal(p.needle)) > 0
    return found


def _candidates(dialect: str, query_terms: Sequence[str]) -> ColumnElement[bool]:
    if dialect == "sqlite":
        rowids = text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_query").bindparams(
            fts_query=_fts_query(query_terms)
        )
        return literal_column("calls.rid").in_(rowids.columns(column("rowid")))
    return search_grams.op("@@")(cast(bindparam("ts_query", _tsquery_literal(query_terms)), TSQUERY))


def count_candidates(conn: Connection, query_terms: Sequence[str], cap: int) -> int:
    """How many calls hold all the terms, counted through the index alone, up to `cap`."""
    if conn.dialect.name == "sqlite":
        stmt = text(
            f"SELECT count(*) FROM (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q LIMIT :cap)"
        )
        return int(conn.execute(stmt, {"q": _fts_query(query_terms), "cap": cap}).scalar_one())
    stmt = text(
        "SELECT count(*) FROM (SELECT 1 FROM calls WHERE search_grams @@ CAST(:q AS tsquery) LIMIT :cap) c"
    )
    return int(conn.execute(stmt, {"q": _tsquery_literal(query_terms), "cap": cap}).scalar_one())


_fts = table(FTS_TABLE, column("rowid"))


def count_sqlite_matches(
    conn: Connection, p: SearchPlan, where: Sequence[ColumnElement[bool]], cap: int, newest_first: bool = True
) -> int:
    """SQLite: the search's matches among the calls `where` admits, up to `cap`.

    FTS5's rowids drive a join, so the count stops at the cap: `rid IN (MATCH …)`, the page's
    form, first lists every candidate (75k for a common word at 1M calls). `where` should name the
    tenant unindexably (`predicates.Route.driven`), or SQLite may walk the tenant instead.

    `newest_first`: read the candidates from the highest rowid down (calls get rowids as they are
    created). The answer is the same either way; the cost is not when other filters keep only some
    of the candidates: for "the last 30 days" the oldest-first count read every older candidate
    before the first one in range (100k, `주문번호`: 20 ms of CPU, 6 ms newest first; it grew with
    the tenant, newest first it does not).
    """
    stmt = (
        select(literal(1))
        .select_from(_fts.join(calls, literal_column("calls.rid") == _fts.c.rowid))
        .where(literal_column(FTS_TABLE).op("MATCH")(bindparam("fts_query", _fts_query(p.terms))), *where)
        .order_by(_fts.c.rowid.desc() if newest_first else _fts.c.rowid.asc())
    )
    if not p.gram_exact:
        stmt = stmt.where(substring(p, "sqlite"))
    counted = select(func.count()).select_from(stmt.limit(cap).subquery())
    return int(conn.execute(counted).scalar_one())


def conditions(p: SearchPlan, dialect: str) -> list[ColumnElement[bool]]:
    """The search predicates for a plan: index candidates and/or the substring recheck."""
    out: list[ColumnElement[bool]] = []
    if p.filter_walk:
        # First, so SQLite tests the rowid (in the walked index entry) before it reads the row;
        # `+` keeps the rowids from driving the query (the walk's order is the page's).
        rowids = text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_query").bindparams(
            fts_query=_fts_query(p.terms)
        )
        out.append(literal_column("+calls.rid").in_(rowids.columns(column("rowid"))))
        if not p.gram_exact:
            out.append(substring(p, dialect))
        return out
    if not (p.use_index and p.gram_exact):
        out.append(substring(p, dialect))
    if p.use_index:
        out.append(_candidates(dialect, p.terms))
    return out or [true()]
