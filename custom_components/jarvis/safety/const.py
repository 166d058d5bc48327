"""Constants of the safety gate."""

from __future__ import annotations

from typing import Final

SUBENTRY_ZONE: Final = "safety_zone"
SUBENTRY_RULE: Final = "safety_rule"
SUBENTRY_UNIFI_ACCESS: Final = "unifi_access_console"

EVENT_SAFETY: Final = "jarvis_safety_event"
EVENT_NOTIFICATION_ACTION: Final = "mobile_app_notification_action"
SIGNAL_SAFETY_UPDATE: Final = "jarvis_safety_update_{}"  # + entry id

SERVICE_REQUEST_ACTION: Final = "request_action"
SERVICE_APPROVE: Final = "approve"
SERVICE_DENY: Final = "deny"
SERVICE_ROTATE_SIGNING_KEY: Final = "rotate_signing_key"
SERVICE_VERIFY_AUDIT_LOG: Final = "verify_audit_log"
SERVICE_GET_AUDIT_LOG: Final = "get_audit_log"
SERVICE_ISSUE_APPROVAL_ACTIONS: Final = "issue_approval_actions"

# Zone / rule / console subentry fields.
CONF_AREAS: Final = "areas"
CONF_DOORS: Final = "doors"
CONF_CAMERAS: Final = "cameras"
CONF_APPROVERS: Final = "approvers"
CONF_BADGE_MINUTES: Final = "badge_minutes"
CONF_ENTITIES: Final = "entities"
CONF_NOTIFY: Final = "notify_services"
CONF_VERDICT: Final = "verdict"
CONF_ACTIONS: Final = "actions"
CONF_TARGETS: Final = "targets"
CONF_KEYWORDS: Final = "keywords"
CONF_ZONE: Final = "zone"
CONF_WINDOW_START: Final = "window_start"
CONF_WINDOW_END: Final = "window_end"
CONF_WINDOW_DAYS: Final = "window_days"
CONF_PRESENCE_REQUIRED: Final = "presence_required"
CONF_ALLOW_REMOTE: Final = "allow_remote"
CONF_VERIFY_SSL: Final = "verify_ssl"
CONF_USER_MAP: Final = "user_map"
CONF_TRUSTED_NETWORKS: Final = "trusted_networks"

# The own door tool's action domain (UniFi Access remote unlock), the printers' one, and CAD
# generation's (`jarvis_cad.generate`: paid text-to-CAD services spend money).
DOOR_DOMAIN: Final = "jarvis_door"
DEVICE_DOMAIN: Final = "jarvis_device"
CAD_DOMAIN: Final = "jarvis_cad"
# Local networks and Tailscale's CGNAT range: requests from elsewhere are remote.
DEFAULT_TRUSTED_NETWORKS: Final = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "::1/128",
    "fc00::/7",
    "fd7a:115c:a1e0::/48",
)
STORAGE_VERSION: Final = 1
EXPIRE_CHECK_S: Final = 5
