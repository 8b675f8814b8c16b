"""Fixtures shared by the store tests."""

from __future__ import annotations

import pytest

from callplane.store import listing


@pytest.fixture
def unhurried_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts get all the time they need: for tests about what is counted, not how fast (the
    time budget is tested on its own), so a busy machine cannot turn an exact count into a
    flagged estimate."""
    monkeypatch.setattr(listing, "COUNT_BUDGET_FLOOR_MS", 60_000.0)
    monkeypatch.setattr(listing, "COUNT_BUDGET_CEILING_MS", 60_000.0)
