"""The ledger on both databases: a call is charged once, and only a prepaid balance moves."""

from __future__ import annotations

from callplane.engine.services.admin import Admin
from callplane.store import ledger
from callplane.store import orgs as org_store
from callplane.store.db import Database
from tests.factories import Tenant, make_tenant

NOW = 1_767_225_600_000


def balance(db: Database, organization_id: str) -> int | None:
    with db.read() as conn:
        return org_store.get_organization(conn, organization_id).balance_minor


def test_a_call_is_charged_once_and_lowers_a_prepaid_balance_once(db: Database, tenant: Tenant) -> None:
    other = make_tenant(db, NOW, "other")
    before = balance(db, tenant.organization_id)
    assert before is not None
    with db.write() as conn:
        assert ledger.settle(conn, tenant.organization_id, "call-1", 2_500, NOW) is True
    with db.write() as conn:
        assert ledger.settle(conn, tenant.organization_id, "call-1", 2_500, NOW + 1) is False
        assert ledger.settle(conn, tenant.organization_id, "call-2", 1_000, NOW + 2) is True
    assert balance(db, tenant.organization_id) == before - 3_500
    assert balance(db, other.organization_id) == before  # another organisation's row is untouched
    with db.read() as conn:
        charges = ledger.entries(conn, tenant.organization_id)
    assert sorted((e.call_id, e.amount_minor) for e in charges) == [("call-1", -2_500), ("call-2", -1_000)]


def test_a_postpaid_organisation_is_charged_and_its_balance_stays_unset(db: Database, tenant: Tenant) -> None:
    Admin(db, lambda: NOW).update_organization(tenant.organization_id, {"balance": None})
    assert balance(db, tenant.organization_id) is None
    with db.write() as conn:
        assert ledger.settle(conn, tenant.organization_id, "call-1", 2_500, NOW) is True
        assert ledger.settle(conn, tenant.organization_id, "call-1", 2_500, NOW) is False
    assert balance(db, tenant.organization_id) is None
    with db.read() as conn:
        assert [e.amount_minor for e in ledger.entries(conn, tenant.organization_id)] == [-2_500]
