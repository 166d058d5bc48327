"""The add-on's bundled model (real llama.cpp + SmolLM2-135M) as T1, end to end in HA.

No local provider subentry exists, so the agent picks the add-on's model by itself (its health
reports `llm.ready`); the cloud tier is the official openai SDK talking to a loopback fake. The
model is weak and samples (llama.cpp's default temperature; the agent sends none), so nothing
here depends on its wording: the tests check that whatever it answers, the decision follows from
the real confidence report (real logprobs included) and that nothing it proposes runs unchecked.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
import json
import math
import time
from typing import Any
import urllib.request

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
import pytest
import pytest_socket

from custom_components.jarvis.const import CONF_CONFIDENCE_THRESHOLD
from custom_components.jarvis.router.confidence import CAPS
from tests.support.fake_providers import openai as oai
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.mosquitto import Mosquitto
from tests.support.worker import Worker

from .routing_helpers import (
    AGENT_ID,
    LIGHT,
    Shop,
    agent,
    provider,
    setup_shop,
    streamed,
    streamed_tool_call,
)

BUNDLED = "add-on model"  # the bundled candidate's name (provider_setup.bundled_candidate)
CLOUD_TEXT = "A cloud answer."
LOGPROB_FEATURES = ("logprob_tokens", "logprob_p10_raw", "logprob_margin_p10_raw")
# Open questions: no T0 sentence matches them and none needs fresh facts (T1 is asked).
QUESTIONS = (
    "what is PLA filament made of",
    "explain in two sentences how a 3D printer heats its nozzle",
    "why should a workshop have a fire extinguisher",
)
# A device command (confidence.is_action_request) that HA's intents cannot match: no such device.
ACTION = "turn on the lights above the welding bench"


def _wait_llm_ready(worker: Worker, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    llm: dict[str, Any] = {}
    while time.monotonic() < deadline:
        llm = dict(worker.health()["llm"])  # type: ignore[arg-type]
        if llm.get("ready"):
            return llm
        time.sleep(0.05)
    raise TimeoutError(f"bundled model not ready after {timeout}s: {llm}\n{worker.log()}")


@pytest.fixture(scope="module")
def llm_worker(tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto) -> Generator[Worker]:
    """One real worker serving the bundled model (1 thread, the add-on's default)."""
    pytest_socket.enable_socket()
    worker = Worker(tmp_path_factory.mktemp("llm-worker"), mqtt_port=mosquitto.port, llm=True)
    worker.start()
    try:
        _wait_llm_ready(worker)
        yield worker
    finally:
        worker.stop()


@pytest.fixture
async def cloud() -> AsyncGenerator[OpenAIServer]:
    """OpenAI's cloud, on loopback.

    It is the last candidate, so the agent streams it: unless a test scripts otherwise, it
    streams CLOUD_TEXT.
    """
    server = await OpenAIServer().start()
    server.default(CHAT_PATH, streamed(CLOUD_TEXT, oai.usage(1000, 10)))
    yield server
    await server.stop()


async def _shop(hass: HomeAssistant, worker: Worker, cloud: OpenAIServer, threshold: float) -> Shop:
    """Jarvis with a cloud provider only: T1 is the add-on's model."""
    return await setup_shop(
        hass,
        worker,
        [
            provider("gpt", "openai", cloud.base_url, price_in=1.0, price_out=4.0),
            agent(**{CONF_CONFIDENCE_THRESHOLD: threshold}),
        ],
    )


async def _ask(hass: HomeAssistant, text: str) -> conversation.ConversationResult:
    return await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id=AGENT_ID
    )


async def _decision(hass: HomeAssistant) -> dict[str, Any]:
    response = await hass.services.async_call(
        "jarvis", "get_routing_log", {}, blocking=True, return_response=True
    )
    (decision,) = response["decisions"]  # type: ignore[index]
    return dict(decision)


def _attempt(decision: dict[str, Any], tier: str) -> dict[str, Any]:
    (attempt,) = [a for a in decision["attempts"] if a["tier"] == tier]
    return dict(attempt)


def _speech(result: conversation.ConversationResult) -> str:
    return str(result.response.speech["plain"]["speech"])


def _assert_real_logprobs(t1: dict[str, Any]) -> None:
    """The model's own token logprobs reached the report: real, finite, in range, one per token."""
    components = t1["confidence"]["components"]
    missing = [name for name in LOGPROB_FEATURES if name not in components]
    assert not missing, f"no logprob features {missing} in {components}"
    for name in LOGPROB_FEATURES:
        assert isinstance(components[name], float), (name, components[name])
        assert math.isfinite(components[name]), (name, components[name])
    assert 0.0 < components["logprob_p10_raw"] <= 1.0
    assert 0.0 <= components["logprob_margin_p10_raw"] <= 1.0
    # Graded from them, so they take part in the score.
    assert {"logprob_p10", "logprob_margin"} <= components.keys()
    # llama.cpp reports one logprob per generated token (its usage counts the same tokens).
    tokens = int(components["logprob_tokens"])
    assert tokens >= 1
    assert abs(tokens - t1["usage"]["output_tokens"]) <= 1, (tokens, t1["usage"])


def _assert_t1_is_the_bundled_model(decision: dict[str, Any]) -> dict[str, Any]:
    assert _attempt(decision, "t0")["outcome"] == "no_match"
    t1 = _attempt(decision, "t1")
    assert t1["name"] == BUNDLED
    assert t1["cost_usd"] == 0
    assert t1["error_type"] is None, t1["error_message"]
    return t1


def _assert_escalated(decision: dict[str, Any], t1: dict[str, Any], cloud: OpenAIServer) -> None:
    """Rejected at T1, answered by the cloud; nothing of T1's answer was used or executed."""
    assert t1["outcome"] in ("low_confidence", "invalid_tool_call")
    assert not t1["confidence"]["accepted"]
    assert t1["final"] is False
    assert decision["tier"] == "t2", decision["reason"]
    assert _attempt(decision, "t2")["outcome"] == "accepted"
    assert len(cloud.requests_to(CHAT_PATH)) >= 1
    # The cloud was asked the user's question, not shown the rejected local answer.
    first = cloud.requests_to(CHAT_PATH)[0].json
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert decision["reason"].startswith(f"t1 {BUNDLED} rejected")


async def test_bundled_model_is_t1_and_its_logprobs_are_scored(
    hass: HomeAssistant, llm_worker: Worker, cloud: OpenAIServer
) -> None:
    """Threshold 0.99: the real answer is scored with its real logprobs, and escalated."""
    shop = await _shop(hass, llm_worker, cloud, threshold=0.99)
    result = await _ask(hass, QUESTIONS[1])
    decision = await _decision(hass)
    t1 = _assert_t1_is_the_bundled_model(decision)
    _assert_real_logprobs(t1)
    report = t1["confidence"]
    assert report["threshold"] == 0.99
    assert report["score"] < 0.99, report
    _assert_escalated(decision, t1, cloud)
    assert _speech(result) == CLOUD_TEXT
    # The local low score stays in the ledger next to the cloud's acceptance.
    if report["hard_fail"] is None:
        assert f"rejected (confidence {report['score']:.2f} < 0.99)" in decision["reason"]
    assert decision["tool_calls_executed"] == []
    assert shop.light_on_calls == []


async def test_threshold_zero_accepts_the_bundled_answer(
    hass: HomeAssistant, llm_worker: Worker, cloud: OpenAIServer
) -> None:
    """Threshold 0.0: whatever the model says (short of a hard failure) is the answer; no cloud."""
    shop = await _shop(hass, llm_worker, cloud, threshold=0.0)
    result = await _ask(hass, QUESTIONS[0])
    decision = await _decision(hass)
    t1 = _assert_t1_is_the_bundled_model(decision)
    _assert_real_logprobs(t1)
    report = t1["confidence"]
    assert report["hard_fail"] is None, report
    assert t1["outcome"] == "accepted"
    assert report["accepted"] is True
    assert report["score"] >= 0.0
    assert decision["tier"] == "t1"
    assert decision["provider"] == BUNDLED
    assert decision["confidence"] == report["score"]
    assert decision["cost_usd"] == 0
    assert _speech(result).strip()
    assert not cloud.requests
    assert shop.light_on_calls == []


@pytest.mark.parametrize("question", QUESTIONS)
async def test_decision_follows_the_real_score(
    hass: HomeAssistant, llm_worker: Worker, cloud: OpenAIServer, question: str
) -> None:
    """The recommended threshold (0.6): accepted at T1 iff the real score reaches it."""
    shop = await _shop(hass, llm_worker, cloud, threshold=0.6)
    result = await _ask(hass, question)
    decision = await _decision(hass)
    t1 = _assert_t1_is_the_bundled_model(decision)
    _assert_real_logprobs(t1)
    report = t1["confidence"]
    if t1["outcome"] == "accepted":
        assert report["hard_fail"] is None
        assert report["score"] >= 0.6
        assert decision["tier"] == "t1"
        assert not cloud.requests
        assert _speech(result) != CLOUD_TEXT
    else:
        assert report["hard_fail"] is not None or report["score"] < 0.6, report
        _assert_escalated(decision, t1, cloud)
        assert _speech(result) == CLOUD_TEXT
    assert shop.light_on_calls == []


async def test_action_request_is_never_run_unchecked_from_the_small_model(
    hass: HomeAssistant, llm_worker: Worker, cloud: OpenAIServer
) -> None:
    """A device command: SmolLM2 is given no tools (it can only invent calls), so it chats.

    A chatty answer to an action request is capped (action_without_tool_call: the request could
    act, this model could not) and escalated; only the cloud's valid call runs, once.
    """
    cloud.script(
        CHAT_PATH,
        streamed_tool_call("c1", "HassTurnOn", {"name": "Kitchen light"}),
        Reply(json=oai.completion("The kitchen light is on.")),  # after the tool ran
    )
    shop = await _shop(hass, llm_worker, cloud, threshold=0.6)
    result = await _ask(hass, ACTION)
    decision = await _decision(hass)
    t1 = _assert_t1_is_the_bundled_model(decision)
    report = t1["confidence"]
    offered = {t["function"]["name"] for t in cloud.requests_to(CHAT_PATH)[0].json["tools"]}
    assert "HassTurnOn" in offered  # the cloud got the tools
    assert t1["tool_calls"] == []
    _assert_real_logprobs(t1)
    assert report["components"]["action_without_tool_call"] == 1.0
    assert report["score"] <= CAPS["action_without_tool_call"] < 0.6
    assert any("calls no tool" in reason for reason in report["reasons"])
    assert t1["outcome"] == "low_confidence"
    _assert_escalated(decision, t1, cloud)
    assert _speech(result) == "The kitchen light is on."
    # Exactly the cloud's call ran, once, on the real entity.
    assert [c.data["entity_id"] for c in shop.light_on_calls] == [[LIGHT]]
    assert [t["name"] for t in decision["tool_calls_executed"]] == ["HassTurnOn"]
    assert decision["outcome"] == "action_done"


def test_worker_runs_the_bundled_model_on_one_thread(llm_worker: Worker) -> None:
    """The fixture's worker is what the add-on ships: llama.cpp, the bundled GGUF, 1 thread."""
    req = urllib.request.Request(  # noqa: S310 - loopback http
        f"{llm_worker.url}/api/v1/llm", headers={"Authorization": f"Bearer {llm_worker.api_token}"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
        status = json.load(resp)
    assert status["ready"] is True
    assert status["threads"] == 1
    assert "SmolLM2" in json.dumps(status["model"])
