"""UniFi Access developer API client (aiohttp): users, system logs, door unlock.

The console serves `https://<host>:12445/api/v1/developer/...` with a self-signed certificate and a
bearer token; answers are `{"code": "SUCCESS", "msg", "data"}`. Every call has a timeout and
failures are typed, so the gate can fail closed (UniFi Access unreachable -> no hazardous action).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

DEFAULT_PORT = 12445
DEFAULT_TIMEOUT_S = 10.0
UNLOCK_EVENT = "access.door.unlock"
PHYSICAL_CREDENTIALS = frozenset({"NFC", "PIN_CODE", "MOBILE_TAP", "FACE", "TOUCH_PASS", "QR_CODE"})


class UnifiAccessError(Exception):
    """UniFi Access answered with an error, or not at all."""


class UnifiAccessUnavailableError(UnifiAccessError):
    """Could not reach UniFi Access (refused, timeout, TLS)."""


class UnifiAccessAuthError(UnifiAccessError):
    """The token was rejected or lacks a scope (401/403)."""


@dataclass(frozen=True, slots=True)
class BadgeIn:
    """A credential event at a door."""

    door_id: str
    credential: str
    published: datetime


class UnifiAccessClient:
    """A thin client for the calls the gate needs."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        *,
        verify_ssl: bool = True,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """base_url is `https://host:12445` (no trailing slash)."""
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._token = token
        # The console's certificate is self-signed: either trust it (verify_ssl False) or not.
        self._ssl = verify_ssl
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}/api/v1/developer{path}"
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            async with self._session.request(
                method, url, headers=headers, ssl=self._ssl, timeout=self._timeout, **kwargs
            ) as response:
                if response.status in (401, 403):
                    raise UnifiAccessAuthError(
                        f"UniFi Access refused the token ({response.status})"
                    )
                try:
                    body = await response.json(content_type=None)
                except ValueError as err:
                    raise UnifiAccessError(
                        f"UniFi Access answered {response.status} without JSON"
                    ) from err
        except (aiohttp.ClientConnectionError, TimeoutError) as err:
            raise UnifiAccessUnavailableError(
                f"UniFi Access at {self.base_url} is unreachable: {err or type(err).__name__}"
            ) from err
        except aiohttp.ClientError as err:
            raise UnifiAccessError(f"UniFi Access request failed: {err}") from err
        if not isinstance(body, dict) or body.get("code") != "SUCCESS":
            code = body.get("code") if isinstance(body, dict) else None
            msg = body.get("msg") if isinstance(body, dict) else None
            if code in ("CODE_AUTH_FAILED", "CODE_ACCESS_TOKEN_INVALID", "CODE_UNAUTHORIZED"):
                raise UnifiAccessAuthError(f"UniFi Access refused the token: {code}")
            raise UnifiAccessError(f"UniFi Access error {code or response.status}: {msg}")
        return body.get("data")

    async def get_user(self, user_id: str) -> dict[str, Any]:
        """One user (status ACTIVE|PENDING|DEACTIVATED, names, policies)."""
        data = await self._call("GET", f"/users/{user_id}")
        if not isinstance(data, dict):
            raise UnifiAccessError(f"UniFi Access returned no user {user_id}")
        return data

    async def recent_badge_in(
        self, actor_id: str, doors: tuple[str, ...], since: datetime, until: datetime
    ) -> BadgeIn | None:
        """The latest granted physical-credential unlock by this user at one of these doors."""
        data = await self._call(
            "POST",
            "/system/logs",
            params={"page_num": "1", "page_size": "100"},
            json={
                "topic": "door_openings",
                "since": int(since.timestamp()),
                "until": int(until.timestamp()),
                "actor_id": actor_id,
            },
        )
        hits = data.get("hits", []) if isinstance(data, dict) else []
        best: BadgeIn | None = None
        for hit in hits:
            source = hit.get("_source", {}) if isinstance(hit, dict) else {}
            event = source.get("event", {})
            actor = source.get("actor", {})
            credential = source.get("authentication", {}).get("credential_provider", "")
            if (
                event.get("type") != UNLOCK_EVENT
                or event.get("result") != "ACCESS"
                or actor.get("id") != actor_id
                or credential not in PHYSICAL_CREDENTIALS
            ):
                continue
            door = next(
                (
                    t.get("id")
                    for t in source.get("target", [])
                    if isinstance(t, dict) and t.get("id") in doors
                ),
                None,
            )
            published = event.get("published")
            if door is None or not isinstance(published, (int, float)):
                continue
            # Access publishes milliseconds since the epoch.
            moment = datetime.fromtimestamp(published / 1000, tz=since.tzinfo)
            if not since <= moment <= until + timedelta(seconds=5):
                continue
            if best is None or moment > best.published:
                best = BadgeIn(door_id=str(door), credential=str(credential), published=moment)
        return best

    async def unlock_door(
        self, door_id: str, *, actor_id: str, actor_name: str, extra: dict[str, Any]
    ) -> None:
        """Remote unlock; the approver and the request id show up in the console's own log."""
        await self._call(
            "PUT",
            f"/doors/{door_id}/unlock",
            json={"actor_id": actor_id, "actor_name": actor_name, "extra": extra},
        )
