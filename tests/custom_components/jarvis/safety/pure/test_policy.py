"""The pure safety policy: defaults, rules, zones, windows, presence, remote guard, parsing."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from custom_components.jarvis.safety.policy import (
    Action,
    Decision,
    Policy,
    PolicyError,
    Requester,
    TimeWindow,
    Verdict,
    build_policy,
    parse_rule,
    parse_window,
    parse_zone,
    strictest,
)

HOME = Requester("u1", home=True)
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday


def _eval(
    policy: Policy, action: Action, who: Requester = HOME, now: datetime = MONDAY_NOON
) -> Decision:
    return policy.evaluate(action, who, now)


@pytest.mark.parametrize(
    ("action", "verdict"),
    [
        (Action("lock", "unlock", ("lock.front",)), Verdict.DUAL),
        (Action("lock", "lock", ("lock.front",)), Verdict.ALLOW),
        (Action("jarvis_door", "unlock", ("door-1",)), Verdict.DUAL),
        (Action("jarvis_device", "preheat", ("printer-1",)), Verdict.DUAL),
        (Action("jarvis_device", "gcode", ("printer-1",), {"gcode": "M104 S220"}), Verdict.DUAL),
        (Action("jarvis_device", "start", ("printer-1",)), Verdict.CONFIRM),
        (Action("jarvis_device", "pause", ("printer-1",)), Verdict.ALLOW),
        (Action("jarvis_device", "home_axes", ("printer-1",)), Verdict.CONFIRM),
        (Action("switch", "turn_on", ("switch.laser_cutter",)), Verdict.DUAL),
        (Action("switch", "turn_on", ("switch.relay_3",), names=("Laser power",)), Verdict.DUAL),
        (Action("switch", "turn_off", ("switch.laser_cutter",)), Verdict.ALLOW),
        (Action("light", "turn_on", ("light.kitchen",)), Verdict.ALLOW),
        (Action("cover", "open_cover", ("cover.garage_door",)), Verdict.DUAL),
        (Action("cover", "open_cover", ("cover.blinds",)), Verdict.ALLOW),
        (
            Action("alarm_control_panel", "alarm_disarm", ("alarm_control_panel.shop",)),
            Verdict.DUAL,
        ),
    ],
)
def test_defaults_gate_make_hazardous_actions(action: Action, verdict: Verdict) -> None:
    assert _eval(Policy(), action).verdict is verdict


def test_defaults_can_be_switched_off() -> None:
    policy = Policy(use_defaults=False)
    assert _eval(policy, Action("lock", "unlock", ("lock.front",))).verdict is Verdict.ALLOW


def test_configured_rules_come_first_and_deny_has_a_reason() -> None:
    policy = build_policy([], [{"name": "No laser", "verdict": "deny", "keywords": ["laser"]}])
    decision = _eval(policy, Action("switch", "turn_on", ("switch.laser_cutter",)))
    assert decision.verdict is Verdict.DENY
    assert decision.rule == "no_laser"
    assert "forbids switch.turn_on on switch.laser_cutter" in decision.reason


def test_zones_by_area_door_and_entity_pattern() -> None:
    policy = build_policy(
        [
            {"name": "Workshop", "areas": ["shop"], "doors": ["door-1"], "entities": ["printer-*"]},
            {"name": "Office", "areas": ["office"]},
        ],
        [{"name": "office locks", "verdict": "confirm", "actions": ["lock.*"], "zone": "office"}],
    )
    assert policy.zone_for(Action("x", "y", ("door-1",))) is policy.zones[0]
    assert policy.zone_for(Action("x", "y", ("printer-7",))) is policy.zones[0]
    assert policy.zone_for(Action("x", "y", ("lock.a",), areas=("office",))) is policy.zones[1]
    assert policy.zone_for(Action("x", "y", ("lock.a",))) is None
    office_lock = Action("lock", "lock", ("lock.a",), areas=("office",))
    assert _eval(policy, office_lock).verdict is Verdict.CONFIRM
    assert _eval(policy, Action("lock", "lock", ("lock.b",))).verdict is Verdict.ALLOW
    # Naming a zone explicitly, and naming one that does not exist.
    assert (
        policy.evaluate(Action("lock", "lock"), HOME, MONDAY_NOON, zone_name="office").verdict
        is Verdict.CONFIRM
    )
    with pytest.raises(PolicyError, match="no safety zone named 'attic'") as err:
        policy.evaluate(Action("lock", "lock"), HOME, MONDAY_NOON, zone_name="attic")
    assert err.value.key == "unknown_zone"


def test_time_window_denies_outside_and_spans_midnight() -> None:
    policy = build_policy(
        [],
        [
            {
                "name": "printing hours",
                "verdict": "confirm",
                "actions": ["jarvis_device.start"],
                "window_start": "08:00",
                "window_end": "18:00",
                "window_days": ["mon", "tue"],
            }
        ],
    )
    start = Action("jarvis_device", "start", ("p1",))
    assert _eval(policy, start).verdict is Verdict.CONFIRM
    late = _eval(policy, start, now=MONDAY_NOON.replace(hour=19))
    assert late.verdict is Verdict.DENY
    assert "only 08:00-18:00 on mon, tue" in late.reason
    wednesday = MONDAY_NOON.replace(day=25)
    assert _eval(policy, start, now=wednesday).verdict is Verdict.DENY
    night = TimeWindow(time(22), time(6), frozenset({"mon"}))
    assert night.contains(MONDAY_NOON.replace(hour=23))
    assert night.contains(MONDAY_NOON.replace(day=24, hour=2))  # Tuesday 02:00 is Monday's night
    assert not night.contains(MONDAY_NOON.replace(hour=2))  # Monday 02:00 is Sunday's night
    assert not night.contains(MONDAY_NOON)


def test_presence_and_remote_guard() -> None:
    policy = build_policy(
        [],
        [
            {
                "name": "door",
                "verdict": "dual",
                "actions": ["lock.unlock"],
                "presence_required": True,
            },
            {
                "name": "start",
                "verdict": "confirm",
                "actions": ["jarvis_device.start"],
                "allow_remote": True,
            },
        ],
    )
    unlock = Action("lock", "unlock", ("lock.front",))
    away = Requester("u1", home=False, remote=True)
    decision = _eval(policy, unlock, away)
    assert decision.verdict is Verdict.DENY and "at home" in decision.reason
    assert _eval(policy, unlock, Requester("u1", home=None)).verdict is Verdict.DENY
    # The default door rule has no presence requirement, but remote requesters are refused.
    remote = _eval(Policy(), unlock, Requester("u1", home=True, remote=True))
    assert remote.verdict is Verdict.DENY and "remotely" in remote.reason
    allowed_remote = _eval(policy, Action("jarvis_device", "start", ("p",)), away)
    assert allowed_remote.verdict is Verdict.CONFIRM and allowed_remote.allow_remote


def test_strictest_wins() -> None:
    assert strictest([]).verdict is Verdict.ALLOW
    decisions = [
        Decision(Verdict.CONFIRM, "a"),
        Decision(Verdict.DUAL, "b"),
        Decision(Verdict.ALLOW, "c"),
    ]
    assert strictest(decisions).reason == "b"


def test_action_round_trip_and_description() -> None:
    action = Action("lock", "unlock", ("lock.a", "lock.b"), {"code": "1"}, ("A",), ("shop",))
    assert Action.from_dict(action.to_dict()) == action
    assert action.describe() == "lock.unlock on lock.a, lock.b"
    assert Action("x", "y").describe() == "x.y"


@pytest.mark.parametrize(
    ("data", "field", "key"),
    [
        ({}, "name", "name_required"),
        ({"name": "bad-name!"}, "name", "invalid_name"),
        ({"name": "a", "badge_minutes": 0}, "badge_minutes", "invalid_minutes"),
        ({"name": "a", "badge_minutes": True}, "badge_minutes", "invalid_minutes"),
        ({"name": "a", "cameras": ["light.x"]}, "cameras", "invalid_camera"),
        ({"name": "a", "areas": [1, 2]}, "areas", "not_a_list"),
    ],
)
def test_malformed_zones_name_the_field(data: dict[str, object], field: str, key: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_zone(data)
    assert (err.value.field, err.value.key) == (field, key)
    assert str(err.value)


@pytest.mark.parametrize(
    ("data", "field", "key"),
    [
        ({"name": "r", "verdict": "maybe", "actions": ["a.b"]}, "verdict", "invalid_verdict"),
        ({"name": "r", "verdict": "deny", "actions": ["unlock"]}, "actions", "invalid_action"),
        ({"name": "r", "verdict": "deny"}, "actions", "rule_matches_everything"),
        (
            {"name": "r", "verdict": "deny", "actions": ["a.b"], "zone": "attic"},
            "zone",
            "unknown_zone",
        ),
        (
            {"name": "r", "verdict": "deny", "actions": ["a.b"], "window_start": "08:00"},
            "window_end",
            "window_incomplete",
        ),
        (
            {"name": "r", "verdict": "deny", "actions": ["a.b"], "window_end": "08:00"},
            "window_start",
            "window_incomplete",
        ),
        (
            {
                "name": "r",
                "verdict": "deny",
                "actions": ["a.b"],
                "window_start": "8 am",
                "window_end": "09:00",
            },
            "window_start",
            "invalid_time",
        ),
        (
            {
                "name": "r",
                "verdict": "deny",
                "actions": ["a.b"],
                "window_start": "08:00",
                "window_end": "08:00",
            },
            "window_end",
            "window_empty",
        ),
        (
            {
                "name": "r",
                "verdict": "deny",
                "actions": ["a.b"],
                "window_start": "08:00",
                "window_end": "09:00",
                "window_days": ["funday"],
            },
            "window_days",
            "invalid_days",
        ),
    ],
)
def test_malformed_rules_name_the_field(data: dict[str, object], field: str, key: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_rule(data, [parse_zone({"name": "shop"})])
    assert (err.value.field, err.value.key) == (field, key)


def test_policy_parsing_details() -> None:
    with pytest.raises(PolicyError) as err:
        build_policy([{"name": "a"}, {"name": "A"}], [])
    assert err.value.key == "duplicate_zone"
    zone = parse_zone({"name": "Shop Floor", "doors": "door-1, door-2\n", "cameras": ""})
    assert zone.name == "shop_floor" and zone.doors == ("door-1", "door-2") and zone.cameras == ()
    window = parse_window(
        {"window_start": time(7), "window_end": "09:30", "window_days": "Monday,tuesday"}
    )
    assert window == TimeWindow(time(7), time(9, 30), frozenset({"mon", "tue"}))
    assert parse_window({}) is None
    rule = parse_rule(
        {"name": "r", "verdict": "dual", "keywords": ["LASER"], "zone": "Shop"},
        [parse_zone({"name": "shop"})],
    )
    assert rule.keywords == ("laser",) and rule.zone == "shop"
