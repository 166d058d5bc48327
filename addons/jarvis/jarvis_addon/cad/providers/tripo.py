"""Tripo (tripo3d.ai) apiv3 through the official `tripo3d` SDK: text/image to a textured mesh.

Billing rules this module keeps: a task is created once per variant (the SDK never retries a
create, and neither do we: a resumed attempt polls the task id it already has), the balance is
checked before creating, polling backs off from `poll_initial` doubling to 30 s, and the signed
result URL is downloaded straight away (the SDK sends no API key with it) and hashed.
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

NAME: Final = "tripo"
CREDITS_PER_USD: Final = 100.0
CODE_NO_CREDITS: Final = 2010
CODE_TOO_MANY_TASKS: Final = 2000
CODE_CONTENT_POLICY: Final = 2008
POLL_CAP: Final = 30.0


@dataclass(frozen=True, slots=True)
class TripoOptions:
    """API key (tsk_...), endpoint, model version and limits."""

    api_key: str | None
    base_url: str = "https://openapi.tripo3d.ai"
    model_version: str = "v2.5-20250123"
    poll_initial: float = 2.0
    deadline: float = 600.0
    credits_text: float = 10.0  # untextured text-to-model (docs.tripo3d.ai, re-check)
    credits_image: float = 20.0


class TripoModel:
    """Text- or image-to-model on Tripo apiv3."""

    name = NAME
    kind: Kind = "organic"
    cloud = True

    def __init__(self, options: TripoOptions) -> None:
        """Keep the options; the SDK client is made per request (it owns an HTTP session)."""
        self.options = options
        self.estimated_cost_usd = options.credits_text / CREDITS_PER_USD

    def unavailable(self, request: VariantRequest) -> str | None:
        """Needs a key that looks like one."""
        key = self.options.api_key
        if not key:
            return "Tripo has no API key (option tripo_api_key)"
        if not key.startswith("tsk_"):
            return "the Tripo API key must start with tsk_"
        return None

    def _client(self) -> Any:
        from tripo3d import TripoClient

        return TripoClient(api_key=self.options.api_key, v3_base_url=self.options.base_url)

    @staticmethod
    def _api_error(err: Exception) -> ProviderError:
        from tripo3d import TripoAPIError, TripoRequestError

        if isinstance(err, TripoAPIError):
            if err.code == CODE_NO_CREDITS:
                return CreditsExhaustedError(NAME, f"out of credits ({err.message})")
            if err.code == CODE_CONTENT_POLICY:
                return ProviderError(
                    NAME, f"the prompt was refused by the content policy ({err.message})"
                )
            if err.code == CODE_TOO_MANY_TASKS:
                return ProviderError(NAME, f"too many concurrent tasks ({err.message})")
            return ProviderError(NAME, f"API error {err.code}: {err.message}")
        if isinstance(err, TripoRequestError):
            if err.status_code == 0 and "timeout" in str(err.message).lower():
                return ProviderTimeoutError(NAME, str(err.message))
            return ProviderError(NAME, f"HTTP {err.status_code}: {str(err.message)[:300]}")
        if isinstance(err, TimeoutError):
            return ProviderTimeoutError(NAME, "the API did not answer in time")
        return ProviderError(NAME, f"{type(err).__name__}: {err}")

    async def generate(self, request: VariantRequest, progress: Progress) -> VariantResult:
        """Create (once), poll with backoff, download the GLB, validate it in the caller."""
        from tripo3d import TripoError

        if (reason := self.unavailable(request)) is not None:
            raise ProviderUnavailableError(NAME, reason)
        client = self._client()
        try:
            task_id = (request.resume or {}).get("tripo_task_id")
            needed = self.options.credits_image if request.image else self.options.credits_text
            if not task_id:
                balance = await client.get_balance()
                if balance.balance - balance.frozen < needed:
                    raise CreditsExhaustedError(
                        NAME,
                        f"balance {balance.balance:g} credits ({balance.frozen:g} frozen) is below the {needed:g} this needs",
                    )
                if request.image is not None:
                    task_id = await client.image_to_model(
                        str(request.image),
                        model_version=self.options.model_version,
                        texture=False,
                        pbr=False,
                    )
                else:
                    task_id = await client.text_to_model(
                        request.prompt,
                        model_version=self.options.model_version,
                        texture=False,
                        pbr=False,
                    )
                # Recorded before polling: a retry resumes this billed task instead of creating another.
                await progress(0.1, "Tripo task created", {"tripo_task_id": task_id})
            task = await self._wait(client, str(task_id), progress)
            out_dir = request.out_dir
            out_dir.mkdir(parents=True, exist_ok=True)
            url = task.output.model_url or task.output.model
            if not url:
                raise ProviderError(NAME, f"task {task_id} succeeded without a model URL")
            glb = out_dir / f"v{request.variant}-tripo-{task_id}.glb"
            await client.download_file(url, glb)
        except TripoError as err:
            raise self._api_error(err) from None
        except TimeoutError as err:
            raise self._api_error(err) from None
        finally:
            await client.close()
        consumed = getattr(task, "credits_consumed", None)
        return VariantResult(
            provider=NAME,
            files=[ProducedFile(glb, "glb", "mesh", {})],
            model="image_to_model" if request.image else "text_to_model",
            model_version=self.options.model_version,
            params={"texture": False, "pbr": False},
            cost_usd=(float(consumed) if consumed else needed) / CREDITS_PER_USD,
            extra={"tripo_task_id": task_id, "credits_consumed": consumed},
        )

    async def _wait(self, client: Any, task_id: str, progress: Progress) -> Any:
        from tripo3d import TaskStatus

        start = time.monotonic()
        interval = max(self.options.poll_initial, 0.05)
        while True:
            task = await client.get_task(task_id)
            status = task.status
            if status == TaskStatus.SUCCESS:
                return task
            if status.is_terminal():
                detail = (
                    getattr(task, "error_msg", None)
                    or getattr(task, "error_code", None)
                    or status.value
                )
                raise ProviderError(NAME, f"task {task_id} ended {status.value}: {detail}")
            pct = max(0.0, min(float(task.progress or 0), 100.0))
            await progress(0.1 + 0.8 * pct / 100, f"Tripo {status.value} {pct:.0f}%", None)
            left = self.options.deadline - (time.monotonic() - start)
            if left <= 0:
                raise ProviderTimeoutError(
                    NAME,
                    f"task {task_id} not finished after {self.options.deadline:g} s (kept; not re-created)",
                )
            await asyncio.sleep(min(interval, left))
            interval = min(interval * 2, POLL_CAP)


def mesh_outputs(glb: Path) -> Path:
    """A printable STL next to the GLB (trimesh, local; Tripo's own conversion costs credits)."""
    import trimesh

    mesh = trimesh.load(str(glb), force="mesh")
    stl = glb.with_suffix(".stl")
    mesh.export(str(stl))  # type: ignore[no-untyped-call]
    return stl
