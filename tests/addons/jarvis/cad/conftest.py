"""CAD fixtures: the real CAD worker process, fake Zoo and Tripo servers, a service wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest
import pytest_asyncio

from jarvis_addon.cad.providers.base import Provider
from jarvis_addon.cad.providers.cadquery_local import CadQuerySandbox, CadQueryTemplates
from jarvis_addon.cad.providers.tripo import TripoModel, TripoOptions
from jarvis_addon.cad.providers.zoo import ZooOptions, ZooTextToCad
from jarvis_addon.cad.service import CadService, Publish
from jarvis_addon.cad.store import ArtifactStore
from jarvis_addon.cad.worker_client import CadWorker
from tests.support.fake_cad.tripo import FakeTripo
from tests.support.fake_cad.zoo import FakeZoo

ZOO_TOKEN = "zoo-test-token"
Ask = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def forked() -> Iterator[Ask]:
    """ask(request) -> answer, through a real `python -m jarvis_addon.cad.worker` process.

    The test process itself checks the results with CadQuery; a process that has run OCCT
    operations must not fork OCCT children (its thread pool does not survive fork), which is why
    the worker's parent only imports CadQuery and never builds anything.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "jarvis_addon.cad.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert json.loads(proc.stdout.readline())["result"] == {"ready": True}

    def ask(request: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        answer = dict(json.loads(proc.stdout.readline()))
        answer.pop("id", None)
        return answer

    yield ask
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


TRIPO_KEY = "tsk_test_key"


@pytest_asyncio.fixture
async def cad_worker() -> AsyncIterator[CadWorker]:
    """A real worker process (CadQuery imported once); stopped at teardown."""
    worker = CadWorker()
    yield worker
    await worker.stop()


@pytest_asyncio.fixture
async def fake_zoo() -> AsyncIterator[FakeZoo]:
    server = await FakeZoo().start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def fake_tripo() -> AsyncIterator[FakeTripo]:
    server = await FakeTripo().start()
    yield server
    await server.stop()


def zoo_provider(fake: FakeZoo, **kw: Any) -> ZooTextToCad:
    return ZooTextToCad(
        ZooOptions(
            token=ZOO_TOKEN, base_url=fake.url, **{"recv_timeout": 5.0, "deadline": 20.0, **kw}
        )
    )


def tripo_provider(fake: FakeTripo, **kw: Any) -> TripoModel:
    return TripoModel(
        TripoOptions(
            api_key=TRIPO_KEY, base_url=fake.url, **{"poll_initial": 0.01, "deadline": 20.0, **kw}
        )
    )


ServiceFactory = Callable[..., Awaitable[CadService]]


@pytest_asyncio.fixture
async def cad_service(
    tmp_path: Path, cad_worker: CadWorker, fake_zoo: FakeZoo, fake_tripo: FakeTripo
) -> AsyncIterator[ServiceFactory]:
    """Factory: a started CadService over a fresh store, with all providers pointed at the fakes."""
    services: list[CadService] = []

    async def make(
        publish: Publish | None = None,
        *,
        offline: bool = False,
        zoo: dict[str, Any] | None = None,
        tripo: dict[str, Any] | None = None,
    ) -> CadService:
        providers: dict[str, Provider] = {
            "cadquery": CadQueryTemplates(cad_worker),
            "cadquery_code": CadQuerySandbox(cad_worker),
            "zoo": zoo_provider(fake_zoo, **(zoo or {})),
            "tripo": tripo_provider(fake_tripo, **(tripo or {})),
        }
        service = CadService(
            ArtifactStore(tmp_path / f"store{len(services)}"),
            providers,
            publish,
            offline=offline,
            worker=cad_worker,
        )
        service.start()
        services.append(service)
        return service

    yield make
    for service in services:
        await service.stop()
        service.store.close()


@pytest.fixture
def progress_log() -> tuple[list[tuple[float, str, Any]], Callable[..., Awaitable[None]]]:
    seen: list[tuple[float, str, Any]] = []

    async def progress(fraction: float, note: str, state: Any) -> None:
        seen.append((fraction, note, state))

    return seen, progress
