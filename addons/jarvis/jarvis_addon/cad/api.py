"""`/api/v1/cad/...` on the add-on's aiohttp app (the bearer token is checked by web.py's middleware).

    GET  /api/v1/cad/parts                         template library: kinds and parameters
    GET  /api/v1/cad/providers                     which providers exist and whether they can run
    POST /api/v1/cad/jobs[?wait=S]                 submit; 202 with the job, or 200 when done within S
    GET  /api/v1/cad/jobs                          recent jobs
    GET  /api/v1/cad/jobs/{job_id}                 one job with its artifacts
    GET  /api/v1/cad/artifacts/{id}                one artifact and its lineage (parents)
    GET  /api/v1/cad/artifacts/{id}/file           the file itself (streamed from S3 when stored there)
    GET  /api/v1/cad/conversations/{cid}/artifacts everything made for one conversation

Errors are JSON: `{"error": <code>, "message": ...}` with 400 for bad input, 404 for unknown ids
(or an object gone from the bucket), 502/504 when S3 cannot serve a file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from .errors import CadError
from .parts import KINDS
from .providers.base import VariantRequest
from .s3 import S3ObjectMissingError, S3StorageError, S3TimeoutError
from .service import TERMINAL, CadService, _public
from .store import CONTENT_TYPES

_LOGGER = logging.getLogger(__name__)
PREFIX: Final = "/api/v1/cad"
MAX_WAIT: Final = 600.0
SERVICE_KEY: Final = web.AppKey("jarvis_cad", CadService)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


async def parts(request: web.Request) -> web.Response:
    """The template library."""
    return web.json_response(
        {
            name: {
                "description": kind.description,
                "params": {
                    p: {"default": v.default, "min": v.minimum, "max": v.maximum, "unit": v.unit}
                    for p, v in kind.params.items()
                },
            }
            for name, kind in KINDS.items()
        }
    )


async def providers(request: web.Request) -> web.Response:
    """Each provider's kind, whether it is a cloud call, its estimated cost, and why it cannot run."""
    service = request.app[SERVICE_KEY]
    probe = VariantRequest(job_id="probe", variant=0, prompt="probe", out_dir=Path("/nonexistent"))
    return web.json_response(
        {
            "offline": service.offline,
            "providers": {
                name: {
                    "kind": p.kind,
                    "cloud": p.cloud,
                    "estimated_cost_usd": p.estimated_cost_usd,
                    "unavailable": p.unavailable(probe),
                }
                for name, p in service.providers.items()
            },
        }
    )


async def submit(request: web.Request) -> web.Response:
    """Queue a job; with ?wait=S answer when it is finished (or after S seconds)."""
    service = request.app[SERVICE_KEY]
    try:
        wait = float(request.query.get("wait", "0"))
    except ValueError:
        return _error(400, "invalid_request", "wait must be a number of seconds")
    if not 0 <= wait <= MAX_WAIT:
        return _error(400, "invalid_request", f"wait must be between 0 and {MAX_WAIT:g} seconds")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "invalid_request", "the body must be JSON")
    try:
        job = await service.submit(body)
    except CadError as err:
        return _error(400, err.code, str(err))
    if wait > 0:
        job = await service.wait(job["job_id"], wait) or job
    return web.json_response(job, status=200 if job["status"] in TERMINAL else 202)


async def jobs(request: web.Request) -> web.Response:
    """Recent jobs (without artifacts)."""
    rows = await asyncio.to_thread(request.app[SERVICE_KEY].store.jobs)
    return web.json_response(
        {
            "jobs": [
                {
                    k: r[k]
                    for k in ("id", "status", "progress", "conversation_id", "prompt", "created_at")
                }
                for r in rows
            ]
        }
    )


async def job(request: web.Request) -> web.Response:
    """One job."""
    found = await request.app[SERVICE_KEY].job(request.match_info["job_id"])
    if found is None:
        return _error(404, "not_found", f"no CAD job {request.match_info['job_id']}")
    return web.json_response(found)


async def artifact(request: web.Request) -> web.Response:
    """One artifact with its lineage."""
    store = request.app[SERVICE_KEY].store
    chain = await asyncio.to_thread(store.lineage, request.match_info["artifact_id"])
    if not chain:
        return _error(404, "not_found", f"no CAD artifact {request.match_info['artifact_id']}")
    return web.json_response(
        {"artifact": _public(chain[0]), "lineage": [_public(a) for a in chain[1:]]}
    )


async def artifact_file(request: web.Request) -> web.StreamResponse:
    """Download the file."""
    found = await asyncio.to_thread(
        request.app[SERVICE_KEY].store.artifact, request.match_info["artifact_id"]
    )
    if found is None:
        return _error(404, "not_found", f"no CAD artifact {request.match_info['artifact_id']}")
    if found.get("storage") == "s3":
        return await _s3_file(request, found)
    path = Path(found["path"])
    if not await asyncio.to_thread(path.is_file):
        return _error(404, "not_found", f"the file of artifact {found['id']} is gone")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": CONTENT_TYPES.get(found["format"], "application/octet-stream"),
            "Content-Disposition": f'attachment; filename="{path.name}"',
        },
    )


async def _s3_file(request: web.Request, found: Mapping[str, Any]) -> web.StreamResponse:
    """Stream an object from the bucket, checking it against the sha256 in the lineage row.

    The last chunk is held back until the hash matches: a client never receives the whole of an
    object that changed in the bucket (the connection is cut short instead).
    """
    remote = request.app[SERVICE_KEY].store.remote
    if remote is None:
        return _error(
            503,
            "s3_not_configured",
            f"artifact {found['id']} is stored in S3 ({found['path']}) but cad.s3_endpoint_url is not set",
        )
    try:
        chunks: Generator[bytes] = await asyncio.to_thread(remote.open, found["object_key"])
    except S3ObjectMissingError as err:
        return _error(404, err.code, str(err))
    except S3StorageError as err:
        return _error(504 if isinstance(err, S3TimeoutError) else 502, err.code, str(err))
    response = web.StreamResponse(
        headers={
            "Content-Type": CONTENT_TYPES.get(found["format"], "application/octet-stream"),
            "Content-Disposition": f'attachment; filename="{found["object_key"].rsplit("/", 1)[-1]}"',
        }
    )
    response.content_length = int(found["bytes"])
    digest = hashlib.sha256()
    held: bytes | None = None
    try:
        await response.prepare(request)
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            digest.update(chunk)
            if held is not None:
                await response.write(held)
            held = chunk
    except S3StorageError as err:
        _LOGGER.error("CAD artifact %s: S3 failed mid-download: %s", found["id"], err)
        raise ConnectionResetError(str(err)) from err
    finally:
        await asyncio.to_thread(chunks.close)
    if digest.hexdigest() != found["sha256"]:
        _LOGGER.error(
            "CAD artifact %s: the object %s no longer matches its sha256; download cut short",
            found["id"],
            found["path"],
        )
        raise ConnectionResetError(f"{found['path']} changed in the bucket")
    if held is not None:
        await response.write(held)
    await response.write_eof()
    return response


async def conversation(request: web.Request) -> web.Response:
    """Everything made for one conversation, oldest first."""
    rows = await asyncio.to_thread(
        request.app[SERVICE_KEY].store.artifacts, conversation_id=request.match_info["cid"]
    )
    return web.json_response(
        {"conversation_id": request.match_info["cid"], "artifacts": [_public(a) for a in rows]}
    )


def add_routes(app: web.Application, service: CadService) -> None:
    """Mount the CAD API on the add-on's app."""
    app[SERVICE_KEY] = service
    app.router.add_get(f"{PREFIX}/parts", parts)
    app.router.add_get(f"{PREFIX}/providers", providers)
    app.router.add_post(f"{PREFIX}/jobs", submit)
    app.router.add_get(f"{PREFIX}/jobs", jobs)
    app.router.add_get(f"{PREFIX}/jobs/{{job_id}}", job)
    app.router.add_get(f"{PREFIX}/artifacts/{{artifact_id}}", artifact)
    app.router.add_get(f"{PREFIX}/artifacts/{{artifact_id}}/file", artifact_file)
    app.router.add_get(f"{PREFIX}/conversations/{{cid}}/artifacts", conversation)
