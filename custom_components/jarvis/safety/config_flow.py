"""Config subentry flows: safety zones, safety rules and the UniFi Access console."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_NAME, CONF_URL
from homeassistant.helpers.selector import (
    AreaSelector,
    AreaSelectorConfig,
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
    TimeSelector,
)
import voluptuous as vol
from yarl import URL

from .const import (
    CONF_ACTIONS,
    CONF_ALLOW_REMOTE,
    CONF_APPROVERS,
    CONF_AREAS,
    CONF_BADGE_MINUTES,
    CONF_CAMERAS,
    CONF_DOORS,
    CONF_ENTITIES,
    CONF_KEYWORDS,
    CONF_NOTIFY,
    CONF_PRESENCE_REQUIRED,
    CONF_TARGETS,
    CONF_USER_MAP,
    CONF_VERDICT,
    CONF_VERIFY_SSL,
    CONF_WINDOW_DAYS,
    CONF_WINDOW_END,
    CONF_WINDOW_START,
    CONF_ZONE,
    SUBENTRY_ZONE,
)
from .policy import DAYS, PolicyError, Verdict, parse_rule, parse_zone
from .unifi_access import DEFAULT_PORT

CONF_TOKEN = "token"  # noqa: S105 - a config key
_TEXT_LIST = TextSelector(TextSelectorConfig(multiple=True))


def _loaded(flow: ConfigSubentryFlow) -> bool:
    return flow._get_entry().state is ConfigEntryState.LOADED  # noqa: SLF001 - HA's own helper


def _zones(flow: ConfigSubentryFlow) -> list[Any]:
    entry = flow._get_entry()  # noqa: SLF001
    zones = []
    for sub in entry.subentries.values():
        if sub.subentry_type == SUBENTRY_ZONE:
            try:
                zones.append(parse_zone(sub.data))
            except PolicyError:
                continue
    return zones


class _SafetyFlow(ConfigSubentryFlow):
    """Shared: one form, validated by the pure policy parser, used to add and to reconfigure."""

    step_name = "user"

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add one."""
        if not _loaded(self):
            return self.async_abort(reason="entry_not_loaded")
        return await self._form("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change one."""
        if not _loaded(self):
            return self.async_abort(reason="entry_not_loaded")
        return await self._form(
            "reconfigure", user_input, dict(self._get_reconfigure_subentry().data)
        )

    async def _form(
        self, step: str, user_input: dict[str, Any] | None, current: dict[str, Any] | None
    ) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                title = await self._validate(user_input, current)
            except PolicyError as err:
                errors[err.field if err.field in self._schema(None).schema else "base"] = err.key
            else:
                if current is not None:
                    return self.async_update_and_abort(
                        self._get_entry(),
                        self._get_reconfigure_subentry(),
                        data=user_input,
                        title=title,
                    )
                return self.async_create_entry(title=title, data=user_input)
        schema = self.add_suggested_values_to_schema(
            await self._async_schema(), user_input or current or {}
        )
        return self.async_show_form(step_id=step, data_schema=schema, errors=errors)

    async def _async_schema(self) -> vol.Schema:
        return self._schema(None)

    def _schema(self, _options: Any) -> vol.Schema:
        raise NotImplementedError

    async def _validate(self, data: dict[str, Any], current: dict[str, Any] | None) -> str:
        raise NotImplementedError


class ZoneSubentryFlow(_SafetyFlow):
    """A zone: areas, doors, cameras, approvers, notification targets."""

    def _schema(self, users: list[SelectOptionDict] | None) -> vol.Schema:
        return vol.Schema(
            {
                vol.Required(CONF_NAME): str,
                vol.Optional(CONF_AREAS): AreaSelector(AreaSelectorConfig(multiple=True)),
                vol.Optional(CONF_DOORS): _TEXT_LIST,
                vol.Optional(CONF_CAMERAS): EntitySelector(
                    EntitySelectorConfig(domain="camera", multiple=True)
                ),
                vol.Optional(CONF_ENTITIES): _TEXT_LIST,
                vol.Optional(CONF_APPROVERS): SelectSelector(
                    SelectSelectorConfig(options=users or [], multiple=True, custom_value=True)
                ),
                vol.Optional(CONF_NOTIFY): _TEXT_LIST,
                vol.Optional(CONF_BADGE_MINUTES, default=10): NumberSelector(
                    NumberSelectorConfig(min=1, max=1440, step=1, mode=NumberSelectorMode.BOX)
                ),
            }
        )

    async def _async_schema(self) -> vol.Schema:
        users = [
            SelectOptionDict(value=u.id, label=u.name or u.id)
            for u in await self.hass.auth.async_get_users()
            if not u.system_generated and u.is_active
        ]
        return self._schema(users)

    async def _validate(self, data: dict[str, Any], current: dict[str, Any] | None) -> str:
        zone = parse_zone(data)
        taken = {z.name for z in _zones(self)}
        if current is not None:
            taken.discard(parse_zone(current).name)
        if zone.name in taken:
            raise PolicyError(CONF_NAME, "duplicate_zone", f"a zone {zone.name} exists")
        notify = data.get(CONF_NOTIFY) or []
        if bad := [
            n
            for n in notify
            if not self.hass.services.has_service("notify", n.removeprefix("notify."))
        ]:
            raise PolicyError(CONF_NOTIFY, "unknown_notify", f"no notify services {bad}")
        data[CONF_BADGE_MINUTES] = int(data.get(CONF_BADGE_MINUTES, 10))
        return zone.name


class RuleSubentryFlow(_SafetyFlow):
    """A rule: what it matches, what it needs, when, from where."""

    def _schema(self, zones: list[str] | None) -> vol.Schema:
        return vol.Schema(
            {
                vol.Required(CONF_NAME): str,
                vol.Required(CONF_VERDICT, default=Verdict.DUAL.value): SelectSelector(
                    SelectSelectorConfig(
                        options=[v.value for v in Verdict],
                        translation_key=CONF_VERDICT,
                        mode=SelectSelectorMode.LIST,
                    )
                ),
                vol.Optional(CONF_ACTIONS): _TEXT_LIST,
                vol.Optional(CONF_TARGETS): _TEXT_LIST,
                vol.Optional(CONF_KEYWORDS): _TEXT_LIST,
                vol.Optional(CONF_ZONE): SelectSelector(
                    SelectSelectorConfig(options=zones or [], custom_value=True)
                ),
                vol.Optional(CONF_WINDOW_START): TimeSelector(),
                vol.Optional(CONF_WINDOW_END): TimeSelector(),
                vol.Optional(CONF_WINDOW_DAYS): SelectSelector(
                    SelectSelectorConfig(options=list(DAYS), multiple=True, translation_key="days")
                ),
                vol.Optional(CONF_PRESENCE_REQUIRED, default=False): BooleanSelector(),
                vol.Optional(CONF_ALLOW_REMOTE, default=False): BooleanSelector(),
            }
        )

    async def _async_schema(self) -> vol.Schema:
        return self._schema([z.name for z in _zones(self)])

    async def _validate(self, data: dict[str, Any], current: dict[str, Any] | None) -> str:
        return parse_rule(data, _zones(self)).name


class UnifiAccessSubentryFlow(_SafetyFlow):
    """The UniFi Access console: address, token, TLS, and which Access user each HA user is."""

    def _schema(self, _options: Any) -> vol.Schema:
        return vol.Schema(
            {
                vol.Required(CONF_URL): TextSelector(TextSelectorConfig(type=TextSelectorType.URL)),
                vol.Required(CONF_TOKEN): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.PASSWORD)
                ),
                vol.Optional(CONF_VERIFY_SSL, default=False): BooleanSelector(),
                vol.Optional(CONF_USER_MAP): TextSelector(TextSelectorConfig(multiline=True)),
            }
        )

    async def _validate(self, data: dict[str, Any], current: dict[str, Any] | None) -> str:
        from . import parse_user_map

        raw = str(data.get(CONF_URL, "")).strip()
        try:
            url = URL(raw if "://" in raw else f"https://{raw}")
        except ValueError:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise PolicyError(CONF_URL, "invalid_url", f"{raw!r} is not an address")
        if url.explicit_port is None:
            url = url.with_port(DEFAULT_PORT)
        data[CONF_URL] = str(url).rstrip("/")
        if not str(data.get(CONF_TOKEN, "")).strip():
            raise PolicyError(CONF_TOKEN, "token_required", "the API token is required")
        parse_user_map(data.get(CONF_USER_MAP))
        return url.host or "UniFi Access"
