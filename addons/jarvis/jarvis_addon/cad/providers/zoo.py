"""Zoo (zoo.dev) text-to-CAD through the official `kittycad` SDK's current interface.

kittycad >= 1.5 has no REST text-to-CAD endpoints; generation goes over the Zookeeper copilot
websocket (`client.ml.ml_copilot_ws`, `/ws/ml/copilot`). We send one `user` message with
`forced_tools=["text_to_cad"]` (or `edit_kcl_code` with the parent's KCL as `current_files` for an
iteration) and read server messages until `end_of_stream`. The result is KCL source, which is the
canonical artifact; files the server attaches (e.g. STEP) are kept too. The SDK's websocket is
synchronous, so the session runs in a thread with a receive timeout and an overall deadline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
import time
from typing import Any, Final

from ..errors import (
    CreditsExhaustedError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from .base import Kind, ProducedFile, Progress, VariantRequest, VariantResult

NAME: Final = "zoo"
_BILLING_CODES: Final = frozenset(
    {
        "missing_payment_method",
        "payment_method_failed",
        "billing_threshold_reached",
        "pay_as_you_go_disabled",
    }
)
_FILE_FORMATS: Final = {
    "step": "step",
    "stp": "step",
    "stl": "stl",
    "glb": "glb",
    "gltf": "gltf",
    "obj": "obj",
    "kcl": "kcl",
}


@dataclass(frozen=True, slots=True)
class ZooOptions:
    """Token, endpoint (the SDK default unless overridden, like ZOO_HOST) and limits."""

    token: str | None
    base_url: str = "https://api.zoo.dev"
    recv_timeout: float = 60.0
    deadline: float = 600.0
    estimated_cost_usd: float = 0.5  # $0.50 per API minute after the free minutes (unpublished now)


@dataclass(slots=True)
class _Session:
    conversation_id: str | None = None
    kcl: dict[str, str] | None = None
    files: list[tuple[str, bytes]] | None = None
    deltas: str = ""
    whole_response: str | None = None
    api_call_id: str | None = None


class ZooTextToCad:
    """Zookeeper text-to-CAD; one websocket session per request."""

    name = NAME
    kind: Kind = "parametric"
    cloud = True

    def __init__(self, options: ZooOptions) -> None:
        """Keep the options; nothing connects before generate()."""
        self.options = options
        self.estimated_cost_usd = options.estimated_cost_usd

    def unavailable(self, request: VariantRequest) -> str | None:
        """Needs an API token and a prompt."""
        if not self.options.token:
            return "Zoo has no API token (option zoo_api_token)"
        return None if request.prompt.strip() else "no prompt"

    def _client(self) -> Any:
        from kittycad import KittyCAD

        return KittyCAD(
            token=self.options.token or "",
            base_url=self.options.base_url.rstrip("/"),
            websocket_recv_timeout=self.options.recv_timeout,
        )

    def _run(self, request: VariantRequest) -> _Session:
        """The blocking websocket conversation (runs in a thread)."""
        from kittycad.models.ml_copilot_client_message import MlCopilotClientMessage, OptionUser
        from kittycad.models.ml_copilot_server_message import (
            AccessDenied,
            ConversationId,
            Delta,
            EndOfStream,
            Error,
            Files,
            SessionData,
            ToolOutput,
        )
        from kittycad.models.ml_tool_result import OptionEditKclCode, OptionTextToCad
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        parent = request.parent or {}
        parent_extra = parent.get("extra") or {}
        conversation = parent_extra.get("zoo_conversation_id")
        user: dict[str, Any] = {
            "content": request.prompt,
            "project_name": f"jarvis-{request.job_id[:8]}",
        }
        if parent_extra.get("kcl"):
            user["forced_tools"] = ["edit_kcl_code"]
            user["current_files"] = {"main.kcl": str(parent_extra["kcl"]).encode()}
        else:
            user["forced_tools"] = ["text_to_cad"]
        session = _Session()
        deadline = time.monotonic() + self.options.deadline
        try:
            ws = self._client().ml.ml_copilot_ws(conversation_id=conversation)
        except InvalidStatus as err:
            status = err.response.status_code
            if status in (401, 403):
                raise ProviderError(NAME, f"the API token was rejected (HTTP {status})") from None
            if status == 402:
                raise CreditsExhaustedError(NAME, "no API credits left (HTTP 402)") from None
            raise ProviderError(
                NAME, f"the copilot websocket was refused (HTTP {status})"
            ) from None
        except (OSError, TimeoutError) as err:
            raise ProviderError(NAME, f"cannot reach {self.options.base_url}: {err}") from None
        with ws:
            message = MlCopilotClientMessage(OptionUser(**user))
            if "current_files" in user:
                ws.send_binary(
                    message
                )  # file bytes: the SDK's JSON send cannot encode them, BSON can
            else:
                ws.send(message)
            while True:
                if time.monotonic() > deadline:
                    raise ProviderTimeoutError(
                        NAME, f"no result within {self.options.deadline:g} s"
                    )
                try:
                    message = ws.recv().root
                except TimeoutError:
                    raise ProviderTimeoutError(
                        NAME, f"no message for {self.options.recv_timeout:g} s"
                    ) from None
                except ConnectionClosed as err:
                    raise ProviderError(
                        NAME, f"the websocket closed before the end of the answer ({err})"
                    ) from None
                if isinstance(message, SessionData):
                    session.api_call_id = message.api_call_id
                elif isinstance(message, ConversationId):
                    session.conversation_id = message.conversation_id
                elif isinstance(message, Delta):
                    session.deltas += message.delta
                elif isinstance(message, AccessDenied):
                    cls = (
                        CreditsExhaustedError
                        if str(message.code) in _BILLING_CODES
                        else ProviderError
                    )
                    raise cls(NAME, f"access denied ({message.code}): {message.detail}")
                elif isinstance(message, Error):
                    raise ProviderError(NAME, message.detail)
                elif isinstance(message, ToolOutput):
                    result = message.result.root
                    if isinstance(result, OptionTextToCad | OptionEditKclCode):
                        if result.error or result.status_code >= 400:
                            raise ProviderError(
                                NAME,
                                f"text-to-CAD failed (status {result.status_code}): {result.error or 'no detail'}",
                            )
                        session.kcl = dict(result.outputs or {})
                elif isinstance(message, Files):
                    session.files = (session.files or []) + [
                        (f.name, bytes(f.data)) for f in message.files
                    ]
                elif isinstance(message, EndOfStream):
                    session.whole_response = message.whole_response
                    session.conversation_id = session.conversation_id or message.conversation_id
                    return session

    async def generate(self, request: VariantRequest, progress: Progress) -> VariantResult:
        """Run the session in a thread; save the KCL (canonical) and any files."""
        if (reason := self.unavailable(request)) is not None:
            raise ProviderUnavailableError(NAME, reason)
        await progress(0.1, "asking Zoo (text-to-CAD)", None)
        session = await asyncio.to_thread(self._run, request)
        if not session.kcl:
            raise ProviderError(NAME, "the answer ended without KCL code")
        out: list[ProducedFile] = []
        request.out_dir.mkdir(parents=True, exist_ok=True)
        main_name = "main.kcl" if "main.kcl" in session.kcl else min(session.kcl)
        for name, source in sorted(session.kcl.items()):
            path = request.out_dir / f"v{request.variant}-zoo-{Path(name).name}"
            path.write_text(source, encoding="utf-8")
            lines = len(source.splitlines())
            out.append(
                ProducedFile(
                    path,
                    "kcl",
                    Path(name).stem,
                    {"kind": "kcl", "ok": bool(source.strip()), "lines": lines},
                )
            )
        for name, data in session.files or []:
            fmt = _FILE_FORMATS.get(Path(name).suffix.lstrip(".").lower())
            if fmt is None or fmt == "kcl":
                continue
            path = request.out_dir / f"v{request.variant}-zoo-{Path(name).name}"
            path.write_bytes(data)
            out.append(ProducedFile(path, fmt, Path(name).stem, {}))
        return VariantResult(
            provider=NAME,
            files=out,
            model="zookeeper text_to_cad",
            model_version=None,
            params={
                "forced_tool": "edit_kcl_code"
                if (request.parent or {}).get("extra", {}).get("kcl")
                else "text_to_cad"
            },
            cost_usd=self.estimated_cost_usd,
            extra={
                "zoo_conversation_id": session.conversation_id,
                "zoo_api_call_id": session.api_call_id,
                "kcl": session.kcl.get(main_name, ""),
                "response": (session.whole_response or session.deltas)[:2000],
            },
        )
