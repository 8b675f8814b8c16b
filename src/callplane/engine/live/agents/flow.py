"""The flow runtime: walks a validated node graph (see `callplane.domain.flow`).

Run-time guards end the call with `flow_error` instead of letting it hang: an edge condition
that cannot be evaluated, a tool that fails without `on_error`, a conversation node whose
answers match no edge `max_fallbacks + 1` times with no `on_no_match`, and more than
`MAX_SILENT_STEPS` logic/tool steps in a row without a word to the callee (a loop).
"""

from __future__ import annotations

from typing import Any

from callplane.domain.call import DisconnectionReason
from callplane.domain.flow import DEFAULT_FALLBACK, ConditionError, Flow, Node, NodeKind
from callplane.domain.template import render
from callplane.engine.live.agents.conversation import Conversation, EndCall, Ending, FlowError
from callplane.engine.live.agents.tools import ToolFailed, ToolRunner, render_arguments

MAX_SILENT_STEPS = 50


class FlowRuntime:
    def __init__(self, flow: Flow, tools: ToolRunner) -> None:
        self.flow = flow
        self.tools = tools

    def initial_variables(self, dynamic_variables: dict[str, Any]) -> dict[str, Any]:
        return {**self.flow.variables, **dynamic_variables}

    async def run(self, conv: Conversation) -> Ending:
        current = self.flow.start
        silent_steps = 0
        while True:
            node = self.flow.nodes[current]
            if node.kind is NodeKind.END:
                if node.say:
                    await conv.say(render(node.say, conv.variables))
                return Ending(node.reason)
            target: str | None
            if node.kind is NodeKind.CONVERSATION:
                silent_steps = 0
                target = await self._converse(conv, node)
            elif node.kind is NodeKind.LOGIC:
                silent_steps += 1
                target = self._first_edge(node, "", conv) or node.otherwise
            else:
                silent_steps += 1
                target = await self._use_tool(conv, node)
            if silent_steps > MAX_SILENT_STEPS:
                raise FlowError(f"{MAX_SILENT_STEPS} steps without speaking (a loop of logic/tool nodes?)")
            if target is None or target not in self.flow.nodes:
                raise FlowError(f"node {current!r} leads nowhere")
            conv.moved(current, target)
            current = target

    def _first_edge(self, node: Node, said: str, conv: Conversation) -> str | None:
        for edge in node.edges:
            try:
                if edge.when.holds(said, conv.variables):
                    return edge.to
            except ConditionError as exc:
                raise FlowError(f"node {node.id!r}: {exc}") from None
        return None

    async def _converse(self, conv: Conversation, node: Node) -> str:
        assert node.say is not None
        await conv.say(render(node.say, conv.variables))
        misses = 0
        reprompt = render(node.reprompt or node.say, conv.variables)
        while True:
            said = await conv.hear(reprompt)
            target = self._first_edge(node, said, conv)
            if target is not None:
                return target
            misses += 1
            if misses > node.max_fallbacks:
                if node.on_no_match is not None:
                    return node.on_no_match
                raise FlowError(f"stuck at node {node.id!r}: no edge matched {misses} answers")
            await conv.say(render(node.fallback or DEFAULT_FALLBACK, conv.variables))

    async def _use_tool(self, conv: Conversation, node: Node) -> str | None:
        assert node.tool is not None
        if node.say:
            await conv.say(render(node.say, conv.variables))
        spec = self.flow.tools[node.tool]
        arguments = render_arguments(dict(node.arguments), conv.variables)
        try:
            await self.tools.call(conv, spec, arguments)
        except ToolFailed as exc:
            if node.on_error is not None:
                return node.on_error
            raise FlowError(f"tool {spec.name!r} failed at node {node.id!r}: {exc}") from None
        if node.set:
            conv.collect(render_arguments(dict(node.set), conv.variables))
        if node.next is None:  # an end_call/transfer tool that did not end the call
            raise EndCall(
                DisconnectionReason.AGENT_HANGUP, f"tool {spec.name!r} returned without ending the call"
            )
        return node.next
