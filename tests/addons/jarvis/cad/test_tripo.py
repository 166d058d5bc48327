"""Tripo v3 through the official tripo3d SDK, against a loopback apiv3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
import pytest
import trimesh

from jarvis_addon.cad.errors import CreditsExhaustedError, ProviderError, ProviderTimeoutError
from jarvis_addon.cad.providers.base import VariantRequest
from jarvis_addon.cad.providers.tripo import TripoModel, TripoOptions
from tests.support.fake_cad.tripo import FakeTripo

from .conftest import tripo_provider


def request(tmp_path: Path, **kw: Any) -> VariantRequest:
    return VariantRequest(
        job_id="j1",
        variant=2,
        prompt="an organic pipe hanger shaped like a vine",
        out_dir=tmp_path,
        **kw,
    )


async def test_text_to_model_polls_and_downloads_without_the_key(
    fake_tripo: FakeTripo, tmp_path: Path, progress_log: Any
) -> None:
    seen, progress = progress_log
    result = await tripo_provider(fake_tripo).generate(request(tmp_path), progress)
    assert len(fake_tripo.creates) == 1
    create = fake_tripo.creates[0]
    assert create["kind"] == "text-to-model" and create["body"]["model"] == "v2.5-20250123"
    assert create["body"]["prompt"].startswith("an organic pipe hanger")
    glb = result.files[0]
    assert glb.fmt == "glb" and trimesh.load(str(glb.path), force="mesh").is_watertight
    assert fake_tripo.download_auth == [None]  # the signed URL gets no API key
    task_id = create["task_id"]
    assert result.extra["tripo_task_id"] == task_id and result.cost_usd == pytest.approx(0.10)
    assert (
        0.1,
        "Tripo task created",
        {"tripo_task_id": task_id},
    ) in seen  # recorded before polling
    assert any(note.startswith("Tripo running") for _, note, _ in seen)


async def test_image_to_model_uploads_the_image(
    fake_tripo: FakeTripo, tmp_path: Path, progress_log: Any
) -> None:
    image = tmp_path / "sketch.png"
    Image.new("RGB", (64, 64), "white").save(image)
    result = await tripo_provider(fake_tripo).generate(
        request(tmp_path, image=image), progress_log[1]
    )
    assert fake_tripo.creates[0]["kind"] == "image-to-model"
    assert fake_tripo.creates[0]["body"]["input"].startswith("file_")
    assert result.model == "image_to_model"


async def test_low_balance_stops_before_billing(
    fake_tripo: FakeTripo, tmp_path: Path, progress_log: Any
) -> None:
    fake_tripo.balance = 5
    with pytest.raises(CreditsExhaustedError, match="tripo: balance 5 credits"):
        await tripo_provider(fake_tripo).generate(request(tmp_path), progress_log[1])
    assert fake_tripo.creates == []


async def test_credits_exhausted_on_create(
    fake_tripo: FakeTripo, tmp_path: Path, progress_log: Any
) -> None:
    fake_tripo.create_error = {
        "code": 2010,
        "message": "Insufficient credits",
        "suggestion": "top up",
        "request_id": "r1",
    }
    fake_tripo.create_status = 403
    with pytest.raises(CreditsExhaustedError, match="out of credits"):
        await tripo_provider(fake_tripo).generate(request(tmp_path), progress_log[1])


async def test_failed_task_and_timeouts_never_recreate(
    fake_tripo: FakeTripo, tmp_path: Path, progress_log: Any
) -> None:
    fake_tripo.final_status = "failed"
    with pytest.raises(ProviderError, match="ended failed"):
        await tripo_provider(fake_tripo).generate(request(tmp_path), progress_log[1])
    fake_tripo.final_status = "success"
    fake_tripo.never_finish = True
    _, progress = progress_log
    with pytest.raises(ProviderTimeoutError, match="not re-created"):
        await tripo_provider(fake_tripo, deadline=0.3).generate(request(tmp_path), progress)
    assert len(fake_tripo.creates) == 2
    task_id = fake_tripo.creates[-1]["task_id"]
    # A retry resumes the billed task: it polls, it does not create.
    fake_tripo.never_finish = False
    result = await tripo_provider(fake_tripo).generate(
        request(tmp_path, resume={"tripo_task_id": task_id}), progress
    )
    assert len(fake_tripo.creates) == 2 and result.extra["tripo_task_id"] == task_id


async def test_transient_poll_errors_are_retried_by_the_sdk(
    fake_tripo: FakeTripo, tmp_path: Path, progress_log: Any
) -> None:
    fake_tripo.poll_errors = [503, 429]
    result = await tripo_provider(fake_tripo).generate(request(tmp_path), progress_log[1])
    assert result.files and len(fake_tripo.creates) == 1


async def test_bad_key_and_auth_failure(
    fake_tripo: FakeTripo, tmp_path: Path, progress_log: Any
) -> None:
    assert (
        TripoModel(TripoOptions(api_key="sk-wrong")).unavailable(request(tmp_path))
        == "the Tripo API key must start with tsk_"
    )
    assert (
        TripoModel(TripoOptions(api_key=None)).unavailable(request(tmp_path))
        == "Tripo has no API key (option tripo_api_key)"
    )
    wrong = TripoModel(TripoOptions(api_key="tsk_wrong", base_url=fake_tripo.url))
    with pytest.raises(ProviderError, match="API error 1002: Authentication failed"):
        await wrong.generate(request(tmp_path), progress_log[1])
