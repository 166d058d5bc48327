"""Add-on options: the Supervisor schema, a validator for its types, and the Settings they produce.

Pure: no I/O, no network. The Supervisor validates options before it writes /data/options.json,
but the worker also runs as a plain process (development, tests), so it checks them itself with
the same type language. Behaviour follows Supervisor's supervisor/addons/options.py, except that
unknown options are errors here (the Supervisor drops them with a warning) and a null optional
option counts as unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import re
from typing import Any, Final
from urllib.parse import urlparse

from .cv.config import CV_SCHEMA, CameraOptions, parse_cameras

# Must equal config.yaml's `schema` and `options` (a test checks both).
SCHEMA: Final[dict[str, Any]] = {
    "log_level": "list(debug|info|warning|error)",
    "api_token": "password?",
    "mqtt_host": "str?",
    "mqtt_port": "port?",
    "mqtt_username": "str?",
    "mqtt_password": "password?",
    "llm_enabled": "bool",
    "llm_threads": "int(1,16)",
    "llm_model_path": "str?",
    # CAD generation (jarvis_addon.cad.config): a group of its own so the list above stays short.
    "cad": {
        "enabled": "bool?",
        "dir": "str?",
        "offline": "bool?",
        "budget_usd": "float?",
        "zoo_api_token": "password?",
        "zoo_base_url": "url?",
        "tripo_api_key": "password?",
        "tripo_base_url": "url?",
        "tripo_model_version": "str?",
        # TripoSR, local image-to-mesh (providers/triposr.py): off until weights are configured.
        "triposr_weights": "str?",
        "triposr_sha256": "match(^[0-9a-fA-F]{64}$)?",
        "triposr_python": "str?",
        "triposr_resolution": "int(8,512)?",
        "triposr_threshold": "float?",
        "triposr_timeout": "float?",
        # Optional S3-compatible artifact storage (cad/s3.py); files stay local when unset.
        "s3_endpoint_url": "url?",
        "s3_bucket": "str?",
        "s3_access_key": "str?",
        "s3_secret_key": "password?",
        "s3_region": "str?",
        "s3_prefix": "str?",
        "s3_verify_tls": "bool?",
    },
    # Printers (docs/printers.md): one entry per OctoPrint or Moonraker instance.
    "printers": [
        {
            "id": "match(^[a-z0-9_]{1,32}$)",
            "name": "str(1,64)",
            "type": "list(octoprint|moonraker)",
            "url": "url",
            "api_key": "password(1,)",
            "serial_port": "str?",
            "snapshot_url": "url?",
            "scene_start": "match(^(scene|script)\\.[a-z0-9_]+$)?",
            "scene_finish": "match(^(scene|script)\\.[a-z0-9_]+$)?",
            "scene_failure": "match(^(scene|script)\\.[a-z0-9_]+$)?",
        }
    ],
    "printer_poll_interval": "int(1,300)?",
    "print_files_dir": "str?",
    **CV_SCHEMA,
}
DEFAULT_OPTIONS: Final[dict[str, Any]] = {
    "log_level": "info",
    "llm_enabled": True,
    "llm_threads": 1,
    "printers": [],
}
DEFAULT_PRINT_FILES_DIR: Final = "/share/jarvis/prints"
DEFAULT_CV_EVIDENCE_DIR: Final = "/share/jarvis/cv"  # evidence snapshots, <dir>/<camera>/*.jpg
DEFAULT_PRINTER_POLL_S: Final = 5


@dataclass(frozen=True, slots=True)
class PrinterConfig:
    """One configured printer; the key stays out of repr (and so out of logs)."""

    id: str
    name: str
    type: str
    url: str
    api_key: str = field(repr=False)
    serial_port: str | None = None
    snapshot_url: str | None = None
    scene_start: str | None = None
    scene_finish: str | None = None
    scene_failure: str | None = None

    @classmethod
    def from_option(cls, raw: Mapping[str, Any]) -> PrinterConfig:
        """From one validated `printers` entry (empty optional strings count as unset)."""

        def opt(key: str) -> str | None:
            value = raw.get(key)
            return str(value) if value not in (None, "") else None

        return cls(
            id=str(raw["id"]),
            name=str(raw["name"]),
            type=str(raw["type"]),
            url=str(raw["url"]).rstrip("/"),
            api_key=str(raw["api_key"]),
            serial_port=opt("serial_port"),
            snapshot_url=opt("snapshot_url"),
            scene_start=opt("scene_start"),
            scene_finish=opt("scene_finish"),
            scene_failure=opt("scene_failure"),
        )


DEFAULT_MQTT_PORT: Final = 1883

# Same grammar as the Supervisor's RE_SCHEMA_ELEMENT.
_TYPE_RE: Final = re.compile(
    r"^(?:"
    r"|(?P<bool>bool)"
    r"|(?P<email>email)"
    r"|(?P<url>url)"
    r"|(?P<port>port)"
    r"|(?P<device>device)(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|(?P<str>str)(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|(?P<password>password)(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|(?P<int>int)(?:\((?P<i_min>\d+)?,(?P<i_max>\d+)?\))?"
    r"|(?P<float>float)(?:\((?P<f_min>[\d\.]+)?,(?P<f_max>[\d\.]+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")(?P<optional>\?)?$"
)
_KINDS: Final = ("bool", "email", "url", "port", "device", "str", "password", "int", "float")
_EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_TRUE: Final = frozenset({"1", "true", "yes", "on", "enable"})
_FALSE: Final = frozenset({"0", "false", "no", "off", "disable"})


class OptionsError(ValueError):
    """Options that do not fit the schema; `problems` lists every one, each naming its field."""

    def __init__(self, problems: list[str]) -> None:
        """Keep the list; the message joins it."""
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SchemaType:
    """One parsed type string such as `int(1,10)?` or `list(a|b)`."""

    kind: str
    optional: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated options. Secrets are left out of repr so they never reach a log line."""

    log_level: str = "info"
    api_token: str | None = field(default=None, repr=False)
    mqtt_host: str | None = None
    mqtt_port: int = DEFAULT_MQTT_PORT
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)
    llm_enabled: bool = True
    llm_threads: int = 1
    llm_model_path: str | None = None
    cad: dict[str, Any] = field(
        default_factory=dict, repr=False
    )  # holds API keys: kept out of repr
    printers: tuple[PrinterConfig, ...] = ()
    printer_poll_interval: int = DEFAULT_PRINTER_POLL_S
    print_files_dir: str = DEFAULT_PRINT_FILES_DIR
    # CV monitor (cv/config.py): a camera per printer and how sources are reached.
    cameras: tuple[CameraOptions, ...] = ()
    cv_interval: float = 2.0
    cv_evidence_dir: str = DEFAULT_CV_EVIDENCE_DIR
    ha_url: str | None = None
    ha_token: str | None = field(default=None, repr=False)
    unifi_host: str | None = None
    unifi_port: int = 443
    unifi_username: str | None = None
    unifi_password: str | None = field(default=None, repr=False)
    unifi_api_key: str | None = field(default=None, repr=False)
    unifi_verify_ssl: bool = True

    @classmethod
    def from_options(cls, raw: Mapping[str, Any]) -> Settings:
        """Validate raw options (config.yaml defaults filled in, as the Supervisor does)."""
        opts = validate_options({**DEFAULT_OPTIONS, **raw}, SCHEMA)

        def text(key: str) -> str | None:
            # An empty optional string means "not set" (the HA UI saves cleared fields as "").
            value = opts.get(key)
            return str(value) if value not in (None, "") else None

        unifi_configured = bool(
            text("unifi_host")
            and ((text("unifi_username") and text("unifi_password")) or text("unifi_api_key"))
        )
        cameras, problems = parse_cameras(
            opts.get("cameras") or [], unifi_configured=unifi_configured
        )
        if problems:
            raise OptionsError(problems)
        return cls(
            log_level=str(opts["log_level"]),
            api_token=text("api_token"),
            mqtt_host=text("mqtt_host"),
            mqtt_port=int(opts.get("mqtt_port") or DEFAULT_MQTT_PORT),
            mqtt_username=text("mqtt_username"),
            mqtt_password=text("mqtt_password"),
            llm_enabled=bool(opts["llm_enabled"]),
            llm_threads=int(opts["llm_threads"]),
            llm_model_path=text("llm_model_path"),
            cad={k: v for k, v in (opts.get("cad") or {}).items() if v not in (None, "")},
            printers=_printers(opts.get("printers") or []),
            printer_poll_interval=int(opts.get("printer_poll_interval") or DEFAULT_PRINTER_POLL_S),
            print_files_dir=text("print_files_dir") or DEFAULT_PRINT_FILES_DIR,
            cameras=cameras,
            cv_interval=float(opts.get("cv_interval") or 2.0),
            cv_evidence_dir=text("cv_evidence_dir") or DEFAULT_CV_EVIDENCE_DIR,
            ha_url=text("ha_url"),
            ha_token=text("ha_token"),
            unifi_host=text("unifi_host"),
            unifi_port=int(opts.get("unifi_port") or 443),
            unifi_username=text("unifi_username"),
            unifi_password=text("unifi_password"),
            unifi_api_key=text("unifi_api_key"),
            unifi_verify_ssl=bool(opts.get("unifi_verify_ssl", True)),
        )


def _printers(raw: list[Mapping[str, Any]]) -> tuple[PrinterConfig, ...]:
    """Printer entries, with the checks the schema language cannot express (unique ids)."""
    printers = tuple(PrinterConfig.from_option(item) for item in raw)
    seen: set[str] = set()
    problems = []
    for i, printer in enumerate(printers):
        if printer.id in seen:
            problems.append(f"printers[{i}].id: {printer.id!r} is used by another printer")
        seen.add(printer.id)
        if not printer.url.startswith(("http://", "https://")):
            problems.append(
                f"printers[{i}].url: expected an http:// or https:// URL, got {printer.url!r}"
            )
    if problems:
        raise OptionsError(problems)
    return printers


def parse_type(spec: str) -> SchemaType:
    """Parse one Supervisor type string; ValueError if the Supervisor would not accept it."""
    if not isinstance(spec, str) or not (m := _TYPE_RE.match(spec)) or spec in ("", "?"):
        raise ValueError(f"unknown schema type {spec!r}")
    optional = m.group("optional") is not None
    if m.group("match") is not None:
        try:
            re.compile(m.group("match"))
        except re.error as err:
            raise ValueError(f"invalid regular expression in {spec!r}: {err}") from None
        return SchemaType("match", optional, pattern=m.group("match"))
    if m.group("list") is not None:
        return SchemaType("list", optional, choices=tuple(m.group("list").split("|")))
    kind = next(k for k in _KINDS if m.group(k))
    prefix = {"str": "s", "password": "p", "int": "i", "float": "f"}.get(kind)
    lo = hi = None
    if prefix:
        lo_s, hi_s = m.group(f"{prefix}_min"), m.group(f"{prefix}_max")
        try:
            lo = float(lo_s) if lo_s else None
            hi = float(hi_s) if hi_s else None
        except ValueError:
            raise ValueError(f"invalid range in {spec!r}") from None
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"empty range in {spec!r}")
    return SchemaType(kind, optional, lo, hi)


def parse_schema(schema: Mapping[str, Any], prefix: str = "") -> None:
    """Check a whole schema (strings, one-element lists, nested dicts); ValueError names the key."""
    for key, spec in schema.items():
        name = f"{prefix}{key}"
        if isinstance(spec, dict):
            parse_schema(spec, f"{name}.")
        elif isinstance(spec, list):
            if len(spec) != 1 or isinstance(spec[0], list):
                raise ValueError(f"{name}: a list schema holds exactly one type, not another list")
            parse_schema({key: spec[0]}, prefix)
        else:
            try:
                parse_type(spec)
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None


def validate_options(raw: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return coerced options, or raise OptionsError listing every problem at once."""
    problems: list[str] = []
    result = _validate_dict(raw, schema, "", problems)
    if problems:
        raise OptionsError(problems)
    return result


def _validate_dict(
    raw: Mapping[str, Any], schema: Mapping[str, Any], prefix: str, problems: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in schema:
            problems.append(f"unknown option {prefix + key!r}")
        elif value is not None:  # None: unset if optional, reported below if required
            out[key] = _validate_element(schema[key], value, f"{prefix}{key}", problems)
    for key, spec in schema.items():
        if raw.get(key) is None and not _is_optional(spec):
            problems.append(f"missing required option {prefix + key!r}")
    return out


def _is_optional(spec: Any) -> bool:
    # As in the Supervisor: dicts are optional, a list is optional when its element type is.
    if isinstance(spec, list) and spec:
        spec = spec[0]
    if isinstance(spec, dict):
        return True
    return isinstance(spec, str) and spec.endswith("?")


def _validate_element(spec: Any, value: Any, name: str, problems: list[str]) -> Any:
    if isinstance(spec, dict):
        if not isinstance(value, Mapping):
            problems.append(f"{name}: expected a mapping, got {_show(value)}")
            return None
        return _validate_dict(value, spec, f"{name}.", problems)
    if isinstance(spec, list):
        if not isinstance(value, list):
            problems.append(f"{name}: expected a list, got {_show(value)}")
            return None
        return [
            _validate_element(spec[0], item, f"{name}[{i}]", problems)
            for i, item in enumerate(value)
        ]
    try:
        typ = parse_type(spec)
    except ValueError as err:
        problems.append(f"{name}: {err}")
        return None
    if value is None:
        problems.append(f"missing required option {name!r}")
        return None
    try:
        return _coerce(typ, value)
    except ValueError as err:
        shown = "<hidden>" if typ.kind == "password" else _show(value)
        problems.append(f"{name}: {err}, got {shown}")
        return None


def _coerce(typ: SchemaType, value: Any) -> Any:
    """Coerce one scalar; ValueError("expected ...") when it does not fit."""
    kind = typ.kind
    if kind in ("str", "password", "device"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("expected a string")
        text = str(value)
        _check_range(len(text), typ, "a string of", " characters")
        return text
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | str) and str(value).strip().lower() in _TRUE | _FALSE:
            return str(value).strip().lower() in _TRUE
        raise ValueError("expected true or false")
    if kind in ("int", "port"):
        number = _to_int(value)
        if kind == "port":
            if number is None or not 1 <= number <= 65535:
                raise ValueError("expected a port 1-65535")
            return number
        if number is None:
            raise ValueError("expected an integer")
        _check_range(number, typ, "an integer")
        return number
    if kind == "float":
        real = _to_float(value)
        if real is None:
            raise ValueError("expected a number")
        _check_range(real, typ, "a number")
        return real
    if kind == "email":
        if not isinstance(value, str) or not _EMAIL_RE.match(value):
            raise ValueError("expected an email address")
        return value
    if kind == "url":
        parsed = urlparse(value) if isinstance(value, str) else None
        if parsed is None or not parsed.scheme or not parsed.netloc:
            raise ValueError("expected a URL such as http://host:port/path")
        return value
    if kind == "match":
        pattern = typ.pattern or ""
        if (
            isinstance(value, bool)
            or not isinstance(value, str | int | float)
            or not re.match(pattern, str(value))
        ):
            raise ValueError(f"expected a value matching {typ.pattern}")
        return str(value)
    if kind == "list":
        if isinstance(value, bool) or str(value) not in typ.choices:
            raise ValueError(f"expected one of {'|'.join(typ.choices)}")
        return str(value)
    raise ValueError(
        f"unsupported type {kind}"
    )  # pragma: no cover - parse_type admits only the kinds above


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _check_range(number: float, typ: SchemaType, what: str, unit: str = "") -> None:
    lo, hi = typ.minimum, typ.maximum

    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else str(x)

    if lo is not None and hi is not None and not lo <= number <= hi:
        raise ValueError(f"expected {what} {fmt(lo)}-{fmt(hi)}{unit}")
    if lo is not None and number < lo:
        raise ValueError(f"expected {what} at least {fmt(lo)}{unit}")
    if hi is not None and number > hi:
        raise ValueError(f"expected {what} at most {fmt(hi)}{unit}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
