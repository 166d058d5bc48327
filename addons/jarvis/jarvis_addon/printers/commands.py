"""Device commands from MQTT (`jarvis/devices/<id>/cmd`): parse, de-duplicate, execute, ack.

The payload is `{request_id, command, args}`; the ack `{request_id, ok, error?, message?, result?}`.
QoS 1 delivers at least once (and the persistent session redelivers after a reconnect), so a
request id seen before is answered with the first ack again and never executed twice. A payload
without a request id (an HA MQTT button) gets one and is not de-duplicated. A command past its
optional `expires_at` (Unix time; the sender stopped waiting) is answered `expired`, not run.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
import json
import logging
import secrets
import time
from typing import Any, Final

from .manager import CommandError, PrinterManager

_LOGGER = logging.getLogger(__name__)

REMEMBERED_REQUESTS: Final = 1000
MAX_PAYLOAD_BYTES: Final = 96 * 1024 * 1024


class CommandRouter:
    """Turns one MQTT command payload into exactly one execution and an ack."""

    def __init__(self, printers: PrinterManager, remember: int = REMEMBERED_REQUESTS) -> None:
        """No state but the seen request ids."""
        self._printers = printers
        self._remember = remember
        self._seen: OrderedDict[str, asyncio.Future[dict[str, Any]]] = OrderedDict()
        self.executed = 0  # executions (duplicates excluded): reported by the HTTP API

    async def handle(self, device_id: str, payload: bytes) -> dict[str, Any] | None:
        """The ack for this payload (a duplicate's ack is the first one's); None: no ack.

        A payload marked `"mirror": true` is the integration telling what its agent did to a
        device (docs/router.md): a record, not a command, so nothing runs and nothing answers.
        """
        try:
            request = json.loads(payload) if len(payload) <= MAX_PAYLOAD_BYTES else None
        except ValueError as err:
            return _error(None, "invalid_json", f"the command is not JSON: {err}")
        if not isinstance(request, dict):
            return _error(
                None,
                "invalid_json",
                "the command must be a JSON object {request_id, command, args}",
            )
        if request.get("mirror") is True:
            return None
        request_id = request.get("request_id")
        if request_id is not None and (not isinstance(request_id, str) or not request_id):
            return _error(None, "invalid_request_id", "request_id must be a non-empty string")
        if request_id is None:
            request_id = f"anon-{secrets.token_hex(6)}"
        elif (earlier := self._seen.get(request_id)) is not None:
            _LOGGER.info(
                "Command %s for %s is a duplicate; answering with its first ack",
                request_id,
                device_id,
            )
            return await asyncio.shield(earlier)
        expires_at = request.get("expires_at")
        if (
            isinstance(expires_at, int | float)
            and not isinstance(expires_at, bool)
            and time.time() > expires_at
        ):
            # The sender gave up waiting (e.g. it was sent while we were away for long): a late
            # print start or heat-up would surprise whoever is at the printer now.
            return _error(
                request_id,
                "expired",
                f"the command expired {time.time() - expires_at:.0f} s ago and was not run",
            )
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._seen[request_id] = future
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        ack = await self._execute(device_id, request_id, request)
        future.set_result(ack)
        return ack

    async def _execute(
        self, device_id: str, request_id: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        command, args = request.get("command"), request.get("args", {})
        if not isinstance(command, str) or not command:
            return _error(request_id, "invalid_command", "command must be a non-empty string")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return _error(request_id, "invalid_args", "args must be a JSON object")
        self.executed += 1
        _LOGGER.info("Command %s: %s %s", request_id, device_id, command)
        try:
            result = await self._printers.execute(device_id, command, args)
        except CommandError as err:
            _LOGGER.warning("Command %s (%s %s) failed: %s", request_id, device_id, command, err)
            return _error(request_id, err.code, str(err))
        except Exception as err:  # a bug: answer (the caller waits) and log it
            _LOGGER.exception("Command %s (%s %s) crashed", request_id, device_id, command)
            return _error(
                request_id, "internal_error", f"the add-on failed: {type(err).__name__}: {err}"
            )
        return {"request_id": request_id, "ok": True, "result": result}


def _error(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"request_id": request_id, "ok": False, "error": code, "message": message}
