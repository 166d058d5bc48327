"""The worker as a real process (`python -m jarvis_addon`) with real Mosquitto and a fake Supervisor."""

from __future__ import annotations

from collections.abc import Callable
import json
import signal
import socket
import stat
from typing import Any

import pytest

from tests.addons.fake_supervisor import FakeSupervisor
from tests.addons.mqtt_probe import StatusProbe, clear_retained
from tests.addons.worker_process import Worker, broker_options
from tests.support.mosquitto import Mosquitto, free_port

MakeWorker = Callable[..., Worker]
Probe = Callable[[Mosquitto], StatusProbe]
KEEPALIVE = 5  # the Worker helper passes --mqtt-keepalive 5


def connected(health: dict[str, Any]) -> bool:
    return health["mqtt"]["connected"] is True


def disconnected(health: dict[str, Any]) -> bool:
    return health["mqtt"]["connected"] is False


def supervisor_env(fake: FakeSupervisor) -> dict[str, str]:
    return {"SUPERVISOR_TOKEN": fake.token, "SUPERVISOR_URL": fake.url}


# -- running -------------------------------------------------------------------------------------


def test_worker_serves_health_and_goes_online(
    broker: Mosquitto, worker: MakeWorker, probe: Probe
) -> None:
    w = worker(broker_options(broker)).start()
    health = w.wait_health(connected)
    assert (
        health["app"] == "jarvis" and health["status"] == "ok" and health["authenticated"] is False
    )
    assert health["mqtt"] == {"connected": True, "reconnects": 0}
    # A subscriber that arrives later still learns the state: `online` is retained.
    assert probe(broker).wait_for("online") == ("online", True)
    # The generated token is private to the add-on and opens the authenticated API.
    assert stat.S_IMODE((w.data_dir / "api_token").stat().st_mode) == 0o600
    status, info = w.request("/api/v1/info", token=w.token)
    assert status == 200
    assert info["mqtt"]["host"] == broker.host and info["mqtt"]["port"] == broker.port
    assert info["mqtt"]["source"] == "options" and info["supervised"] is False
    assert w.request("/api/v1/health", token=w.token)[1]["authenticated"] is True


def test_kill_9_publishes_the_last_will_and_restart_goes_online_again(
    broker: Mosquitto, worker: MakeWorker, probe: Probe
) -> None:
    w = worker(broker_options(broker)).start()
    instance_id = w.wait_health(connected)["instance_id"]
    assert len(instance_id) == 32
    watcher = probe(broker)
    watcher.wait_for("online")
    token = w.token
    w.send(signal.SIGKILL)
    assert w.wait() == -signal.SIGKILL
    # The broker sends the will when the connection dies (here at once; at the latest after 1.5x keepalive).
    watcher.wait_for("offline", timeout=KEEPALIVE * 1.5)
    w.start()
    # Same data dir: the generated token and the instance id (the integration's unique id) are reused.
    assert w.wait_health(connected)["instance_id"] == instance_id
    watcher.wait_for("online")
    assert w.token == token
    assert w.request("/api/v1/info", token=token)[0] == 200


def test_sigterm_publishes_offline_and_exits_0(
    broker: Mosquitto, worker: MakeWorker, probe: Probe
) -> None:
    w = worker(broker_options(broker)).start()
    w.wait_health(connected)
    watcher = probe(broker)
    watcher.wait_for("online")
    w.send(signal.SIGTERM)
    assert w.wait() == 0
    # A clean DISCONNECT discards the will, so this `offline` is the worker's own publish.
    watcher.wait_for("offline")
    assert "published jarvis/status=offline" in w.log
    assert probe(broker).wait_for("offline") == ("offline", True)
    assert "Traceback" not in w.log


def test_sigint_is_a_graceful_stop_too(broker: Mosquitto, worker: MakeWorker) -> None:
    w = worker(broker_options(broker)).start()
    w.wait_health(connected)
    w.send(signal.SIGINT)
    assert w.wait() == 0
    assert "Stopped" in w.log


# -- broker outages ------------------------------------------------------------------------------


def test_broker_down_at_start(private_broker: Mosquitto, worker: MakeWorker, probe: Probe) -> None:
    w = worker(broker_options(private_broker)).start()
    health = w.wait_health(lambda h: disconnected(h) and h["mqtt"]["reconnects"] >= 1)
    assert health["status"] == "ok"
    private_broker.start()
    health = w.wait_health(connected)
    assert health["mqtt"]["reconnects"] >= 1
    assert probe(private_broker).wait_for("online") == ("online", True)
    assert "MQTT: cannot connect to" in w.log


def test_broker_restart_while_running(
    private_broker: Mosquitto, worker: MakeWorker, probe: Probe
) -> None:
    private_broker.start()
    w = worker(broker_options(private_broker)).start()
    before = w.wait_health(connected)["mqtt"]["reconnects"]
    # Drop the retained `online`: seeing it again after the restart proves the worker republished it.
    clear_retained(private_broker.host, private_broker.port)
    private_broker.stop()
    w.wait_health(disconnected)
    private_broker.start()
    after = w.wait_health(connected)
    assert after["mqtt"]["reconnects"] > before
    assert probe(private_broker).wait_for("online") == ("online", True)
    assert "MQTT: connection to" in w.log and "lost" in w.log


# -- under the Supervisor ------------------------------------------------------------------------


def test_supervisor_mode_credentials_and_discovery(
    broker: Mosquitto, fake_supervisor: FakeSupervisor, worker: MakeWorker, probe: Probe
) -> None:
    fake_supervisor.mqtt = {
        "host": broker.host,
        "port": broker.port,
        "username": "addons",
        "password": "pw-from-sv-123",
    }
    w = worker(
        {}, env=supervisor_env(fake_supervisor)
    ).start()  # empty options: everything from the Supervisor
    w.wait_health(connected)
    probe(broker).wait_for("online")
    w.wait_log("Discovery sent")
    assert fake_supervisor.discoveries == [
        {
            "service": "jarvis",
            "config": {"host": "local-jarvis", "port": w.port, "api_token": w.token},
        }
    ]
    assert {r.authorization for r in fake_supervisor.requests} == {
        f"Bearer {fake_supervisor.token}"
    }
    assert {(r.method, r.path) for r in fake_supervisor.requests} >= {
        ("GET", "/services/mqtt"),
        ("GET", "/addons/self/info"),
        ("POST", "/discovery"),
    }
    status, info = w.request("/api/v1/info", token=w.token)
    assert status == 200
    assert info["supervised"] is True and info["hostname"] == "local-jarvis"
    assert info["mqtt"]["source"] == "supervisor" and info["mqtt"]["port"] == broker.port
    for secret in (w.token, "pw-from-sv-123", fake_supervisor.token):
        assert secret not in w.log


def test_supervisor_mode_explicit_broker_wins(
    broker: Mosquitto, fake_supervisor: FakeSupervisor, worker: MakeWorker
) -> None:
    fake_supervisor.mqtt = {"host": "127.0.0.1", "port": free_port()}  # would not work
    w = worker(broker_options(broker), env=supervisor_env(fake_supervisor)).start()
    w.wait_health(connected)
    w.wait_log("Discovery sent")
    assert ("GET", "/services/mqtt") not in {(r.method, r.path) for r in fake_supervisor.requests}
    assert w.request("/api/v1/info", token=w.token)[1]["mqtt"]["source"] == "options"


def test_supervisor_without_mqtt_service_keeps_serving(
    fake_supervisor: FakeSupervisor, worker: MakeWorker
) -> None:
    w = worker({}, env=supervisor_env(fake_supervisor)).start()  # fake has no mqtt provider
    w.wait_health(lambda h: disconnected(h) and h["mqtt"]["reconnects"] >= 1)
    w.wait_log("Service not enabled")
    w.wait_log("Discovery sent")  # the API is announced even while MQTT is missing


def test_supervisor_down_worker_still_runs(broker: Mosquitto, worker: MakeWorker) -> None:
    down = {
        "SUPERVISOR_TOKEN": "token-for-nobody",
        "SUPERVISOR_URL": f"http://127.0.0.1:{free_port()}",
    }
    w = worker(broker_options(broker), env=down).start()
    health = w.wait_health(connected)
    assert health["status"] == "ok"
    w.wait_log("Discovery attempt 1/5 failed")
    w.wait_log("using the container hostname")
    assert w.alive() and w.request("/api/v1/health")[0] == 200


# -- bad input -----------------------------------------------------------------------------------


def test_invalid_options_exit_2_naming_every_field(broker: Mosquitto, worker: MakeWorker) -> None:
    options = broker_options(
        broker, log_level="loud", mqtt_port="abc", foo=1, api_token=["not", "a", "string"]
    )
    rc, log = worker(options).run_to_exit()
    assert rc == 2
    lines = log.splitlines()[1:]  # [0] is the helper's own header
    assert lines[0].startswith("jarvis-addon: invalid options in ") and lines[0].endswith(
        "options.json:"
    )
    assert sorted(line.strip() for line in lines[1:]) == sorted(
        [
            "log_level: expected one of debug|info|warning|error, got 'loud'",
            "mqtt_port: expected a port 1-65535, got 'abc'",
            "unknown option 'foo'",
            "api_token: expected a string, got <hidden>",
        ]
    )


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (None, "cannot read the file: No such file or directory"),
        (
            '{"log_level": "info",',
            "not valid JSON: Expecting property name enclosed in double quotes (line 1, column 22)",
        ),
        ("[1, 2]", "expected a JSON object of options, got list"),
        ("", "not valid JSON: Expecting value (line 1, column 1)"),
        (
            {"log_level": "info"},
            "mqtt_host: required when not running under the Supervisor (SUPERVISOR_TOKEN is not set)",
        ),
    ],
)
def test_unusable_options_file_exit_2(
    worker: MakeWorker, options: str | dict[str, str] | None, problem: str
) -> None:
    rc, log = worker(options).run_to_exit()
    assert rc == 2
    assert log.splitlines()[1:] == [
        f"jarvis-addon: invalid options in {worker_options_path(log)}:",
        f"  {problem}",
    ]


def worker_options_path(log: str) -> str:
    """The options path the helper passed (from its header line)."""
    argv = log.splitlines()[0].split()
    return argv[argv.index("--options") + 1]


def test_port_in_use_exits_1(broker: Mosquitto, worker: MakeWorker) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        w = worker(broker_options(broker), port=taken.getsockname()[1])
        rc, log = w.run_to_exit()
    assert rc == 1
    assert "cannot listen on 127.0.0.1:" in log and "Traceback" not in log


def test_unwritable_data_dir_exits_1(broker: Mosquitto, worker: MakeWorker) -> None:
    w = worker(broker_options(broker))
    w.data_dir.parent.mkdir(parents=True, exist_ok=True)
    w.data_dir.write_text("a file where the data directory should be")
    rc, log = w.run_to_exit()
    assert rc == 1
    assert "cannot store the API token or instance id in" in log and "Traceback" not in log


def test_configured_token_is_used_and_never_logged(broker: Mosquitto, worker: MakeWorker) -> None:
    token = "configured-token-abcdefghijklmnop"
    password = "mqtt-password-qrstuvwxyz"
    w = worker(
        broker_options(
            broker,
            log_level="debug",
            api_token=token,
            mqtt_username="jarvis",
            mqtt_password=password,
        )
    )
    w.start()
    w.wait_health(connected)
    assert w.request("/api/v1/info", token=token)[0] == 200
    assert w.request("/api/v1/info", token="wrong")[0] == 401
    assert not (w.data_dir / "api_token").exists()
    w.send(signal.SIGTERM)
    assert w.wait() == 0
    log = w.log
    assert "(aiohttp.access)" in log and "MQTT: connected" in log  # debug logging really was on
    assert token not in log and password not in log


def test_unauthorized_and_not_found_are_json(broker: Mosquitto, worker: MakeWorker) -> None:
    w = worker(broker_options(broker)).start()
    w.wait_health()
    status, body = w.request("/api/v1/info")
    assert status == 401 and body["error"] == "unauthorized"
    status, body = w.request("/api/v1/info", token="wrong-token")
    assert status == 401 and body["error"] == "unauthorized"
    status, body = w.request("/api/v1/spaceships", token=w.token)
    assert status == 404 and body == {
        "error": "not_found",
        "message": "no route for GET /api/v1/spaceships",
    }
    assert json.dumps(body)  # JSON, not an HTML error page
