"""The delegation side of the Live mock: a ``client`` delegation waits for the app, a
``responses`` one streams the backend's function call inside ``response.event`` and answers
``response.item.create`` + ``response.create``, a ``decisions`` one answers with a
``decision.event``; plus the Decision items commands."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from ...protocol import live
from ..director import Decision, Director, TurnContext, fill
from ..ids import IdFactory
from ..scenario import Scenario
from .schema import LiveError, delegation_target
from .track import OutputTrack


class DelegationMixin:
    """Delegation handlers of :class:`~rtcapture.mock.live.connection.LiveMockConnection`."""

    session: dict[str, Any] | None
    ids: IdFactory
    director: Director
    scenario: Scenario
    track: OutputTrack
    clock: Callable[[], float]
    pending_client: dict[str, TurnContext]
    pending_calls: dict[str, tuple[str, TurnContext, str]]
    outputs: dict[str, str]
    decision_items: set[str]

    send: Callable[..., Awaitable[None]]
    speak: Callable[[str, float], None]
    _ack: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]

    async def delegate(self, decision: Decision, ctx: TurnContext, at_ms: float) -> None:
        assert self.session is not None
        target = delegation_target(self.session)
        delegation_id = self.ids.new("del")
        response_id = self.ids.new("resp") if target == "responses" else None
        body: dict[str, Any] = {"id": delegation_id, "type": "delegation", "target": target}
        if response_id is not None:
            body["response_id"] = response_id
        await self.send({"type": live.DELEGATION_CREATED, "offset_ms": int(at_ms),
                         "delegation": body})
        if target == "client":
            self.pending_client[delegation_id] = ctx
        elif target == "decisions":
            await self.send({"type": live.DECISION_EVENT, "delegation_id": delegation_id,
                             "event": {"type": "decision.completed",
                                       "decision": self.decision_result()},
                             "trigger_id": None, "source_event_id": None,
                             "source_event_type": None})
            self.speak(fill(self.scenario.fallback, ctx), at_ms + decision.pacing.latency_ms)
        else:
            await self.backend_call(decision, ctx, delegation_id, response_id or "")

    def decision_result(self) -> dict[str, Any]:
        """A Decision API answer: every configured question answered yes, fully sure."""
        assert self.session is not None
        questions = ((self.session.get("delegation") or {}).get("decisions") or {}).get(
            "questions") or []
        answers = [{"type": "predicate", "name": q.get("name") if isinstance(q, dict)
                    else None, "probability": 1.0} for q in questions]
        return {"answers": answers, "model": ((self.session.get("delegation") or {}).get(
            "decisions") or {}).get("model", "gpt-decision-mock"), "usage": {
            "input_tokens": 0, "input_tokens_details": {"cache_write_tokens": 0,
                                                        "cached_tokens": 0},
            "output_tokens": 0, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 0}}

    async def wrapped(self, delegation_id: str, event: dict[str, Any]) -> None:
        await self.send({"type": live.RESPONSE_EVENT, "delegation_id": delegation_id,
                         "event": event})

    def _response(self, response_id: str, status: str, **extra: Any) -> dict[str, Any]:
        assert self.session is not None
        model = ((self.session.get("delegation") or {}).get("responses") or {}).get("model")
        return {"id": response_id, "object": "response", "created_at": int(self.clock()),
                "status": status, "model": model, "output": [], "tools": [],
                "instructions": None, **extra}

    async def backend_call(self, decision: Decision, ctx: TurnContext, delegation_id: str,
                           response_id: str) -> None:
        """The Responses backend's stream for a function call (or a failure)."""
        seq = iter(range(1_000_000))
        await self.wrapped(delegation_id, {"type": "response.created", "sequence_number":
                                           next(seq), "response": self._response(
                                               response_id, "in_progress")})
        if decision.fail is not None or decision.tool_call is None:
            err = decision.fail or {"code": "server_error", "message": "failed"}
            await self.wrapped(delegation_id, {"type": "response.failed", "sequence_number":
                                               next(seq), "response": self._response(
                response_id, "failed", error={"code": err.get("code") or "server_error",
                                              "message": err["message"]})})
            return
        call = decision.tool_call
        call_id = self.ids.new("call")
        item_id = self.ids.new("fc")
        item = {"id": item_id, "type": "function_call", "status": "in_progress",
                "call_id": call_id, "name": call.name, "arguments": ""}
        await self.wrapped(delegation_id, {"type": "response.output_item.added",
                                           "sequence_number": next(seq), "output_index": 0,
                                           "item": item})
        await self.wrapped(delegation_id, {"type": "response.function_call_arguments.delta",
                                           "sequence_number": next(seq), "output_index": 0,
                                           "item_id": item_id, "delta": call.arguments})
        await self.wrapped(delegation_id, {"type": "response.function_call_arguments.done",
                                           "sequence_number": next(seq), "output_index": 0,
                                           "item_id": item_id, "name": call.name,
                                           "arguments": call.arguments})
        await self.wrapped(delegation_id, {"type": "response.output_item.done",
                                           "sequence_number": next(seq), "output_index": 0,
                                           "item": {**item, "status": "completed",
                                                    "arguments": call.arguments}})
        await self.wrapped(delegation_id, {"type": "response.completed", "sequence_number":
                                           next(seq), "response": self._response(
                                               response_id, "completed")})
        self.pending_calls[call_id] = (call.name, ctx, delegation_id)

    # ------------------------------------------------------------------ Responses delegation

    async def on_response_item(self, event: dict[str, Any]) -> None:
        item = event["item"]
        if not isinstance(item, dict):
            raise LiveError("invalid_type", "'item' must be an object.", "item")
        self._require_responses()
        if item.get("type") == "function_call_output" and isinstance(item.get("call_id"), str):
            if item["call_id"] not in self.pending_calls:
                raise LiveError("invalid_value", f"No function call {item['call_id']!r}.",
                                "item.call_id")
            output = item.get("output")
            self.outputs[item["call_id"]] = output if isinstance(output, str) else json.dumps(
                output)

    async def on_response_create(self, event: dict[str, Any]) -> None:
        self._require_responses()
        answered = [c for c in self.pending_calls if c in self.outputs]
        if not answered:
            raise LiveError("invalid_value", "No function call output to respond to.", None)
        for call_id in answered:
            name, ctx, delegation_id = self.pending_calls.pop(call_id)
            output = self.outputs.pop(call_id)
            tool_ctx = TurnContext(turn=ctx.turn, user_text=ctx.user_text, tool_name=name,
                                   tool_output=output, tools=ctx.tools)
            decision = self.director.decide(tool_ctx)
            text = decision.reply or output
            response_id = self.ids.new("resp")
            msg_id = self.ids.new("msg")
            await self.wrapped(delegation_id, {"type": "response.created",
                                               "sequence_number": 0,
                                               "response": self._response(response_id,
                                                                          "in_progress")})
            await self.wrapped(delegation_id, {"type": "response.output_text.delta",
                                               "sequence_number": 1, "item_id": msg_id,
                                               "output_index": 0, "content_index": 0,
                                               "delta": text, "logprobs": []})
            await self.wrapped(delegation_id, {"type": "response.output_text.done",
                                               "sequence_number": 2, "item_id": msg_id,
                                               "output_index": 0, "content_index": 0,
                                               "text": text, "logprobs": []})
            await self.wrapped(delegation_id, {"type": "response.completed",
                                               "sequence_number": 3,
                                               "response": self._response(response_id,
                                                                          "completed")})
            self.speak(text, self.track.emitted_ms + decision.pacing.latency_ms)

    def _require_responses(self) -> None:
        assert self.session is not None
        if delegation_target(self.session) != "responses":
            raise LiveError("invalid_request", "response.* commands need a Responses "
                            "delegation.", None)

    # ------------------------------------------------------------------ decisions

    async def on_decision_create(self, event: dict[str, Any]) -> None:
        # DecisionEvent has no client_event_id (SDK): the answer cannot echo the command
        await self.send({"type": live.DECISION_EVENT, "delegation_id": None,
                         "event": {"type": "decision.completed",
                                   "decision": self.decision_result()},
                         "trigger_id": self.ids.new("trig"), "source_event_id": None,
                         "source_event_type": None})

    async def on_decision_item_create(self, event: dict[str, Any]) -> None:
        item = event["item"]
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise LiveError("invalid_type", "'item' must be an object with a type.", "item")
        stored = {**item, "id": item.get("id") or self.ids.new("ditem")}
        self.decision_items.add(stored["id"])
        await self.send(self._ack(event, {"type": live.DECISION_ITEM_CREATED,
                                          "item": stored}))

    async def on_decision_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event["item_id"]
        if item_id not in self.decision_items:
            raise LiveError("invalid_value", f"No decision item {item_id!r}.", "item_id")
        self.decision_items.discard(item_id)
        await self.send(self._ack(event, {"type": live.DECISION_ITEM_DELETED,
                                          "item_id": item_id}))
