"""CAD jobs: a queue, the cycler's execution, storage, and progress on MQTT.

`submit()` validates the request (bad input raises before anything is queued), records the job and
queues it; `jobs` worker tasks run variants one provider at a time along their fallback chains,
store every file with its lineage, and publish the job (status, progress, variants, artifacts) to
the retained topic `jarvis/cad/jobs/<id>` on every change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
import contextlib
import dataclasses
import json
import logging
from pathlib import Path
import time
from typing import Any, Final, Protocol
import uuid

from .. import metrics
from . import cycler, geometry
from .errors import CadError, InvalidRequestError
from .providers.base import Provider, VariantRequest, VariantResult
from .providers.tripo import mesh_outputs
from .request import CadRequest, parse
from .store import ArtifactStore, NewArtifact
from .worker_client import CadWorker

_LOGGER = logging.getLogger(__name__)
JOB_TOPIC_PREFIX: Final = "jarvis/cad/jobs"
TERMINAL: Final = frozenset({"succeeded", "partial", "failed"})
LAST_JOB_TOPIC: Final = "jarvis/cad/last_job"  # retained summary of the latest job change
SENSOR_DISCOVERY_TOPIC: Final = "homeassistant/sensor/jarvis_cad/last_job/config"
SENSOR_DISCOVERY: Final = {
    "name": "CAD job",
    "unique_id": "jarvis_cad_last_job",
    # (HA warns that `object_id` is deprecated and stops working in 2026.4.)
    "default_entity_id": "sensor.jarvis_cad_job",
    "state_topic": LAST_JOB_TOPIC,
    "value_template": "{{ value_json.status }}",
    "json_attributes_topic": LAST_JOB_TOPIC,
    "availability_topic": "jarvis/status",
    "icon": "mdi:cube-outline",
    "device": {"identifiers": ["jarvis_addon"], "name": "Jarvis add-on", "manufacturer": "Jarvis"},
}


class Publish(Protocol):
    """MqttBridge.publish: QoS 1, kept for the next connection when the broker is away."""

    def __call__(self, topic: str, payload: str, *, retain: bool = False) -> Awaitable[None]:
        """Publish payload on topic."""


def job_topic(job_id: str) -> str:
    """`jarvis/cad/jobs/<id>` (retained)."""
    return f"{JOB_TOPIC_PREFIX}/{job_id}"


class CadService:
    """Owns the queue and the workers; one per add-on process."""

    def __init__(
        self,
        store: ArtifactStore,
        providers: Mapping[str, Provider],
        publish: Publish | None = None,
        *,
        concurrency: int = 1,
        offline: bool = False,
        budget_usd: float | None = None,
        worker: CadWorker | None = None,
    ) -> None:
        """Providers by name; publish(topic, payload, retain) sends to MQTT (None: no MQTT)."""
        self.store = store
        self.worker = worker
        self.providers = dict(providers)
        self.publish = publish
        self.offline = offline
        self.budget_usd = budget_usd  # per job, unless the job sets its own
        self._queue: asyncio.Queue[tuple[str, CadRequest]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._concurrency = concurrency
        self._done: dict[str, asyncio.Event] = {}
        self._discovery_sent = False

    def start(self) -> None:
        """Start the job workers (jobs a previous process left unfinished are marked failed first)."""
        if not self._tasks:
            if interrupted := self.store.interrupt_unfinished():
                _LOGGER.warning(
                    "CAD: %d job(s) were interrupted by a restart: %s",
                    len(interrupted),
                    ", ".join(interrupted),
                )
            self._tasks = [
                asyncio.create_task(self._work(), name=f"jarvis-cad-{i}")
                for i in range(self._concurrency)
            ]

    async def stop(self) -> None:
        """Cancel the workers (a running job is left as it was stored)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.worker is not None:
            await self.worker.stop()

    def known_providers(self) -> frozenset[str]:
        """Names a request may ask for."""
        return frozenset(self.providers)

    async def submit(self, body: Any) -> dict[str, Any]:
        """Validate and queue; returns the job as published. Raises InvalidRequestError on bad input."""
        request = parse(body, known_providers=self.known_providers())
        if self.offline and not request.offline:
            request = dataclasses.replace(request, offline=True)
        if request.budget_usd is None and self.budget_usd is not None:
            request = dataclasses.replace(request, budget_usd=self.budget_usd)
        if (
            request.parent_artifact_id
            and await asyncio.to_thread(self.store.artifact, request.parent_artifact_id) is None
        ):
            raise InvalidRequestError(
                f"parent artifact {request.parent_artifact_id} does not exist"
            )
        if request.image and not await asyncio.to_thread(Path(request.image).is_file):
            raise InvalidRequestError(f"image {request.image} is not a readable file")
        job_id = uuid.uuid4().hex
        await asyncio.to_thread(
            self.store.create_job,
            job_id,
            request.prompt,
            request.raw,
            request.conversation_id,
            request.ha_user,
        )
        self._done[job_id] = asyncio.Event()
        await self._publish(job_id)
        await self._queue.put((job_id, request))
        return await self.job(job_id) or {}

    async def wait(self, job_id: str, seconds: float) -> dict[str, Any] | None:
        """The job once it is finished (or as it is when the timeout passes)."""
        event = self._done.get(job_id)
        if event is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        return await self.job(job_id)

    async def job(self, job_id: str) -> dict[str, Any] | None:
        """The job with its artifacts, as published."""
        row = await asyncio.to_thread(self.store.job, job_id)
        if row is None:
            return None
        artifacts = await asyncio.to_thread(self.store.artifacts, job_id=job_id)
        return {
            "job_id": job_id,
            "status": row["status"],
            "progress": round(row["progress"], 3),
            "conversation_id": row["conversation_id"],
            "ha_user": row["ha_user"],
            "prompt": row["prompt"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "error": row["error"],
            "variants": row["variants"],
            "artifacts": [_public(a) for a in artifacts],
        }

    async def announce(self) -> None:
        """Publish the job sensor's discovery (on every MQTT connect: it exists before any job)."""
        if self.publish is not None:
            await self.publish(SENSOR_DISCOVERY_TOPIC, json.dumps(SENSOR_DISCOVERY), retain=True)
            self._discovery_sent = True

    async def _publish(self, job_id: str) -> None:
        if self.publish is None:
            return
        payload = await self.job(job_id)
        if payload is None:
            return
        summary = {
            k: payload[k] for k in ("job_id", "status", "progress", "conversation_id", "prompt")
        }
        summary["artifacts"] = len(payload["artifacts"])
        try:
            if not self._discovery_sent:
                # The job status sensor comes from MQTT discovery: no integration code needed.
                await self.publish(
                    SENSOR_DISCOVERY_TOPIC, json.dumps(SENSOR_DISCOVERY), retain=True
                )
                self._discovery_sent = True
            await self.publish(job_topic(job_id), json.dumps(payload), retain=True)
            await self.publish(LAST_JOB_TOPIC, json.dumps(summary), retain=True)
        except Exception as err:  # noqa: BLE001 - MQTT being down must not fail the job
            _LOGGER.warning("CAD job %s: could not publish progress (%s)", job_id, err)

    async def _work(self) -> None:
        while True:
            job_id, request = await self._queue.get()
            started = time.monotonic()
            failure: str | None = "crashed"
            try:
                failure = await self._run(job_id, request)
            except Exception:
                _LOGGER.exception("CAD job %s crashed", job_id)
                await asyncio.to_thread(
                    self.store.update_job,
                    job_id,
                    status="failed",
                    progress=1.0,
                    error={"code": "cad_error", "message": "internal error; see the add-on log"},
                )
                await self._publish(job_id)
            finally:
                metrics.observe_cad_job(
                    "cycler", time.monotonic() - started, failure_reason=failure
                )
                self._done[job_id].set()
                self._queue.task_done()

    def _infos(self, request: CadRequest, probe: VariantRequest) -> dict[str, cycler.ProviderInfo]:
        return {
            name: cycler.ProviderInfo(
                name, p.kind, p.cloud, p.estimated_cost_usd, p.unavailable(probe)
            )
            for name, p in self.providers.items()
        }

    async def _run(self, job_id: str, request: CadRequest) -> str | None:
        """Run one job; why it failed (for /metrics), or None when a variant succeeded."""
        out_dir = await asyncio.to_thread(self.store.job_dir, job_id)
        parent = (
            await asyncio.to_thread(self.store.artifact, request.parent_artifact_id)
            if request.parent_artifact_id
            else None
        )
        base = VariantRequest(
            job_id=job_id,
            variant=0,
            prompt=request.prompt,
            out_dir=out_dir / "work",
            spec=request.spec,
            code=request.code,
            image=Path(request.image) if request.image else None,
            parent=parent,
        )
        chains, skipped = cycler.plan(request, self._infos(request, base))
        variants: list[dict[str, Any]] = [
            {
                "variant": i,
                "chain": chain,
                "status": "queued",
                "progress": 0.0,
                "attempts": [],
                "artifacts": [],
            }
            for i, chain in enumerate(chains)
        ]
        if not chains:
            reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "no providers"
            failure = {
                "code": "no_provider",
                "message": f"no provider can make this: {reasons}",
                "skipped": skipped,
            }
            await asyncio.to_thread(
                self.store.update_job,
                job_id,
                status="failed",
                progress=1.0,
                error=failure,
                variants=variants,
            )
            await self._publish(job_id)
            return "no_provider"
        await asyncio.to_thread(
            self.store.update_job, job_id, status="running", progress=0.0, variants=variants
        )
        await self._publish(job_id)
        for entry in variants:
            await self._run_variant(job_id, base, entry, variants)
        ok = sum(1 for v in variants if v["status"] == "succeeded")
        status = "succeeded" if ok == len(variants) else "partial" if ok else "failed"
        error: dict[str, Any] | None = None
        if not ok:
            last = [a for v in variants for a in v["attempts"]]
            error = {
                "code": last[-1]["error_code"] if last else "cad_error",
                "message": "; ".join(f"{a['provider']}: {a['message']}" for a in last),
                "skipped": skipped,
            }
        elif skipped:
            error = {"code": "skipped", "message": "", "skipped": skipped}
        await asyncio.to_thread(
            self.store.update_job,
            job_id,
            status=status,
            progress=1.0,
            error=error,
            variants=variants,
        )
        await self._publish(job_id)
        return None if ok else str(error["code"] if error else "cad_error")

    async def _run_variant(
        self,
        job_id: str,
        base: VariantRequest,
        entry: dict[str, Any],
        variants: list[dict[str, Any]],
    ) -> None:
        entry["status"] = "running"
        resume: dict[str, Any] = {}
        last_publish = 0.0

        async def progress(fraction: float, note: str, state: Mapping[str, Any] | None) -> None:
            nonlocal last_publish
            if state:
                resume.update(state)
                entry.setdefault("state", {}).update(
                    state
                )  # e.g. a billed Tripo task id, kept in the job row
            entry["progress"] = max(0.0, min(fraction, 1.0))
            entry["note"] = note
            overall = sum(v["progress"] for v in variants) / len(variants)
            await asyncio.to_thread(
                self.store.update_job, job_id, status="running", progress=overall, variants=variants
            )
            now = time.monotonic()
            if state or now - last_publish > 0.5:
                last_publish = now
                await self._publish(job_id)

        for name in entry["chain"]:
            provider = self.providers[name]
            req = dataclasses.replace(base, variant=entry["variant"], resume=dict(resume) or None)
            started = time.monotonic()
            try:
                result = await provider.generate(req, progress)
                stored = await self._store(job_id, entry["variant"], result, base.parent)
            except CadError as err:
                entry["attempts"].append(
                    {
                        "provider": name,
                        "ok": False,
                        "error_code": err.code,
                        "message": str(err),
                        "seconds": round(time.monotonic() - started, 3),
                    }
                )
                _LOGGER.info(
                    "CAD job %s variant %d: %s failed (%s); falling back",
                    job_id,
                    entry["variant"],
                    name,
                    err,
                )
                resume.clear()
                continue
            entry["attempts"].append(
                {"provider": name, "ok": True, "seconds": round(time.monotonic() - started, 3)}
            )
            entry["provider"] = name
            entry["artifacts"] = [a["id"] for a in stored]
            entry["status"] = "succeeded"
            entry["progress"] = 1.0
            return
        entry["status"] = "failed"
        entry["progress"] = 1.0

    async def _validate_step(self, path: Path) -> dict[str, Any]:
        """A provider's STEP file, re-imported and checked by the CAD worker (never in this process)."""
        if self.worker is None:
            return {"kind": "step", "checked": False}
        try:
            return await self.worker.request({"op": "validate_step", "path": str(path)})
        except CadError as err:
            return {"kind": "solid", "ok": False, "problems": [f"cannot read the STEP file: {err}"]}

    async def _store(
        self, job_id: str, variant: int, result: VariantResult, parent: Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        """Validate what needs it (meshes), derive a printable STL from a GLB, record lineage."""
        files = list(result.files)
        for f in list(files):
            if f.fmt == "glb":
                stl = await asyncio.to_thread(mesh_outputs, f.path)
                files.append(type(f)(stl, "stl", f.body, {}))
        stored: list[dict[str, Any]] = []
        parent_id = parent["id"] if parent else None
        for f in files:
            validation = dict(f.validation)
            if not validation and f.fmt in ("glb", "stl", "obj", "ply"):
                validation = (await asyncio.to_thread(geometry.validate_mesh, f.path)).as_dict()
            elif not validation and f.fmt == "step":
                validation = await self._validate_step(f.path)
            new = NewArtifact(
                source=f.path,
                fmt=f.fmt,
                provider=result.provider,
                body=f.body,
                model=result.model,
                model_version=result.model_version,
                params=result.params,
                parent_id=parent_id,
                validation=validation,
                extra={**result.extra, "cost_usd": result.cost_usd},
            )
            stored.append(await asyncio.to_thread(self.store.add, job_id, variant, new))
        return stored


def _public(artifact: Mapping[str, Any]) -> dict[str, Any]:
    """An artifact as the API and MQTT show it (large fields left out)."""
    extra = {
        k: v
        for k, v in (artifact.get("extra") or {}).items()
        if k not in ("kcl", "response", "printed")
    }
    return {
        "id": artifact["id"],
        "variant": artifact["variant"],
        "body": artifact["body"],
        "provider": artifact["provider"],
        "model": artifact["model"],
        "model_version": artifact["model_version"],
        "format": artifact["format"],
        "path": artifact["path"],
        "bytes": artifact["bytes"],
        "content_hash": artifact["content_hash"],
        "sha256": artifact.get("sha256"),
        "storage": artifact.get("storage", "local"),
        "storage_error": artifact.get("storage_error"),
        "conversation_id": artifact["conversation_id"],
        "parent_id": artifact["parent_id"],
        "params": artifact["params"],
        "validation": artifact["validation"],
        "extra": extra,
        "url": f"/api/v1/cad/artifacts/{artifact['id']}/file",
    }
