"""Scopes: what a request may name, what a key may grant, and the stored form."""

from __future__ import annotations

import pytest

from callplane.domain.errors import Forbidden, ValidationFailed
from callplane.domain.principal import (
    DEFAULT_SCOPES,
    TENANT_SCOPES,
    Principal,
    Scope,
    format_scopes,
    parse_scopes,
    stored_scopes,
)


def test_no_scopes_named_means_calls_only() -> None:
    assert parse_scopes(None) == DEFAULT_SCOPES == {Scope.CALLS_READ, Scope.CALLS_WRITE}


@pytest.mark.parametrize("raw", [[], ["calls:read", "root"], "calls:read", [1], {"calls:read": True}])
def test_bad_scopes_are_a_400(raw: object) -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse_scopes(raw)
    assert failed.value.errors[0].field == "scopes"


def test_a_key_grants_only_what_it_holds() -> None:
    holder = Principal("org", "key", frozenset({Scope.CALLS_READ, Scope.KEYS_ADMIN}))
    assert holder.grant(frozenset({Scope.CALLS_READ})) == {Scope.CALLS_READ}
    with pytest.raises(Forbidden, match="calls:write"):
        holder.grant(DEFAULT_SCOPES)
    with pytest.raises(Forbidden, match="agents:admin"):
        holder.require(Scope.AGENTS_ADMIN)


def test_the_stored_form_round_trips_and_ignores_names_it_does_not_know() -> None:
    assert stored_scopes(format_scopes(TENANT_SCOPES)) == TENANT_SCOPES
    assert stored_scopes("calls:read operator:everything") == {Scope.CALLS_READ}
    assert stored_scopes("") == frozenset()
