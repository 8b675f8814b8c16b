"""Conversation flows: a JSON node graph, validated when an agent version is saved.

```json
{"start": "greet",
 "variables": {"customer_name": "고객"},                  # defaults; the call's dynamic_variables win
 "tools": {"book": {"type": "static", "result": {...}}},  # see callplane.domain.tools
 "nodes": {
   "greet": {"type": "conversation", "say": "안녕하세요 {{customer_name}}님…", "reprompt": "…",
             "edges": [{"to": "book", "when": {"user_says_any": ["네", "예"]}}],
             "fallback": "죄송합니다, 다시 말씀해 주세요.", "max_fallbacks": 2, "on_no_match": "bye"},
   "route": {"type": "logic", "edges": [{"to": "vip", "when": {"variable": "tier", "equals": "gold"}}],
             "else": "greet"},
   "book":  {"type": "tool", "tool": "book", "arguments": {"slot": "{{slot}}"},
             "set": {"booked": "yes"}, "next": "bye", "on_error": "sorry"},
   "bye":   {"type": "end", "say": "감사합니다.", "reason": "agent_hangup"}}}
```

Node kinds: `conversation` (speak, listen, follow the first edge whose condition holds — edges are
tried top to bottom; unmatched answers get the `fallback` line, and after `max_fallbacks` of them
the flow goes to `on_no_match` or, without one, is stuck: `flow_error`), `logic` (no speech;
first matching edge, else `else`), `tool` (optionally `say` a line, run a tool, optionally `set`
variables, go to `next`, or `on_error` when the tool fails; `end_call`/`transfer_call` tools end
the call and need no `next`), `end` (optional last words, then hang up with `reason`).

Conditions: `user_says_any`/`user_says_all` (case-insensitive substrings of the callee's last
answer; a one-character phrase such as "네" must stand as a whole word), `variable` with
`equals`, `not_equals`, `in`, `exists`, `gt`, `lt`, and the combinators `any`, `all`, `not`;
`always: true` matches anything. No expression language, no `eval`.

Validation refuses what would surely break at run time: a missing start, an edge to a missing
node, a logic node without `else`, an end node with edges, an unknown tool, a node nobody can
reach. What can only break at run time (a value that is not a number for `gt`, a tool that
fails without `on_error`, a loop of logic nodes that never talks) is guarded by the runtime.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callplane.domain.call import DisconnectionReason
from callplane.domain.errors import ValidationFailed
from callplane.domain.tools import ToolSpec, parse_tools

END_REASONS = (
    DisconnectionReason.AGENT_HANGUP,
    DisconnectionReason.CALL_TRANSFER,
    DisconnectionReason.VOICEMAIL_REACHED,
)
DEFAULT_FALLBACK = "죄송합니다, 잘 이해하지 못했어요. 다시 한 번 말씀해 주시겠어요?"


class NodeKind(enum.StrEnum):
    CONVERSATION = "conversation"
    LOGIC = "logic"
    TOOL = "tool"
    END = "end"


class ConditionError(Exception):
    """A condition could not be evaluated (e.g. `gt` on a value that is not a number)."""


@dataclass(frozen=True, slots=True)
class Condition:
    raw: Mapping[str, Any]

    def holds(self, said: str, variables: Mapping[str, Any]) -> bool:
        return _holds(self.raw, said.casefold(), variables)


def _holds(cond: Mapping[str, Any], said: str, variables: Mapping[str, Any]) -> bool:
    if "always" in cond:
        return bool(cond["always"])
    if "user_says_any" in cond:
        return any(_says(said, str(word)) for word in cond["user_says_any"])
    if "user_says_all" in cond:
        return all(_says(said, str(word)) for word in cond["user_says_all"])
    if "any" in cond:
        return any(_holds(c, said, variables) for c in cond["any"])
    if "all" in cond:
        return all(_holds(c, said, variables) for c in cond["all"])
    if "not" in cond:
        return not _holds(cond["not"], said, variables)
    name = cond["variable"]
    value = variables.get(name)
    if "exists" in cond:
        return (value is not None and value != "") == bool(cond["exists"])
    if "equals" in cond:
        return str(value) == str(cond["equals"])
    if "not_equals" in cond:
        return str(value) != str(cond["not_equals"])
    if "in" in cond:
        return str(value) in [str(v) for v in cond["in"]]
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConditionError(f"variable {name!r} is {value!r}, not a number") from None
    if "gt" in cond:
        return number > float(cond["gt"])
    return number < float(cond["lt"])


def _says(said: str, phrase: str) -> bool:
    """A phrase is a substring of the answer; a one-character phrase must be a whole word.

    Korean answers "네"/"예"/"응" on their own, but those characters also sit inside other words
    ("좋네요", "예약"), so a single character only counts when it stands alone.
    """
    phrase = phrase.casefold()
    if len(phrase) == 1:
        return phrase in _WORD.findall(said)
    return phrase in said


_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Edge:
    to: str
    when: Condition


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: NodeKind
    say: str | None = None
    reprompt: str | None = None
    edges: tuple[Edge, ...] = ()
    fallback: str | None = None
    max_fallbacks: int = 2
    on_no_match: str | None = None
    otherwise: str | None = None  #: logic nodes: `else`
    tool: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    set: Mapping[str, Any] = field(default_factory=dict)
    next: str | None = None
    on_error: str | None = None
    reason: DisconnectionReason = DisconnectionReason.AGENT_HANGUP

    def targets(self) -> list[str]:
        named = [self.on_no_match, self.otherwise, self.next, self.on_error]
        return [e.to for e in self.edges] + [t for t in named if t is not None]


@dataclass(frozen=True, slots=True)
class Flow:
    start: str
    nodes: Mapping[str, Node]
    variables: Mapping[str, Any]
    tools: Mapping[str, ToolSpec]


def parse_flow(raw: Mapping[str, Any], where: str = "flow") -> Flow:
    """Validate a flow definition; every problem is a ValidationFailed naming its place."""
    nodes_raw = raw.get("nodes")
    if not isinstance(nodes_raw, dict) or not nodes_raw:
        raise ValidationFailed.single(f"{where}.nodes", "a flow needs at least one node")
    variables = raw.get("variables", {})
    if not isinstance(variables, dict):
        raise ValidationFailed.single(f"{where}.variables", "must be an object of default values")
    tools = parse_tools(raw.get("tools", {}), f"{where}.tools")
    nodes = {nid: _node(nid, spec, f"{where}.nodes.{nid}", tools) for nid, spec in nodes_raw.items()}
    start = raw.get("start")
    if not isinstance(start, str) or start not in nodes:
        raise ValidationFailed.single(f"{where}.start", "must name a node", sorted(nodes))
    for node in nodes.values():
        for target in node.targets():
            if target not in nodes:
                raise ValidationFailed.single(
                    f"{where}.nodes.{node.id}", f"leads to {target!r}, which is no node"
                )
    unreachable = set(nodes) - _reachable(start, nodes)
    if unreachable:
        raise ValidationFailed.single(
            f"{where}.nodes", f"unreachable from {start!r}: {', '.join(sorted(unreachable))}"
        )
    return Flow(start, nodes, variables, tools)


def _reachable(start: str, nodes: Mapping[str, Node]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(nodes[current].targets())
    return seen


def _text(spec: Mapping[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = spec.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.single(f"{where}.{key}", "must be non-empty text")
    return value


def _name(spec: Mapping[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = spec.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationFailed.single(f"{where}.{key}", "must name a node")
    return value


def _node(nid: str, spec: object, where: str, tools: Mapping[str, ToolSpec]) -> Node:
    if not isinstance(spec, dict):
        raise ValidationFailed.single(where, "must be an object")
    try:
        kind = NodeKind(str(spec.get("type")))
    except ValueError:
        raise ValidationFailed.single(f"{where}.type", "is required", [k.value for k in NodeKind]) from None
    edges = tuple(_edge(e, f"{where}.edges[{i}]") for i, e in enumerate(spec.get("edges", [])))
    if kind is NodeKind.CONVERSATION:
        max_fallbacks = spec.get("max_fallbacks", 2)
        if (
            not isinstance(max_fallbacks, int)
            or isinstance(max_fallbacks, bool)
            or not 0 <= max_fallbacks <= 10
        ):
            raise ValidationFailed.single(f"{where}.max_fallbacks", "must be an integer from 0 to 10")
        if not edges:
            raise ValidationFailed.single(f"{where}.edges", "a conversation node needs at least one edge")
        return Node(
            nid,
            kind,
            say=_text(spec, "say", where, required=True),
            reprompt=_text(spec, "reprompt", where),
            edges=edges,
            fallback=_text(spec, "fallback", where),
            max_fallbacks=max_fallbacks,
            on_no_match=_name(spec, "on_no_match", where),
        )
    if kind is NodeKind.LOGIC:
        return Node(nid, kind, edges=edges, otherwise=_name(spec, "else", where, required=True))
    if edges:
        raise ValidationFailed.single(f"{where}.edges", f"a {kind} node has no edges")
    if kind is NodeKind.TOOL:
        tool = _name(spec, "tool", where, required=True) or ""
        if tool not in tools:
            raise ValidationFailed.single(f"{where}.tool", "is not a tool of this flow", sorted(tools))
        arguments = spec.get("arguments", {})
        assignments = spec.get("set", {})
        if not isinstance(arguments, dict) or not isinstance(assignments, dict):
            raise ValidationFailed.single(where, "arguments and set must be objects")
        next_node = _name(spec, "next", where, required=tools[tool].kind.ends_call is False)
        return Node(
            nid,
            kind,
            say=_text(spec, "say", where),
            tool=tool,
            arguments=arguments,
            set=assignments,
            next=next_node,
            on_error=_name(spec, "on_error", where),
        )
    try:
        reason = DisconnectionReason(spec.get("reason", "agent_hangup"))
    except ValueError:
        reason = None
    if reason not in END_REASONS:
        raise ValidationFailed.single(
            f"{where}.reason", "is not an end reason", [r.value for r in END_REASONS]
        )
    assert reason is not None
    return Node(nid, kind, say=_text(spec, "say", where), reason=reason)


_VARIABLE_TESTS = ("equals", "not_equals", "in", "exists", "gt", "lt")


def _edge(raw: object, where: str) -> Edge:
    if not isinstance(raw, dict) or not isinstance(raw.get("to"), str):
        raise ValidationFailed.single(f"{where}.to", "must name a node")
    _check_condition(raw.get("when"), f"{where}.when")
    return Edge(raw["to"], Condition(raw["when"]))


def _check_condition(cond: object, where: str) -> None:
    if not isinstance(cond, dict) or len(cond) == 0:
        raise ValidationFailed.single(where, "must be a condition object")
    if "always" in cond:
        return
    for key in ("user_says_any", "user_says_all"):
        if key in cond:
            words = cond[key]
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
                raise ValidationFailed.single(f"{where}.{key}", "must be a non-empty list of phrases")
            return
    for key in ("any", "all"):
        if key in cond:
            if not isinstance(cond[key], list) or not cond[key]:
                raise ValidationFailed.single(f"{where}.{key}", "must be a non-empty list of conditions")
            for i, inner in enumerate(cond[key]):
                _check_condition(inner, f"{where}.{key}[{i}]")
            return
    if "not" in cond:
        _check_condition(cond["not"], f"{where}.not")
        return
    if not isinstance(cond.get("variable"), str):
        raise ValidationFailed.single(
            where, "needs one of always, user_says_any, user_says_all, any, all, not, variable"
        )
    tests = [k for k in _VARIABLE_TESTS if k in cond]
    if len(tests) != 1:
        raise ValidationFailed.single(where, "a variable condition needs exactly one test", _VARIABLE_TESTS)
    if tests[0] in ("gt", "lt") and (
        isinstance(cond[tests[0]], bool) or not isinstance(cond[tests[0]], (int, float))
    ):
        raise ValidationFailed.single(f"{where}.{tests[0]}", "must be a number")
    if tests[0] == "in" and not isinstance(cond["in"], list):
        raise ValidationFailed.single(f"{where}.in", "must be a list")
