"""Flow validation on save: each broken graph is refused, naming the place."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from callplane.cli.demo import demo_agent_file
from callplane.domain.agent import parse_definition
from callplane.domain.errors import ValidationFailed
from callplane.domain.flow import Condition, parse_flow


def base() -> dict[str, Any]:
    return copy.deepcopy(demo_agent_file()["flow"])  # type: ignore[arg-type]


def broken(change: Any) -> dict[str, Any]:
    flow = base()
    change(flow)
    return flow


CASES = {
    "missing start": (lambda f: f.update(start="nowhere"), "flow.start"),
    "edge to nowhere": (
        lambda f: f["nodes"]["greet"]["edges"].append({"to": "ghost", "when": {"always": True}}),
        "flow.nodes.greet",
    ),
    "logic without else": (
        lambda f: (
            f["nodes"].update(route={"type": "logic", "edges": []})
            or f["nodes"]["greet"]["edges"].append({"to": "route", "when": {"always": True}})
        ),
        "flow.nodes.route.else",
    ),
    "end node with edges": (
        lambda f: f["nodes"]["bye_cancel"].update(edges=[{"to": "greet", "when": {"always": True}}]),
        "flow.nodes.bye_cancel.edges",
    ),
    "unknown tool": (lambda f: f["nodes"]["confirm"].update(tool="teleport"), "flow.nodes.confirm.tool"),
    "unreachable node": (lambda f: f["nodes"].update(island={"type": "end"}), "flow.nodes"),
    "conversation without edges": (lambda f: f["nodes"]["greet"].update(edges=[]), "flow.nodes.greet.edges"),
    "bad condition": (
        lambda f: f["nodes"]["greet"]["edges"][0].update(when={"variable": "x", "gt": "big"}),
        "flow.nodes.greet.edges[0].when.gt",
    ),
    "empty condition": (
        lambda f: f["nodes"]["greet"]["edges"][0].update(when={}),
        "flow.nodes.greet.edges[0].when",
    ),
    "unknown node type": (lambda f: f["nodes"]["greet"].update(type="dance"), "flow.nodes.greet.type"),
    "bad end reason": (
        lambda f: f["nodes"]["bye_cancel"].update(reason="user_hangup"),
        "flow.nodes.bye_cancel.reason",
    ),
    "tool node without next": (lambda f: f["nodes"]["confirm"].pop("next"), "flow.nodes.confirm.next"),
    "http tool with bad url": (
        lambda f: f["tools"].update(hook={"type": "http", "url": "ftp://x"}),
        "flow.tools.hook.url",
    ),
    "transfer to an invalid number": (
        lambda f: f["tools"]["transfer_to_staff"].update(number="123"),
        "flow.tools.transfer_to_staff.number",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_broken_flows_are_refused(name: str) -> None:
    change, field = CASES[name]
    with pytest.raises(ValidationFailed) as info:
        parse_flow(broken(change))
    assert info.value.errors[0].field == field, info.value.message


def test_the_demo_flow_is_valid() -> None:
    flow = parse_flow(base())
    assert flow.start == "greet" and "update_appointment" in flow.tools


def test_agent_file_errors() -> None:
    for raw, field in [
        ({"name": "x", "type": "flow"}, "flow"),
        ({"name": "x", "type": "robot"}, "type"),
        ({"type": "flow", "flow": base()}, "name"),
        ({"name": "x", "type": "llm", "llm": {}}, "llm.prompt"),
        (
            {"name": "x", "type": "flow", "flow": base(), "settings": {"max_duration_s": 5}},
            "settings.max_duration_s",
        ),
        (
            {
                "name": "x",
                "type": "flow",
                "flow": base(),
                "analysis": {"fields": [{"name": "a", "type": "enum"}]},
            },
            "analysis.fields[0].enum_options",
        ),
    ]:
        with pytest.raises(ValidationFailed) as info:
            parse_definition(raw)
        assert info.value.errors[0].field == field


@pytest.mark.parametrize(
    ("when", "said", "variables", "expected"),
    [
        ({"user_says_any": ["네"]}, "네, 갈게요", {}, True),
        ({"user_says_any": ["네"]}, "날씨가 좋네요", {}, False),  # one character: whole words only
        ({"user_says_any": ["예"]}, "예약을 바꾸고 싶어요", {}, False),
        ({"user_says_any": ["취소"]}, "예약취소해 주세요", {}, True),
        ({"user_says_all": ["변경", "내일"]}, "내일로 변경해 주세요", {}, True),
        ({"variable": "tier", "equals": "gold"}, "", {"tier": "gold"}, True),
        ({"variable": "n", "gt": 3}, "", {"n": "4"}, True),
        ({"variable": "n", "exists": True}, "", {}, False),
        ({"not": {"variable": "n", "in": [1, 2]}}, "", {"n": 2}, False),
        ({"any": [{"always": False}, {"user_says_any": ["HELP"]}]}, "help me", {}, True),
    ],
)
def test_conditions(when: dict[str, Any], said: str, variables: dict[str, Any], expected: bool) -> None:
    assert Condition(when).holds(said, variables) is expected
