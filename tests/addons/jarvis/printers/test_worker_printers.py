"""The real worker process with real printers: MQTT commands, acks, state, events, discovery, HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import http.server
import json
from pathlib import Path
import threading
import time
from typing import Any
import urllib.error
import urllib.request

import pytest

from tests.support.moonraker import Moonraker
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.octoprint import OctoPrint, gcode_file

from ...worker_process import Worker, broker_options
from .mqtt_client import DeviceProbe


@pytest.fixture
def devices() -> Iterator[Callable[[Mosquitto], DeviceProbe]]:
    probes: list[DeviceProbe] = []

    def make(broker: Mosquitto) -> DeviceProbe:
        probe = DeviceProbe(broker.host, broker.port)
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.close()


def _printer(pid: str, kind: str, url: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "name": pid.title(), "type": kind, "url": url, "api_key": key, **extra}


def _post(worker: Worker, path: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(  # noqa: S310 - loopback
        worker.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {worker.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_moonraker_job_over_mqtt(
    broker: Mosquitto,
    moonraker: Moonraker,
    worker: Callable[..., Worker],
    devices: Callable[[Mosquitto], DeviceProbe],
    tmp_path: Path,
) -> None:
    files = tmp_path / "prints"
    files.mkdir()
    (files / "bracket.gcode").write_text("G28\nG1 X10 Y10\n")
    probe = devices(broker)
    w = worker(
        broker_options(
            broker,
            printers=[
                _printer(
                    "mr1",
                    "moonraker",
                    moonraker.url,
                    moonraker.api_key,
                    scene_start="scene.shop_print",
                    scene_finish="script.lights_off",
                )
            ],
            printer_poll_interval=1,
            print_files_dir=str(files),
        )
    ).start()
    w.wait_health(lambda h: h["mqtt"]["connected"])
    probe.wait(lambda: probe.availability("mr1") == "online", 15, "mr1 online")
    # Discovery: sensors with device classes, buttons, the webcam image (published last).
    probe.wait(
        lambda: any(
            t == "homeassistant/image/jarvis_mr1/webcam/config" for t, _, _ in probe.messages
        ),
        10,
        "discovery",
    )
    disc = {t: json.loads(p) for t, p, _ in probe.messages if t.startswith("homeassistant/")}
    state_cfg = disc["homeassistant/sensor/jarvis_mr1/state/config"]
    assert (
        state_cfg["state_topic"] == "jarvis/devices/mr1/state"
        and state_cfg["device_class"] == "enum"
    )
    assert (
        disc["homeassistant/sensor/jarvis_mr1/tool0_actual/config"]["device_class"] == "temperature"
    )
    assert disc["homeassistant/sensor/jarvis_mr1/eta/config"]["device_class"] == "timestamp"
    assert (
        disc["homeassistant/button/jarvis_mr1/pause/config"]["command_topic"]
        == "jarvis/devices/mr1/cmd"
    )
    assert (
        disc["homeassistant/image/jarvis_mr1/webcam/config"]["image_topic"]
        == "jarvis/devices/mr1/snapshot"
    )

    ack = probe.command(
        "mr1", "print_file", {"path": "bracket.gcode", "preheat": {"tool": 205, "bed": 55}}
    )
    assert ack["ok"], ack
    job_id = ack["result"]["job_id"]
    probe.wait(lambda: (s := probe.state("mr1")) and s["state"] == "printing", 10, "printing")
    moonraker.wait_print_state("printing")
    started = probe.wait(
        lambda: [e for e in probe.events("mr1") if e["event"] == "job_started"], 5, "job_started"
    )
    assert started[0]["scene"] == "scene.shop_print" and started[0]["job"]["id"] == job_id

    rid = probe.send("mr1", "pause", {"reason": "test"})
    assert probe.wait_ack(rid)["ok"]
    moonraker.wait_print_state("paused")
    probe.send("mr1", "pause", {"reason": "test"}, request_id=rid)  # QoS 1 redelivery
    probe.wait(lambda: len(probe.acks(rid)) == 2, 10, "second ack")
    assert probe.acks(rid)[1] == probe.acks(rid)[0]
    assert moonraker.klipper_calls().count("PAUSE") == 1  # executed once

    # An HA MQTT button (no request id) resumes... via the resume button's payload.
    resume_cfg = disc["homeassistant/button/jarvis_mr1/resume/config"]
    probe.publish(resume_cfg["command_topic"], resume_cfg["payload_press"])
    moonraker.wait_print_state("printing")

    # HTTP API: list, state, jobs, command errors.
    status, body = w.request("/api/v1/printers", token=w.token)
    assert status == 200 and body["printers"][0]["id"] == "mr1"
    status, body = w.request("/api/v1/printers/mr1/jobs", token=w.token)
    assert status == 200 and body["jobs"][0]["id"] == job_id
    assert body["jobs"][0]["pauses"][0]["reason"] == "test"
    status, body = _post(w, "/api/v1/printers/nope/command", {"command": "status"})
    assert status == 404 and body["error"] == "unknown_device"
    status, body = _post(w, "/api/v1/printers/mr1/command", {"command": "status"})
    assert status == 200 and body["result"]["job"]["id"] == job_id

    # The print completes by itself (6 s): job_finished with its scene; history persisted.
    finished = probe.wait(
        lambda: [e for e in probe.events("mr1") if e["event"] == "job_finished"], 20, "job_finished"
    )
    assert finished[0]["scene"] == "script.lights_off" and finished[0]["job"]["progress"] == 100.0
    w.send(15)
    assert w.wait() == 0
    saved = json.loads((w.data_dir / "printers" / "jobs.json").read_text())
    assert saved["jobs"][0]["state"] == "finished"


def test_bad_input_gets_error_acks(
    broker: Mosquitto,
    octoprint: OctoPrint,
    worker: Callable[..., Worker],
    devices: Callable[[Mosquitto], DeviceProbe],
    tmp_path: Path,
) -> None:
    probe = devices(broker)
    down = f"http://127.0.0.1:{free_port()}"
    w = worker(
        broker_options(
            broker,
            printers=[
                _printer("op1", "octoprint", octoprint.url, octoprint.api_key),
                _printer("badkey", "octoprint", octoprint.url, "WRONGKEY"),
                _printer("down", "octoprint", down, "x"),
            ],
            printer_poll_interval=1,
            print_files_dir=str(tmp_path),
        )
    ).start()
    w.wait_health(lambda h: h["mqtt"]["connected"])
    probe.wait(lambda: probe.availability("op1") == "online", 15, "op1 online")

    def error(device: str, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        ack = probe.command(device, command, args)
        assert not ack["ok"] and ack["message"], ack
        return ack

    assert error("printer9", "status")["error"] == "unknown_device"
    assert "printer9" in error("printer9", "status")["message"]
    # What the integration's agent did to other devices arrives marked as a mirror: a record,
    # never run and never answered (an unknown device included).
    for device in ("op1", "light.bench"):
        probe.publish(
            f"jarvis/devices/{device}/cmd",
            {"request_id": f"mirror-{device}", "command": "cancel", "args": {}, "mirror": True},
        )
    assert probe.command("op1", "status")["ok"]
    assert probe.acks("mirror-op1") == [] and probe.acks("mirror-light.bench") == []
    ack = error("op1", "print_file", {"filename": "cat.jpg", "gcode": "hello"})
    assert ack["error"] == "not_gcode" and "not a G-code file" in ack["message"]
    assert (
        error("op1", "print_file", {"filename": "x.gcode", "gcode": "Dear printer, hi"})["error"]
        == "not_gcode"
    )
    assert error("op1", "print_file", {"path": "../../etc/passwd"})["error"] == "invalid_args"
    assert error("op1", "print_file", {"path": "missing.gcode"})["error"] == "file_not_found"
    assert error("op1", "print_file", {})["error"] == "invalid_args"
    assert error("op1", "fly")["error"] == "unknown_command"
    assert error("op1", "preheat", {"tool": 900})["error"] == "invalid_args"
    assert error("op1", "gcode", {"commands": []})["error"] == "invalid_args"
    assert error("op1", "cancel")["error"] == "printer_busy_or_idle"  # no job: OctoPrint 409
    assert error("op1", "snapshot")["error"] == "no_webcam"
    probe.publish(
        "jarvis/devices/op1/cmd",
        {
            "request_id": "old-one",
            "command": "preheat",
            "args": {"tool": 200},
            "expires_at": time.time() - 60,
        },
    )
    expired = probe.wait_ack("old-one")
    assert expired["error"] == "expired" and "not run" in expired["message"]
    probe.publish("jarvis/devices/op1/cmd", b"{not json")
    probe.wait(
        lambda: any(
            json.loads(p).get("error") == "invalid_json"
            for t, p, _ in probe.messages
            if t == "jarvis/devices/op1/ack"
        ),
        10,
        "invalid_json ack",
    )

    state = probe.command("badkey", "status")["result"]  # status answers, even about a bad key
    assert state["state"] == "unreachable" and "API key" in state["message"]
    assert not state["available"]
    assert probe.availability("badkey") == "offline"
    assert error("badkey", "pause")["error"] == "printer_auth_failed"
    assert error("down", "pause")["error"] == "printer_unreachable"
    assert probe.availability("down") == "offline"

    # Printer offline (OctoPrint up, printer disconnected): error ack, unavailable, then back.
    octoprint.disconnect()
    probe.wait(lambda: probe.availability("op1") == "offline", 10, "op1 offline")
    ack = error("op1", "print_file", {"filename": "a.gcode", "gcode": gcode_file(layers=2)})
    assert ack["error"] == "printer_offline"
    assert error("op1", "preheat", {"tool": 200})["error"] == "printer_offline"
    octoprint.connect_virtual()
    probe.wait(lambda: probe.availability("op1") == "online", 10, "op1 back online")

    # OctoPrint itself down, then back.
    octoprint.stop()
    probe.wait(
        lambda: (s := probe.state("op1")) and s["state"] == "unreachable", 15, "op1 unreachable"
    )
    assert error("op1", "pause")["error"] == "printer_unreachable"
    octoprint.start()
    octoprint.connect_virtual()
    probe.wait(
        lambda: probe.availability("op1") == "online", 15, "op1 back after OctoPrint restart"
    )
    assert w.alive()
    status, health = w.request("/api/v1/health")
    assert status == 200 and health["status"] == "ok"


@pytest.fixture
def slow_moonraker(tmp_path: Path) -> Iterator[Moonraker]:
    """A Moonraker whose prints take 60 s: still printing after a broker outage."""
    server = Moonraker(tmp_path / "slow", print_seconds=60).start()
    yield server
    server.stop()


def test_broker_restart_command_during_outage_runs_once(
    private_broker: Mosquitto,
    slow_moonraker: Moonraker,
    worker: Callable[..., Worker],
    devices: Callable[[Mosquitto], DeviceProbe],
) -> None:
    moonraker = slow_moonraker
    private_broker.start()
    w = worker(
        broker_options(
            private_broker,
            printers=[_printer("mr1", "moonraker", moonraker.url, moonraker.api_key)],
            printer_poll_interval=1,
        ),
        # Reconnect only after 3 s, so the command below lands while the worker is away.
        args=["--mqtt-keepalive", "5", "--mqtt-reconnect-min", "3", "--mqtt-reconnect-max", "3"],
    ).start()
    w.wait_health(lambda h: h["mqtt"]["connected"])
    probe = devices(private_broker)
    ack = probe.command("mr1", "print_file", {"filename": "long.gcode", "gcode": "G28\nG1 X1\n"})
    assert ack["ok"], ack
    moonraker.wait_print_state("printing")
    probe.close()

    private_broker.restart()
    w.wait_health(lambda h: not h["mqtt"]["connected"], timeout=10)
    probe = devices(private_broker)
    rid = probe.send("mr1", "pause", {"reason": "during outage"})
    _status, health = w.request("/api/v1/health")
    assert not health["mqtt"]["connected"], "the worker reconnected before the command was sent"
    ack = probe.wait_ack(rid, timeout=20)
    assert ack["ok"], ack
    moonraker.wait_print_state("paused")
    time.sleep(1.5)
    assert moonraker.klipper_calls().count("PAUSE") == 1
    assert len(probe.acks(rid)) == 1


def test_webcam_snapshot_reaches_mqtt_and_http(
    broker: Mosquitto,
    worker: Callable[..., Worker],
    devices: Callable[[Mosquitto], DeviceProbe],
) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"jarvis-test-frame" + b"\xff\xd9"

    class Camera(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/snap.jpg" else 404)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            self.wfile.write(jpeg)

        def log_message(self, *_args: object) -> None:
            pass

    camera = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    threading.Thread(target=camera.serve_forever, daemon=True).start()
    try:
        cam_url = f"http://127.0.0.1:{camera.server_address[1]}"
        probe = devices(broker)
        w = worker(
            broker_options(
                broker,
                printers=[
                    _printer(
                        "cam",
                        "octoprint",
                        f"http://127.0.0.1:{free_port()}",
                        "k",
                        snapshot_url=f"{cam_url}/snap.jpg",
                    ),
                    _printer(
                        "badcam",
                        "octoprint",
                        f"http://127.0.0.1:{free_port()}",
                        "k",
                        snapshot_url=f"{cam_url}/nope",
                    ),
                ],
            )
        ).start()
        w.wait_health(lambda h: h["mqtt"]["connected"])
        ack = probe.command("cam", "snapshot")
        assert ack["ok"] and ack["result"]["bytes"] == len(jpeg)
        probe.wait(
            lambda: ("jarvis/devices/cam/snapshot", jpeg) in [(t, d) for t, d, _ in probe.messages],
            10,
            "snapshot on MQTT",
        )
        req = urllib.request.Request(  # noqa: S310 - loopback
            w.url + "/api/v1/printers/cam/snapshot", headers={"Authorization": f"Bearer {w.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            assert resp.headers["Content-Type"] == "image/jpeg" and resp.read() == jpeg
        failed = probe.command("badcam", "snapshot")
        assert failed["error"] == "webcam_failed" and "404" in failed["message"]
    finally:
        camera.shutdown()
