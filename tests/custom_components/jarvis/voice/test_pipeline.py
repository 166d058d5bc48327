"""Assist pipelines with Wyoming STT/TTS and Jarvis as the agent, in real HA.

HA's own `assist_pipeline` and `wyoming` integrations, driven through the websocket API a
browser or the companion app uses (`assist_pipeline/run`) and through the pipeline API voice
satellites use. The Wyoming servers are espeak-ng (TTS) and pocketsphinx (STT) stand-ins for
Piper and Whisper (tests/support/wyoming_speech.py); HA cannot tell them apart from the add-ons.
The model is a loopback OpenAI-compatible server streaming its answer word by word.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass, replace
from datetime import datetime
import struct
import subprocess
from typing import Any

from homeassistant.components import stt
from homeassistant.components.assist_pipeline import PipelineEvent, async_pipeline_from_audio_stream
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator, WebSocketGenerator

from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.worker import Worker
from tests.support.wyoming_speech import SpeechPeer, speech_pcm

from ..conftest import _allow_loopback_sockets
from ..routing_helpers import Shop, agent, provider, setup_shop, streamed

AGENT_ID = "conversation.jarvis"
LAMP = "light.bench_lamp"
SENTENCES = ["turn on the bench lamp", "what time does the workshop close", "yes", "cancel"]
# Longer than the pipeline's 60-character threshold for streaming TTS; two sentences, so the
# TTS server speaks the first while the second is still coming.
ANSWER = (
    "The workshop closes at nine tonight. Leave the printers idle and the laser cutter "
    "covered before you go."
)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Generator[tuple[SpeechPeer, SpeechPeer]]:
    """The Wyoming TTS and STT servers (subprocesses, stopped by PID)."""
    _allow_loopback_sockets()  # module scope: set up before the per-test socket allowance
    workdir = tmp_path_factory.mktemp("wyoming")
    tts = SpeechPeer("tts", workdir).start()
    try:
        stt_peer = SpeechPeer("stt", workdir, SENTENCES).start()
    except Exception:
        tts.stop()
        raise
    yield tts, stt_peer
    stt_peer.stop()
    tts.stop()


@pytest.fixture
async def local_model() -> AsyncGenerator[OpenAIServer]:
    """The local model (t1), OpenAI-compatible, on loopback."""
    server = await OpenAIServer().start()
    yield server
    await server.stop()


@dataclass
class Rig:
    """A voice workshop: Jarvis, the Wyoming servers, a pipeline, a websocket client."""

    pipeline_id: str
    shop: Shop
    ws: Any
    model: OpenAIServer
    tts: SpeechPeer


@pytest.fixture
async def rig(
    hass: HomeAssistant,
    session_worker: Worker,
    local_model: OpenAIServer,
    speech: tuple[SpeechPeer, SpeechPeer],
    hass_ws_client: WebSocketGenerator,
) -> Rig:
    """Jarvis (t0 + local model), the Wyoming services, and a pipeline using them."""
    ws = await hass_ws_client(hass)
    pipeline_id, shop = await _setup(hass, session_worker, local_model, speech, ws)
    return Rig(pipeline_id, shop, ws, local_model, speech[0])


async def _setup(
    hass: HomeAssistant,
    worker: Worker,
    model: OpenAIServer,
    speech: tuple[SpeechPeer, SpeechPeer],
    ws: Any,
) -> tuple[str, Shop]:
    shop = await setup_shop(
        hass,
        worker,
        [provider("llama", "openai_compatible", model.base_url), agent(tiers=["t0", "t1"])],
    )
    hass.states.async_set(LAMP, "off", {"friendly_name": "Bench lamp"})
    assert await async_setup_component(hass, "assist_pipeline", {})
    tts_peer, stt_peer = speech
    for peer in (tts_peer, stt_peer):
        entry = MockConfigEntry(domain="wyoming", data={"host": "127.0.0.1", "port": peer.port})
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ent_reg = er.async_get(hass)
    wyoming = [e.entity_id for e in ent_reg.entities.values() if e.platform == "wyoming"]
    stt_entity = next(e for e in wyoming if e.startswith("stt."))
    tts_entity = next(e for e in wyoming if e.startswith("tts."))
    await ws.send_json_auto_id(
        {
            "type": "assist_pipeline/pipeline/create",
            "name": "Workshop voice",
            "language": "en",
            "conversation_engine": AGENT_ID,
            "conversation_language": "en",
            "stt_engine": stt_entity,
            "stt_language": "en",
            "tts_engine": tts_entity,
            "tts_language": "en",
            "tts_voice": None,
            "wake_word_entity": None,
            "wake_word_id": None,
        }
    )
    created = await ws.receive_json()
    assert created["success"], created
    return str(created["result"]["id"]), shop


async def _run(ws: Any, pipeline_id: str, **run: Any) -> list[dict[str, Any]]:
    """Start a run; its events until run-end (audio, if any, goes in via `audio`)."""
    audio: bytes | None = run.pop("audio", None)
    await ws.send_json_auto_id({"type": "assist_pipeline/run", "pipeline": pipeline_id, **run})
    started = await ws.receive_json()
    assert started["success"], started
    events: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive_json(timeout=60)
        event = msg["event"]
        events.append(event)
        if event["type"] == "run-start" and audio is not None:
            handler = event["data"]["runner_data"]["stt_binary_handler_id"]
            for i in range(0, len(audio), 3200):  # 100 ms per message, as a microphone sends
                await ws.send_bytes(bytes([handler]) + audio[i : i + 3200])
            await ws.send_bytes(bytes([handler]))  # end of speech
        if event["type"] in ("run-end", "error"):
            return events


def _when(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def _decode(data: bytes) -> bytes:
    """What a player would play: the TTS result decoded to 16 kHz mono PCM (ffmpeg)."""
    return subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", "-", "-ar", "16000", "-ac", "1", "-f", "s16le", "-"],
        input=data,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout


async def _played(client_factory: ClientSessionGenerator, url: str) -> bytes:
    """Fetch the pipeline's TTS URL as a player does (waits for the whole answer); decoded PCM."""
    client = await client_factory()
    response = await client.get(url)
    assert response.status == 200
    return _decode(await response.read())


def _loudness(pcm: bytes) -> float:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) // 2 * 2])
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


async def test_streamed_answer_reaches_streaming_tts_before_the_intent_ends(
    hass: HomeAssistant, rig: Rig, hass_client: ClientSessionGenerator
) -> None:
    tts_peer = rig.tts
    before = len(tts_peer.events())
    # Word by word, 80 ms apart; the last word is held back until the TTS server has spoken the
    # first sentence (order, not timing: a loaded machine cannot make this flaky; HA streams to
    # TTS once the answer passes 60 characters). A TTS that does not stream never speaks it in
    # time: the answer stalls until the model call times out and the assertions below fail.
    reply = streamed(ANSWER)
    assert reply.chunks is not None
    last_word = next(i for i, chunk in enumerate(reply.chunks) if "go." in chunk)

    def first_sentence_spoken() -> bool:
        return any(e["event"] == "spoken" for e in tts_peer.events()[before:])

    rig.model.script(
        CHAT_PATH, replace(reply, chunk_delay=0.08, gate=(last_word, first_sentence_spoken))
    )
    events = await _run(
        rig.ws,
        rig.pipeline_id,
        start_stage="intent",
        end_stage="tts",
        input={"text": "what time does the workshop close"},
    )
    types = [e["type"] for e in events]
    assert types[0] == "run-start" and types[-1] == "run-end", types
    run_start = events[0]["data"]
    # Both sides stream: the Wyoming TTS (synthesize streaming) and Jarvis (supports_streaming).
    assert run_start["tts_output"]["stream_response"] is True
    intent_end = types.index("intent-end")
    progress = [e for e in events[:intent_end] if e["type"] == "intent-progress"]
    deltas = [e["data"]["chat_log_delta"] for e in progress if "chat_log_delta" in e["data"]]
    streamed_text = "".join(d.get("content", "") for d in deltas)
    assert streamed_text == ANSWER
    assert len(deltas) > 10  # word by word, not one block
    start_streaming = next(
        i for i, e in enumerate(events) if e["data"].get("tts_start_streaming") is True
    )
    assert start_streaming < intent_end
    assert (
        events[intent_end]["data"]["intent_output"]["response"]["speech"]["plain"]["speech"]
        == ANSWER
    )
    # Play the answer (HA's TTS proxy; it ends once the Wyoming server has said all of it).
    tts_end = next(e for e in events if e["type"] == "tts-end")
    pcm = await _played(hass_client, tts_end["data"]["tts_output"]["url"])
    # The TTS server got the text in pieces and spoke the first sentence before the intent
    # stage had finished (the model was still streaming the second sentence).
    served = tts_peer.events()[before:]
    kinds = [e["event"] for e in served]
    assert kinds[0] == "synthesize-start"
    last_chunk = max(i for i, kind in enumerate(kinds) if kind == "synthesize-chunk")
    assert kinds.index("synthesize-stop") > last_chunk
    chunks = [e for e in served if e["event"] == "synthesize-chunk"]
    assert len(chunks) > 3 and "".join(c["text"] for c in chunks) == ANSWER
    spoken = [e for e in served if e["event"] == "spoken"]
    assert [s["text"].strip() for s in spoken] == [
        "The workshop closes at nine tonight.",
        "Leave the printers idle and the laser cutter covered before you go.",
    ]
    assert spoken[0]["t"] < _when(events[intent_end])
    # The audio is what the Wyoming server spoke (converted by ffmpeg).
    seconds = len(pcm) / 32000
    spoken_bytes = sum(s["bytes"] for s in spoken)  # espeak-ng's 22,050 Hz 16-bit PCM
    assert abs(seconds - spoken_bytes / 44100) < 0.5, (seconds, spoken_bytes)
    assert _loudness(pcm) > 500


async def test_spoken_command_turns_the_lamp_on_locally(
    hass: HomeAssistant, rig: Rig, hass_client: ClientSessionGenerator
) -> None:
    """espeak-ng's "turn on the bench lamp" -> Wyoming STT -> Jarvis T0 -> light.turn_on."""
    events = await _run(
        rig.ws,
        rig.pipeline_id,
        start_stage="stt",
        end_stage="tts",
        input={"sample_rate": 16000},
        audio=speech_pcm("turn on the bench lamp"),
    )
    by_type = {e["type"]: e["data"] for e in events}
    assert "error" not in by_type, by_type.get("error")
    assert by_type["stt-end"]["stt_output"]["text"] == "turn on the bench lamp"
    assert [c.data["entity_id"] for c in rig.shop.light_on_calls] == [[LAMP]]
    assert by_type["intent-end"]["intent_output"]["response"]["response_type"] == "action_done"
    assert not rig.model.requests_to(CHAT_PATH)  # T0: no model was asked
    speech_text = by_type["intent-end"]["intent_output"]["response"]["speech"]["plain"]["speech"]
    assert by_type["tts-start"]["tts_input"] == speech_text
    assert _loudness(await _played(hass_client, by_type["tts-end"]["tts_output"]["url"])) > 500


async def test_satellite_question_gets_a_short_spoken_answer(
    hass: HomeAssistant, rig: Rig, hass_client: ClientSessionGenerator
) -> None:
    """The pipeline API voice satellites use: the satellite id reaches Jarvis, answers are short."""
    rig.model.script(CHAT_PATH, streamed("At nine tonight."))
    events: list[PipelineEvent] = []
    audio = speech_pcm("what time does the workshop close")

    async def microphone() -> AsyncGenerator[bytes]:
        for i in range(0, len(audio), 3200):
            yield audio[i : i + 3200]

    await async_pipeline_from_audio_stream(
        hass,
        context=Context(),
        event_callback=events.append,
        stt_metadata=stt.SpeechMetadata(
            language="en",
            format=stt.AudioFormats.WAV,
            codec=stt.AudioCodecs.PCM,
            bit_rate=stt.AudioBitRates.BITRATE_16,
            sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
            channel=stt.AudioChannels.CHANNEL_MONO,
        ),
        stt_stream=microphone(),
        pipeline_id=rig.pipeline_id,
        satellite_id="assist_satellite.workshop",
    )
    by_type = {str(e.type): e.data or {} for e in events}
    assert "error" not in by_type, by_type.get("error")
    assert by_type["stt-end"]["stt_output"]["text"] == "what time does the workshop close"
    assert by_type["intent-start"]["satellite_id"] == "assist_satellite.workshop"
    sent = rig.model.requests_to(CHAT_PATH)[0].json
    assert "read aloud" in sent["messages"][0]["content"]
    assert sent["max_tokens"] == 160
    assert by_type["tts-start"]["tts_input"] == "At nine tonight."
    assert _loudness(await _played(hass_client, by_type["tts-end"]["tts_output"]["url"])) > 500
