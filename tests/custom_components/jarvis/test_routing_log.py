"""The `jarvis.get_routing_log` action, and the filter checks it shares with the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockUser

from custom_components.jarvis.const import DOMAIN, SERVICE_GET_ROUTING_LOG
from custom_components.jarvis.routing_log import (
    MAX_LIMIT,
    RoutingLogQuery,
    RoutingLogQueryError,
    parse_filters,
    parse_since,
    parse_whole,
)
from tests.support.worker import Worker

from .test_http import (
    LOGS,
    SCENARIO,
    ClientFactory,
    Servers,
    Workshop,
    ask,
    run_scenario,
    setup_workshop,
    start_servers,
    stop_servers,
)


@pytest.fixture
async def servers() -> AsyncGenerator[Servers]:
    started = await start_servers()
    yield started
    await stop_servers(started)


@pytest.fixture
async def workshop(hass: HomeAssistant, session_worker: Worker, servers: Servers) -> Workshop:
    return await setup_workshop(hass, session_worker, servers)


async def get_log(hass: HomeAssistant, context: Context | None = None, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, SERVICE_GET_ROUTING_LOG, data, blocking=True, return_response=True, context=context
    )


async def test_action_returns_what_the_http_api_returns(
    hass: HomeAssistant, workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    client = await hass_client()
    answers = await run_scenario(client, workshop, servers)
    third = (await get_log(hass))["decisions"][-3]["created_at"]
    naive_local = (
        datetime.fromisoformat(third)
        .astimezone(dt_util.get_default_time_zone())
        .replace(tzinfo=None)
    )
    filter_sets: list[dict[str, Any]] = [
        {},
        {"limit": 2},
        {"limit": 2, "offset": 2},
        {"offset": 5},
        {"offset": 6},
        {"tier": "t2"},
        {"tier": "t1", "agent": workshop.entity("Jarvis")},
        {"agent": workshop.entity("Frugal")},
        {"agent": workshop.subentry("Frugal")},
        {"since": third},
        {"since": naive_local.isoformat()},
        {"since": third, "tier": "t2", "limit": 1},
        {"config_entry_id": workshop.entry_id},
    ]
    for filters in filter_sets:
        from_action = await get_log(hass, **filters)
        response = await client.get(LOGS, params={k: str(v) for k, v in filters.items()})
        assert response.status == 200, filters
        assert from_action == await response.json(), filters
        assert from_action["decisions"] or filters.get("offset") == 6, filters
    everything = await get_log(hass)
    assert everything["total"] == len(SCENARIO)
    assert [d["id"] for d in everything["decisions"]] == [
        a["decision_id"] for a in reversed(answers)
    ]
    # Values as a script would write them: numbers from a number selector, a datetime object.
    assert await get_log(hass, limit=2.0, offset=2.0) == await get_log(hass, limit="2", offset="2")
    assert await get_log(hass, since=naive_local) == await get_log(hass, since=third)


INVALID: tuple[tuple[dict[str, Any], str, str], ...] = (
    # data, field, problem starts with
    ({"since": "yesterday"}, "since", "since must be an ISO 8601 date and time"),
    ({"since": "2026-02-30T10:00:00"}, "since", "since must be an ISO 8601 date and time"),
    ({"since": 1767225600}, "since", "since must be an ISO 8601 date and time"),
    ({"since": "0001-01-01T00:30:00+01:00"}, "since", "since is out of range"),
    ({"tier": "t3"}, "tier", "tier must be one of t0, t1, t2, t2f"),
    ({"tier": 1}, "tier", "tier must be one of"),
    ({"limit": 0}, "limit", f"limit must be between 1 and {MAX_LIMIT}"),
    ({"limit": MAX_LIMIT + 1}, "limit", "limit must be between"),
    ({"limit": "ten"}, "limit", "limit must be a whole number"),
    ({"limit": 2.5}, "limit", "limit must be a whole number"),
    ({"limit": True}, "limit", "limit must be a whole number"),
    ({"limit": [5]}, "limit", "limit must be a whole number"),
    ({"offset": -1}, "offset", "offset must be between 0 and"),
    ({"offset": float("inf")}, "offset", "offset must be a whole number"),
    ({"agent": "conversation.nobody"}, "agent", "conversation.nobody is not a Jarvis"),
    ({"agent": "light.kitchen_light"}, "agent", "light.kitchen_light is not a Jarvis"),
    ({"agent": ["conversation.jarvis"]}, "agent", "agent must be a Jarvis conversation"),
    ({"config_entry_id": 7}, "config_entry_id", "config_entry_id must be text"),
    ({"teir": "t1"}, "teir", "unknown filter teir"),
)


async def test_invalid_filters_raise_translated_errors(
    hass: HomeAssistant, workshop: Workshop, hass_client: ClientFactory
) -> None:
    client = await hass_client()
    await ask(client, "turn on the kitchen light")
    for data, field, problem in INVALID:
        with pytest.raises(ServiceValidationError) as err:
            await get_log(hass, **data)
        assert err.value.translation_domain == DOMAIN, data
        assert err.value.translation_key == "invalid_log_filter", data
        placeholders = err.value.translation_placeholders or {}
        assert placeholders["field"] == field, data
        assert placeholders["problem"].startswith(problem), (data, placeholders)
        assert str(err.value) == f"Invalid routing log filter {field}: {placeholders['problem']}"
    assert (await get_log(hass))["total"] == 1


async def test_entry_problems_are_translated(
    hass: HomeAssistant, workshop: Workshop, hass_client: ClientFactory
) -> None:
    """Not filter problems: which entry to read (shared with jarvis.get_addon_status)."""
    with pytest.raises(ServiceValidationError) as err:
        await get_log(hass, config_entry_id="nope")
    assert err.value.translation_key == "entry_not_found"
    assert await hass.config_entries.async_unload(workshop.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await get_log(hass, config_entry_id=workshop.entry_id)
    assert err.value.translation_key == "entry_not_loaded"
    with pytest.raises(ServiceValidationError) as err:
        await get_log(hass)
    assert err.value.translation_key == "entry_required"
    assert err.value.translation_placeholders == {"count": "0"}


async def test_naive_since_is_in_the_home_assistant_time_zone(
    hass: HomeAssistant, workshop: Workshop, hass_client: ClientFactory
) -> None:
    """Auckland is 13 hours ahead of UTC in its summer: read as UTC, `since` would miss by 13 h."""
    await hass.config.async_set_time_zone("Pacific/Auckland")
    client = await hass_client()
    ids = [(await ask(client, "turn on the kitchen light"))["decision_id"] for _ in range(3)]
    decisions = (await get_log(hass))["decisions"]
    assert [d["id"] for d in decisions] == ids[::-1]
    second = datetime.fromisoformat(decisions[1]["created_at"])
    wall_clock = second.astimezone(dt_util.get_time_zone("Pacific/Auckland")).replace(tzinfo=None)
    assert wall_clock - second.replace(tzinfo=None) >= timedelta(hours=12)

    for since in (wall_clock, wall_clock.isoformat(), wall_clock.isoformat(sep=" ")):
        page = await get_log(hass, since=since)
        assert [d["id"] for d in page["decisions"]] == ids[:0:-1], since
    # The same wall-clock time in UTC would be in the future: nothing.
    assert (await get_log(hass, since=wall_clock.replace(tzinfo=UTC)))["total"] == 0
    # The HTTP API reads it the same way.
    response = await client.get(LOGS, params={"since": wall_clock.isoformat()})
    assert [d["id"] for d in (await response.json())["decisions"]] == ids[:0:-1]


async def test_only_admins_read_the_log(
    hass: HomeAssistant,
    workshop: Workshop,
    hass_client: ClientFactory,
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
) -> None:
    """As over HTTP: a user's call must be an admin's; calls without a user (automations) run."""
    client = await hass_client()
    await ask(client, "turn on the kitchen light")
    with pytest.raises(Unauthorized):
        await get_log(hass, Context(user_id=hass_read_only_user.id))
    assert (await get_log(hass, Context(user_id=hass_admin_user.id)))["total"] == 1
    assert (await get_log(hass, Context()))["total"] == 1


async def test_filters_of_an_agent_in_another_entry_are_refused(
    hass: HomeAssistant, workshop: Workshop
) -> None:
    with pytest.raises(RoutingLogQueryError) as err:
        parse_filters(hass, {"config_entry_id": "another", "agent": workshop.subentry("Frugal")})
    assert err.value.field == "agent"
    assert f"belongs to the Jarvis entry {workshop.entry_id}, not another" in str(err.value)
    assert parse_filters(hass, {"agent": workshop.subentry("Frugal")}) == RoutingLogQuery(
        config_entry_id=workshop.entry_id, agent_id=workshop.subentry("Frugal")
    )


async def test_parse_filters_defaults(hass: HomeAssistant) -> None:
    """Nothing given, or only empty values: everything, 50 at a time."""
    empty = {"since": "", "tier": None, "agent": "", "limit": "", "offset": None}
    assert parse_filters(hass, {}) == RoutingLogQuery()
    assert parse_filters(hass, empty) == RoutingLogQuery()
    assert parse_filters(hass, {"config_entry_id": ""}) == RoutingLogQuery()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (7, 7),
        (7.0, 7),
        ("7", 7),
        (" 7 ", 7),
        ("+7", 7),
        ("0500", 500),
        (None, 50),
        ("", 50),
    ],
)
def test_whole_numbers(raw: Any, expected: int) -> None:
    assert parse_whole("limit", raw, low=1, high=500, default=50) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("7.0", "limit must be a whole number"),
        ("1e2", "limit must be a whole number"),
        ("\u0667", "limit must be a whole number"),  # ARABIC-INDIC DIGIT SEVEN: not ASCII
        ("1_0", "limit must be a whole number"),
        (float("nan"), "limit must be a whole number"),
        (False, "limit must be a whole number"),
        ("9" * 5000, "limit must be between 1 and 500"),
        ("-" + "9" * 5000, "limit must be between 1 and 500"),
        (10**30, "limit must be between 1 and 500"),
    ],
)
def test_not_whole_numbers(raw: Any, problem: str) -> None:
    with pytest.raises(RoutingLogQueryError) as err:
        parse_whole("limit", raw, low=1, high=500, default=50)
    assert (err.value.field, str(err.value)) == ("limit", problem)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-31T08:00:00+01:00", datetime(2026, 1, 31, 7, tzinfo=UTC)),
        ("2026-01-31T08:00:00Z", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("2026-01-31 08:00:00 01:00", datetime(2026, 1, 31, 7, tzinfo=UTC)),  # "+" lost in a URL
        ("2026-01-31T08:00:00 0100", datetime(2026, 1, 31, 7, tzinfo=UTC)),
        (" 2026-01-31T08:00:00Z ", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        # what "{{ today_at() }}" renders to in an action's data
        ("2026-01-31 00:00:00-08:00", datetime(2026, 1, 31, 8, tzinfo=UTC)),
        (datetime(2026, 1, 31, 8, tzinfo=UTC), datetime(2026, 1, 31, 8, tzinfo=UTC)),
        ("9999-12-31T23:00:00+01:00", datetime(9999, 12, 31, 22, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_since(raw: Any, expected: datetime | None) -> None:
    assert parse_since(raw) == expected


async def test_naive_since_uses_the_configured_zone(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("Asia/Kolkata")
    assert parse_since("2026-01-31T08:00:00") == datetime(2026, 1, 31, 2, 30, tzinfo=UTC)
    naive = datetime(2026, 1, 31, 8)  # noqa: DTZ001 - naive on purpose
    assert parse_since(naive) == datetime(2026, 1, 31, 2, 30, tzinfo=UTC)
    assert parse_since("2026-01-31") == datetime(2026, 1, 30, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [
        "9999-12-31T23:30:00-01:00",  # after year 9999 in UTC
        "0001-01-01T00:00:00+00:01",  # before year 1 in UTC
    ],
)
def test_since_out_of_range(raw: str) -> None:
    with pytest.raises(RoutingLogQueryError) as err:
        parse_since(raw)
    assert (err.value.field, str(err.value)) == ("since", "since is out of range")
