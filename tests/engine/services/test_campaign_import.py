"""The CSV import reports its loading progress (the CLI's bar) and is idempotent."""

from __future__ import annotations

from callplane.engine.services.campaign_import import ImportOptions, import_csv
from callplane.engine.services.campaigns import CampaignService
from callplane.store.db import Database
from tests.factories import Tenant


def test_the_import_reports_progress_and_a_second_run_loads_nothing(db: Database, tenant: Tenant) -> None:
    rows = "".join(f"010{6000_0000 + i:08d},고객{i}\n" for i in range(2500))
    raw = ("to_number,customer_name\n" + rows).encode()
    service = CampaignService(db, lambda: 1_767_225_600_000)
    options = ImportOptions(from_number="07011112222", name="봄", agent_id=tenant.agent_id)
    seen: list[tuple[int, int]] = []
    checked = import_csv(
        service, tenant.organization_id, raw, options, progress=lambda d, t: seen.append((d, t))
    )
    assert checked.accepted == 2500 and checked.view is not None
    assert seen == [(0, 2500), (1000, 2500), (2000, 2500), (2500, 2500)]
    seen.clear()
    again = import_csv(
        service, tenant.organization_id, raw, options, progress=lambda d, t: seen.append((d, t))
    )
    assert again.replayed and again.view is not None and again.view.campaign.id == checked.view.campaign.id
    assert seen == []
