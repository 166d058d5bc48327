"""The add-on's local model: pick the GGUF file, run the llama.cpp server, report its state.

A failure (no model, not a GGUF file, unsupported CPU, llama.cpp refusing the file) is logged once,
kept in `error` for the API and health, and leaves the rest of the worker running.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging
from typing import Any, Final

import aiohttp

from .model import ModelError, ModelFile, find_model
from .proxy import Upstream
from .server import LlamaConfig, LlamaServer, LlamaServerError

_LOGGER = logging.getLogger(__name__)

OPENAI_BASE_PATH: Final = "/api/v1/llm/v1"
_MIB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LlmOptions:
    """The `llm_*` add-on options."""

    enabled: bool = True
    threads: int = 1
    model_path: str | None = None
    verbose: bool = False


class LocalLlm:
    """Owns the llama.cpp server and the HTTP session the proxy reaches it with."""

    def __init__(self, options: LlmOptions) -> None:
        """Nothing starts until `start()`."""
        self.options = options
        self.model: ModelFile | None = None
        self.error: str | None = None
        self._server: LlamaServer | None = None
        self._upstream: Upstream | None = None
        self._starting: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """The `llm_enabled` option."""
        return self.options.enabled

    @property
    def threads(self) -> int:
        """The `llm_threads` option."""
        return self.options.threads

    @property
    def ready(self) -> bool:
        """The model is loaded and the proxy can forward."""
        return self.upstream is not None

    @property
    def load_seconds(self) -> float | None:
        """How long starting the server took (model load included)."""
        return self._server.load_seconds if self._server else None

    @property
    def base_url(self) -> str | None:
        """The loopback address of the llama.cpp server while it runs."""
        return self._server.base_url if self._server and self._server.ready else None

    @property
    def upstream(self) -> Upstream | None:
        """Where the proxy forwards to, or None while disabled, loading, failed or stopped."""
        return self._upstream

    def start_in_background(self) -> None:
        """Start loading without waiting (the API answers meanwhile); `stop()` waits for it."""
        if self.enabled and self._starting is None:
            self._starting = asyncio.create_task(self._start_guarded(), name="jarvis-llm-start")

    async def _start_guarded(self) -> None:
        try:
            await self.start()
        except Exception as err:  # whatever breaks here, the worker keeps running
            _LOGGER.exception("Local model: unexpected failure while starting")
            self._fail(f"unexpected failure: {err!r}")

    async def start(self) -> None:
        """Find the model and start the server; never raises (failures end up in `error`)."""
        if not self.enabled:
            _LOGGER.info("Local model disabled (llm_enabled is false)")
            return
        try:
            self.model = await asyncio.to_thread(find_model, self.options.model_path)
        except ModelError as err:
            where = f"{err.option}: " if err.option else ""
            self._fail(f"{where}{err}")
            return
        server = LlamaServer(
            LlamaConfig(
                self.model.path,
                alias=self.model.name,
                threads=self.threads,
                verbose=self.options.verbose,
            )
        )
        _LOGGER.info(
            "Local model: loading %s (%.1f MiB, %d thread%s)",
            self.model.path,
            self.model.size_bytes / _MIB,
            self.threads,
            "" if self.threads == 1 else "s",
        )
        try:
            base_url = await server.start()
        except LlamaServerError as err:
            self._fail(str(err))
            return
        self._server = server
        self._upstream = Upstream(base_url, aiohttp.ClientSession())
        _LOGGER.info(
            "Local model %s ready in %.2f s; llama.cpp listening on %s (OpenAI API at %s)",
            self.model.name,
            server.load_seconds or 0.0,
            base_url,
            OPENAI_BASE_PATH,
        )

    def _fail(self, reason: str) -> None:
        self.error = reason
        _LOGGER.error("Local model unavailable: %s; the rest of the add-on keeps running", reason)

    async def stop(self) -> None:
        """Stop the server (waiting for a start in progress) and close the session."""
        if self._starting is not None:
            # A model load cannot be interrupted; wait for it so the server is not leaked.
            await asyncio.wait({self._starting})
            self._starting = None
        server, self._server = self._server, None
        upstream, self._upstream = self._upstream, None  # new requests: 503 from now on
        if upstream is not None:
            # End answers in flight first: llama.cpp stops generating for a closed connection
            # at once, while a server stopped under a live stream waits for its 30 s keep-alive.
            upstream.abort_all("the local model is stopping")
            await upstream.session.close()
        if server is not None:
            await server.stop()
            _LOGGER.info("Local model stopped")

    def status(self) -> dict[str, Any]:
        """`GET /api/v1/llm`."""
        return {
            "enabled": self.enabled,
            "ready": self.ready,
            "model": self.model.as_dict() if self.model else None,
            "threads": self.threads,
            "openai_base_path": OPENAI_BASE_PATH,
            "load_s": round(self.load_seconds, 3) if self.load_seconds is not None else None,
            "error": self.error,
        }

    def health(self) -> dict[str, Any]:
        """The `llm` object of `/api/v1/health`."""
        return {
            "enabled": self.enabled,
            "ready": self.ready,
            "model": self.model.name if self.model else None,
        }
