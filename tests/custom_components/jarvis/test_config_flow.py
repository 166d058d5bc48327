"""Config flow against the real add-on worker (and a real non-Jarvis HTTP server for the bad cases)."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_HASSIO, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
import pytest

from custom_components.jarvis.addon.client import AddonClient
from custom_components.jarvis.const import CONF_ADDON_SLUG, CONF_API_TOKEN, DOMAIN
from tests.support.mosquitto import free_port
from tests.support.worker import Worker

from .conftest import OtherService


async def _user_flow(hass: HomeAssistant, url: str, token: str) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: url, CONF_API_TOKEN: token}
    )


def _discovery(worker: Worker, **overrides: Any) -> HassioServiceInfo:
    config = {"host": "127.0.0.1", "port": worker.port, CONF_API_TOKEN: worker.api_token}
    config.update(overrides)
    return HassioServiceInfo(config=config, name="Jarvis", slug="a0d7b954_jarvis", uuid="1234abcd")


async def test_user_success(hass: HomeAssistant, session_worker: Worker) -> None:
    """A typed URL (without scheme, with a trailing slash) is checked, normalised and stored."""
    result = await _user_flow(hass, f"127.0.0.1:{session_worker.port}/", session_worker.api_token)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Jarvis"
    assert result["data"] == {
        CONF_URL: session_worker.url,
        CONF_API_TOKEN: session_worker.api_token,
    }
    entry = result["result"]
    assert entry.unique_id == session_worker.health()["instance_id"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://127.0.0.1:21",
        "http://",
        "http://host:notaport",
        "http://u:p@host:1",
        "http://h:1/?q=1",
    ],
)
async def test_user_invalid_url(hass: HomeAssistant, session_worker: Worker, url: str) -> None:
    """A malformed URL is a field error; the same flow then succeeds with a good one."""
    result = await _user_flow(hass, url, session_worker.api_token)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_URL: "invalid_url"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: session_worker.url, CONF_API_TOKEN: session_worker.api_token}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_cannot_connect(hass: HomeAssistant) -> None:
    """Nothing listens at the URL."""
    result = await _user_flow(hass, f"http://127.0.0.1:{free_port()}", "token")
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


async def test_user_invalid_auth(hass: HomeAssistant, session_worker: Worker) -> None:
    """The real worker rejects a wrong token."""
    result = await _user_flow(hass, session_worker.url, "wrong-token")
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_API_TOKEN: "invalid_auth"}


@pytest.mark.parametrize(
    "route",
    [
        (200, {"status": "ok", "app": "octoprint"}),  # another app
        (200, "<html>router login</html>"),  # not JSON
        (500, {"error": "boom"}),  # server error
        (200, {"status": "ok", "app": "jarvis", "version": "1"}),  # Jarvis, but truncated
        (200, ["not", "an", "object"]),
    ],
)
async def test_user_not_jarvis(
    hass: HomeAssistant, other_service: OtherService, route: tuple[int, Any]
) -> None:
    """Whatever answers is not a Jarvis add-on: a form error, no entry."""
    other_service.routes["/api/v1/health"] = route
    result = await _user_flow(hass, other_service.url, "token")
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "not_jarvis"}
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_user_unknown_error(
    hass: HomeAssistant, session_worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the check itself surfaces as `unknown`, not a crash."""

    async def broken(self: AddonClient) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(AddonClient, "verify", broken)
    result = await _user_flow(hass, session_worker.url, session_worker.api_token)
    assert result["errors"] == {"base": "unknown"}


async def test_user_already_configured(hass: HomeAssistant, session_worker: Worker) -> None:
    """The same add-on (same instance id) twice, even under another URL spelling."""
    first = await _user_flow(hass, session_worker.url, session_worker.api_token)
    assert first["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    second = await _user_flow(hass, f"127.0.0.1:{session_worker.port}/", session_worker.api_token)
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_configured"


async def test_hassio_discovery(hass: HomeAssistant, session_worker: Worker) -> None:
    """Supervisor discovery → confirmation → entry that remembers the add-on slug."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(session_worker)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "hassio_confirm"
    assert result["description_placeholders"] == {"addon": "Jarvis"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_URL: session_worker.url,
        CONF_API_TOKEN: session_worker.api_token,
        CONF_ADDON_SLUG: "a0d7b954_jarvis",
    }
    assert result["result"].unique_id == session_worker.health()["instance_id"]


async def test_hassio_discovery_updates_existing_entry(
    hass: HomeAssistant, session_worker: Worker, entry_for: Any
) -> None:
    """Re-discovery of a configured add-on at a new address updates the entry (discovery-update-info)."""
    entry = entry_for(session_worker)
    hass.config_entries.async_update_entry(
        entry, data={CONF_URL: "http://old-host:8099", CONF_API_TOKEN: "old"}
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(session_worker)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_URL] == session_worker.url
    assert entry.data[CONF_API_TOKEN] == session_worker.api_token


@pytest.mark.parametrize(
    "config",
    [
        {"port": 8099, CONF_API_TOKEN: "t"},  # no host
        {"host": "h", "port": "eighty", CONF_API_TOKEN: "t"},
        {"host": "h", "port": 8099},  # no token
        {"host": "bad host", "port": 8099, CONF_API_TOKEN: "t"},
    ],
)
async def test_hassio_discovery_invalid(hass: HomeAssistant, config: dict[str, Any]) -> None:
    """A discovery payload we cannot use is aborted with a reason, not a crash."""
    info = HassioServiceInfo(config=config, name="Jarvis", slug="jarvis", uuid="u")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=info
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


async def test_hassio_discovery_unreachable(hass: HomeAssistant, session_worker: Worker) -> None:
    """Discovered, but the announced address does not answer."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(session_worker, port=free_port())
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_reconfigure(hass: HomeAssistant, session_worker: Worker, entry_for: Any) -> None:
    """A wrong token is a form error; then a new URL spelling of the same add-on is saved."""
    entry = entry_for(session_worker)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: session_worker.url, CONF_API_TOKEN: "wrong"}
    )
    assert result["errors"] == {CONF_API_TOKEN: "invalid_auth"}
    new_url = f"http://127.0.0.1:{session_worker.port}"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_URL: f"127.0.0.1:{session_worker.port}/", CONF_API_TOKEN: session_worker.api_token},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_URL] == new_url


async def test_reconfigure_wrong_addon(
    hass: HomeAssistant, session_worker: Worker, worker: Worker, entry_for: Any
) -> None:
    """Pointing an entry at a different add-on instance is refused."""
    entry = entry_for(session_worker)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: worker.url, CONF_API_TOKEN: worker.api_token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_addon"
    assert entry.data[CONF_URL] == session_worker.url


async def test_reauth(hass: HomeAssistant, session_worker: Worker, entry_for: Any) -> None:
    """Reauth asks for the token, rejects a wrong one, stores the right one."""
    entry = entry_for(session_worker, token="stale-token")
    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"][CONF_URL] == session_worker.url
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: "still-wrong"}
    )
    assert result["errors"] == {CONF_API_TOKEN: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: session_worker.api_token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_API_TOKEN] == session_worker.api_token


async def test_reauth_wrong_addon(
    hass: HomeAssistant, session_worker: Worker, worker: Worker, entry_for: Any
) -> None:
    """The entry's URL now answers as another add-on instance: refuse, keep the entry."""
    entry = entry_for(session_worker, token="stale")
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_URL: worker.url})
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: worker.api_token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_addon"
    assert entry.data[CONF_API_TOKEN] == "stale"
