"""The dev instance of `scripts/develop` with a whole workshop in it, for the scenario suite.

Real processes: Mosquitto, the add-on worker (bundled SmolLM2 model, one OctoPrint printer,
CadQuery), a `hass` process (HA's demo devices, a Lovelace YAML dashboard) and OctoPrint 1.11.8
with its Virtual Printer. Loopback fakes speaking the wire formats stand in for what cannot run
here: OpenAI, Anthropic, Perplexity, an OpenAI-compatible local server, and UniFi Access.
Everything Jarvis needs is configured the way a person would: config flows and subentry flows over
HA's REST API, a second user over the WebSocket API.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
from pathlib import Path
import secrets
import signal
import subprocess
import sys
import time
from types import ModuleType
from typing import Any

import aiohttp
from PIL import Image

from tests.addons.jarvis.cv.camera_server import CameraServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.octoprint import OctoPrint, gcode_file

from .scenario_client import Background, HAClient, HAError, WebSocket, until
from .scenario_fakes import AnthropicFake, OpenAIFake, PerplexityFake, Say

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboards" / "wall-tablet.yaml"
DASHBOARD_URL = "jarvis-wall"
PRINTER = "printer1"  # "Printer 1": the wall-tablet dashboard's printer
DOOR = "door-workshop"
ACCESS_OWNER = "ua-dev"
BOB_PASSWORD = secrets.token_urlsafe(12)

# One line per user story, printed by conftest's terminal summary.
STORY_LINES: list[str] = []


def story(line: str) -> None:
    STORY_LINES.append(line)
    print(f"\n{line}", flush=True)  # noqa: T201 - shown with -s, as it happens


def _dev_instance_module() -> ModuleType:
    """scripts/dev_instance.py (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "dev_instance", ROOT / "scripts" / "dev_instance.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dev_instance", module)
    spec.loader.exec_module(module)
    return module


def _still_jpeg() -> bytes:
    """One grey 640x480 frame: the shop camera's view of an empty bed."""
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 90, 90)).save(out, format="JPEG")
    return out.getvalue()


class Shop:
    """Starts, configures and stops the workshop; the tests drive it through `ha` and `ws`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.bg = Background()
        self.octoprint = OctoPrint(workdir / "octoprint")
        self.local = OpenAIFake()
        self.gpt = OpenAIFake()
        self.claude = AnthropicFake()
        self.pplx = PerplexityFake()
        self.unifi = FakeUnifiAccess()
        self.camera = CameraServer([_still_jpeg()])
        module = _dev_instance_module()
        self.dev: Any = module.DevInstance(workdir / "dev", 0)
        self.session: aiohttp.ClientSession | None = None
        self.ha: HAClient
        self.ws: WebSocket
        self.bob: HAClient
        self.entry_id = ""
        self.owner_id = ""
        self.agents: dict[str, str] = {}  # agent name -> conversation entity id
        self.timings: dict[str, float] = {}

    # -- start / stop --------------------------------------------------------------------------

    def start(self) -> Shop:
        started = time.monotonic()
        self.octoprint.start()
        self.octoprint.connect_virtual()
        self.bg.run(self._start_fakes())
        prints = self.workdir / "prints"
        prints.mkdir(parents=True, exist_ok=True)
        (prints / "bracket.gcode").write_text(gcode_file(layers=400, dwell_ms=100))
        # ~4 minutes on the Virtual Printer: outlasts story 3's failure and its pause.
        (prints / "tall_vase.gcode").write_text(gcode_file(layers=2000, dwell_ms=100))
        self.dev.addon_options = {
            "printers": [
                {
                    "id": PRINTER,
                    "name": "Printer 1",
                    "type": "octoprint",
                    "url": self.octoprint.url,
                    "api_key": self.octoprint.api_key,
                }
            ],
            # The wall tablet's camera (its monitor samples while a job prints).
            "cameras": [
                {
                    "id": "printer_1_cam",
                    "printer": PRINTER,
                    "source": "url",
                    "url": f"{self.camera.url}/snap.jpg",
                }
            ],
            "printer_poll_interval": 1,
            "print_files_dir": str(prints),
            # The smallest sampling interval: story 3's failure is seen in ~40 s, not ~160 s.
            "cv_interval": 0.5,
        }
        self.dev.extra_config = f"""
lovelace:
  dashboards:
    {DASHBOARD_URL}:
      mode: yaml
      title: Workshop
      icon: mdi:tablet-dashboard
      show_in_sidebar: true
      filename: {DASHBOARD}
"""
        self.dev.mosquitto.start()
        self.dev.start_worker()
        self.dev.start_hass()
        self.bg.run(self._connect(), timeout=400)
        self.bg.run(self._configure(), timeout=300)
        self.timings["start_s"] = time.monotonic() - started
        return self

    async def _start_fakes(self) -> None:
        for server in (self.local, self.gpt, self.claude, self.pplx):
            await server.start()
        # Answers to the one-token check each provider flow makes before saving.
        self.local.default("/v1/chat/completions", Say("OK"))
        self.gpt.default("/v1/chat/completions", Say("OK"))
        self.claude.default("/v1/messages", Say("OK"))
        self.pplx.default("/v1/responses", Say("OK", cost=0.0))
        (self.workdir / "unifi").mkdir(exist_ok=True)
        await self.unifi.start(self.workdir / "unifi")
        await self.camera.start()

    async def _connect(self) -> None:
        self.session = aiohttp.ClientSession()
        await self.dev.wait_for_hass(self.session)
        token = await self.dev.ensure_token(self.session)
        await self.dev.ensure_entries(self.session, token)
        await self.dev.wait_entries_loaded(self.session, token)
        self.ha = HAClient(self.session, self.dev.base_url, token)
        self.ws = await self.ha.websocket()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.bg.run(self._close(), timeout=30)
        self.dev.stop()
        self.octoprint.stop()
        self.bg.close()

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        for server in (self.local, self.gpt, self.claude, self.pplx):
            await server.stop()
        await self.unifi.stop()
        await self.camera.stop()
        if self.session is not None:
            await self.session.close()

    def restart_hass(self) -> float:
        """Stop the hass process (SIGTERM, as systemd would) and start it again; seconds taken."""
        started = time.monotonic()
        proc = self.dev.hass
        assert proc is not None
        self.bg.run(self.ws.close())
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self.dev.start_hass()
        self.bg.run(self._reconnect(), timeout=400)
        return time.monotonic() - started

    async def _reconnect(self) -> None:
        assert self.session is not None
        await self.dev.wait_for_hass(self.session)
        await self.dev.wait_entries_loaded(self.session, self.ha.token)
        self.ws = await self.ha.websocket()
        await self._wait_agents()

    # -- configuration, as a person would do it ------------------------------------------------

    async def _configure(self) -> None:
        ha = self.ha
        entries = await ha.ok("GET", "/api/config/config_entries/entry")
        self.entry_id = next(e["entry_id"] for e in entries if e["domain"] == "jarvis")
        self.owner_id = (await self.ws.call("auth/current_user"))["id"]
        providers = {
            "llama": ("openai_compatible", self.local.base_url, "llama-3.2-3b", 0.0, 0.0),
            "gpt": ("openai", self.gpt.base_url, "gpt-5-nano", 1.25, 10.0),
            "claude": ("anthropic", self.claude.url, "claude-haiku-4-5", 3.0, 15.0),
            "sonar": ("perplexity", self.pplx.url, "fast-search", 0.0, 0.0),
        }
        for name, (kind, url, model, price_in, price_out) in providers.items():
            await self._subentry(
                "provider",
                {"kind": kind, "name": name},
                {
                    "url": url,
                    "api_key": "sk-e2e-0123456789",
                    "model": model,
                    "price_input": price_in,
                    "price_output": price_out,
                    "price_per_request": 0.0,
                    "timeout": 10,
                },
            )
        await self._wait_loaded()
        subentries = await self.ws.call("config_entries/subentries/list", entry_id=self.entry_id)
        ids = {s["title"]: s["subentry_id"] for s in subentries if s["subentry_type"] == "provider"}

        def agent(name: str, providers: list[str], **extra: Any) -> dict[str, Any]:
            return {
                "name": name,
                "llm_hass_api": extra.pop("apis", ["assist"]),
                "tiers": extra.pop("tiers", ["t0", "t1", "t2"]),
                "tier_order": "local_first",
                "providers": [ids[p] for p in providers],
                "confidence_threshold": 0.6,
                "freshness_routing": True,
                "max_escalations": 2,
                **extra,
            }

        # "Jarvis" (scripts/develop made it) routes over every provider. These add:
        for data in (
            # The add-on's SmolLM2 first, then the cloud; for chat, so no Assist prompt (the 135M
            # model gets no tools anyway, and a prompt listing every demo entity takes it ~30 s).
            agent("Jarvis Bundled", ["gpt"], apis=[]),
            agent("Jarvis Local", ["llama"], tiers=["t0", "t1"]),
            agent("Jarvis Frugal", ["llama", "gpt"], budget_daily_usd=0.000001),
            agent("Jarvis Shop", ["gpt"], tiers=["t2"], apis=["jarvis_safety", "jarvis_cad"]),
        ):
            await self._subentry("conversation", data)
        # Safety: the workshop zone with its door and camera, and the UniFi Access console.
        self.unifi.add_user(ACCESS_OWNER, "Jarvis Developer")
        self.unifi.add_door(DOOR, "Workshop door")
        await self._subentry(
            "safety_zone",
            {
                "name": "workshop",
                "doors": [DOOR],
                "cameras": ["camera.demo_camera"],
                "badge_minutes": 10,
            },
        )
        await self._subentry(
            "unifi_access_console",
            {
                "url": self.unifi.url,
                "token": self.unifi.token,
                "verify_ssl": False,
                "user_map": f"{self.owner_id}: {ACCESS_OWNER}",
            },
        )
        await self._wait_loaded()
        await self._wait_agents()
        self.bob = await self._second_user("Bob", "bob")

    async def _subentry(self, kind: str, *steps: dict[str, Any]) -> None:
        """Add a subentry; adding one reloads the entry, so wait until it is loaded again."""
        await self.ha.subentry(self.entry_id, kind, *steps)
        await asyncio.sleep(0.5)
        await self._wait_loaded()

    async def _wait_loaded(self) -> None:
        await self.dev.wait_entries_loaded(self.session, self.ha.token)

    async def _wait_agents(self) -> None:
        async def agents() -> dict[str, str]:
            states = await self.ha.states()
            return {
                s["attributes"].get("friendly_name", ""): entity_id
                for entity_id, s in states.items()
                if entity_id.startswith("conversation.jarvis")
            }

        found = await until(
            lambda: _with_all(agents, 5), 60, "every Jarvis agent has its conversation entity"
        )
        self.agents = found

    async def _second_user(self, name: str, username: str) -> HAClient:
        """A second person (administrator: may approve), made as the owner would in Settings."""
        created = await self.ws.call("config/auth/create", name=name, group_ids=["system-admin"])
        user_id = created["user"]["id"]
        await self.ws.call(
            "config/auth_provider/homeassistant/create",
            user_id=user_id,
            username=username,
            password=BOB_PASSWORD,
        )
        assert self.session is not None
        base = self.dev.base_url
        client_id = f"{base}/"
        async with self.session.post(
            f"{base}/auth/login_flow",
            json={
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": client_id,
            },
        ) as resp:
            flow = await resp.json()
        async with self.session.post(
            f"{base}/auth/login_flow/{flow['flow_id']}",
            json={"client_id": client_id, "username": username, "password": BOB_PASSWORD},
        ) as resp:
            result = await resp.json()
        if result.get("type") != "create_entry":
            raise HAError(f"login as {username}: {result}")
        async with self.session.post(
            f"{base}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": result["result"],
                "client_id": client_id,
            },
        ) as resp:
            access = (await resp.json())["access_token"]
        return HAClient(self.session, base, access)

    # -- what the tests do ---------------------------------------------------------------------

    def run[T](self, coro: Any, timeout: float = 180) -> T:
        result: T = self.bg.run(coro, timeout)
        return result

    async def converse(
        self, text: str, agent: str = "Jarvis", conversation_id: str | None = None
    ) -> dict[str, Any]:
        """One chat turn through WebSocket `conversation/process`, as the frontend sends it."""
        data: dict[str, Any] = {"text": text, "agent_id": self.agents[agent], "language": "en"}
        if conversation_id:
            data["conversation_id"] = conversation_id
        result: dict[str, Any] = await self.ws.call("conversation/process", **data)
        return result

    async def decisions(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first, from `/api/jarvis/routing/logs`."""
        logs = await self.ha.ok("GET", f"/api/jarvis/routing/logs?limit={limit}")
        return list(logs["decisions"])

    async def decision_for(self, conversation_id: str, text: str) -> dict[str, Any]:
        async def find() -> dict[str, Any] | None:
            for decision in await self.decisions(50):
                if decision.get("conversation_id") == conversation_id and text in decision["text"]:
                    return decision
            return None

        found: dict[str, Any] = await until(find, 10, f"decision for {text!r}")
        return found

    async def _addon_fetch(self, path: str) -> tuple[int, str, bytes]:
        """GET from the add-on's own API (what HA ingress serves) with its token."""
        assert self.session is not None
        url = f"http://127.0.0.1:{self.dev.settings['addon_port']}{path}"
        async with self.session.get(
            url, headers={"Authorization": f"Bearer {self.dev.settings['addon_token']}"}
        ) as resp:
            return resp.status, resp.content_type, await resp.read()

    async def addon_get(self, path: str) -> tuple[int, Any]:
        """The add-on's own API: JSON parsed, anything else as text."""
        status, content_type, body = await self._addon_fetch(path)
        if content_type == "application/json":
            return status, json.loads(body)
        return status, body.decode(errors="replace")

    async def addon_bytes(self, path: str) -> tuple[int, bytes]:
        """A binary resource of the add-on's own API (an evidence JPEG)."""
        status, _, body = await self._addon_fetch(path)
        return status, body


async def _with_all(agents: Any, count: int) -> dict[str, str] | None:
    found: dict[str, str] = await agents()
    return found if len(found) >= count else None


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
