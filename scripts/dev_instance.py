"""The dev instance: Mosquitto + the add-on worker + a real `hass`, wired together like a user would.

Run through `scripts/develop`. Everything lives under one state dir (default `.dev/`, or
$JARVIS_DEV_DIR). The first run onboards HA non-interactively (owner `dev` / `jarvis-dev`), adds
the MQTT and Jarvis entries through their config flows over HA's REST API, and writes a
long-lived access token to `<state>/token`. Later runs reuse all of it. Ctrl-C (SIGINT) or
SIGTERM stops every process this started, by PID.

Environment: JARVIS_DEV_DIR (state dir), JARVIS_DEV_PORT (HA's port, default 8123; 0 = any free).
`--check`: start, ask Jarvis one thing over its HTTP API, print the answer, stop (exit 0 when it
answered): the non-interactive smoke run that docs/quickstart.md uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
import secrets
import signal
import subprocess
import sys
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.mosquitto import Mosquitto, free_port, wait_for_port  # noqa: E402

USERNAME = "dev"
PASSWORD = "jarvis-dev"  # noqa: S105 - a local, loopback-only development login
CLIENT_NAME = "jarvis-develop"


def log(msg: str) -> None:
    """Progress for the person at the terminal."""
    print(f"[develop] {msg}", flush=True)


class DevInstance:
    """Starts, wires and stops the three processes."""

    def __init__(self, state: Path, ha_port: int, *, check: bool = False) -> None:
        self.check_only = check
        self.state = state
        self.config_dir = state / "config"
        self.addon_dir = state / "addon"
        self.settings_path = state / "settings.json"
        self.settings = self._load_settings(ha_port)
        self.base_url = f"http://127.0.0.1:{self.settings['ha_port']}"
        self.client_id = f"{self.base_url}/"
        self.mosquitto = Mosquitto(state / "mosquitto", port=self.settings["mqtt_port"])
        self.worker: subprocess.Popen[bytes] | None = None
        self.hass: subprocess.Popen[bytes] | None = None
        # Hooks for tests that run the dev instance with more in it (tests/e2e): add-on options
        # (printers, CAD) and YAML appended to configuration.yaml (dashboards, scenes).
        self.addon_options: dict[str, Any] = {}
        self.extra_config = ""

    def _load_settings(self, ha_port: int) -> dict[str, Any]:
        """Ports and the add-on token persist, so HA's stored entries stay valid across runs."""
        settings: dict[str, Any] = {}
        if self.settings_path.exists():
            settings = json.loads(self.settings_path.read_text())
        if ha_port or "ha_port" not in settings:
            settings["ha_port"] = ha_port or free_port()
        settings.setdefault("mqtt_port", free_port())
        settings.setdefault("addon_port", free_port())
        settings.setdefault("addon_token", secrets.token_urlsafe(24))
        self.state.mkdir(parents=True, exist_ok=True)
        self.settings_path.write_text(json.dumps(settings, indent=2))
        self.settings_path.chmod(0o600)
        return settings

    # -- processes ---------------------------------------------------------------------------

    def start_worker(self) -> None:
        self.addon_dir.mkdir(parents=True, exist_ok=True)
        options = self.addon_dir / "options.json"
        options.write_text(
            json.dumps(
                {
                    "log_level": "info",
                    "api_token": self.settings["addon_token"],
                    "mqtt_host": "127.0.0.1",
                    "mqtt_port": self.settings["mqtt_port"],
                    **self.addon_options,
                }
            )
        )
        options.chmod(0o600)
        python = Path(os.environ.get("JARVIS_ADDON_VENV", ROOT / ".venv-addon")) / "bin" / "python"
        log_file = (self.state / "addon.log").open("ab")
        self.worker = subprocess.Popen(
            [
                str(python),
                "-m",
                "jarvis_addon",
                "--options",
                str(options),
                "--data-dir",
                str(self.addon_dir / "data"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.settings["addon_port"]),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop children in order
        )
        wait_for_port("127.0.0.1", self.settings["addon_port"], timeout=30)

    def write_ha_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        custom = self.config_dir / "custom_components"
        custom.mkdir(exist_ok=True)
        link = custom / "jarvis"
        if not link.is_symlink():
            link.symlink_to(ROOT / "custom_components" / "jarvis")
        (self.config_dir / "configuration.yaml").write_text(
            f"""# Written by scripts/develop on every start; edit scripts/dev_instance.py instead.
homeassistant:
  name: Jarvis workshop (dev)
  unit_system: metric
  time_zone: UTC
  country: DE
  latitude: 52.52
  longitude: 13.40
  elevation: 34
  currency: EUR
http:
  server_host: 127.0.0.1
  server_port: {self.settings["ha_port"]}
frontend:
config:
api:
websocket_api:
conversation:
history:
logbook:
logger:
  default: warning
  logs:
    custom_components.jarvis: debug
    homeassistant.components.mqtt: info
# HA's demo devices (lights, switches, sensors, a camera) give Jarvis something to run.
demo:
"""
            + self.extra_config
        )

    def start_hass(self) -> None:
        self.write_ha_config()
        log_file = (self.state / "hass.log").open("ab")
        self.hass = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "scripts" / "lib" / "run_hass.py"),
                "-c",
                str(self.config_dir),
                "--skip-pip",  # scripts/setup installed every requirement already
                "--log-no-color",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        """Stop in reverse order: HA, worker, broker; by PID, escalating to SIGKILL."""
        for name in ("hass", "worker"):
            proc = getattr(self, name)
            setattr(self, name, None)
            if proc is None or proc.poll() is not None:
                continue
            log(f"stopping {name} (pid {proc.pid})")
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60 if name == "hass" else 15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log(f"stopping mosquitto (pid {self.mosquitto.pid})")
        self.mosquitto.stop()
        with contextlib.suppress(FileNotFoundError):
            (self.state / "pids.json").unlink()

    def write_pids(self) -> None:
        pids = {
            "mosquitto": self.mosquitto.pid,
            "worker": self.worker.pid if self.worker else None,
            "hass": self.hass.pid if self.hass else None,
            "develop": os.getpid(),
        }
        (self.state / "pids.json").write_text(json.dumps(pids))

    # -- HA over REST, as a client would ---------------------------------------------------

    async def wait_for_hass(self, session: aiohttp.ClientSession, timeout: float = 240) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.hass is None or self.hass.poll() is not None:
                raise RuntimeError(f"hass exited; see {self.state / 'hass.log'}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(
                    f"{self.base_url}/api/onboarding", timeout=aiohttp.ClientTimeout(total=3)
                ) as resp:
                    if resp.status in (200, 401, 404):
                        return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"hass did not answer in {timeout}s; see {self.state / 'hass.log'}")

    async def _token_from_code(self, session: aiohttp.ClientSession, code: str) -> str:
        async with session.post(
            f"{self.base_url}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        ) as resp:
            resp.raise_for_status()
            return str((await resp.json())["access_token"])

    async def _onboard(self, session: aiohttp.ClientSession) -> str | None:
        """Create the owner and finish onboarding; None when HA was onboarded already."""
        async with session.get(f"{self.base_url}/api/onboarding") as resp:
            if resp.status != 200:
                return None
            steps = {step["step"]: step["done"] for step in await resp.json()}
        if steps.get("user"):
            return None
        log("onboarding: creating the owner account")
        async with session.post(
            f"{self.base_url}/api/onboarding/users",
            json={
                "client_id": self.client_id,
                "name": "Jarvis Developer",
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            },
        ) as resp:
            resp.raise_for_status()
            access = await self._token_from_code(session, (await resp.json())["auth_code"])
        headers = {"Authorization": f"Bearer {access}"}
        for step, body in (
            ("core_config", {}),
            ("analytics", {}),
            (
                "integration",
                {"client_id": self.client_id, "redirect_uri": f"{self.base_url}/?auth_callback=1"},
            ),
        ):
            async with session.post(
                f"{self.base_url}/api/onboarding/{step}", json=body, headers=headers
            ) as resp:
                if resp.status not in (200, 403):  # 403: step already done
                    raise RuntimeError(
                        f"onboarding step {step}: HTTP {resp.status} {await resp.text()}"
                    )
        return access

    async def _login(self, session: aiohttp.ClientSession) -> str:
        """Username/password login through HA's login flow."""
        async with session.post(
            f"{self.base_url}/auth/login_flow",
            json={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        ) as resp:
            flow = await resp.json()
        async with session.post(
            f"{self.base_url}/auth/login_flow/{flow['flow_id']}",
            json={"client_id": self.client_id, "username": USERNAME, "password": PASSWORD},
        ) as resp:
            result = await resp.json()
        if result.get("type") != "create_entry":
            raise RuntimeError(f"login as {USERNAME} failed: {result}")
        return await self._token_from_code(session, result["result"])

    async def _long_lived_token(self, session: aiohttp.ClientSession, access: str) -> str:
        async with session.ws_connect(f"{self.base_url}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": access})
            if (await ws.receive_json())["type"] != "auth_ok":
                raise RuntimeError("websocket auth failed")
            await ws.send_json(
                {
                    "id": 1,
                    "type": "auth/long_lived_access_token",
                    "client_name": f"{CLIENT_NAME}-{secrets.token_hex(3)}",
                    "lifespan": 3650,
                }
            )
            reply = await ws.receive_json()
            if not reply.get("success"):
                raise RuntimeError(f"could not create a long-lived token: {reply}")
            return str(reply["result"])

    async def ensure_token(self, session: aiohttp.ClientSession) -> str:
        token_path = self.state / "token"
        if token_path.exists():
            token = token_path.read_text().strip()
            async with session.get(
                f"{self.base_url}/api/", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                if resp.status == 200:
                    return token
        access = await self._onboard(session) or await self._login(session)
        token = await self._long_lived_token(session, access)
        token_path.write_text(token)
        token_path.chmod(0o600)
        return token

    async def _flow(
        self, session: aiohttp.ClientSession, token: str, handler: str, user_input: dict[str, Any]
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(
            f"{self.base_url}/api/config/config_entries/flow",
            json={"handler": handler},
            headers=headers,
        ) as resp:
            form = await resp.json()
        if form.get("type") == "abort":
            return form
        async with session.post(
            f"{self.base_url}/api/config/config_entries/flow/{form['flow_id']}",
            json=user_input,
            headers=headers,
        ) as resp:
            result = await resp.json()
        if result.get("type") != "create_entry":
            raise RuntimeError(f"{handler} config flow did not create an entry: {result}")
        return result

    async def ensure_entries(self, session: aiohttp.ClientSession, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(
            f"{self.base_url}/api/config/config_entries/entry", headers=headers
        ) as resp:
            domains = {entry["domain"] for entry in await resp.json()}
        if "mqtt" not in domains:
            log("adding the MQTT integration (config flow)")
            await self._flow(
                session, token, "mqtt", {"broker": "127.0.0.1", "port": self.settings["mqtt_port"]}
            )
        if "jarvis" not in domains:
            log("adding the Jarvis integration (config flow)")
            await self._flow(
                session,
                token,
                "jarvis",
                {
                    "url": f"http://127.0.0.1:{self.settings['addon_port']}",
                    "api_token": self.settings["addon_token"],
                },
            )
        if not self.settings.get("agent_added"):
            await self.add_agent(session, token)

    async def add_agent(self, session: aiohttp.ClientSession, token: str) -> None:
        """A Jarvis conversation agent (subentry flow), routing over the add-on's bundled model."""
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(
            f"{self.base_url}/api/config/config_entries/entry", headers=headers
        ) as resp:
            entry_id = next(e["entry_id"] for e in await resp.json() if e["domain"] == "jarvis")
        await self.wait_entries_loaded(session, token)
        log("adding the Jarvis conversation agent (subentry flow)")
        async with session.post(
            f"{self.base_url}/api/config/config_entries/subentries/flow",
            json={"handler": [entry_id, "conversation"]},
            headers=headers,
        ) as resp:
            form = await resp.json()
        async with session.post(
            f"{self.base_url}/api/config/config_entries/subentries/flow/{form['flow_id']}",
            json={"name": "Jarvis", "llm_hass_api": ["assist"]},
            headers=headers,
        ) as resp:
            result = await resp.json()
        if result.get("type") != "create_entry":
            raise RuntimeError(f"conversation agent flow did not finish: {result}")
        self.settings["agent_added"] = True
        self.settings_path.write_text(json.dumps(self.settings, indent=2))

    async def wait_entries_loaded(
        self, session: aiohttp.ClientSession, token: str, timeout: float = 120
    ) -> None:
        """READY means Jarvis and MQTT are loaded, not merely configured."""
        headers = {"Authorization": f"Bearer {token}"}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        states: dict[str, str] = {}
        while loop.time() < deadline:
            async with session.get(
                f"{self.base_url}/api/config/config_entries/entry", headers=headers
            ) as resp:
                states = {e["domain"]: e["state"] for e in await resp.json()}
            if states.get("jarvis") == states.get("mqtt") == "loaded":
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"entries not loaded after {timeout}s: {states}")

    async def wait_local_model(self, session: aiohttp.ClientSession, timeout: float = 180) -> None:
        """READY also means the add-on's bundled model answers (it loads in the background)."""
        url = f"http://127.0.0.1:{self.settings['addon_port']}/api/v1/llm"
        headers = {"Authorization": f"Bearer {self.settings['addon_token']}"}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        status: dict[str, Any] = {}
        while loop.time() < deadline:
            async with session.get(url, headers=headers) as resp:
                status = await resp.json()
            if status.get("ready") or not status.get("enabled") or status.get("error"):
                break
            await asyncio.sleep(0.5)
        if status.get("ready"):
            log(f"local model {status['model']['name']} ready")
        else:  # the rest works without it: say so rather than fail
            log(f"local model not ready: {status.get('error') or status}")

    async def smoke_check(self, session: aiohttp.ClientSession, token: str) -> None:
        """One request through Jarvis's HTTP API (HA's own intents answer it, no model needed)."""
        async with session.post(
            f"{self.base_url}/api/jarvis/query",
            json={"text": "turn on the kitchen lights"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=120),
        ) as resp:
            body = await resp.json()
        if resp.status != 200 or not str(body.get("answer", "")).strip():
            raise RuntimeError(f"Jarvis did not answer: HTTP {resp.status} {body}")
        log(f"CHECK OK  Jarvis answered ({body['tier']}): {body['answer']}")

    async def run(self) -> None:
        self.mosquitto.start()
        log(f"mosquitto on 127.0.0.1:{self.mosquitto.port} (pid {self.mosquitto.pid})")
        self.start_worker()
        assert self.worker is not None
        log(
            f"add-on worker on http://127.0.0.1:{self.settings['addon_port']} (pid {self.worker.pid})"
        )
        self.start_hass()
        assert self.hass is not None
        log(f"hass starting (pid {self.hass.pid}); log: {self.state / 'hass.log'}")
        self.write_pids()
        async with aiohttp.ClientSession() as session:
            await self.wait_for_hass(session)
            token = await self.ensure_token(session)
            await self.ensure_entries(session, token)
            await self.wait_entries_loaded(session, token)
            await self.wait_local_model(session)
        log(
            f"READY  {self.base_url}  login: {USERNAME} / {PASSWORD}  token: {self.state / 'token'}"
        )
        if self.check_only:
            async with aiohttp.ClientSession() as session:
                await self.smoke_check(session, token)
            return
        log("Ctrl-C stops everything")
        while self.hass.poll() is None and self.worker.poll() is None:
            await asyncio.sleep(0.5)
        log("a process exited on its own; stopping the rest")


def main() -> int:
    state = Path(os.environ.get("JARVIS_DEV_DIR", ROOT / ".dev")).resolve()
    port = int(os.environ.get("JARVIS_DEV_PORT", "8123"))
    dev = DevInstance(state, port, check="--check" in sys.argv[1:])

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    # A shell starts background jobs with SIGINT ignored and Python keeps it that way, so Ctrl-C
    # (or a test's SIGINT) would do nothing: take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        asyncio.run(dev.run())
    except KeyboardInterrupt:
        log("interrupted")
    except Exception as err:  # noqa: BLE001 - report, then clean up
        log(f"failed: {err}")
        dev.stop()
        return 1
    dev.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
