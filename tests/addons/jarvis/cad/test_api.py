"""`/api/v1/cad/...` over real HTTP: submit and wait, read jobs, artifacts, lineage and files; JSON errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
import pytest
import pytest_asyncio

from jarvis_addon.web import ApiState, create_app
from tests.addons.jarvis.test_web import TOKEN, BridgeStatus, bearer

from .conftest import ServiceFactory

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def client(cad_service: ServiceFactory) -> AsyncIterator[TestClient[Any, Any]]:
    service = await cad_service(offline=True)
    state = ApiState(api_token=TOKEN, mqtt=BridgeStatus(), cad=service)
    test_client: TestClient[Any, Any] = TestClient(TestServer(create_app(state), host="127.0.0.1"))
    await test_client.start_server()
    yield test_client
    await test_client.close()


async def test_submit_wait_and_read_back(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/v1/cad/jobs?wait=60",
        json={
            "prompt": "spacer 12 mm outer diameter, 5 mm inner, 8 mm tall",
            "conversation_id": "c-api",
        },
        headers=bearer(),
    )
    assert resp.status == 200
    job = await resp.json()
    assert job["status"] == "succeeded" and job["conversation_id"] == "c-api"
    step = next(a for a in job["artifacts"] if a["format"] == "step")
    assert step["params"]["outer_diameter"] == 12.0

    resp = await client.get(step["url"], headers=bearer())
    assert resp.status == 200 and resp.headers["Content-Type"] == "model/step"
    assert (await resp.read()).startswith(b"ISO-10303-21;")

    resp = await client.get(f"/api/v1/cad/jobs/{job['job_id']}", headers=bearer())
    assert (await resp.json())["artifacts"] == job["artifacts"]
    resp = await client.get(f"/api/v1/cad/artifacts/{step['id']}", headers=bearer())
    body = await resp.json()
    assert body["artifact"]["id"] == step["id"] and body["lineage"] == []
    resp = await client.get("/api/v1/cad/conversations/c-api/artifacts", headers=bearer())
    assert {a["id"] for a in (await resp.json())["artifacts"]} == {
        a["id"] for a in job["artifacts"]
    }
    resp = await client.get("/api/v1/cad/jobs", headers=bearer())
    assert [j["id"] for j in (await resp.json())["jobs"]] == [job["job_id"]]


async def test_without_wait_the_job_is_accepted(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/cad/jobs", json={"prompt": "a coat hook"}, headers=bearer())
    assert resp.status == 202 and (await resp.json())["status"] in ("queued", "running")


async def test_parts_and_providers(client: TestClient[Any, Any]) -> None:
    parts = await (await client.get("/api/v1/cad/parts", headers=bearer())).json()
    assert parts["pipe_bracket"]["params"]["pipe_diameter"]["default"] == 40.0
    providers = await (await client.get("/api/v1/cad/providers", headers=bearer())).json()
    assert providers["offline"] is True and providers["providers"]["tripo"]["kind"] == "organic"


@pytest.mark.parametrize(
    ("body", "status", "error", "fragment"),
    [
        (
            {"prompt": "bracket for a 40 mm pipe, 0.1 mm thick"},
            400,
            "invalid_request",
            "thickness 0.1 mm is impossible",
        ),
        ({"prompt": "a vase", "kind": "vase"}, 400, "unknown_part", "unknown part kind 'vase'"),
        ({"prompt": "x", "colour": "red"}, 400, "invalid_request", "unknown field(s): colour"),
        ([1, 2], 400, "invalid_request", "must be a JSON object"),
    ],
)
async def test_bad_input_is_a_json_400(
    client: TestClient[Any, Any], body: Any, status: int, error: str, fragment: str
) -> None:
    resp = await client.post("/api/v1/cad/jobs", json=body, headers=bearer())
    assert resp.status == status
    answer = await resp.json()
    assert answer["error"] == error and fragment in answer["message"]


async def test_errors_for_unknown_ids_bad_json_and_no_token(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/cad/jobs", data="{not json", headers=bearer())
    assert resp.status == 400 and (await resp.json())["message"] == "the body must be JSON"
    resp = await client.post(
        "/api/v1/cad/jobs?wait=9999", json={"prompt": "hook"}, headers=bearer()
    )
    assert resp.status == 400
    for path in (
        "/api/v1/cad/jobs/nope",
        "/api/v1/cad/artifacts/nope",
        "/api/v1/cad/artifacts/nope/file",
    ):
        resp = await client.get(path, headers=bearer())
        assert resp.status == 404 and (await resp.json())["error"] == "not_found"
    resp = await client.post("/api/v1/cad/jobs", json={"prompt": "hook"})
    assert resp.status == 401
