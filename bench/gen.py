"""A deterministic generator of realistic calls (perf-anchors §1 shape).

Call `i` of `n` depends only on (seed, i, n, tenants): any chunk can be generated alone, which
makes the loader restartable. Start times follow call order (calls arrive over time, as in
production) through the inverse distribution of 180 days with business-hour peaks (KST) and
quiet weekends. Organisations have Zipf-like sizes (largest ≈ 31%), agents are skewed within
each organisation, statuses, reasons, call types, durations and metadata follow §1.
"""

from __future__ import annotations

import bisect
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench import phrases as P
from callplane.domain.call import (
    AgentRef,
    Call,
    CallAnalysis,
    CallStatus,
    CallType,
    Direction,
    DisconnectionReason,
    Sentiment,
)

SEED = 42
N_ORGS = 20
N_AGENTS = 299
DAYS = 180
#: The newest call starts just before this instant (2026-11-01 00:00 KST).
END_MS = int(datetime(2026, 10, 31, 15, 0, tzinfo=UTC).timestamp() * 1000)
START_MS = END_MS - DAYS * 86_400_000
KST_MS = 9 * 3_600_000

TARGETS = {"rare4": "리콜대상", "rare2": "누수", "common4": "주문번호", "common2": "예약"}
CAMPAIGN_VALUES = [f"campaign_{i:02d}" for i in range(10)]
REGIONS = ["서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기", "강원", "충북", "충남"]
REGIONS += ["전북", "전남", "경북", "경남", "제주"]


def org_weights(n: int = N_ORGS, s: float = 1.1) -> list[float]:
    """Zipf-like organisation sizes; s = 1.1 gives the largest ≈ 31% of 20."""
    raw = [1 / (k**s) for k in range(1, n + 1)]
    total = sum(raw)
    return [w / total for w in raw]


def agents_per_org(weights: list[float], total: int = N_AGENTS) -> list[int]:
    counts = [max(3, round(w * total)) for w in weights]
    counts[0] += total - sum(counts)
    return counts


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    agent_ids: list[str]
    from_numbers: list[str]  #: E.164


# --- time ---------------------------------------------------------------------------------

_HOUR_WEIGHT = [0.05, 0.02, 0.01, 0.01, 0.01, 0.03, 0.1, 0.3, 0.7, 1.0, 1.0, 0.9, 0.6, 0.9, 1.0,
                1.0, 0.95, 0.8, 0.5, 0.35, 0.25, 0.15, 0.1, 0.07]  # fmt: skip


def _hour_cdf() -> list[float]:
    weights = []
    for hour in range(DAYS * 24):
        local = START_MS + KST_MS + hour * 3_600_000
        dt = datetime.fromtimestamp(local / 1000, UTC)
        weekend = dt.weekday() >= 5
        growth = 0.8 + 0.4 * hour / (DAYS * 24)  # slow growth over the half year
        weights.append(_HOUR_WEIGHT[dt.hour] * (0.35 if weekend else 1.0) * growth)
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    return cdf


_CDF = _hour_cdf()


def start_time(i: int, n: int) -> int:
    """Start time of call i of n: the inverse distribution at (i + 0.5) / n, so order = time."""
    u = (i + 0.5) / n
    hour = min(bisect.bisect_left(_CDF, u), len(_CDF) - 1)
    low = _CDF[hour - 1] if hour else 0.0
    frac = (u - low) / max(_CDF[hour] - low, 1e-12)
    return START_MS + int((hour + min(max(frac, 0.0), 0.999999)) * 3_600_000)


# --- one call -----------------------------------------------------------------------------


def _uuid7(ms: int, rng: random.Random) -> str:
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62
    return str(uuid.UUID(int=value | rng.getrandbits(62)))


def _pick(rng: random.Random, table: list[tuple[Any, float]]) -> Any:
    x = rng.random() * sum(w for _, w in table)
    for value, weight in table:
        x -= weight
        if x <= 0:
            return value
    return table[-1][0]


STATUSES = [
    (CallStatus.ENDED, 0.885),
    (CallStatus.NOT_CONNECTED, 0.06),
    (CallStatus.ERROR, 0.03),
    (CallStatus.CANCELED, 0.02),
    (CallStatus.QUEUED, 0.003),
    (CallStatus.ONGOING, 0.002),
]
R = DisconnectionReason
REASONS = {
    CallStatus.ENDED: [(R.USER_HANGUP, 0.52), (R.AGENT_HANGUP, 0.36), (R.INACTIVITY, 0.04),
                       (R.MAX_DURATION_REACHED, 0.02), (R.VOICEMAIL_REACHED, 0.04), (R.CALL_TRANSFER, 0.02)],
    CallStatus.NOT_CONNECTED: [(R.DIAL_NO_ANSWER, 0.55), (R.DIAL_BUSY, 0.2), (R.DIAL_DECLINED, 0.12),
                               (R.DIAL_FAILED, 0.1), (R.SUPPRESSED, 0.03)],
    CallStatus.ERROR: [(R.ERROR_VOXAI, 0.3), (R.FLOW_ERROR, 0.25), (R.INSUFFICIENT_BALANCE, 0.15),
                       (R.CONCURRENCY_LIMIT_REACHED, 0.1), (R.ORPHANED_NO_AGENT_PICKUP, 0.08),
                       (R.DAILY_CALL_LIMIT_REACHED, 0.07), (R.HOURLY_CALL_LIMIT_REACHED, 0.05)],
    CallStatus.CANCELED: [(R.CANCELED_BY_USER, 1.0)],
}  # fmt: skip
CALL_TYPES = [(CallType.PHONE, 0.72), (CallType.WEB, 0.23), (CallType.API, 0.05)]
SENTIMENTS = [(Sentiment.POSITIVE, 0.35), (Sentiment.NEUTRAL, 0.45), (Sentiment.NEGATIVE, 0.15),
              (Sentiment.UNKNOWN, 0.05)]  # fmt: skip


def _slots(rng: random.Random) -> dict[str, str]:
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    return {
        "company": rng.choice(P.COMPANIES),
        "agent": rng.choice(P.AGENT_NAMES),
        "name": rng.choice(P.NAMES),
        "date": f"{month}월 {day}일",
        "time": f"{rng.choice(['오전', '오후'])} {rng.randint(1, 12)}시",
        "birth": f"{rng.randint(60, 99)}년 {rng.randint(1, 12)}월 {rng.randint(1, 28)}일",
        "order": f"A{rng.randint(10_000_000, 99_999_999)}",
        "amount": f"{rng.randint(1, 500) * 1000:,}",
        "product": rng.choice(P.PRODUCTS),
        "branch": rng.choice(P.BRANCHES),
        "day": str(rng.choice([1, 5, 10, 15, 20, 25])),
        "ticket": f"AS-{rng.randint(100_000, 999_999)}",
        "campaign": rng.choice(P.CAMPAIGNS),
        "score": str(rng.randint(1, 5)),
    }


def transcript(rng: random.Random, duration_ms: int, connected_at: int) -> list[dict[str, Any]]:
    topic = _pick(rng, list(P.TOPIC_WEIGHTS.items()))
    lines = P.TOPICS[topic]
    slots = _slots(rng)
    turns = max(2, min(80, int(duration_ms / 1000 / 3.0)))
    out: list[tuple[str, str]] = [("agent", rng.choice(P.GREETINGS))]
    # The topic's own words come early, so every call of the topic holds them.
    out.append(("user", lines["user"][0] if topic in ("appointment", "order") else rng.choice(lines["user"])))
    out.append(
        ("agent", lines["agent"][0] if topic in ("appointment", "order") else rng.choice(lines["agent"]))
    )
    for k in range(turns - 3):
        role = "user" if k % 2 == 0 else "agent"
        if rng.random() < 0.6:
            template = rng.choice(lines[role])
        else:
            template = rng.choice(P.FILLERS_USER if role == "user" else P.FILLERS_AGENT)
        out.append((role, template))
    if rng.random() < P.RATE_RARE_2 / 0.885:
        out.insert(2, ("user", P.RARE_2))
    if rng.random() < P.RATE_RARE_4 / 0.885:
        out.insert(2, ("user", P.RARE_4))
    out.append(("agent", rng.choice(P.CLOSINGS)))
    step = max(1, duration_ms // len(out))
    return [
        {
            "role": role,
            "content": template.format(**slots),
            "start_at": connected_at + k * step,
            "end_at": connected_at + k * step + step - 200,
        }
        for k, (role, template) in enumerate(out)
    ]


def make_call(i: int, n: int, tenants: list[Tenant], seed: int = SEED) -> Call:
    rng = random.Random(seed * 1_000_003 + i)
    weights = org_weights(len(tenants))
    t = tenants[_pick(rng, list(enumerate(weights)))]
    agent_weights = [(a, 1 / (k + 1) ** 1.1) for k, a in enumerate(t.agent_ids)]
    agent_id = _pick(rng, agent_weights)
    at = start_time(i, n)
    status = _pick(rng, STATUSES)
    created = at - rng.randint(200, 5_000)
    start_at: int | None = at
    answered = end_at = duration = None
    reason = None
    analysis = None
    talk: list[dict[str, Any]] | None = None
    if status in (CallStatus.QUEUED, CallStatus.CANCELED):
        start_at = None
    if status in REASONS:
        reason = _pick(rng, REASONS[status])
    if status is CallStatus.ENDED:
        ring = rng.randint(2_000, 15_000)
        talk_ms = int(min(1_200_000, max(8_000, math.exp(rng.gauss(math.log(95_000), 0.8)))))
        answered = at + ring
        end_at = answered + talk_ms
        duration = end_at - at
        talk = transcript(rng, talk_ms, ring)
        # The verdict from the talk time, not a further draw: the calls after it stay the same.
        analysis = CallAnalysis(
            summary="고객 문의 응대 완료",
            user_sentiment=_pick(rng, SENTIMENTS),
            custom_analysis_data=[],
            call_successful=talk_ms >= 60_000,
        )
    elif status in (CallStatus.NOT_CONNECTED, CallStatus.ERROR):
        duration = rng.randint(0, 35_000)
        end_at = at + duration
    metadata: dict[str, Any] = {
        "customer_id": f"C{rng.randrange(10**7):07d}",
        "campaign": rng.choice(CAMPAIGN_VALUES),
        "region": rng.choice(REGIONS),
        "crm": rng.choice(["salesforce", "hubspot", "zoho"]),
    }
    if rng.random() < 0.3:
        metadata["priority"] = rng.choice(["high", "normal"])
    call_type = _pick(rng, CALL_TYPES)
    cost = None if duration is None else (duration // 1000) * 167
    return Call(
        id=_uuid7(created, rng),
        organization_id=t.organization_id,
        agent=AgentRef(agent_id, "current", 1),
        call_type=call_type,
        direction=Direction.OUTBOUND,
        status=status,
        from_number=rng.choice(t.from_numbers),
        to_number=f"+8210{rng.randint(10_000_000, 99_999_999)}",
        presentation_number=None,
        created_at=created,
        updated_at=end_at or created,
        due_at=created,
        metadata=metadata,
        dynamic_variables={"customer_name": rng.choice(P.NAMES)},
        disconnection_reason=reason,
        start_at=start_at,
        answered_at=answered,
        end_at=end_at,
        duration_ms=duration,
        transcript=talk,
        analysis=analysis,
        cost_minor=cost,
    )


def check_targets() -> list[str]:
    """Where a target word appears outside its own place (should be nowhere)."""
    problems = []
    everything = {
        "greetings": P.GREETINGS, "closings": P.CLOSINGS, "fillers": P.FILLERS_AGENT + P.FILLERS_USER,
        "slots": P.COMPANIES + P.AGENT_NAMES + P.NAMES + P.BRANCHES + P.PRODUCTS + P.CAMPAIGNS,
    }  # fmt: skip
    for topic, lines in P.TOPICS.items():
        everything[topic] = lines["user"] + lines["agent"]
    homes = {"예약": "appointment", "주문번호": "order"}
    for place, texts in everything.items():
        for word in TARGETS.values():
            if homes.get(word) != place and any(word in t for t in texts):
                problems.append(f"{word} in {place}")
    return problems
