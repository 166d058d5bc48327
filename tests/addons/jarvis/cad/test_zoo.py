"""Zoo through the official kittycad SDK's copilot websocket, against a loopback Zookeeper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jarvis_addon.cad.errors import (
    CreditsExhaustedError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from jarvis_addon.cad.providers.base import VariantRequest
from jarvis_addon.cad.providers.zoo import ZooOptions, ZooTextToCad
from tests.support.fake_cad.zoo import KCL, FakeZoo
from tests.support.mosquitto import free_port

from .conftest import zoo_provider

PROMPT = "make me a wall bracket for a 40 mm pipe, 3 mm thick"


def request(tmp_path: Path, **kw: Any) -> VariantRequest:
    return VariantRequest(
        **{"job_id": "0123456789abcdef", "variant": 1, "prompt": PROMPT, "out_dir": tmp_path, **kw}
    )


async def test_text_to_cad_returns_kcl_and_files(
    fake_zoo: FakeZoo, tmp_path: Path, progress_log: Any
) -> None:
    seen, progress = progress_log
    result = await zoo_provider(fake_zoo).generate(request(tmp_path), progress)
    assert fake_zoo.headers[0]["Authorization"] == "Bearer zoo-test-token"
    user = fake_zoo.received[0]
    assert (
        user["type"] == "user"
        and user["content"] == PROMPT
        and user["forced_tools"] == ["text_to_cad"]
    )
    kcl = next(f for f in result.files if f.fmt == "kcl")
    assert kcl.path.read_text() == KCL and kcl.validation["ok"] is True
    step = next(f for f in result.files if f.fmt == "step")
    assert step.path.read_text().startswith("ISO-10303-21;")
    assert result.provider == "zoo" and result.extra["kcl"] == KCL
    assert result.extra["zoo_conversation_id"] and result.extra["zoo_api_call_id"]
    assert seen and seen[0][1] == "asking Zoo (text-to-CAD)"


async def test_iteration_edits_the_parent_kcl_in_the_same_conversation(
    fake_zoo: FakeZoo, tmp_path: Path, progress_log: Any
) -> None:
    _, progress = progress_log
    parent = {"id": "p1", "extra": {"kcl": KCL, "zoo_conversation_id": "conv-42"}}
    result = await zoo_provider(fake_zoo).generate(
        request(tmp_path, parent=parent, prompt="make it 5 mm thick"), progress
    )
    assert fake_zoo.queries[0]["conversation_id"] == "conv-42"
    user = fake_zoo.received[0]
    assert (
        user["forced_tools"] == ["edit_kcl_code"]
        and user["current_files"]["main.kcl"] == KCL.encode()
    )
    assert (
        "thickness = 5" in result.extra["kcl"] and result.extra["zoo_conversation_id"] == "conv-42"
    )


@pytest.mark.parametrize(
    ("mode", "error", "fragment"),
    [
        ("error", ProviderError, "zoo: Internal error in text-to-CAD"),
        ("tool_error", ProviderError, "text-to-CAD failed (status 422)"),
        ("access_denied", CreditsExhaustedError, "access denied (pay_as_you_go_disabled)"),
        ("close", ProviderError, "closed before the end"),
        ("http_401", ProviderError, "token was rejected (HTTP 401)"),
    ],
)
async def test_provider_errors_are_typed(
    fake_zoo: FakeZoo,
    tmp_path: Path,
    progress_log: Any,
    *,
    mode: str,
    error: type[Exception],
    fragment: str,
) -> None:
    fake_zoo.mode = mode
    with pytest.raises(error) as err:
        await zoo_provider(fake_zoo).generate(request(tmp_path), progress_log[1])
    assert fragment in str(err.value)


async def test_silence_times_out(fake_zoo: FakeZoo, tmp_path: Path, progress_log: Any) -> None:
    fake_zoo.mode = "silent"
    with pytest.raises(ProviderTimeoutError, match=r"zoo: no message for 0.5 s"):
        await zoo_provider(fake_zoo, recv_timeout=0.5).generate(request(tmp_path), progress_log[1])


async def test_unreachable_and_unconfigured(tmp_path: Path, progress_log: Any) -> None:
    provider = ZooTextToCad(
        ZooOptions(
            token="zoo-test-token", base_url=f"http://127.0.0.1:{free_port()}", recv_timeout=2
        )
    )
    with pytest.raises(ProviderError, match="cannot reach"):
        await provider.generate(request(tmp_path), progress_log[1])
    bare = ZooTextToCad(ZooOptions(token=None))
    assert bare.unavailable(request(tmp_path)) == "Zoo has no API token (option zoo_api_token)"
    with pytest.raises(ProviderUnavailableError):
        await bare.generate(request(tmp_path), progress_log[1])
