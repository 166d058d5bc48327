"""One printer interface for every backend (OctoPrint, Moonraker), its status and its typed errors.

Pure: no I/O. The clients (octoprint.py, moonraker.py) map their APIs onto `Printer` and raise
only the errors below, so the job manager and the MQTT/HTTP glue never see a backend's details.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Protocol

# Printer states as Jarvis reports them (the `state` field of jarvis/devices/<id>/state).
STATE_OFFLINE: Final = "offline"  # backend reachable, printer not connected / Klipper not ready
STATE_UNREACHABLE: Final = "unreachable"  # backend (OctoPrint/Moonraker) not answering
STATE_IDLE: Final = "idle"
STATE_PRINTING: Final = "printing"
STATE_PAUSED: Final = "paused"
STATE_ERROR: Final = "error"
STATES: Final = (
    STATE_OFFLINE,
    STATE_UNREACHABLE,
    STATE_IDLE,
    STATE_PRINTING,
    STATE_PAUSED,
    STATE_ERROR,
)
GCODE_SUFFIXES: Final = (".gcode", ".gco", ".g")


class PrinterError(Exception):
    """Base of every printer error; `code` is the machine-readable name used in acks and HTTP."""

    code = "printer_error"


class PrinterUnreachableError(PrinterError):
    """The backend does not answer (connection refused, timeout, DNS)."""

    code = "printer_unreachable"


class PrinterAuthError(PrinterError):
    """The backend rejected the API key (OctoPrint 403, Moonraker 401)."""

    code = "printer_auth_failed"


class PrinterOfflineError(PrinterError):
    """The backend answers but the printer cannot act (OctoPrint 409, Moonraker 503 Klipper down)."""

    code = "printer_offline"


class PrinterConflictError(PrinterError):
    """The printer is online but not in a state for this command (e.g. cancel with no job)."""

    code = "printer_busy_or_idle"


class PrinterRequestError(PrinterError):
    """The backend refused the request itself (bad file, bad parameters)."""

    code = "printer_rejected"


@dataclass(frozen=True, slots=True)
class Temperature:
    """One heater: actual and target in °C (target 0 = off)."""

    actual: float | None
    target: float | None


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What a printer is doing now; `asdict` of it is the state payload's core."""

    state: str
    message: str = ""
    temperatures: dict[str, Temperature] = field(default_factory=dict)
    file: str | None = None
    progress: float | None = None  # percent 0-100
    print_time_s: float | None = None
    time_left_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    @property
    def online(self) -> bool:
        """True when the printer can take commands."""
        return self.state not in (STATE_OFFLINE, STATE_UNREACHABLE)


ChangeCallback = Callable[[], None]


class Printer(Protocol):
    """What Jarvis needs from a printer backend. Every method has a timeout and raises PrinterError."""

    kind: str

    async def status(self) -> PrinterStatus:
        """Current state; raises PrinterUnreachableError / PrinterAuthError (never for offline)."""

    async def connect(self) -> None:
        """Connect the backend to the printer (OctoPrint serial port; Moonraker: firmware restart)."""

    async def upload(self, filename: str, data: bytes) -> str:
        """Store a G-code file; returns the name to start it by."""

    async def start(self, filename: str) -> None:
        """Start printing a stored file."""

    async def pause(self) -> None:
        """Pause the running job (a second pause is a no-op)."""

    async def resume(self) -> None:
        """Resume a paused job."""

    async def cancel(self) -> None:
        """Cancel the running or paused job."""

    async def preheat(self, tool: float | None, bed: float | None) -> None:
        """Set heater targets (°C); None leaves a heater alone."""

    async def gcode(self, commands: list[str]) -> None:
        """Send raw G-code lines."""

    async def snapshot_url(self) -> str | None:
        """The webcam snapshot URL the backend advertises, if any."""

    async def watch(self, on_change: ChangeCallback) -> None:
        """Follow the backend's push channel forever, calling on_change on every event; raises on loss."""

    async def close(self) -> None:
        """Release connections."""


def check_gcode(filename: str, data: bytes) -> str | None:
    """Why this is not a printable G-code file, or None. Pure, cheap: name, text, first commands."""
    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        return f"invalid file name {filename!r}: a plain name such as bracket.gcode is expected"
    if not filename.lower().endswith(GCODE_SUFFIXES):
        return f"{filename} is not a G-code file (expected a .gcode, .gco or .g name)"
    if not data.strip():
        return f"{filename} is empty"
    try:
        text = data[:65536].decode("utf-8")
    except UnicodeDecodeError:
        return f"{filename} is not text; G-code is plain text"
    if "\x00" in text:
        return f"{filename} is binary, not G-code"
    lines = [line.split(";", 1)[0].strip() for line in text.splitlines()]
    commands = [line for line in lines if line]
    if not commands:
        return f"{filename} holds only comments, no G-code commands"
    bad = [c for c in commands[:50] if not _looks_like_gcode(c)]
    if bad:
        return f"{filename} does not look like G-code (line {bad[0][:40]!r})"
    return None


def _looks_like_gcode(line: str) -> bool:
    """G1 X.., M104 S.., T0, or a Klipper extended command (WORD PARAM=VALUE)."""
    head = line.split(maxsplit=1)[0]
    if head[0] in "GMTgmt" and (len(head) == 1 or head[1:].replace(".", "", 1).isdigit()):
        return True
    return head.replace("_", "").isalnum() and head.isupper()
