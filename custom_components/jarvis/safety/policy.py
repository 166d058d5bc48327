"""Safety policy: zones, rules and what an action needs (allow, confirm, dual, deny). Pure.

An action is described as `domain.service` on targets (entity ids, door ids, device ids). Rules
are checked in order (configured rules first, then the defaults) and the first rule that matches
decides; an action no rule matches is allowed. Time windows and presence narrow a rule: outside
its window, or with the requester away when presence is required, the action is denied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
import fnmatch
import re
from typing import Any


class Verdict(StrEnum):
    """What an action needs before it may run."""

    ALLOW = "allow"
    CONFIRM = "confirm"  # the requester says yes again
    DUAL = "dual"  # a second, different, authorised person approves
    DENY = "deny"


# How strict each verdict is, for combining several targets (the strictest wins).
STRICTNESS = {Verdict.ALLOW: 0, Verdict.CONFIRM: 1, Verdict.DUAL: 2, Verdict.DENY: 3}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[a-z0-9_]+$")
_ACTION = re.compile(r"^[a-z0-9_*?\[\]]+\.[a-zA-Z0-9_*?\[\]]+$")


class PolicyError(ValueError):
    """A zone or rule that cannot be used: which field, and why (a translation key + text)."""

    def __init__(self, field_name: str, key: str, message: str) -> None:
        """Keep the field and the translation key for forms and service errors."""
        super().__init__(message)
        self.field = field_name
        self.key = key


@dataclass(frozen=True, slots=True)
class Action:
    """One thing someone wants done: `domain.service` on targets, with service data."""

    domain: str
    service: str
    targets: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    # Entity names (friendly names) and areas of the targets, for rules and messages.
    names: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """`domain.service`."""
        return f"{self.domain}.{self.service}"

    def describe(self) -> str:
        """For messages: `lock.unlock on lock.front_door`."""
        on = ", ".join(self.targets)
        return f"{self.name} on {on}" if on else self.name

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored with requests, bound into tokens)."""
        return {
            "domain": self.domain,
            "service": self.service,
            "targets": list(self.targets),
            "data": dict(self.data),
            "names": list(self.names),
            "areas": list(self.areas),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        """Inverse of to_dict."""
        return cls(
            domain=str(data["domain"]),
            service=str(data["service"]),
            targets=tuple(str(t) for t in data.get("targets", ())),
            data=dict(data.get("data") or {}),
            names=tuple(str(n) for n in data.get("names", ())),
            areas=tuple(str(a) for a in data.get("areas", ())),
        )


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Local times (and days) when a rule's action may happen; `end` before `start` spans midnight."""

    start: time
    end: time
    days: frozenset[str] = frozenset(DAYS)

    def contains(self, moment: datetime) -> bool:
        """True when the local moment is inside the window."""
        now = moment.time().replace(tzinfo=None)
        if self.start <= self.end:
            inside = self.start <= now < self.end
            day = moment
        else:  # overnight: the part after midnight belongs to the previous day's window
            inside = now >= self.start or now < self.end
            day = moment if now >= self.start else moment.fromordinal(moment.toordinal() - 1)
        return inside and DAYS[day.weekday()] in self.days


@dataclass(frozen=True, slots=True)
class Zone:
    """A part of the workshop: HA areas, UniFi Access doors, evidence cameras, approvers."""

    name: str
    areas: tuple[str, ...] = ()
    doors: tuple[str, ...] = ()
    cameras: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()  # HA user ids; empty: any administrator
    badge_minutes: int = 10  # how recent the requester's badge-in at a zone door must be
    entities: tuple[
        str, ...
    ] = ()  # entity / device id patterns that belong here regardless of area

    def covers(self, action: Action) -> bool:
        """True when one of the action's targets (or their areas) lies in this zone."""
        if any(t in self.doors for t in action.targets):
            return True
        if any(a in self.areas for a in action.areas):
            return True
        return any(fnmatch.fnmatchcase(t, p) for t in action.targets for p in self.entities)


@dataclass(frozen=True, slots=True)
class Rule:
    """Actions matching every given criterion need `verdict` (empty criteria match anything)."""

    name: str
    verdict: Verdict
    actions: tuple[str, ...] = ()  # `domain.service` globs, e.g. `lock.unlock`, `jarvis_device.*`
    targets: tuple[str, ...] = ()  # entity / door / device id globs
    keywords: tuple[str, ...] = ()  # words in a target's id or name (e.g. "laser")
    zone: str | None = None  # only targets in this zone
    window: TimeWindow | None = None  # outside it: denied
    presence_required: bool = False  # requester away: denied
    allow_remote: bool = False  # remote requesters may still ask (confirm/dual)

    def matches(self, action: Action, zone: Zone | None) -> bool:
        """True when the rule applies to this action."""
        if self.actions and not any(fnmatch.fnmatchcase(action.name, p) for p in self.actions):
            return False
        if self.targets and not any(
            fnmatch.fnmatchcase(t, p) for t in action.targets for p in self.targets
        ):
            return False
        if self.keywords:
            words = " ".join((*action.targets, *action.names)).lower()
            if not any(k in words for k in self.keywords):
                return False
        return self.zone is None or (zone is not None and zone.name == self.zone)


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks, as far as the policy cares."""

    user_id: str | None
    home: bool | None = None  # None: unknown (no person entity)
    remote: bool = False  # asked from outside the local/Tailscale ranges, or person away


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one action."""

    verdict: Verdict
    reason: str
    rule: str | None = None
    zone: Zone | None = None
    allow_remote: bool = False


# Make-hazardous actions in a workshop (make-safe ones, like lock.lock or pause, stay free).
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        name="door_unlock",
        verdict=Verdict.DUAL,
        actions=("lock.unlock", "lock.open", "jarvis_door.unlock", "unifi_access.*"),
    ),
    Rule(
        name="garage_and_gate_open",
        verdict=Verdict.DUAL,
        actions=("cover.open_cover",),
        keywords=("door", "gate", "garage"),
    ),
    Rule(
        name="printer_start",
        verdict=Verdict.CONFIRM,
        actions=("jarvis_device.start", "jarvis_device.print", "jarvis_device.resume"),
    ),
    Rule(
        name="printer_heating",
        verdict=Verdict.DUAL,
        actions=("jarvis_device.preheat", "jarvis_device.gcode", "jarvis_device.set_temperature"),
    ),
    Rule(
        name="laser_power",
        verdict=Verdict.DUAL,
        actions=(
            "*.turn_on",
            "*.toggle",
            "*.set_value",
            "*.set_native_value",
            "*.press",
            "*.select_option",
            "jarvis_device.*",
        ),
        keywords=("laser",),
    ),
    Rule(name="alarm_disarm", verdict=Verdict.DUAL, actions=("alarm_control_panel.alarm_disarm",)),
    # Every jarvis_device command not named above is a machine acting: say yes first, except
    # the make-safe ones.
    Rule(
        name="device_safe_commands",
        verdict=Verdict.ALLOW,
        actions=(
            "jarvis_device.pause",
            "jarvis_device.stop",
            "jarvis_device.cancel",
            "jarvis_device.cooldown",
            "jarvis_device.status",
        ),
    ),
    Rule(name="device_commands", verdict=Verdict.CONFIRM, actions=("jarvis_device.*",)),
)


@dataclass(frozen=True, slots=True)
class Policy:
    """Zones and rules (configured ones before the defaults)."""

    zones: tuple[Zone, ...] = ()
    rules: tuple[Rule, ...] = ()
    use_defaults: bool = True

    def zone(self, name: str) -> Zone:
        """The zone with this name; PolicyError if there is none."""
        for zone in self.zones:
            if zone.name == name:
                return zone
        raise PolicyError("zone", "unknown_zone", f"there is no safety zone named {name!r}")

    def zone_for(self, action: Action) -> Zone | None:
        """The first zone covering the action's targets."""
        return next((z for z in self.zones if z.covers(action)), None)

    def all_rules(self) -> tuple[Rule, ...]:
        """Configured rules, then (unless switched off) the defaults."""
        return self.rules + (DEFAULT_RULES if self.use_defaults else ())

    def evaluate(
        self,
        action: Action,
        requester: Requester,
        now: datetime,
        *,
        zone_name: str | None = None,
    ) -> Decision:
        """What this action needs, and why (the first matching rule decides)."""
        zone = self.zone(zone_name) if zone_name else self.zone_for(action)
        for rule in self.all_rules():
            # A zone-bound rule sees the zone a rule's own zone names, when the action has none.
            if not rule.matches(action, zone):
                continue
            return self._apply(rule, action, requester, now, zone)
        return Decision(Verdict.ALLOW, "no safety rule applies", None, zone)

    @staticmethod
    def _apply(
        rule: Rule, action: Action, requester: Requester, now: datetime, zone: Zone | None
    ) -> Decision:
        if rule.verdict is Verdict.DENY:
            return Decision(
                Verdict.DENY, f"rule {rule.name!r} forbids {action.describe()}", rule.name, zone
            )
        if rule.window is not None and not rule.window.contains(now):
            return Decision(
                Verdict.DENY,
                f"rule {rule.name!r} allows {action.name} only "
                f"{rule.window.start:%H:%M}-{rule.window.end:%H:%M} on "
                f"{', '.join(d for d in DAYS if d in rule.window.days)}",
                rule.name,
                zone,
            )
        if rule.presence_required and requester.home is not True:
            return Decision(
                Verdict.DENY,
                f"rule {rule.name!r} needs the requester at home for {action.name}",
                rule.name,
                zone,
            )
        if rule.verdict is not Verdict.ALLOW and requester.remote and not rule.allow_remote:
            return Decision(
                Verdict.DENY,
                f"{action.name} cannot be requested remotely (rule {rule.name!r})",
                rule.name,
                zone,
            )
        reason = {
            Verdict.ALLOW: f"rule {rule.name!r} allows it",
            Verdict.CONFIRM: f"rule {rule.name!r}: the requester must confirm",
            Verdict.DUAL: f"rule {rule.name!r}: a second authorised person must approve",
        }[rule.verdict]
        return Decision(rule.verdict, reason, rule.name, zone, rule.allow_remote)


def strictest(decisions: Iterable[Decision]) -> Decision:
    """The decision that asks most (deny over dual over confirm over allow)."""
    result: Decision | None = None
    for decision in decisions:
        if result is None or STRICTNESS[decision.verdict] > STRICTNESS[result.verdict]:
            result = decision
    return result or Decision(Verdict.ALLOW, "nothing to do")


# -- parsing configuration (config subentries, service data) -------------------------------------


def _strings(value: Any, field_name: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = re.split(r"[,\n]", value)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise PolicyError(field_name, "not_a_list", f"{field_name} must be a list of text")
    return tuple(v.strip() for v in value if v.strip())


def _name(value: Any, field_name: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(field_name, "name_required", f"{field_name} is required")
    name = value.strip().lower().replace(" ", "_")
    if not _NAME.match(name):
        raise PolicyError(
            field_name,
            "invalid_name",
            f"{field_name} {value!r} may only hold letters, digits, spaces and underscores",
        )
    return name


def _clock(value: Any, field_name: str) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PolicyError(field_name, "invalid_time", f"{field_name} {value!r} is not a time (HH:MM)")


def parse_window(data: Mapping[str, Any]) -> TimeWindow | None:
    """A time window from `window_start`/`window_end`/`window_days` (None when unset)."""
    start, end = data.get("window_start"), data.get("window_end")
    if not start and not end:
        return None
    if not start or not end:
        raise PolicyError(
            "window_start" if not start else "window_end",
            "window_incomplete",
            "a time window needs both a start and an end",
        )
    begin, finish = _clock(start, "window_start"), _clock(end, "window_end")
    if begin == finish:
        raise PolicyError("window_end", "window_empty", "the time window's start and end are equal")
    days = tuple(d.lower()[:3] for d in _strings(data.get("window_days"), "window_days")) or DAYS
    if bad := [d for d in days if d not in DAYS]:
        raise PolicyError("window_days", "invalid_days", f"unknown days: {', '.join(bad)}")
    return TimeWindow(begin, finish, frozenset(days))


def parse_zone(data: Mapping[str, Any]) -> Zone:
    """A zone from subentry data; PolicyError names the bad field."""
    minutes = data.get("badge_minutes", 10)
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, (int, float))
        or not 1 <= minutes <= 1440
    ):
        raise PolicyError(
            "badge_minutes", "invalid_minutes", "badge_minutes must be a number from 1 to 1440"
        )
    cameras = _strings(data.get("cameras"), "cameras")
    if bad := [c for c in cameras if not c.startswith("camera.")]:
        raise PolicyError("cameras", "invalid_camera", f"not camera entities: {', '.join(bad)}")
    return Zone(
        name=_name(data.get("name")),
        areas=_strings(data.get("areas"), "areas"),
        doors=_strings(data.get("doors"), "doors"),
        cameras=cameras,
        approvers=_strings(data.get("approvers"), "approvers"),
        badge_minutes=int(minutes),
        entities=_strings(data.get("entities"), "entities"),
    )


def parse_rule(data: Mapping[str, Any], zones: Iterable[Zone] = ()) -> Rule:
    """A rule from subentry data; PolicyError names the bad field."""
    raw_verdict = data.get("verdict")
    try:
        verdict = Verdict(str(raw_verdict))
    except ValueError:
        raise PolicyError(
            "verdict",
            "invalid_verdict",
            f"verdict {raw_verdict!r} is not one of {', '.join(v.value for v in Verdict)}",
        ) from None
    actions = _strings(data.get("actions"), "actions")
    if bad := [a for a in actions if not _ACTION.match(a)]:
        raise PolicyError(
            "actions", "invalid_action", f"not domain.service patterns: {', '.join(bad)}"
        )
    targets = _strings(data.get("targets"), "targets")
    keywords = tuple(k.lower() for k in _strings(data.get("keywords"), "keywords"))
    if not (actions or targets or keywords):
        raise PolicyError(
            "actions", "rule_matches_everything", "a rule needs actions, targets or keywords"
        )
    zone = data.get("zone") or None
    if zone is not None:
        zone = _name(zone, "zone")
        if zone not in {z.name for z in zones}:
            raise PolicyError("zone", "unknown_zone", f"there is no safety zone named {zone!r}")
    return Rule(
        name=_name(data.get("name")),
        verdict=verdict,
        actions=actions,
        targets=targets,
        keywords=keywords,
        zone=zone,
        window=parse_window(data),
        presence_required=bool(data.get("presence_required", False)),
        allow_remote=bool(data.get("allow_remote", False)),
    )


def build_policy(
    zones: Iterable[Mapping[str, Any]],
    rules: Iterable[Mapping[str, Any]],
    *,
    use_defaults: bool = True,
) -> Policy:
    """A whole policy; zone names must be unique and rules may only name known zones."""
    parsed_zones: list[Zone] = []
    for raw in zones:
        zone = parse_zone(raw)
        if any(z.name == zone.name for z in parsed_zones):
            raise PolicyError("name", "duplicate_zone", f"two safety zones are named {zone.name!r}")
        parsed_zones.append(zone)
    parsed_rules = tuple(parse_rule(raw, parsed_zones) for raw in rules)
    return Policy(tuple(parsed_zones), parsed_rules, use_defaults)
