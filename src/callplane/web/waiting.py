"""Why a queued call is still waiting, in words: the dispatcher's `Outlook` for it, explained.

The decision itself is `domain.limits.decide` over the facts the dispatcher gathers
(`engine.dialing.outlook`); this module only names which of its answers applies and
fills in the figures (the window's next opening, n/n slots, the balance, the caps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callplane.domain.campaign import PAUSED_DUE_AT
from callplane.domain.limits import Verdict, balance_held
from callplane.domain.money import to_minor
from callplane.engine.dialing import Outlook


@dataclass(frozen=True, slots=True)
class Line:
    key: str  #: a message key (`i18n.MESSAGES`), formatted with `values`
    values: dict[str, str]


def explain(outlook: Outlook, now: int, when: Callable[[int], str], won: Callable[[int], str]) -> list[Line]:
    decision, facts, org = outlook.decision, outlook.facts, outlook.org
    limits = org.limits
    lines: list[Line] = []
    if not outlook.due:
        lines.append(Line("wait_not_due", {"when": when(facts.due_at)}))
    if decision.verdict is Verdict.DEFER:
        assert decision.due_at is not None
        campaign = facts.campaign
        if decision.due_at == PAUSED_DUE_AT:
            lines.append(Line("wait_campaign_held", {}))
        elif campaign is not None and not campaign.window.is_open(now):
            lines.append(Line("wait_campaign_window", {"when": when(decision.due_at)}))
        else:
            lines.append(Line("wait_window", {"when": when(decision.due_at)}))
    elif decision.verdict is Verdict.WAIT:
        if facts.live >= limits.max_concurrent_calls:
            lines.append(
                Line("wait_slots", {"live": str(facts.live), "max": str(limits.max_concurrent_calls)})
            )
        elif balance_held(org, facts.live) and org.balance_minor is not None:
            need = (facts.live + 1) * to_minor(org.rate_per_minute)
            lines.append(
                Line(
                    "wait_balance",
                    {"balance": won(org.balance_minor), "need": won(need), "live": str(facts.live)},
                )
            )
    elif decision.verdict is Verdict.REFUSE:
        assert decision.reason is not None
        lines.append(Line("wait_refuse", {"reason": decision.reason.value, "detail": decision.detail or ""}))
    elif outlook.due:
        lines.append(Line("wait_dial", {}))
    return lines


def figures(outlook: Outlook, won: Callable[[int], str]) -> list[tuple[str, str]]:
    """The organisation's figures the rules read, as (message key, value) pairs."""
    facts, org = outlook.facts, outlook.org
    limits = org.limits
    out = [("fig_slots", f"{facts.live}/{limits.max_concurrent_calls}")]
    if limits.hourly_call_limit is not None:
        out.append(("fig_hourly", f"{facts.dialed_last_hour}/{limits.hourly_call_limit}"))
    if limits.daily_call_limit is not None:
        out.append(("fig_daily", f"{facts.dialed_today}/{limits.daily_call_limit}"))
    if org.balance_minor is not None:
        out.append(("fig_balance", won(org.balance_minor)))
    return out
