"""llama.cpp's HTTP server, in-process, from the `xllamacpp` wheel (it embeds the C++ server).

`xllamacpp.Server(CommonParams)` loads the model and starts listening in its constructor, and
stops (joining its threads, closing the port) when the object is freed. Both block, so both run
in a worker thread. Caveat: xllamacpp holds the GIL for the whole constructor, so the event loop
still stalls for the model load (about 0.3 s for the bundled model); requests are then served by
C++ threads without the GIL.

The server has no authentication and reflects any CORS origin, so it listens on 127.0.0.1 only
(a free port the kernel picks) and is reached through the add-on's authenticated proxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
import logging
from pathlib import Path
import platform
import time
from typing import Any, Final
import urllib.error
import urllib.request

_LOGGER = logging.getLogger(__name__)

LOOPBACK: Final = "127.0.0.1"
DEFAULT_CONTEXT: Final = 4096
# A CORS origin no browser page has (.invalid is reserved, RFC 2606): browsers may not read answers.
NO_CORS_ORIGIN: Final = "https://jarvis-addon.invalid"
# common_log verbosity: 1 errors, 2 warnings, 3 info (model load, per-request timings), 4 debug.
VERBOSITY_QUIET: Final = 1
VERBOSITY_DEBUG: Final = 3
# How long the freshly created server may take to answer /health.
HEALTH_WAIT_S: Final = 30.0
# The x86_64 wheel is compiled for these (its system info reports them at compile time); on a CPU
# without them llama.cpp dies with SIGILL and takes the worker with it, so check first.
X86_REQUIRED_FLAGS: Final = ("avx", "avx2", "fma", "f16c", "bmi2")
CPUINFO: Final = Path("/proc/cpuinfo")


class LlamaServerError(Exception):
    """The llama.cpp server could not be started (missing wheel, unsupported CPU, bad model)."""


@dataclass(frozen=True, slots=True)
class LlamaConfig:
    """What the server is started with."""

    model_path: Path
    alias: str | None = None  # the `model` name in answers (default: the file path)
    threads: int = 1
    context: int = DEFAULT_CONTEXT
    verbose: bool = False


def missing_cpu_flags(machine: str, cpuinfo: str) -> list[str]:
    """The CPU features the bundled x86_64 build needs that this CPU lacks (none on other arches)."""
    if machine.lower() not in ("x86_64", "amd64"):
        return []
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
            break
    if not flags:
        return []  # unknown (no /proc/cpuinfo flags): let llama.cpp try
    return [flag for flag in X86_REQUIRED_FLAGS if flag not in flags]


def _check_cpu() -> None:
    try:
        cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    missing = missing_cpu_flags(platform.machine(), cpuinfo)
    if missing:
        raise LlamaServerError(
            "this CPU lacks " + ", ".join(missing) + ", which the bundled llama.cpp build needs"
        )


def _import_xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError as err:  # the wheel is missing, or a shared library (libgomp) is
        raise LlamaServerError(
            f"llama.cpp (Python package xllamacpp) cannot be loaded: {err}"
        ) from None
    return xllamacpp


def build_params(xllamacpp: Any, config: LlamaConfig) -> Any:
    """`CommonParams` for one loopback-only server (names as in xllamacpp 2026.10.11549)."""
    params = xllamacpp.CommonParams()
    params.model.path = str(config.model_path)
    if config.alias:
        params.model_alias = {config.alias}
    params.n_ctx = config.context
    params.n_parallel = 1
    params.cpuparams.n_threads = config.threads
    params.cpuparams_batch.n_threads = config.threads
    params.hostnames = [LOOPBACK]
    params.port = 0  # the kernel picks a free port; `listening_address` reports it
    # Leave sampling.temp at llama.cpp's default: clients send `temperature` per request.
    params.offline = True  # never download anything
    params.fit_params = False  # CPU only: fitting to device memory only costs ~0.25 s of load
    params.ui = False
    params.endpoint_slots = False  # would show other callers' prompts
    params.cors_origins = NO_CORS_ORIGIN
    params.verbosity = VERBOSITY_DEBUG if config.verbose else VERBOSITY_QUIET
    return params


def _wait_healthy(address: str, limit_s: float) -> bool:
    """Until the HTTP loop answers: a server destroyed before its loop runs can hang on join."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{address}/health", timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.02)
    return False


class LlamaServer:
    """One llama.cpp server; `start()` and `stop()` run the blocking parts in a thread."""

    def __init__(
        self, config: LlamaConfig, *, importer: Callable[[], Any] = _import_xllamacpp
    ) -> None:
        """Nothing happens until `start()`."""
        self.config = config
        self._importer = importer
        self._server: Any = None
        self.base_url: str | None = None
        self.load_seconds: float | None = None

    @property
    def ready(self) -> bool:
        """True while the model is loaded and the server listens."""
        return self._server is not None

    async def start(self) -> str:
        """Load the model and listen; the base URL, or LlamaServerError (the reason is logged)."""
        if self._server is not None and self.base_url is not None:
            return self.base_url
        started = time.monotonic()
        # The server object travels in a box, not as the thread's result: the executor's future
        # would keep a reference to it (until the garbage collector runs), and the server only
        # stops when its last reference is dropped.
        box: list[Any] = []
        base_url = await asyncio.to_thread(self._create, box)
        self._server, self.base_url = box.pop(), base_url
        self.load_seconds = time.monotonic() - started
        return base_url

    def _create(self, box: list[Any]) -> str:
        _check_cpu()
        xllamacpp = self._importer()
        params = build_params(xllamacpp, self.config)
        try:
            server = xllamacpp.Server(params)
        except (RuntimeError, ValueError) as err:
            # llama.cpp logs the real reason (to stderr) just before this generic one.
            raise LlamaServerError(f"llama.cpp could not load the model: {err}") from None
        address = str(server.listening_address)
        if not address.startswith(f"http://{LOOPBACK}:"):
            del server
            raise LlamaServerError(f"llama.cpp listens on {address}, not on {LOOPBACK}")
        if not _wait_healthy(address, HEALTH_WAIT_S):
            del server
            raise LlamaServerError(f"llama.cpp at {address} did not answer /health")
        box.append(server)
        return address

    async def stop(self) -> None:
        """Stop serving and free the model; returns once the port is closed and threads joined."""
        server, self._server, self.base_url = self._server, None, None
        if server is None:
            return
        holder = [server]
        del server
        # Freeing the last reference runs ~Server(): terminate the loop, stop HTTP, join threads.
        await asyncio.to_thread(holder.clear)
