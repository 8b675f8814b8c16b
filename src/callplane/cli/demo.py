"""The demo organisation created on first start, mirroring seed 001's example so it works verbatim.

It owns `07011112222` (the example's from_number) and `07033334444`, has the approved
presentation number `0212345678`, and the appointment-reminder flow agent
`7f3e9c12-4a8b-4d5e-9f1a-2b3c4d5e6f7a`. Its calling window is open around the clock so the demo
works at any hour; new organisations get the default 08:00–20:00 Asia/Seoul window. Its two
credentials hold every tenant scope (the README's demo uses the admin API with them); none holds
an operator power.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from callplane.config import Settings
from callplane.domain.errors import FieldError, ValidationFailed
from callplane.domain.phone import parse_kr
from callplane.domain.principal import TENANT_SCOPES
from callplane.engine.services.admin import Admin
from callplane.store.orgs import PREFIX_LENGTH, IssuedCredential

DEMO_AGENT_ID = "7f3e9c12-4a8b-4d5e-9f1a-2b3c4d5e6f7a"
DEMO_NUMBERS = ("07011112222", "07033334444")
DEMO_PRESENTATION_NUMBER = "0212345678"


@dataclass(frozen=True)
class Demo:
    organization_id: str
    api_key: IssuedCredential
    key_pair: IssuedCredential


def demo_agent_file() -> dict[str, object]:
    text = resources.files("callplane.cli").joinpath("demo_agent.json").read_text(encoding="utf-8")
    data: dict[str, object] = json.loads(text)
    return data


def check_bootstrap_credentials(settings: Settings) -> None:
    """Refuse scripted demo credentials the store would refuse, before anything is created.

    Checked first because the demo is made in several steps: a credential refused halfway would
    leave an organisation without its key pair, and the next start (the database no longer
    empty) would never create it.
    """
    given = {
        "CALLPLANE_BOOTSTRAP_API_KEY": settings.bootstrap_api_key,
        "CALLPLANE_BOOTSTRAP_KEY_ID": settings.bootstrap_key_id,
        "CALLPLANE_BOOTSTRAP_KEY_SECRET": settings.bootstrap_key_secret,
    }
    errors = [
        FieldError(name, "must be at least 16 characters")
        for name, value in given.items()
        if value is not None and len(value) < 16
    ]
    key, pair = settings.bootstrap_api_key, settings.bootstrap_key_id
    if key and pair and key[:PREFIX_LENGTH] == pair[:PREFIX_LENGTH]:
        errors.append(
            FieldError(
                "CALLPLANE_BOOTSTRAP_KEY_ID",
                f"must differ from CALLPLANE_BOOTSTRAP_API_KEY in its first {PREFIX_LENGTH} characters "
                "(credentials are looked up by that prefix)",
            )
        )
    if errors:
        raise ValidationFailed(errors)


def bootstrap(admin: Admin, settings: Settings) -> Demo | None:
    """Create the demo organisation if the database has no organisation yet."""
    if admin.organizations():
        return None
    check_bootstrap_credentials(settings)
    org = admin.create_organization(
        "Demo organization",
        calling_window={"timezone": "Asia/Seoul", "start": "00:00", "end": "24:00", "days": "1234567"},
        max_concurrent_calls=10,
        balance="100000.00",
        rate_per_minute="120.00",
    )
    for number, label in zip(DEMO_NUMBERS, ("demo line", "second demo line"), strict=True):
        admin.add_number(org.id, parse_kr(number, "number"), label)
    admin.approve_presentation_number(org.id, parse_kr(DEMO_PRESENTATION_NUMBER, "number"))
    admin.create_agent(org.id, demo_agent_file(), agent_id=DEMO_AGENT_ID)
    api_key = admin.issue_key(org.id, "demo api key", scopes=TENANT_SCOPES, key=settings.bootstrap_api_key)
    pair = admin.issue_key(
        org.id,
        "demo key pair",
        kind="key_secret",
        scopes=TENANT_SCOPES,
        key=settings.bootstrap_key_id,
        secret=settings.bootstrap_key_secret,
    )
    demo = Demo(org.id, api_key, pair)
    if settings.bootstrap_credentials_file is not None:
        _write_credentials(settings.bootstrap_credentials_file, demo)
    return demo


def _write_credentials(path: Path, demo: Demo) -> None:
    payload = {
        "organization_id": demo.organization_id,
        "api_key": demo.api_key.key,
        "key_id": demo.key_pair.key,
        "key_secret": demo.key_pair.secret,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle)


def curl_example(base_url: str, api_key: str) -> str:
    body = {
        "from_number": "07011112222",
        "to_number": "01012345678",
        "agent": {"agent_id": DEMO_AGENT_ID, "agent_version": "current"},
        "dynamic_variables": {"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"},
        "metadata": {"crm_lead_id": "lead_a1b2c3"},
    }
    return (
        f"curl -s -X POST {base_url}/v3/calls \\\n"
        f"  -H 'Authorization: Bearer {api_key}' \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d '{json.dumps(body, ensure_ascii=False)}'"
    )
