"""A loopback Zoo API speaking the Zookeeper copilot websocket (`/ws/ml/copilot`).

Messages follow kittycad 1.8.0's `MlCopilotServerMessage` wire shapes (externally tagged JSON:
`{"conversation_id": {...}}`, `{"tool_output": {"result": {"type": "text_to_cad", ...}}}`,
`{"end_of_stream": {...}}`). `mode` picks a recorded-style reply: ok, error, tool_error,
access_denied, silent (never answers), close (drops mid-answer) or http_401 (handshake refused).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
import uuid

from aiohttp import WSMsgType, web
import bson

from tests.support.loopback import LoopbackServer

KCL = """// Pipe bracket, made by the fake Zookeeper
pipeDiameter = 40
thickness = 3
sketch001 = startSketchOn(XZ)
  |> circle(center = [0, 0], radius = pipeDiameter / 2 + thickness)
  |> subtract2d(tool = circle(center = [0, 0], radius = pipeDiameter / 2))
bracket = extrude(sketch001, length = 20)
"""
STEP = (Path(__file__).parent / "zoo_part.step").read_text()  # a 20 x 10 x 5 mm box


class FakeZoo(LoopbackServer):
    """Serve the copilot websocket on a free 127.0.0.1 port; record what clients send."""

    def __init__(self) -> None:
        """Not started yet; default mode answers with KCL."""
        super().__init__()
        self.mode = "ok"
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.queries: list[dict[str, str]] = []
        self.sessions = 0

    def routes(self, app: web.Application) -> None:
        """The documented endpoints the SDK uses."""
        app.router.add_get("/ws/ml/copilot", self._ws)
        app.router.add_get("/", self._spec)

    async def _spec(self, request: web.Request) -> web.Response:
        return web.json_response({"openapi": "3.0.3", "paths": {"/ws/ml/copilot": {}}})

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        self.headers.append(dict(request.headers))
        self.queries.append(dict(request.query))
        if (
            self.mode == "http_401"
            or request.headers.get("Authorization") != "Bearer zoo-test-token"
        ):
            return web.json_response(
                {"error_code": "unauthorized", "message": "bad token"}, status=401
            )
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sessions += 1
        conversation = request.query.get("conversation_id") or str(uuid.uuid4())
        await ws.send_str(json.dumps({"session_data": {"api_call_id": str(uuid.uuid4())}}))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                body = json.loads(msg.data)
            elif msg.type == WSMsgType.BINARY:  # the SDK's send_binary: BSON
                body = bson.decode(msg.data)
            else:
                continue
            self.received.append(body)
            if body.get("type") != "user":
                continue
            await self._answer(ws, conversation, body)
            if self.mode == "close":
                break
        await ws.close()
        return ws

    async def _answer(
        self, ws: web.WebSocketResponse, conversation: str, body: dict[str, Any]
    ) -> None:
        send = ws.send_str
        await send(json.dumps({"conversation_id": {"conversation_id": conversation}}))
        if self.mode == "silent":
            await asyncio.sleep(30)
            return
        if self.mode == "access_denied":
            await send(
                json.dumps(
                    {
                        "access_denied": {
                            "code": "pay_as_you_go_disabled",
                            "detail": "Out of credits and pay-as-you-go is off.",
                            "retryable": False,
                        }
                    }
                )
            )
            return
        if self.mode == "error":
            await send(json.dumps({"error": {"detail": "Internal error in text-to-CAD"}}))
            return
        await send(json.dumps({"delta": {"delta": "Designing a pipe bracket. "}}))
        if self.mode == "close":
            return
        tool = (body.get("forced_tools") or ["text_to_cad"])[0]
        if self.mode == "tool_error":
            result = {
                "type": tool,
                "status_code": 422,
                "error": "Unprocessable Entity: the prompt is not a CAD request",
                "outputs": None,
            }
        else:
            source = KCL if tool == "text_to_cad" else KCL.replace("thickness = 3", "thickness = 5")
            result = {
                "type": tool,
                "status_code": 200,
                "outputs": {"main.kcl": source},
                "project_name": body.get("project_name"),
            }
        await send(json.dumps({"tool_output": {"result": result}}))
        if self.mode == "ok":
            await send(
                json.dumps(
                    {
                        "files": {
                            "files": [
                                {"name": "bracket.step", "mimetype": "model/step", "data": STEP}
                            ]
                        }
                    }
                )
            )
        await send(
            json.dumps(
                {
                    "end_of_stream": {
                        "conversation_id": conversation,
                        "id": str(uuid.uuid4()),
                        "started_at": "2026-11-26T04:00:00Z",
                        "completed_at": "2026-11-26T04:00:05Z",
                        "whole_response": "Here is your bracket.",
                    }
                }
            )
        )
