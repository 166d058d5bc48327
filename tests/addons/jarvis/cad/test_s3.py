"""S3-compatible artifact storage: the real MinIO SDK against a real S3 server on loopback (moto).

A CAD job stores its files in the bucket end to end (service, lineage, HTTP download); each S3
failure (bucket missing, bad credentials, endpoint down, timeout) is a typed error, and a job
whose upload fails keeps its files locally with the reason in the lineage row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import hashlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import socket
import sqlite3
import threading
from typing import Any
import uuid

from aiohttp import ClientPayloadError
from aiohttp.test_utils import TestClient, TestServer
import pytest
import pytest_asyncio

from jarvis_addon.cad import config as cad_config
from jarvis_addon.cad.s3 import (
    S3AuthError,
    S3BucketMissingError,
    S3ConfigError,
    S3ObjectMissingError,
    S3Options,
    S3Storage,
    S3StorageError,
    S3TimeoutError,
    S3UnreachableError,
    options_from,
)
from jarvis_addon.cad.service import CadService
from jarvis_addon.cad.store import DB_NAME, ArtifactStore, NewArtifact
from jarvis_addon.cad.worker_client import CadWorker
from jarvis_addon.settings import OptionsError, Settings
from jarvis_addon.web import ApiState, create_app
from tests.addons.jarvis.test_web import TOKEN, BridgeStatus, bearer
from tests.support.mosquitto import free_port
from tests.support.s3_server import S3Server, start_s3_server

pytestmark = pytest.mark.timeout(120)
SPACER = {"prompt": "spacer 12 mm outer diameter, 5 mm inner, 8 mm tall", "conversation_id": "c-s3"}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.make_bucket(f"cad-{uuid.uuid4().hex[:12]}")


def opts(s3: S3Server, bucket: str, **kw: Any) -> S3Options:
    return S3Options(
        **{
            "endpoint_url": s3.url,
            "bucket": bucket,
            "access_key": s3.access_key,
            "secret_key": s3.secret_key,
            **kw,
        }
    )


class Silent:
    """A loopback TCP server that accepts connections and never answers (a hung S3 endpoint)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


@pytest_asyncio.fixture
async def make_service(tmp_path: Path, cad_worker: CadWorker) -> AsyncIterator[Any]:
    """Factory: the add-on's own config path (`cad` options → load → build_service), offline."""
    services: list[CadService] = []

    def make(options: dict[str, Any], remote: S3Storage | None = None) -> CadService:
        cfg = cad_config.load(
            {"dir": str(tmp_path / f"cad{len(services)}"), "offline": True, **options}, tmp_path, {}
        )
        service = cad_config.build_service(cfg, None, worker=cad_worker)
        if remote is not None:  # options cannot set a sub-second timeout; tests of it need one
            service.store.remote = remote
        service.start()
        services.append(service)
        return service

    yield make
    for service in services:
        await service.stop()
        service.store.close()


def s3_options(s3: S3Server, bucket: str, **kw: Any) -> dict[str, Any]:
    return {
        "s3_endpoint_url": s3.url,
        "s3_bucket": bucket,
        "s3_access_key": s3.access_key,
        "s3_secret_key": s3.secret_key,
        **kw,
    }


# -- options --------------------------------------------------------------------------------------


def test_options_resolve(s3: S3Server) -> None:
    got = options_from(
        {
            "s3_endpoint_url": "https://minio.lan:9000/",
            "s3_bucket": "jarvis",
            "s3_access_key": "ak",
            "s3_secret_key": "sk",
            "s3_prefix": "/shop/cad/",
            "s3_verify_tls": False,
        }
    )
    assert got is not None
    assert got.endpoint_url == "https://minio.lan:9000" and got.prefix == "shop/cad/"
    assert got.region == "us-east-1" and got.verify_tls is False
    assert "sk" not in repr(got) and "ak" not in repr(got)
    assert options_from({}) is None
    cfg = cad_config.load({"s3_endpoint_url": s3.url, "s3_bucket": "b-1"}, Path("/tmp"), {})
    assert cfg.s3 is not None and cfg.s3.access_key is None and cfg.s3.prefix == ""


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"s3_bucket": "b"}, ["cad.s3_bucket given without cad.s3_endpoint_url"]),
        ({"s3_endpoint_url": "http://127.0.0.1:9000"}, ["cad.s3_bucket is required"]),
        (
            {"s3_endpoint_url": "ftp://minio:21", "s3_bucket": "Bad_Bucket"},
            ["must be http://host[:port]", "'Bad_Bucket' is not a valid bucket name"],
        ),
        (
            {"s3_endpoint_url": "http://minio:9000/jarvis", "s3_bucket": "jarvis"},
            ["must have no path"],
        ),
        (
            {"s3_endpoint_url": "http://minio:99999", "s3_bucket": "jarvis"},
            ["invalid port"],
        ),
        (
            {"s3_endpoint_url": "http://m:9000", "s3_bucket": "ab", "s3_access_key": "k"},
            ["not a valid bucket name", "set both or neither"],
        ),
        (
            {"s3_endpoint_url": "http://m:9000", "s3_bucket": "jarvis", "s3_prefix": "a/../b"},
            ["must be a plain folder path"],
        ),
    ],
)
def test_bad_s3_options_are_named(options: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(S3ConfigError) as err:
        options_from(options)
    assert err.value.code == "s3_invalid_options"
    for fragment in fragments:
        assert fragment in str(err.value)
    assert len(err.value.problems) == len(fragments)


def test_s3_option_types_are_checked_by_the_schema() -> None:
    with pytest.raises(OptionsError) as err:
        Settings.from_options(
            {"mqtt_host": "h", "cad": {"s3_verify_tls": "maybe", "s3_endpoint_url": "not a url"}}
        )
    assert "cad.s3_verify_tls" in str(err.value) and "cad.s3_endpoint_url" in str(err.value)
    settings = Settings.from_options({"mqtt_host": "h", "cad": {"s3_secret_key": "hush"}})
    assert "hush" not in repr(settings)


def test_bad_s3_options_disable_cad_not_the_worker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from jarvis_addon.app import _make_cad
    from jarvis_addon.mqtt import MqttBridge

    async def resolve() -> object:
        raise AssertionError

    settings = Settings.from_options(
        {"mqtt_host": "h", "cad": {"dir": str(tmp_path), "s3_endpoint_url": "http://127.0.0.1:9"}}
    )
    assert _make_cad(settings, tmp_path, MqttBridge(resolve), {}) is None  # type: ignore[arg-type]
    assert "CAD disabled: invalid S3 options: cad.s3_bucket is required" in caplog.text


# -- the client's errors ----------------------------------------------------------------------------


def test_put_open_and_check(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    storage = S3Storage(opts(s3, bucket, prefix="shop/"))
    storage.check()
    src = tmp_path / "part.stl"
    src.write_bytes(b"solid x\nendsolid x\n" * 5000)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    key = storage.key("job1", "part.stl")
    assert key == "shop/job1/part.stl"
    assert storage.put(key, str(src), sha256=digest, content_type="model/stl")
    body, meta = s3.read(bucket, key)
    assert body == src.read_bytes() and meta == {"sha256": digest}
    assert b"".join(storage.open(key)) == body
    storage.delete(key)
    with pytest.raises(S3ObjectMissingError, match=r"'shop/job1/part\.stl' is gone from"):
        storage.open(key)


def test_bucket_missing(s3: S3Server, tmp_path: Path) -> None:
    storage = S3Storage(opts(s3, "no-such-bucket"))
    with pytest.raises(S3BucketMissingError, match="bucket 'no-such-bucket' does not exist at"):
        storage.check()
    src = tmp_path / "f.stl"
    src.write_bytes(b"x")
    with pytest.raises(S3BucketMissingError):
        storage.put("k", str(src), sha256="0", content_type="model/stl")


@pytest.mark.parametrize(
    ("access", "secret", "code"),
    [
        ("AKIAUNKNOWN000000000", "whatever", "InvalidAccessKeyId"),
        (None, "wrong", "SignatureDoesNotMatch"),
    ],
)
def test_bad_credentials(
    *, s3: S3Server, bucket: str, tmp_path: Path, access: str | None, secret: str, code: str
) -> None:
    storage = S3Storage(opts(s3, bucket, access_key=access or s3.access_key, secret_key=secret))
    src = tmp_path / "f.stl"
    src.write_bytes(b"x")
    with pytest.raises(S3AuthError) as err:
        storage.put("k", str(src), sha256="0", content_type="model/stl")
    assert err.value.code == "s3_auth" and code in str(err.value)
    assert "cad.s3_secret_key" in str(err.value) and secret not in str(err.value)


def test_endpoint_down(tmp_path: Path) -> None:
    port = free_port()
    storage = S3Storage(S3Options(f"http://127.0.0.1:{port}", "jarvis", "a", "b", timeout=2))
    with pytest.raises(S3UnreachableError, match=f"cannot reach S3 at http://127.0.0.1:{port}"):
        storage.check()


def test_timeout(silent: Silent, tmp_path: Path) -> None:
    storage = S3Storage(
        S3Options(f"http://127.0.0.1:{silent.port}", "jarvis", "a", "b", timeout=0.5)
    )
    src = tmp_path / "f.stl"
    src.write_bytes(b"x")
    with pytest.raises(S3TimeoutError, match=r"did not answer within 0\.5 s while uploading k"):
        storage.put("k", str(src), sha256="0", content_type="model/stl")


def test_a_busy_endpoint_is_retried_once_then_named(tmp_path: Path) -> None:
    """A server that answers 503 SlowDown (S3's XML error) to every upload: one retry, then s3_error."""
    seen: list[str] = []

    class Busy(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            seen.append(self.command)
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                b"<Message>Please reduce your request rate.</Message><Resource>/b/k</Resource>"
                b"<RequestId>r1</RequestId><HostId>h1</HostId></Error>"
            )
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        storage = S3Storage(
            S3Options(f"http://127.0.0.1:{server.server_address[1]}", "jarvis", "a", "b", timeout=2)
        )
        src = tmp_path / "f.stl"
        src.write_bytes(b"x")
        with pytest.raises(S3StorageError) as err:
            storage.put("k", str(src), sha256="0", content_type="model/stl")
        assert type(err.value) is S3StorageError and err.value.code == "s3_error"
        assert "SlowDown: Please reduce your request rate." in str(err.value)
        assert seen == ["PUT", "PUT"]
    finally:
        server.shutdown()
        server.server_close()


# -- jobs -----------------------------------------------------------------------------------------


async def test_job_stores_in_s3_end_to_end(s3: S3Server, bucket: str, make_service: Any) -> None:
    service: CadService = make_service(s3_options(s3, bucket, s3_prefix="jarvis/cad"))
    state = ApiState(api_token=TOKEN, mqtt=BridgeStatus(), cad=service)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(state), host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.post("/api/v1/cad/jobs?wait=60", json=SPACER, headers=bearer())
        job = await resp.json()
        assert resp.status == 200 and job["status"] == "succeeded", job
        assert {a["format"] for a in job["artifacts"]} == {"step", "stl"}
        for art in job["artifacts"]:
            key = f"jarvis/cad/{job['job_id']}/{art['id']}.{art['format']}"
            assert art["storage"] == "s3" and art["storage_error"] is None
            assert art["path"] == f"s3://{bucket}/{key}"
            body, meta = s3.read(bucket, key)
            assert hashlib.sha256(body).hexdigest() == art["sha256"] == meta["sha256"]
            assert len(body) == art["bytes"]
            row = service.store.artifact(art["id"])
            assert row is not None and row["object_key"] == key
            # Only the bucket has the file now.
            assert not (
                service.store.root / job["job_id"] / f"{art['id']}.{art['format']}"
            ).exists()
            resp = await client.get(art["url"], headers=bearer())
            assert resp.status == 200 and await resp.read() == body
        step = next(a for a in job["artifacts"] if a["format"] == "step")
        resp = await client.get(step["url"], headers=bearer())
        assert resp.headers["Content-Type"] == "model/step"
        assert (await resp.read()).startswith(b"ISO-10303-21;")
        assert step["validation"]["valid_solid"] is True  # validated locally before the upload

        # An object changed behind Jarvis's back is not served whole.
        stl = next(a for a in job["artifacts"] if a["format"] == "stl")
        key = f"jarvis/cad/{job['job_id']}/{stl['id']}.stl"
        s3.client().put_object(Bucket=bucket, Key=key, Body=b"x" * stl["bytes"])
        resp = await client.get(stl["url"], headers=bearer())
        with pytest.raises(ClientPayloadError):
            await resp.read()
        # Gone from the bucket: 404 naming the object.
        s3.client().delete_object(Bucket=bucket, Key=key)
        resp = await client.get(stl["url"], headers=bearer())
        assert resp.status == 404
        assert (await resp.json())["error"] == "s3_object_missing"
        # The endpoint down: 502 with the reason.
        assert service.store.remote is not None
        service.store.remote = S3Storage(
            S3Options(f"http://127.0.0.1:{free_port()}", bucket, "a", "b", timeout=2)
        )
        resp = await client.get(step["url"], headers=bearer())
        assert resp.status == 502
        assert (await resp.json())["error"] == "s3_unreachable"
        service.store.remote = None
        resp = await client.get(step["url"], headers=bearer())
        assert resp.status == 503 and (await resp.json())["error"] == "s3_not_configured"
    finally:
        await client.close()


@pytest.mark.parametrize(
    "failure", ["bucket_missing", "bad_credentials", "endpoint_down", "timeout"]
)
async def test_a_failing_s3_keeps_the_files_local(
    s3: S3Server, bucket: str, silent: Silent, make_service: Any, failure: str
) -> None:
    remote: S3Storage | None = None
    options = s3_options(s3, bucket)
    code = {
        "bucket_missing": "s3_bucket_missing",
        "bad_credentials": "s3_auth",
        "endpoint_down": "s3_unreachable",
        "timeout": "s3_timeout",
    }[failure]
    if failure == "bucket_missing":
        options["s3_bucket"] = "not-created"
    elif failure == "bad_credentials":
        options["s3_secret_key"] = "wrong"
    elif failure == "endpoint_down":
        options["s3_endpoint_url"] = f"http://127.0.0.1:{free_port()}"
    else:
        remote = S3Storage(
            S3Options(f"http://127.0.0.1:{silent.port}", bucket, "a", "b", timeout=0.5)
        )
    service: CadService = make_service(options, remote)
    job = await service.submit(SPACER)
    done = await service.wait(job["job_id"], 60)
    assert done is not None and done["status"] == "succeeded", done
    first, second = done["artifacts"]
    for art in (first, second):
        assert art["storage"] == "local" and Path(art["path"]).is_file()
        assert hashlib.sha256(Path(art["path"]).read_bytes()).hexdigest() == art["sha256"]
        assert art["storage_error"]["code"] == code
    # After one failure the rest of the job does not wait on S3 again.
    assert not first["storage_error"]["message"].startswith("not tried")
    assert second["storage_error"]["message"].startswith("not tried: S3 failed")
    assert s3.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


async def test_s3_is_tried_again_after_the_pause(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    """A failure pauses uploads for `s3_retry_after`; the next file after it goes to S3 again."""
    store = ArtifactStore(tmp_path, S3Storage(opts(s3, "not-created")), s3_retry_after=0.0)
    try:
        store.create_job("j", "p", {}, None, None)
        src = tmp_path / "a.stl"
        src.write_bytes(b"solid a\nendsolid a\n")
        local = store.add("j", 0, NewArtifact(source=src, fmt="stl", provider="t"))
        assert local["storage"] == "local" and local["storage_error"]["code"] == "s3_bucket_missing"
        store.remote = S3Storage(opts(s3, bucket))
        src.write_bytes(b"solid b\nendsolid b\n")
        remote = store.add("j", 0, NewArtifact(source=src, fmt="stl", provider="t"))
        assert remote["storage"] == "s3" and remote["storage_error"] is None
    finally:
        store.close()


def test_an_older_database_gains_the_storage_columns(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute(
        "CREATE TABLE artifacts (id TEXT PRIMARY KEY, job_id TEXT, variant INTEGER, body TEXT,"
        " created_at TEXT, conversation_id TEXT, ha_user TEXT, prompt TEXT, provider TEXT,"
        " model TEXT, model_version TEXT, params TEXT, parent_id TEXT, format TEXT, path TEXT,"
        " bytes INTEGER, content_hash TEXT, validation TEXT, extra TEXT)"
    )
    db.execute(
        "INSERT INTO artifacts VALUES ('a', 'j', 0, 'model', 't', NULL, NULL, 'p', 'cadquery',"
        " NULL, NULL, '{}', NULL, 'stl', '/x.stl', 1, 'h', '{}', '{}')"
    )
    db.commit()
    db.close()
    store = ArtifactStore(tmp_path)
    try:
        row = store.artifact("a")
        assert row is not None and row["storage"] == "local" and row["sha256"] is None
    finally:
        store.close()
