"""A loopback Tripo apiv3: create, poll, balance, upload and a signed download URL.

Envelope `{"code": 0, "data": ...}`; errors `{"code": N, "message", "suggestion", "request_id"}`
(2010 out of credits, 2000 too many tasks). A task goes queued -> running -> success over
`polls_to_finish` polls and then points `output.model_url` at a real GLB (a trimesh box) served
by this server. `creates` counts billed creations so tests can prove nothing is created twice.
"""

from __future__ import annotations

import io
from typing import Any
import uuid

from aiohttp import web

from tests.support.loopback import LoopbackServer


def glb_box() -> bytes:
    """A small watertight box as GLB bytes."""
    import trimesh

    buf = io.BytesIO()
    trimesh.creation.box(extents=(30.0, 20.0, 10.0)).export(buf, file_type="glb")
    return buf.getvalue()


class FakeTripo(LoopbackServer):
    """Serve apiv3 on a free 127.0.0.1 port; record requests and task creations."""

    def __init__(self) -> None:
        """Defaults: 300 credits, tasks finish on the third poll."""
        super().__init__()
        self.balance = 300.0
        self.polls_to_finish = 3
        self.create_error: dict[str, Any] | None = None
        self.create_status = 200
        self.final_status = "success"
        self.never_finish = False
        self.poll_errors: list[
            int
        ] = []  # HTTP statuses to answer the next polls with (then normal)
        self.tasks: dict[str, dict[str, Any]] = {}
        self.creates: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.download_auth: list[str | None] = []
        self._glb = glb_box()

    def routes(self, app: web.Application) -> None:
        """The documented endpoints the SDK uses."""
        app.router.add_get("/v3/account/balance", self._balance)
        app.router.add_post("/v3/generation/{kind}", self._create)
        app.router.add_post("/v3/files", self._upload)
        app.router.add_get("/v3/tasks/{task_id}", self._task)
        app.router.add_get("/signed/{name}", self._download)

    def _auth_ok(self, request: web.Request) -> bool:
        self.requests.append((request.method, request.path, dict(request.headers)))
        return request.headers.get("Authorization") == "Bearer tsk_test_key"

    @staticmethod
    def _err(code: int, message: str, status: int) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": message,
                "suggestion": "see docs",
                "request_id": uuid.uuid4().hex,
            },
            status=status,
        )

    async def _balance(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return self._err(1002, "Authentication failed", 401)
        return web.json_response({"code": 0, "data": {"balance": self.balance, "frozen": 0}})

    async def _create(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return self._err(1002, "Authentication failed", 401)
        body = await request.json()
        if self.create_error is not None:
            return web.json_response(self.create_error, status=self.create_status)
        if request.match_info["kind"] not in ("text-to-model", "image-to-model"):
            return self._err(2002, "unsupported task type", 400)
        task_id = uuid.uuid4().hex
        self.creates.append({"kind": request.match_info["kind"], "body": body, "task_id": task_id})
        self.tasks[task_id] = {"polls": 0, "kind": request.match_info["kind"]}
        self.balance -= 10
        return web.json_response({"code": 0, "data": {"task_id": task_id}})

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return self._err(1002, "Authentication failed", 401)
        reader = await request.multipart()
        part = await reader.next()
        size = len(await part.read()) if part is not None else 0  # type: ignore[union-attr]
        if size == 0:
            return self._err(2003, "empty file", 400)
        return web.json_response({"code": 0, "data": {"file_token": f"file_{uuid.uuid4().hex}"}})

    async def _task(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return self._err(1002, "Authentication failed", 401)
        if self.poll_errors:
            status = self.poll_errors.pop(0)
            return web.Response(status=status, text="upstream busy", headers={"Retry-After": "0"})
        task_id = request.match_info["task_id"]
        task = self.tasks.get(task_id)
        if task is None:
            return self._err(2001, "task not found", 404)
        task["polls"] += 1
        n = task["polls"]
        data: dict[str, Any] = {
            "task_id": task_id,
            "type": task["kind"].replace("-", "_"),
            "input": {},
            "output": {},
            "create_time": 1764129600,
        }
        if self.never_finish or n < self.polls_to_finish:
            data.update(
                status="queued" if n == 1 else "running",
                progress=min(95, 40 * (n - 1)),
                running_left_time=10,
            )
        elif self.final_status != "success":
            data.update(
                status=self.final_status,
                progress=100,
                error_code=2008 if self.final_status == "banned" else 1000,
                error_msg="generation failed",
            )
        else:
            data.update(
                status="success",
                progress=100,
                credits_consumed=10,
                output={
                    "model_url": f"{self.url}/signed/{task_id}.glb?sig=abc",
                    "rendered_image_url": None,
                },
            )
        return web.json_response({"code": 0, "data": data})

    async def _download(self, request: web.Request) -> web.Response:
        self.download_auth.append(request.headers.get("Authorization"))
        return web.Response(body=self._glb, content_type="model/gltf-binary")
