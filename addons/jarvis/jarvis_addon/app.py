"""Entry point: options -> Settings -> HTTP API + MQTT bridge + local model (+ discovery).

    python -m jarvis_addon --options FILE [--data-dir DIR] [--host H] [--port P]
                           [--mqtt-keepalive S] [--mqtt-reconnect-max S]

Exit codes: 0 after SIGTERM/SIGINT, 2 for unusable options (one line per problem on stderr),
1 when the API cannot listen or the token cannot be stored.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping, Sequence
import json
import logging
import os
from pathlib import Path
import signal
import socket
import sqlite3
import sys
from typing import Final

import aiohttp
from aiohttp import web

from . import __version__, api_token
from .cad import config as cad_config
from .cad.s3 import S3ConfigError
from .cad.service import CadService
from .cv.mqtt_glue import CvMqtt
from .cv.printer_link import ManagerLink
from .cv.service import build_cv_service
from .llm.service import LlmOptions, LocalLlm
from .mqtt import Broker, BrokerResolver, BrokerUnavailableError, MqttBridge
from .printers.manager import PrinterManager
from .printers.mqtt_glue import PrinterMqtt
from .settings import OptionsError, Settings
from .supervisor import SupervisorClient, SupervisorError
from .web import ApiState, create_app

_LOGGER = logging.getLogger("jarvis_addon")

PROG: Final = "jarvis-addon"
DEFAULT_PORT: Final = 8099  # config.yaml ingress_port
DISCOVERY_ATTEMPTS: Final = 5
DISCOVERY_FIRST_DELAY: Final = 1.0
REDACTED: Final = "**redacted**"


class RedactingFormatter(logging.Formatter):
    """Replaces known secrets in every formatted line, whoever logged them (ours or a library's)."""

    def __init__(self, fmt: str) -> None:
        """Start with no secrets; add them as they become known."""
        super().__init__(fmt)
        self._secrets: set[str] = set()

    def add_secret(self, secret: str | None) -> None:
        """Redact this value from now on (short values would mangle ordinary words, so skip them)."""
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, then blank out every known secret."""
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def build_parser() -> argparse.ArgumentParser:
    """Command line flags; defaults fit the add-on container."""
    parser = argparse.ArgumentParser(prog=PROG, description="Jarvis add-on worker")
    parser.add_argument(
        "--options",
        type=Path,
        default=Path("/data/options.json"),
        help="options JSON (Supervisor writes /data/options.json)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("/data"),
        help="persistent directory (the generated API token lives here)",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address the API listens on")  # noqa: S104 - container-internal network
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="API port (the ingress port in the container)",
    )
    parser.add_argument(
        "--mqtt-keepalive",
        type=int,
        default=60,
        help="MQTT keepalive in seconds (the broker detects a dead worker after 1.5x)",
    )
    parser.add_argument(
        "--mqtt-reconnect-max",
        type=float,
        default=30.0,
        help="longest wait between MQTT reconnect attempts, seconds",
    )
    parser.add_argument(
        "--mqtt-reconnect-min",
        type=float,
        default=1.0,
        help="first wait before an MQTT reconnect attempt, seconds",
    )
    return parser


def load_settings(path: Path) -> Settings:
    """Read and validate the options file; OptionsError lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise OptionsError([f"cannot read the file: {err.strerror or err}"]) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise OptionsError(
            [f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"]
        ) from None
    if not isinstance(raw, dict):
        raise OptionsError([f"expected a JSON object of options, got {type(raw).__name__}"])
    return Settings.from_options(raw)


def setup_logging(level: str) -> RedactingFormatter:
    """Log to stderr (the Supervisor shows it in the add-on's Log tab); returns the redactor."""
    formatter = RedactingFormatter("%(asctime)s %(levelname)s (%(name)s) %(message)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    debug = level == "debug"
    # Per-request access lines and paho's packet trace only when debugging.
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("mqtt").setLevel(logging.DEBUG if debug else logging.WARNING)
    return formatter


def make_resolver(
    settings: Settings, supervisor: SupervisorClient | None, redactor: RedactingFormatter
) -> BrokerResolver:
    """Where the broker comes from: an explicit `mqtt_host` option wins, else the Supervisor's mqtt service."""
    if settings.mqtt_host:
        broker = Broker(
            settings.mqtt_host,
            settings.mqtt_port,
            settings.mqtt_username,
            settings.mqtt_password,
            source="options",
        )

        async def from_options() -> Broker:
            return broker

        return from_options
    if supervisor is None:
        raise ValueError("no MQTT broker: neither mqtt_host nor the Supervisor")

    async def from_supervisor() -> Broker:
        # Asked on every attempt: the Mosquitto add-on may start after us or change credentials.
        try:
            svc = await supervisor.get_mqtt_service()
        except SupervisorError as err:
            raise BrokerUnavailableError(f"no MQTT service from the Supervisor: {err}") from None
        redactor.add_secret(svc.password)
        return Broker(
            svc.host,
            svc.port,
            svc.username,
            svc.password,
            tls=svc.ssl,
            protocol=svc.protocol,
            source="supervisor",
        )

    return from_supervisor


async def announce_discovery(
    supervisor: SupervisorClient,
    state: ApiState,
    port: int,
    attempts: int = DISCOVERY_ATTEMPTS,
    first_delay: float = DISCOVERY_FIRST_DELAY,
) -> str | None:
    """Tell Home Assistant where the API is (host, port, token); retries, never raises."""
    state.hostname = await supervisor.self_hostname()
    config = {"host": state.hostname, "port": port, "api_token": state.api_token}
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            uuid = await supervisor.announce(config)
        except SupervisorError as err:
            if attempt == attempts:
                _LOGGER.error(
                    "Discovery failed after %d attempts (%s); add the Jarvis integration by hand (host %s, port %d)",
                    attempts,
                    err,
                    state.hostname,
                    port,
                )
                return None
            _LOGGER.warning(
                "Discovery attempt %d/%d failed (%s); retrying in %.0f s",
                attempt,
                attempts,
                err,
                delay,
            )
            await asyncio.sleep(delay)
            delay *= 2
        else:
            _LOGGER.info(
                "Discovery sent to Home Assistant (uuid %s): host %s, port %d",
                uuid,
                state.hostname,
                port,
            )
            return uuid
    return None  # pragma: no cover - attempts >= 1


async def serve(
    args: argparse.Namespace,
    settings: Settings,
    token: str,
    redactor: RedactingFormatter,
    environ: Mapping[str, str],
    *,
    instance_id: str,
) -> int:
    """Run until SIGTERM/SIGINT, then shut down cleanly (offline published, server closed)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with aiohttp.ClientSession() as session:
        supervisor = SupervisorClient.from_env(session, environ)
        bridge = MqttBridge(
            make_resolver(settings, supervisor, redactor),
            # Stable id + persistent session: commands sent while we reconnect are queued for us.
            client_id=f"jarvis-addon-{instance_id}",
            clean_session=False,
            keepalive=args.mqtt_keepalive,
            reconnect_min=args.mqtt_reconnect_min,
            reconnect_max=args.mqtt_reconnect_max,
        )
        printer_mqtt = PrinterMqtt(bridge)
        printers = PrinterManager(
            settings.printers,
            session,
            printer_mqtt,
            data_dir=args.data_dir,
            files_dir=Path(settings.print_files_dir),
            poll_interval=settings.printer_poll_interval,
        )
        printer_mqtt.attach(printers)
        for printer in settings.printers:
            redactor.add_secret(printer.api_key)
        llm = LocalLlm(
            LlmOptions(
                enabled=settings.llm_enabled,
                threads=settings.llm_threads,
                model_path=settings.llm_model_path,
                verbose=settings.log_level == "debug",
            )
        )
        cad = _make_cad(settings, args.data_dir, bridge, environ)
        if cad is not None:
            bridge.on_connect(cad.announce)  # the CAD job sensor exists before the first job
        # The CV monitor watches each printer's camera while a job runs and pauses it through
        # the printer manager; the manager's job events tell it when jobs start and stop.
        link = ManagerLink(printers)
        printer_mqtt.add_event_listener(link.printer_event)
        # Prints Jarvis did not start (OctoPrint's own UI, a slicer) are watched too.
        printer_mqtt.add_state_listener(link.printer_state)
        cv = build_cv_service(
            settings,
            session,
            link,
            bridge,
            evidence_dir=Path(settings.cv_evidence_dir),
            environ=environ,
        )
        cv_mqtt = CvMqtt(bridge, cv, {p.id: p.name for p in settings.printers})
        state = ApiState(
            api_token=token,
            mqtt=bridge,
            instance_id=instance_id,
            supervised=supervisor is not None,
            hostname=socket.gethostname(),
            llm=llm,
            cad=cad,
            printers=printers,
            cv=cv if cv.monitors else None,
        )
        runner = web.AppRunner(create_app(state))
        await runner.setup()
        try:
            await web.TCPSite(runner, args.host, args.port).start()
        except OSError as err:
            await runner.cleanup()
            _say(f"{PROG}: cannot listen on {args.host}:{args.port}: {err.strerror or err}")
            return 1
        _LOGGER.info("API listening on %s:%d", args.host, args.port)
        bridge.start()
        if cad is not None:
            cad.start()
        printers.start()
        cv.start()
        cv_mqtt.start()
        llm.start_in_background()  # the API answers (llm.ready false) while the model loads
        discovery = (
            asyncio.create_task(announce_discovery(supervisor, state, args.port))
            if supervisor
            else None
        )

        await stop.wait()
        _LOGGER.info("Shutting down")
        if discovery:
            discovery.cancel()
            await asyncio.gather(discovery, return_exceptions=True)
        if cad is not None:
            await cad.stop()
        await cv_mqtt.stop()
        await cv.stop()
        await printers.stop()
        await bridge.stop()
        await llm.stop()  # first: proxied answers in flight end now instead of delaying cleanup
        await runner.cleanup()
    _LOGGER.info("Stopped")
    return 0


def _make_cad(
    settings: Settings, data_dir: Path, bridge: MqttBridge, environ: Mapping[str, str]
) -> CadService | None:
    """The CAD service (jobs publish on MQTT through the bridge), or None when disabled."""
    try:
        config = cad_config.load(settings.cad, data_dir, environ)
    except S3ConfigError as err:  # inconsistent cad.s3_* options: CAD off, the worker runs on
        _LOGGER.error("CAD disabled: invalid S3 options: %s", err)
        return None
    if not config.enabled:
        return None
    try:
        service = cad_config.build_service(config, bridge.publish)
    except (OSError, sqlite3.Error) as err:  # an unwritable /share must not stop the worker
        _LOGGER.error("CAD disabled: cannot use %s (%s)", config.root, err)
        return None
    _LOGGER.info(
        "CAD: artifacts in %s%s%s",
        config.root,
        f" and S3 {config.s3.location}" if config.s3 else "",
        " (offline mode)" if config.offline else "",
    )
    return service


def _say(line: str) -> None:
    """A plain line on stderr: startup failures are shown before (or without) logging."""
    sys.stderr.write(line + "\n")


def _options_failure(path: Path, problems: Sequence[str]) -> int:
    _say(f"{PROG}: invalid options in {path}:")
    for problem in problems:
        _say(f"  {problem}")
    return 2


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Parse flags, validate options, run the worker; returns the exit code."""
    args = build_parser().parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        settings = load_settings(args.options)
    except OptionsError as err:
        return _options_failure(args.options, err.problems)
    supervised = bool(env.get("SUPERVISOR_TOKEN"))
    if not settings.mqtt_host and not supervised:
        return _options_failure(
            args.options,
            [
                "mqtt_host: required when not running under the Supervisor (SUPERVISOR_TOKEN is not set)"
            ],
        )

    redactor = setup_logging(settings.log_level)
    redactor.add_secret(settings.mqtt_password)
    for key in ("zoo_api_token", "tripo_api_key", "s3_secret_key"):
        redactor.add_secret(settings.cad.get(key))
    redactor.add_secret(env.get("SUPERVISOR_TOKEN"))
    try:
        token = api_token.load_or_create(args.data_dir, settings.api_token)
        instance_id = api_token.load_or_create_instance_id(args.data_dir)
    except OSError as err:
        _say(
            f"{PROG}: cannot store the API token or instance id in {args.data_dir}: {err.strerror or err}"
        )
        return 1
    redactor.add_secret(token)
    _LOGGER.info(
        "Jarvis add-on %s starting (%s; API token %s)",
        __version__,
        "under the Supervisor" if supervised else "standalone",
        "from options" if settings.api_token else f"kept in {args.data_dir / api_token.TOKEN_FILE}",
    )
    return asyncio.run(serve(args, settings, token, redactor, env, instance_id=instance_id))
