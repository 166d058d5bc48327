"""The seed test and the cycler: one CAD job makes CadQuery, Zoo and Tripo variants through the
real worker and the official SDKs (against loopback fakes), stores them with lineage back to the
conversation, publishes progress retained on MQTT, and falls back on failure, offline or budget."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import cadquery as cq
import pytest
import trimesh

from jarvis_addon.cad.errors import InvalidRequestError, UnknownPartError
from jarvis_addon.cad.service import LAST_JOB_TOPIC, SENSOR_DISCOVERY_TOPIC, job_topic
from jarvis_addon.mqtt import Broker, MqttBridge
from tests.support.fake_cad.tripo import FakeTripo
from tests.support.fake_cad.zoo import KCL, FakeZoo
from tests.support.mosquitto import Mosquitto

from .conftest import ServiceFactory

pytestmark = pytest.mark.timeout(180)
SEED = "make me a wall bracket for a 40 mm pipe, 3 mm thick"


async def retained(broker: Mosquitto, topic: str) -> dict[str, Any]:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                return dict(json.loads(message.payload))  # type: ignore[arg-type]
    raise AssertionError("no retained message")


async def test_seed_job_makes_variants_across_providers_with_lineage(
    cad_service: ServiceFactory, broker: Mosquitto, fake_zoo: FakeZoo, fake_tripo: FakeTripo
) -> None:
    bridge = MqttBridge(lambda: _broker(broker), reconnect_min=0.1)
    bridge.start()
    try:
        for _ in range(100):
            if bridge.connected:
                break
            await asyncio.sleep(0.05)
        service = await cad_service(bridge.publish)
        job = await service.submit(
            {
                "prompt": SEED,
                "conversation_id": "conv-seed-1",
                "ha_user": "alice",
                "providers": ["cadquery", "zoo", "tripo"],
            }
        )
        assert job["status"] in ("queued", "running") and job["conversation_id"] == "conv-seed-1"
        done = await service.wait(job["job_id"], 120)
        assert done is not None
        assert done["status"] == "succeeded", done
        published = await retained(broker, job_topic(job["job_id"]))
        last = await retained(broker, LAST_JOB_TOPIC)
        discovery = await retained(broker, SENSOR_DISCOVERY_TOPIC)
    finally:
        await bridge.stop()
    assert published["status"] == "succeeded" and published["progress"] == 1.0
    assert len(published["artifacts"]) == len(done["artifacts"])
    # The CAD job status sensor: MQTT discovery config and its retained state.
    assert (
        discovery["state_topic"] == LAST_JOB_TOPIC
        and discovery["unique_id"] == "jarvis_cad_last_job"
    )
    assert last == {
        "job_id": job["job_id"],
        "status": "succeeded",
        "progress": 1.0,
        "conversation_id": "conv-seed-1",
        "prompt": SEED,
        "artifacts": len(done["artifacts"]),
    }

    by_provider: dict[str, list[dict[str, Any]]] = {}
    for artifact in done["artifacts"]:
        by_provider.setdefault(artifact["provider"], []).append(artifact)
        assert (
            artifact["conversation_id"] == "conv-seed-1"
        )  # lineage ties every output to the conversation
        assert Path(artifact["path"]).is_file() and len(artifact["content_hash"]) == 64
    assert set(by_provider) == {"cadquery", "zoo", "tripo"}

    # CadQuery: STEP re-imports as a valid solid, STL is watertight; parameters from the sentence.
    cad = {a["format"]: a for a in by_provider["cadquery"]}
    assert (
        cad["step"]["params"]["pipe_diameter"] == 40.0 and cad["step"]["params"]["thickness"] == 3.0
    )
    assert (
        cad["step"]["model"] == "template:pipe_bracket"
        and "OCCT 7.9" in cad["step"]["model_version"]
    )
    solid = cq.importers.importStep(cad["step"]["path"]).val()
    assert solid.isValid() and solid.Volume() == pytest.approx(cad["step"]["validation"]["volume"])
    assert (
        trimesh.load(cad["stl"]["path"]).is_watertight
        and cad["stl"]["validation"]["stl_watertight"]
    )

    # Zoo: KCL is the canonical artifact (plus the STEP the server attached).
    zoo = {a["format"]: a for a in by_provider["zoo"]}
    assert Path(zoo["kcl"]["path"]).read_text() == KCL
    assert zoo["step"]["validation"]["valid_solid"] is True  # checked by the CAD worker
    assert zoo["step"]["validation"]["volume"] == pytest.approx(20 * 10 * 5)
    assert zoo["kcl"]["extra"]["zoo_conversation_id"]

    # Tripo: the GLB and a printable STL from it, validated as meshes, one billed task.
    tripo = {a["format"]: a for a in by_provider["tripo"]}
    assert (
        tripo["glb"]["validation"]["watertight"] is True
        and tripo["stl"]["validation"]["kind"] == "mesh"
    )
    assert tripo["glb"]["model_version"] == "v2.5-20250123" and len(fake_tripo.creates) == 1
    assert tripo["glb"]["extra"]["tripo_task_id"] == fake_tripo.creates[0]["task_id"]

    stored = await asyncio.to_thread(service.store.artifacts, conversation_id="conv-seed-1")
    assert {a["id"] for a in stored} == {a["id"] for a in done["artifacts"]}
    assert all(
        a["ha_user"] == "alice" and a["prompt"] == SEED and a["job_id"] == job["job_id"]
        for a in stored
    )


async def _broker(broker: Mosquitto) -> Broker:
    return Broker(broker.host, broker.port)


async def test_offline_mode_makes_a_cadquery_step_and_stl_only(
    cad_service: ServiceFactory, fake_zoo: FakeZoo, fake_tripo: FakeTripo
) -> None:
    service = await cad_service(offline=True)
    job = await service.submit({"prompt": SEED, "conversation_id": "conv-offline"})
    done = await service.wait(job["job_id"], 120)
    assert done is not None and done["status"] == "succeeded"
    assert {a["provider"] for a in done["artifacts"]} == {"cadquery"}
    skipped = done["error"]["skipped"]
    assert skipped["zoo"] == "offline mode" and skipped["tripo"] == "offline mode"
    assert skipped["cadquery_code"] == "no CadQuery code in the request"
    assert fake_zoo.sessions == 0 and fake_tripo.creates == []
    step = next(a for a in done["artifacts"] if a["format"] == "step")
    assert cq.importers.importStep(step["path"]).val().isValid()


async def test_failures_fall_back_to_the_template(
    cad_service: ServiceFactory, fake_zoo: FakeZoo, fake_tripo: FakeTripo
) -> None:
    fake_zoo.mode = "error"
    fake_tripo.balance = 0
    service = await cad_service()
    job = await service.submit(
        {
            "prompt": SEED + ", and an organic one",
            "conversation_id": "conv-fb",
            "providers": ["zoo", "tripo", "cadquery"],
            "variants": 2,
        }
    )
    done = await service.wait(job["job_id"], 120)
    assert done is not None
    variants = done["variants"]
    first, second = variants
    assert [a["provider"] for a in first["attempts"]] == ["zoo", "cadquery"]
    assert (
        first["attempts"][0]["error_code"] == "provider_error" and first["provider"] == "cadquery"
    )
    assert [a["provider"] for a in second["attempts"]] == ["tripo", "cadquery"]
    assert second["attempts"][0]["error_code"] == "credits_exhausted"
    assert done["status"] == "succeeded" and {a["provider"] for a in done["artifacts"]} == {
        "cadquery"
    }


async def test_budget_skips_cloud_providers(cad_service: ServiceFactory, fake_zoo: FakeZoo) -> None:
    service = await cad_service()
    job = await service.submit({"prompt": SEED, "budget_usd": 0.05, "organic": True})
    done = await service.wait(job["job_id"], 120)
    assert done is not None and done["status"] == "succeeded"
    assert done["error"]["skipped"]["zoo"].startswith("over budget")
    assert done["error"]["skipped"]["tripo"].startswith("over budget")
    assert fake_zoo.sessions == 0


async def test_no_provider_at_all_is_a_clear_failure(cad_service: ServiceFactory) -> None:
    service = await cad_service(offline=True)
    job = await service.submit({"prompt": "a dragon figurine for the shelf"})
    done = await service.wait(job["job_id"], 60)
    assert done is not None and done["status"] == "failed"
    assert done["error"]["code"] == "no_provider"
    assert (
        "tripo: offline mode" in done["error"]["message"]
        and "cadquery: no template matches the request" in done["error"]["message"]
    )


async def test_bad_input_is_refused_before_queueing(cad_service: ServiceFactory) -> None:
    service = await cad_service()
    with pytest.raises(InvalidRequestError, match=r"thickness 0\.1 mm is impossible"):
        await service.submit({"prompt": "bracket for a 40 mm pipe, 0.1 mm thick"})
    with pytest.raises(UnknownPartError, match="unknown part kind 'vase'"):
        await service.submit({"prompt": "a vase", "kind": "vase"})
    with pytest.raises(InvalidRequestError, match="unknown provider"):
        await service.submit({"prompt": SEED, "providers": ["meshy"]})
    with pytest.raises(InvalidRequestError, match="prompt is required"):
        await service.submit({"prompt": " "})
    with pytest.raises(InvalidRequestError, match="parent artifact nope does not exist"):
        await service.submit({"prompt": SEED, "parent_artifact_id": "nope"})
    with pytest.raises(InvalidRequestError, match="variants must be"):
        await service.submit({"prompt": SEED, "variants": 0})
    assert await asyncio.to_thread(service.store.jobs) == []


async def test_sandboxed_code_and_iteration_lineage(cad_service: ServiceFactory) -> None:
    service = await cad_service()
    code = "result = cq.Workplane('XY').box(30, 20, 5).faces('>Z').workplane().hole(4)"
    job = await service.submit(
        {
            "prompt": "a 30x20 plate from my code",
            "code": code,
            "providers": ["cadquery_code"],
            "conversation_id": "conv-it",
        }
    )
    first = await service.wait(job["job_id"], 60)
    assert first is not None and first["status"] == "succeeded"
    parent = next(a for a in first["artifacts"] if a["format"] == "step")
    assert parent["provider"] == "cadquery_code" and len(parent["params"]["code_sha256"]) == 64
    job2 = await service.submit(
        {
            "prompt": "now 8 mm thick",
            "kind": "plate",
            "params": {"length": 30, "width": 20, "thickness": 8, "holes": 1},
            "parent_artifact_id": parent["id"],
            "conversation_id": "conv-it",
            "providers": ["cadquery"],
        }
    )
    second = await service.wait(job2["job_id"], 60)
    assert second is not None and second["status"] == "succeeded"
    child = next(a for a in second["artifacts"] if a["format"] == "step")
    chain = await asyncio.to_thread(service.store.lineage, child["id"])
    assert [a["id"] for a in chain] == [child["id"], parent["id"]]
    assert child["content_hash"] != parent["content_hash"]

    bad = await service.submit(
        {
            "prompt": "escape",
            "code": "import os\nresult = os.system('id')",
            "providers": ["cadquery_code"],
        }
    )
    failed = await service.wait(bad["job_id"], 60)
    assert failed is not None and failed["status"] == "failed"
    assert (
        failed["error"]["code"] == "sandbox_rejected"
        and "import of 'os' not allowed" in failed["error"]["message"]
    )


async def test_jobs_left_running_by_a_restart_are_marked_failed(
    cad_service: ServiceFactory,
) -> None:
    service = await cad_service()
    await asyncio.to_thread(
        service.store.create_job, "old-job", "a hook", {"prompt": "a hook"}, "c-r", None
    )
    await asyncio.to_thread(
        service.store.update_job,
        "old-job",
        status="running",
        progress=0.4,
        variants=[{"state": {"tripo_task_id": "t-9"}}],
    )
    await service.stop()
    service.start()  # as a new process would
    job = await service.job("old-job")
    assert job is not None and job["status"] == "failed"
    assert job["error"] == {
        "code": "interrupted",
        "message": "the add-on restarted before the job finished",
    }
    assert job["variants"][0]["state"]["tripo_task_id"] == "t-9"  # kept for a manual resume
