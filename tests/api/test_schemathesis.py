"""schemathesis against `/openapi.json`, through the real app on a real SQLite file, with a
tenant's credentials: whatever it generates for every operation, the answer is never a 5xx.

Only `not_a_server_error` is checked: each dialect answers bad input in its vendor's shape,
which the document describes loosely. Routes whose body is a free `dict[str, Any]` (the admin
API, Retell's `filter_criteria`) get arbitrary JSON objects: schemathesis cannot aim at their
fields, so the dialect tests and `test_fuzz_dialects.py` cover those in depth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.engine.clock import SystemClock
from callplane.store.db import Database
from callplane.store.migrate import upgrade
from tests.factories import Tenant, make_tenant

pytestmark = pytest.mark.slow

#: Per operation (47 of them): under a minute in all on 2 cores.
EXAMPLES = 50


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, Tenant]]:
    db = Database(f"sqlite:///{Path(tmp_path_factory.mktemp('schemathesis')) / 'callplane.db'}")
    upgrade(db)
    tenant = make_tenant(db, SystemClock().now_ms())
    yield create_app(Settings(database_url=db.url), db=db), tenant
    db.dispose()


@pytest.fixture(scope="module")
def api_schema(served: tuple[FastAPI, Tenant]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", served[0])


def _operations() -> list[str]:
    app = create_app(Settings(database_url="sqlite:///unused.db"), db=None)
    return [
        result.ok().label for result in schemathesis.openapi.from_dict(app.openapi()).get_all_operations()
    ]


# schemathesis' own pytest plugin (`schema.parametrize`) does not run under pytest 9, so each
# operation is a parameter and hypothesis drives its strategy directly.
@pytest.mark.parametrize("label", _operations())
def test_no_input_is_a_server_error(label: str, api_schema: Any, served: tuple[FastAPI, Tenant]) -> None:
    tenant = served[1]
    headers = {
        "Authorization": f"Bearer {tenant.api_key}",
        "X-API-KEY": tenant.key_id,
        "X-API-SECRET": tenant.key_secret,
    }
    operation = next(r.ok() for r in api_schema.get_all_operations() if r.ok().label == label)

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    check()
