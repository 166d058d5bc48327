"""TripoSR's real loading and meshing code on a tiny random-weight checkpoint the test makes.

The checkpoint comes from `tests/support/triposr/tiny.py`, run in the TripoSR venv with the runner's
own modules; everything after that is the production path: the provider starts the runner
subprocess, which checks the sha256, reads the allow-listed config, loads the state dict with
`weights_only=True` and `strict=True`, runs the ViT, the triplane transformer and the upsampler,
queries the density grid and marches cubes; the service validates and stores the GLB (and its STL)
with lineage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
import dataclasses
import hashlib
import os
from pathlib import Path
import shutil
import subprocess
from typing import Any

from PIL import Image, ImageDraw
import pytest
import pytest_asyncio
import trimesh

from jarvis_addon.cad.errors import (
    ImageInvalidError,
    ProviderTimeoutError,
    WeightsInvalidError,
    WeightsMissingError,
    WeightsUnsafeError,
)
from jarvis_addon.cad.providers.base import Provider, VariantRequest
from jarvis_addon.cad.providers.tripo import TripoModel, TripoOptions
from jarvis_addon.cad.providers.triposr import DEV_PYTHON, TripoSRLocal, TripoSROptions
from jarvis_addon.cad.service import CadService
from jarvis_addon.cad.store import ArtifactStore

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[4]
PYTHON = Path(os.environ.get("JARVIS_TRIPOSR_PYTHON") or DEV_PYTHON)
RESOLUTION = 24


@dataclasses.dataclass(frozen=True)
class Tiny:
    weights: Path
    sha256: str
    image: Path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    assert os.access(PYTHON, os.X_OK), f"{PYTHON} missing: scripts/setup makes .venv-triposr"
    base = tmp_path_factory.mktemp("triposr")
    image = base / "object.png"
    img = Image.new("RGB", (64, 64), (205, 205, 205))
    ImageDraw.Draw(img).ellipse((16, 10, 48, 54), fill=(170, 40, 30))
    img.save(image)
    made = subprocess.run(
        [
            str(PYTHON),
            str(ROOT / "tests/support/triposr/tiny.py"),
            str(base / "w"),
            str(image),
            "--resolution",
            str(RESOLUTION),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    return Tiny(base / "w", made.stdout.strip().splitlines()[-1], image)


def provider(weights: Path | None, sha256: str | None, **kw: Any) -> TripoSRLocal:
    return TripoSRLocal(
        TripoSROptions(weights, sha256, PYTHON, resolution=RESOLUTION, **{"timeout": 240.0, **kw})
    )


async def _progress(fraction: float, note: str, state: Any) -> None:
    return None


def variant(tmp_path: Path, image: Path | None) -> VariantRequest:
    return VariantRequest("job", 0, "a figurine", tmp_path / "out", image=image)


ServiceFor = Callable[[TripoSRLocal], Awaitable[CadService]]


@pytest_asyncio.fixture
async def service_for(tmp_path: Path) -> AsyncIterator[ServiceFor]:
    """A started service with TripoSR and a Tripo without a key (so the cycler must skip it)."""
    made: list[CadService] = []

    async def make(triposr: TripoSRLocal) -> CadService:
        providers: dict[str, Provider] = {
            "tripo": TripoModel(TripoOptions(api_key=None)),
            "triposr": triposr,
        }
        service = CadService(ArtifactStore(tmp_path / f"store{len(made)}"), providers)
        service.start()
        made.append(service)
        return service

    yield make
    for service in made:
        await service.stop()
        service.store.close()


async def test_tiny_checkpoint_image_to_mesh_stored_with_lineage(
    tiny: Tiny, service_for: ServiceFor
) -> None:
    service = await service_for(provider(tiny.weights, tiny.sha256))
    job = await service.submit(
        {
            "prompt": "an organic figurine like this photo",
            "organic": True,
            "image": str(tiny.image),
            "conversation_id": "conv-triposr",
            "ha_user": "alice",
        }
    )
    done = await service.wait(job["job_id"], 240)
    assert done is not None and done["status"] == "succeeded", done
    assert done["error"]["skipped"]["tripo"] == "Tripo has no API key (option tripo_api_key)"
    assert done["variants"][0]["provider"] == "triposr"
    by_format = {a["format"]: a for a in done["artifacts"]}
    assert set(by_format) == {"glb", "stl"}
    glb = by_format["glb"]
    assert glb["provider"] == "triposr" and glb["model"] == "TripoSR"
    assert glb["model_version"] == f"sha256:{tiny.sha256[:16]}"
    assert glb["conversation_id"] == "conv-triposr"
    assert glb["params"] == {"resolution": RESOLUTION, "threshold": 25.0}
    assert glb["extra"]["weights_sha256"] == tiny.sha256
    assert "no rembg" in glb["extra"]["background"]
    assert glb["extra"]["versions"]["torch"] == "2.13.0+cpu"
    assert glb["extra"]["versions"]["transformers"].startswith("4.")
    stats = glb["extra"]["runner_stats"]
    assert 0.0 < stats["inside_fraction"] < 1.0 and stats["triangles"] > 100
    for artifact in (glb, by_format["stl"]):
        validation = artifact["validation"]
        assert validation["watertight"] is True and validation["volume"] > 0, validation
        path = Path(artifact["path"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == artifact["content_hash"]
        mesh = trimesh.load(str(path), force="mesh")
        assert mesh.is_watertight and len(mesh.faces) == validation["triangles"]
        # Inside the renderer's cube (radius 0.87, one padding cell of slack).
        assert abs(mesh.bounds).max() < 0.87 + 2 * 0.87 / (RESOLUTION - 1)
    stored = service.store.artifact(glb["id"])
    assert stored is not None and stored["prompt"] == "an organic figurine like this photo"
    assert stored["ha_user"] == "alice" and stored["job_id"] == job["job_id"]
    assert [a["id"] for a in service.store.lineage(glb["id"])] == [glb["id"]]


async def test_missing_weights_skip_triposr_with_the_reason(
    tmp_path: Path, tiny: Tiny, service_for: ServiceFor
) -> None:
    request = variant(tmp_path, tiny.image)
    assert provider(None, None).unavailable(request) == (
        "TripoSR has no weights configured (option triposr_weights)"
    )
    gone = tmp_path / "nowhere"
    assert provider(gone, "0" * 64).unavailable(request) == (
        f"TripoSR weights not found at {gone} (config.yaml + model.ckpt)"
    )
    assert provider(tiny.weights, None).unavailable(request) == (
        "TripoSR weights have no sha256 configured (option triposr_sha256)"
    )
    no_python = TripoSRLocal(TripoSROptions(tiny.weights, tiny.sha256, tmp_path / "python"))
    assert "scripts/setup makes .venv-triposr" in str(no_python.unavailable(request))
    assert provider(tiny.weights, tiny.sha256).unavailable(variant(tmp_path, None)) == (
        "TripoSR needs an image"
    )
    with pytest.raises(WeightsMissingError, match="not found"):
        await provider(gone, "0" * 64).generate(request, _progress)
    # In a job: skipped by the cycler with that reason; nothing else can run, so the job says so.
    service = await service_for(provider(gone, "0" * 64))
    job = await service.submit({"prompt": "a figurine", "organic": True, "image": str(tiny.image)})
    done = await service.wait(job["job_id"], 30)
    assert done is not None and done["status"] == "failed"
    assert done["error"]["code"] == "no_provider"
    assert done["error"]["skipped"]["triposr"] == (
        f"TripoSR weights not found at {gone} (config.yaml + model.ckpt)"
    )


async def test_sha256_mismatch_is_refused_before_loading(tmp_path: Path, tiny: Tiny) -> None:
    wrong = "ab" * 32
    with pytest.raises(WeightsInvalidError) as err:
        await provider(tiny.weights, wrong).generate(variant(tmp_path, tiny.image), _progress)
    assert err.value.code == "weights_invalid"
    assert str(err.value) == (
        f"triposr: sha256 of model.ckpt is {tiny.sha256}, not the configured {wrong}"
    )


async def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path, tiny: Tiny) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny.weights, broken)
    data = (broken / "model.ckpt").read_bytes()
    (broken / "model.ckpt").write_bytes(data[: len(data) // 2])  # a download cut short
    sha = hashlib.sha256((broken / "model.ckpt").read_bytes()).hexdigest()
    with pytest.raises(WeightsInvalidError) as err:
        await provider(broken, sha).generate(variant(tmp_path, tiny.image), _progress)
    assert err.value.code == "weights_invalid"
    assert str(err.value).startswith("triposr: cannot read the checkpoint model.ckpt: ")


async def test_pickled_code_in_the_checkpoint_is_refused_unrun(tmp_path: Path, tiny: Tiny) -> None:
    evil = tiny.weights / "evil.ckpt"
    sha = hashlib.sha256(evil.read_bytes()).hexdigest()  # right hash: torch.load is reached
    with pytest.raises(WeightsUnsafeError) as err:
        await provider(evil, sha).generate(variant(tmp_path, tiny.image), _progress)
    assert err.value.code == "weights_unsafe"
    assert (
        "the checkpoint holds more than tensors and was refused: Weights only load failed"
        in str(err.value)
    )
    assert not (tiny.weights / "pwned").exists()


async def test_class_names_outside_the_allow_list_are_refused(tmp_path: Path, tiny: Tiny) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(tiny.weights, edited)
    config = edited / "config.yaml"
    config.write_text(config.read_text().replace("tsr.models.network_utils.NeRFMLP", "os.system"))
    with pytest.raises(WeightsInvalidError) as err:
        await provider(edited, tiny.sha256).generate(variant(tmp_path, tiny.image), _progress)
    assert str(err.value) == (
        "triposr: config.yaml: decoder_cls must be tsr.models.network_utils.NeRFMLP, not 'os.system'"
    )


async def test_unreadable_image_is_a_clear_error(tmp_path: Path, tiny: Tiny) -> None:
    bad = tmp_path / "photo.png"
    bad.write_text("not a picture")
    with pytest.raises(ImageInvalidError) as err:
        await provider(tiny.weights, tiny.sha256).generate(variant(tmp_path, bad), _progress)
    assert err.value.code == "image_invalid"
    assert str(err.value).startswith("triposr: cannot read the image photo.png: ")


async def test_timeout_stops_the_runner(tmp_path: Path, tiny: Tiny) -> None:
    with pytest.raises(ProviderTimeoutError) as err:
        await provider(tiny.weights, tiny.sha256, timeout=0.5).generate(
            variant(tmp_path, tiny.image), _progress
        )
    assert str(err.value) == "triposr: the runner did not finish within 0.5 s and was stopped"
    assert not (tmp_path / "out" / "v0-triposr.glb").exists()
