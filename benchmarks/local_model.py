"""Local model: time to first token and decode speed through the add-on's proxy vs llama.cpp directly.

Starts one real worker (`python -m jarvis_addon` from the add-on venv) with the bundled
SmolLM2-135M on one thread, then sends the same streamed chat completion alternately through the
add-on's authenticated proxy (`/api/v1/llm/v1/...`) and straight to the llama.cpp server it runs on
loopback (the baseline), in the same run, and prints both and their ratios (the proxy overhead).
The prompt cache is off (`cache_prompt: false`) so every time to first token includes the prompt.
A few hundred `GET /v1/models` on both paths first give the proxy's own cost per request.

    .venv/bin/python benchmarks/local_model.py [--runs 20] [--max-tokens 64] [--threads 1]

The client is the standard library (http.client), the same for both paths.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import http.client
import json
import os
from pathlib import Path
import re
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "benchmark-token-0123456789abcdef"
LLAMA_ADDRESS = re.compile(r"llama\.cpp listening on http://127\.0\.0\.1:(\d+)")
MESSAGES = [
    {"role": "system", "content": "You are a workshop assistant. Answer briefly."},
    {
        "role": "user",
        "content": "The Prusa in bay 2 shows a thermal runaway error. What should I check first?",
    },
]


@dataclass
class Run:
    ttft: float  # seconds from sending the request to the first content token
    decode_rate: float  # content tokens per second after the first
    tokens: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_worker(
    workdir: Path, python: Path, threads: int
) -> tuple[subprocess.Popen[bytes], int, int, Path]:
    """A worker with the local model on; returns (process, API port, llama.cpp port, log)."""
    options = {
        "log_level": "info",
        "api_token": TOKEN,
        "mqtt_host": "127.0.0.1",
        "mqtt_port": free_port(),  # no broker: the worker retries in the background and serves on
        "llm_enabled": True,
        "llm_threads": threads,
    }
    (workdir / "options.json").write_text(json.dumps(options))
    port = free_port()
    log = workdir / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(python),
                "-m",
                "jarvis_addon",
                "--options",
                str(workdir / "options.json"),
                "--data-dir",
                str(workdir / "data"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--mqtt-reconnect-max",
                "30",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"worker exited with {proc.returncode}:\n{log.read_text()}")
        match = LLAMA_ADDRESS.search(log.read_text(errors="replace"))
        if match:
            return proc, port, int(match.group(1)), log
        if "Local model unavailable" in log.read_text(errors="replace"):
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the local model did not start:\n{log.read_text()}")


def stream_once(port: int, path: str, headers: dict[str, str], max_tokens: int) -> Run:
    body = json.dumps(
        {
            "model": "local",
            "messages": MESSAGES,
            "temperature": 0,
            "max_tokens": max_tokens,
            "ignore_eos": True,  # a fixed number of tokens per run
            "cache_prompt": False,  # every run evaluates the whole prompt
            "stream": True,
        }
    ).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    arrivals: list[float] = []
    try:
        started = time.perf_counter()
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", **headers},
        )
        resp = conn.getresponse()
        if resp.status != 200:
            raise SystemExit(f"{path}: HTTP {resp.status}: {resp.read()[:300]!r}")
        buffer = b""
        done = False
        while not done:
            chunk = resp.read1(65536)
            if not chunk:
                break
            now = time.perf_counter()
            buffer += chunk
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                data = event.removeprefix(b"data: ").strip()
                if data == b"[DONE]":
                    done = True
                    break
                if not data:
                    continue
                parsed: dict[str, Any] = json.loads(data)
                choices = parsed.get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    arrivals.append(now - started)
    finally:
        conn.close()
    if len(arrivals) < 2:
        raise SystemExit(f"{path}: only {len(arrivals)} content chunks")
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    return Run(ttft=arrivals[0], decode_rate=rate, tokens=len(arrivals))


def get_once(port: int, path: str, headers: dict[str, str]) -> float:
    """Seconds for one small GET on a fresh connection (the proxy's own cost, no generation)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if resp.status != 200:
        raise SystemExit(f"{path}: HTTP {resp.status}")
    return elapsed


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summary(runs: list[Run]) -> dict[str, float]:
    ttfts = [r.ttft * 1000 for r in runs]
    rates = [r.decode_rate for r in runs]
    return {
        "ttft_p50_ms": statistics.median(ttfts),
        "ttft_p95_ms": p95(ttfts),
        "decode_p50_tok_s": statistics.median(rates),
        "decode_p5_tok_s": sorted(rates)[max(0, round(0.05 * (len(rates) - 1)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="streamed completions per path")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens generated per run")
    parser.add_argument("--threads", type=int, default=1, help="llm_threads of the worker")
    parser.add_argument(
        "--small-requests", type=int, default=200, help="GET /v1/models per path (request overhead)"
    )
    parser.add_argument(
        "--python",
        type=Path,
        default=Path(os.environ.get("JARVIS_ADDON_VENV", ROOT / ".venv-addon")) / "bin" / "python",
        help="interpreter of the add-on venv (runs the worker)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="jarvis-bench-") as tmp:
        proc, api_port, llama_port, _log = start_worker(Path(tmp), args.python, args.threads)
        try:
            paths = {
                "proxy": (
                    api_port,
                    "/api/v1/llm/v1/chat/completions",
                    {"Authorization": f"Bearer {TOKEN}"},
                ),
                "direct": (llama_port, "/v1/chat/completions", {}),
            }
            for port, path, headers in paths.values():  # warm-up, not counted
                stream_once(port, path, headers, args.max_tokens)
            auth = {"Authorization": f"Bearer {TOKEN}"}
            small = {
                "proxy": (api_port, "/api/v1/llm/v1/models", auth),
                "direct": (llama_port, "/v1/models", {}),
            }
            latency: dict[str, list[float]] = {name: [] for name in small}
            for _ in range(args.small_requests):
                for name, (port, path, headers) in small.items():
                    latency[name].append(get_once(port, path, headers) * 1000)
            results: dict[str, list[Run]] = {name: [] for name in paths}
            for i in range(args.runs):
                # Alternate the order so drift (thermal, other load) hits both paths alike.
                order = list(paths) if i % 2 == 0 else list(reversed(paths))
                for name in order:
                    port, path, headers = paths[name]
                    results[name].append(stream_once(port, path, headers, args.max_tokens))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)

    stats = {name: summary(runs) for name, runs in results.items()}
    print(
        f"local model: SmolLM2-135M-Instruct Q4_1, {args.threads} thread(s), {args.runs} runs per path, "
        f"{args.max_tokens} tokens each, prompt cache off, streamed"
    )
    print(f"{'':8} {'TTFT p50':>10} {'TTFT p95':>10} {'decode p50':>12} {'decode p5':>11}")
    for name in ("direct", "proxy"):
        s = stats[name]
        print(
            f"{name:8} {s['ttft_p50_ms']:8.1f}ms {s['ttft_p95_ms']:8.1f}ms "
            f"{s['decode_p50_tok_s']:8.1f}tok/s {s['decode_p5_tok_s']:7.1f}tok/s"
        )
    lat = {name: (statistics.median(v), p95(v)) for name, v in latency.items()}
    print(
        f"GET /v1/models ({args.small_requests}x, new connection each): "
        f"direct p50 {lat['direct'][0]:.2f} ms p95 {lat['direct'][1]:.2f} ms, "
        f"proxy p50 {lat['proxy'][0]:.2f} ms p95 {lat['proxy'][1]:.2f} ms "
        f"(+{lat['proxy'][0] - lat['direct'][0]:.2f} ms per request)"
    )
    d, p = stats["direct"], stats["proxy"]
    print(
        "proxy / direct: "
        f"TTFT p50 x{p['ttft_p50_ms'] / d['ttft_p50_ms']:.3f} "
        f"({p['ttft_p50_ms'] - d['ttft_p50_ms']:+.1f} ms), "
        f"TTFT p95 x{p['ttft_p95_ms'] / d['ttft_p95_ms']:.3f}, "
        f"decode p50 x{p['decode_p50_tok_s'] / d['decode_p50_tok_s']:.3f}"
    )


if __name__ == "__main__":
    main()
