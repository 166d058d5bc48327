"""Config flow for Jarvis: find the add-on (Supervisor discovery or a typed URL) and check it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import CONF_URL
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
import voluptuous as vol

from .addon.client import (
    AddonAuthError,
    AddonClient,
    AddonConnectionError,
    AddonHealth,
    AddonResponseError,
    AddonUrlError,
    normalize_url,
)
from .const import (
    ADDON_DISCOVERY_SCHEME,
    CONF_ADDON_SLUG,
    CONF_API_TOKEN,
    CONF_BUDGET_DAILY,
    CONF_BUDGET_MONTHLY,
    DOMAIN,
    LOGGER,
    SUBENTRY_AI_TASK,
    SUBENTRY_CONVERSATION,
    SUBENTRY_PROVIDER,
)
from .safety.config_flow import RuleSubentryFlow, UnifiAccessSubentryFlow, ZoneSubentryFlow
from .safety.const import (
    CONF_TRUSTED_NETWORKS,
    DEFAULT_TRUSTED_NETWORKS,
    SUBENTRY_RULE,
    SUBENTRY_UNIFI_ACCESS,
    SUBENTRY_ZONE,
)
from .safety.remote import NetworkListError, parse_networks
from .subentry_flow import _PRICE, ConversationSubentryFlow, ProviderSubentryFlow

DEFAULT_URL = "http://local-jarvis:8099"
TITLE = "Jarvis"

_URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_TOKEN_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def _connection_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_URL, default=defaults.get(CONF_URL, DEFAULT_URL)): _URL_SELECTOR,
            vol.Required(CONF_API_TOKEN): _TOKEN_SELECTOR,
        }
    )


class JarvisConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up the connection to the Jarvis add-on."""

    VERSION = 1
    MINOR_VERSION = 1

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Model providers and conversation agents live in subentries of the add-on entry."""
        return {
            SUBENTRY_PROVIDER: ProviderSubentryFlow,
            SUBENTRY_CONVERSATION: ConversationSubentryFlow,
            SUBENTRY_AI_TASK: ConversationSubentryFlow,  # same routing policy, no Assist prompt
            SUBENTRY_ZONE: ZoneSubentryFlow,
            SUBENTRY_RULE: RuleSubentryFlow,
            SUBENTRY_UNIFI_ACCESS: UnifiAccessSubentryFlow,
        }

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Entry-wide cloud budgets (options_flow.py)."""
        return JarvisOptionsFlow()

    def __init__(self) -> None:
        """Start a flow with nothing discovered yet."""
        self._discovered: dict[str, str] = {}
        self._addon_name = "Jarvis"

    async def _probe(self, url: str, token: str) -> tuple[AddonHealth | None, dict[str, str]]:
        """Check the add-on answers health and accepts the token; return health or form errors."""
        try:
            client = AddonClient(async_get_clientsession(self.hass), url, token)
            return await client.verify(), {}
        except AddonUrlError:
            return None, {CONF_URL: "invalid_url"}
        except AddonAuthError:
            return None, {CONF_API_TOKEN: "invalid_auth"}
        except AddonConnectionError:
            return None, {"base": "cannot_connect"}
        except AddonResponseError:
            return None, {"base": "not_jarvis"}
        except Exception:  # noqa: BLE001 - any bug becomes the form's `unknown` error
            LOGGER.exception("Unexpected error while checking the Jarvis add-on")
            return None, {"base": "unknown"}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Connect to an add-on whose URL the user types in."""
        errors: dict[str, str] = {}
        if user_input is not None:
            health, errors = await self._probe(user_input[CONF_URL], user_input[CONF_API_TOKEN])
            if health is not None:
                url = normalize_url(user_input[CONF_URL])
                await self.async_set_unique_id(health.instance_id)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=TITLE, data={CONF_URL: url, CONF_API_TOKEN: user_input[CONF_API_TOKEN]}
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                _connection_schema(user_input or {}), user_input
            ),
            errors=errors,
        )

    async def async_step_hassio(self, discovery_info: HassioServiceInfo) -> ConfigFlowResult:
        """The add-on announced itself through the Supervisor."""
        config = discovery_info.config
        try:
            url = normalize_url(
                f"{ADDON_DISCOVERY_SCHEME}://{config['host']}:{int(config['port'])}"
            )
            token = str(config[CONF_API_TOKEN])
        except (KeyError, TypeError, ValueError, AddonUrlError):
            return self.async_abort(reason="invalid_discovery_info")
        health, errors = await self._probe(url, token)
        if health is None:
            return self.async_abort(reason=next(iter(errors.values())))
        await self.async_set_unique_id(health.instance_id)
        # The add-on's hostname or token may have changed (reinstall, new token): keep the entry current.
        self._abort_if_unique_id_configured(updates={CONF_URL: url, CONF_API_TOKEN: token})
        self._discovered = {
            CONF_URL: url,
            CONF_API_TOKEN: token,
            CONF_ADDON_SLUG: discovery_info.slug,
        }
        self._addon_name = discovery_info.name or self._addon_name
        self.context["title_placeholders"] = {"name": self._addon_name}
        return await self.async_step_hassio_confirm()

    async def async_step_hassio_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask the user before adding the discovered add-on."""
        if user_input is not None:
            return self.async_create_entry(title=TITLE, data=self._discovered)
        return self.async_show_form(
            step_id="hassio_confirm", description_placeholders={"addon": self._addon_name}
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Point the entry at a new URL or token of the same add-on."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            health, errors = await self._probe(user_input[CONF_URL], user_input[CONF_API_TOKEN])
            if health is not None:
                await self.async_set_unique_id(health.instance_id)
                self._abort_if_unique_id_mismatch(reason="wrong_addon")
                return self.async_update_reload_and_abort(
                    entry,
                    data_updates={
                        CONF_URL: normalize_url(user_input[CONF_URL]),
                        CONF_API_TOKEN: user_input[CONF_API_TOKEN],
                    },
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _connection_schema(user_input or entry.data), {CONF_URL: entry.data[CONF_URL]}
            ),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The add-on stopped accepting our token."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the add-on's current API token."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            health, errors = await self._probe(entry.data[CONF_URL], user_input[CONF_API_TOKEN])
            if health is not None:
                await self.async_set_unique_id(health.instance_id)
                self._abort_if_unique_id_mismatch(reason="wrong_addon")
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_API_TOKEN: user_input[CONF_API_TOKEN]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_API_TOKEN): _TOKEN_SELECTOR}),
            description_placeholders={CONF_URL: entry.data[CONF_URL]},
            errors=errors,
        )


class JarvisOptionsFlow(OptionsFlow):
    """Entry-wide cloud budgets (USD, all agents together) and the safety gate's local networks.

    The local networks are where requests count as on site (the remote guard). Each agent also has caps of its own (its subentry). Empty means no cap; saving reloads the
    entry (its update listener), so the agents route with the new caps at once.
    """

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the caps and the local networks; store them (absent cap = no cap)."""
        errors: dict[str, str] = {}
        placeholders = {"network": ""}
        if user_input is not None:
            try:
                networks = parse_networks(user_input.get(CONF_TRUSTED_NETWORKS) or ())
            except NetworkListError as err:
                errors[CONF_TRUSTED_NETWORKS] = "invalid_network"
                placeholders["network"] = err.value
            else:
                caps = {
                    key: float(user_input[key])
                    for key in (CONF_BUDGET_DAILY, CONF_BUDGET_MONTHLY)
                    if user_input.get(key) is not None
                }
                # Empty: the defaults (private ranges and Tailscale's) apply.
                local = {CONF_TRUSTED_NETWORKS: list(networks)} if networks else {}
                return self.async_create_entry(
                    data={**_others(self.config_entry.options), **caps, **local}
                )
        options = self.config_entry.options
        shown = user_input or options
        schema = vol.Schema(
            {
                vol.Optional(
                    CONF_BUDGET_DAILY,
                    description={"suggested_value": shown.get(CONF_BUDGET_DAILY)},
                ): _PRICE,
                vol.Optional(
                    CONF_BUDGET_MONTHLY,
                    description={"suggested_value": shown.get(CONF_BUDGET_MONTHLY)},
                ): _PRICE,
                vol.Optional(
                    CONF_TRUSTED_NETWORKS,
                    description={
                        "suggested_value": shown.get(
                            CONF_TRUSTED_NETWORKS, list(DEFAULT_TRUSTED_NETWORKS)
                        )
                    },
                ): TextSelector(TextSelectorConfig(multiple=True)),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )


def _others(options: Any) -> dict[str, Any]:
    """Options this form does not own (kept as they are)."""
    return {
        k: v
        for k, v in options.items()
        if k not in (CONF_BUDGET_DAILY, CONF_BUDGET_MONTHLY, CONF_TRUSTED_NETWORKS)
    }
