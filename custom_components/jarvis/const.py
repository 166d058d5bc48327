"""Constants for the Jarvis integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "jarvis"
LOGGER = logging.getLogger(__package__)

CONF_API_TOKEN: Final = "api_token"  # noqa: S105 - a config key, not a secret
CONF_ADDON_SLUG: Final = "addon_slug"

# How the add-on is reached when it announces itself through the Supervisor.
ADDON_DISCOVERY_SCHEME: Final = "http"

# Every call to the add-on is bounded; health is cheap, so a short timeout.
ADDON_TIMEOUT: Final = 10.0
HEALTH_INTERVAL: Final = timedelta(seconds=30)

# MQTT contract (DESIGN.md): the add-on's last will on this topic says whether it is alive.
MQTT_STATUS_TOPIC: Final = "jarvis/status"
MQTT_CONTEXT_PREFIX: Final = "jarvis/ctx"  # + /<conversation_id>, retained
MQTT_DEVICES_PREFIX: Final = "jarvis/devices"  # + /<device_id>/cmd|ack|state
STATUS_ONLINE: Final = "online"
STATUS_OFFLINE: Final = "offline"

SERVICE_GET_ADDON_STATUS: Final = "get_addon_status"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"

# Config subentries (HA core's LLM integrations pattern): model providers and conversation agents.
SUBENTRY_PROVIDER: Final = "provider"
SUBENTRY_CONVERSATION: Final = "conversation"
SUBENTRY_AI_TASK: Final = "ai_task_data"

CONF_KIND: Final = "kind"
CONF_MODEL: Final = "model"
CONF_PRICE_INPUT: Final = "price_input"  # USD per 1M input tokens
CONF_PRICE_OUTPUT: Final = "price_output"  # USD per 1M output tokens
CONF_PRICE_CACHED_INPUT: Final = "price_cached_input"
CONF_PRICE_PER_REQUEST: Final = "price_per_request"
CONF_WEB_SEARCH: Final = "web_search"  # Gemini: ground answers in Google Search (the T2f tier)
CONF_TIMEOUT: Final = "timeout"

CONF_PROMPT: Final = "prompt"
CONF_TIERS: Final = "tiers"
CONF_TIER_ORDER: Final = "tier_order"
TIER_ORDER_LOCAL_FIRST: Final = "local_first"
TIER_ORDER_CLOUD_FIRST: Final = "cloud_first"
CONF_PROVIDERS: Final = "providers"
CONF_CONFIDENCE_THRESHOLD: Final = "confidence_threshold"
CONF_FRESHNESS_ROUTING: Final = "freshness_routing"
CONF_MAX_ESCALATIONS: Final = "max_escalations"
CONF_BUDGET_DAILY: Final = "budget_daily_usd"
CONF_BUDGET_MONTHLY: Final = "budget_monthly_usd"

DEFAULT_TIMEOUT_S: Final = 30.0
DEFAULT_CONVERSATION_NAME: Final = "Jarvis"
DEFAULT_AI_TASK_NAME: Final = "Jarvis AI task"
RECOMMENDED_CONVERSATION: Final = {
    CONF_TIERS: ["t0", "t1", "t2"],
    CONF_TIER_ORDER: TIER_ORDER_LOCAL_FIRST,
    CONF_CONFIDENCE_THRESHOLD: 0.6,
    CONF_FRESHNESS_ROUTING: True,
    CONF_MAX_ESCALATIONS: 2,
}
# The add-on's bundled model (llama.cpp + SmolLM2-135M), used as T1 when no local provider exists.
BUNDLED_MODEL_NAME: Final = "bundled"
BUNDLED_CANDIDATE_NAME: Final = "add-on model"  # how the ledger and reasons name it
BUNDLED_MAX_OUTPUT_TOKENS: Final = 128
BUNDLED_TEMPERATURE: Final = 0.0
LEDGER_RETENTION_DAYS: Final = 90
# A request longer than this is a paste accident, not a question (agent and HTTP API alike).
MAX_REQUEST_CHARS: Final = 8_000
EVENT_ROUTING_DECISION: Final = "jarvis_routing_decision"
SERVICE_GET_ROUTING_LOG: Final = "get_routing_log"
# CV monitor (add-on): events on jarvis/cv/<camera>/event are fired as this HA event.
MQTT_CV_EVENT_TOPIC: Final = "jarvis/cv/+/event"
EVENT_CV: Final = "jarvis_cv_event"
