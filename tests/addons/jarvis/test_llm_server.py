"""The llama.cpp server in-process with the real bundled model: bind address, stop, threads, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import os
from pathlib import Path
import sys
import threading
import time

import pytest

from jarvis_addon.llm.model import find_model
from jarvis_addon.llm.server import LlamaConfig, LlamaServer, LlamaServerError
from jarvis_addon.llm.service import LlmOptions, LocalLlm
from tests.addons.sockets import listening_sockets, port_open


def native_threads() -> int:
    """Threads Python does not know about (llama.cpp's), e.g. not asyncio's executor workers."""
    return len(list(Path("/proc/self/task").iterdir())) - threading.active_count()


async def start_measuring_the_stall(server: LlamaServer) -> float:
    """Start the server; the longest the event loop went without a turn meanwhile, in seconds.

    xllamacpp keeps the GIL while it loads the model, so the loop does stall for that long.
    """
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    try:
        await server.start()
    finally:
        ticker.cancel()
    return max(gaps)


async def test_serves_on_loopback_only_and_stops_cleanly(measure: Callable[[str], None]) -> None:
    model = find_model(None)
    before = native_threads()
    counts = []
    for _ in range(2):  # a second start/stop must not leave more threads behind than the first
        server = LlamaServer(LlamaConfig(model.path, alias=model.name, threads=1))
        stall = await start_measuring_the_stall(server)
        assert server.ready and server.load_seconds is not None
        assert server.base_url is not None and server.base_url.startswith("http://127.0.0.1:")
        port = int(server.base_url.rsplit(":", 1)[1])
        assert ("127.0.0.1", port) in listening_sockets(os.getpid())
        assert not any(
            p == port and host != "127.0.0.1" for host, p in listening_sockets(os.getpid())
        )
        measure(
            f"llama.cpp in-process: model load {server.load_seconds:.3f} s, "
            f"longest event-loop stall meanwhile {stall:.3f} s"
        )
        await server.stop()
        assert not server.ready and server.base_url is None
        assert not port_open("127.0.0.1", port)
        assert all(p != port for _host, p in listening_sockets(os.getpid()))
        counts.append(native_threads())
        await server.stop()  # idempotent
    # The HTTP and compute threads are joined; llama.cpp keeps one process-wide log thread.
    assert counts[0] <= before + 1
    assert counts[1] == counts[0]


async def test_a_file_llama_cpp_rejects_is_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)  # right magic, garbage after
    server = LlamaServer(LlamaConfig(bad))
    with pytest.raises(LlamaServerError, match=r"llama\.cpp could not load the model"):
        await server.start()
    assert not server.ready and server.base_url is None
    await server.stop()


async def test_missing_wheel_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # `import xllamacpp` now fails
    server = LlamaServer(LlamaConfig(find_model(None).path))
    with pytest.raises(LlamaServerError, match=r"Python package xllamacpp\) cannot be loaded"):
        await server.start()


async def test_a_cpu_without_avx2_is_refused_before_llama_cpp_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_2 avx\n")
    monkeypatch.setattr("jarvis_addon.llm.server.CPUINFO", cpuinfo)
    monkeypatch.setattr("platform.machine", lambda: "x86_64")

    def must_not_import() -> None:
        raise AssertionError("llama.cpp must not be loaded on this CPU")

    server = LlamaServer(LlamaConfig(find_model(None).path), importer=must_not_import)
    with pytest.raises(LlamaServerError, match=r"^this CPU lacks avx2, fma, f16c, bmi2, which"):
        await server.start()


async def test_stop_while_loading_waits_for_the_load_and_stops_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="jarvis_addon.llm")
    llm = LocalLlm(LlmOptions(threads=1))
    llm.start_in_background()
    await asyncio.sleep(0)  # the load is under way
    assert not llm.ready and llm.status()["error"] is None
    await llm.stop()  # must not leak a server that finishes loading afterwards
    assert not llm.ready and llm.base_url is None
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Local model SmolLM2-135M-Instruct.Q4_1 ready in") for m in messages)
    assert messages[-1] == "Local model stopped"
    assert listening_sockets(os.getpid()) == set()


async def test_an_unexpected_failure_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(_configured: str | None) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("jarvis_addon.llm.service.find_model", explode)
    llm = LocalLlm(LlmOptions())
    llm.start_in_background()
    await llm.stop()
    assert llm.status()["ready"] is False
    assert llm.error == "unexpected failure: RuntimeError('disk on fire')"
