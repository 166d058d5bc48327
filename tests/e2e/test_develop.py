"""Smoke test of `scripts/develop`: it comes up, HA serves Jarvis's entities, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import subprocess
import time
from typing import Any
import urllib.request

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 300  # first start onboards HA; ~30 s here, generous for a loaded CI machine


def _get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        return json.load(resp)


def _post(url: str, token: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
        return json.load(resp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][0] != "Z"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(state: Path, sigint_ignored: bool = False) -> tuple[subprocess.Popen[str], str]:
    """`sigint_ignored`: started as a shell's background job is (SIGINT ignored on entry)."""
    env = {**os.environ, "JARVIS_DEV_DIR": str(state), "JARVIS_DEV_PORT": "0"}
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "develop")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=_ignore_sigint if sigint_ignored else None,  # noqa: PLW1509 - no threads here
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "READY" in line:
            return proc, line
    proc.kill()
    hass_log = (
        (state / "hass.log").read_text(errors="replace")[-4000:]
        if (state / "hass.log").exists()
        else ""
    )
    pytest.fail(
        "scripts/develop did not get ready:\n"
        + "".join(lines)
        + "\n--- hass.log tail ---\n"
        + hass_log
    )


def _stop(proc: subprocess.Popen[str], pids: dict[str, int], state: Path) -> None:
    """Ctrl-C, then every process the dev instance started must be gone (killed if not)."""
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(120)
    except subprocess.TimeoutExpired:
        _cleanup(proc, state)
        raise
    assert code == 0
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [name for name, pid in pids.items() if _alive(pid)], pids


def _cleanup(proc: subprocess.Popen[str], state: Path) -> None:
    """After a failure: stop develop, then anything it left, by PID."""
    pids_file = state / "pids.json"
    pids = json.loads(pids_file.read_text()) if pids_file.exists() else {}
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
    for pid in pids.values():
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_develop_smoke(tmp_path: Path) -> None:
    state = tmp_path / "dev"
    proc, ready = _start(state)
    try:
        pids = json.loads((state / "pids.json").read_text())
        base = ready.split()[2]
        assert base.startswith("http://127.0.0.1:")
        token = (state / "token").read_text().strip()

        assert _get(f"{base}/api/", token) == {"message": "API running."}
        entries = {
            e["domain"]: e["state"] for e in _get(f"{base}/api/config/config_entries/entry", token)
        }
        assert entries.get("jarvis") == "loaded", entries
        assert entries.get("mqtt") == "loaded", entries

        deadline = time.monotonic() + 30
        while True:
            states = {s["entity_id"]: s for s in _get(f"{base}/api/states", token)}
            sensor = states.get("binary_sensor.jarvis_add_on_add_on_connectivity")
            if (sensor and sensor["state"] == "on") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert sensor is not None, sorted(states)
        assert sensor["state"] == "on"
        assert sensor["attributes"]["device_class"] == "connectivity"
        assert any(e.startswith("light.") for e in states), "HA's demo devices are missing"
        assert "conversation.jarvis" in states, sorted(e for e in states if e.startswith("conv"))

        # Through the HTTP API, as a client outside Assist would: HA's own intents answer a demo
        # device command (t0); a question goes to the add-on's bundled model (real llama.cpp).
        answer = _post(f"{base}/api/jarvis/query", token, {"text": "turn on the kitchen lights"})
        assert answer["tier"] == "t0", answer
        answer = _post(f"{base}/api/jarvis/query", token, {"text": "Say hello to the workshop."})
        assert answer["tier"] == "t1", answer
        assert answer["answer"].strip()
        logs = _get(f"{base}/api/jarvis/routing/logs", token)
        assert [d["tier"] for d in logs["decisions"]][:2] == ["t1", "t0"]
        assert logs["decisions"][0]["attempts"][-1]["name"] == "add-on model"
    except BaseException:
        _cleanup(proc, state)
        raise
    _stop(proc, pids, state)

    # A second start reuses the onboarded instance (same port), its token and its entries; started
    # as a shell's background job is, Ctrl-C still stops it.
    proc, ready = _start(state, sigint_ignored=True)
    try:
        pids = json.loads((state / "pids.json").read_text())
        assert ready.split()[2] == base
        listed = _get(f"{base}/api/config/config_entries/entry", token)
        ours = sorted(
            (e["domain"], e["state"]) for e in listed if e["domain"] in ("jarvis", "mqtt")
        )
        assert ours == [("jarvis", "loaded"), ("mqtt", "loaded")]
    except BaseException:
        _cleanup(proc, state)
        raise
    _stop(proc, pids, state)
