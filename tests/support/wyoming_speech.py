"""Wyoming speech servers for tests: espeak-ng TTS and pocketsphinx STT, on loopback ports.

Stand-ins for wyoming-piper and wyoming-faster-whisper (whose voices and models cannot be
downloaded here). They speak the same Wyoming protocol (describe/info, transcribe + audio ->
transcript, synthesize and streaming synthesize-start/chunk/stop -> audio), so HA's `wyoming`
integration talks to them exactly as it talks to the real add-ons.

- TTS: espeak-ng (Debian package) speaks each finished sentence as soon as its text has
  streamed in, as wyoming-piper does; every received event is logged (JSON lines, with the wall
  clock) so a test can see when the text arrived.
- STT: pocketsphinx's bundled en-US acoustic model with a JSGF grammar of the sentences the test
  speaks (a restricted vocabulary: the general language model cannot follow synthetic speech).

Run as `python -m tests.support.wyoming_speech tts|stt --port N ...`; `SpeechPeer` starts one
as a subprocess and stops it by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import contextlib
import io
import json
import os
from pathlib import Path
import random
import re
import signal
import struct
import subprocess
import sys
import time
from typing import Any
import wave

from tests.support.mosquitto import free_port, wait_for_port

SENTENCE_END = re.compile(r"[.!?](\s|$)")
SAMPLES_PER_CHUNK = 1024
ESPEAK_TIMEOUT = 20.0


# -- the servers (imported only in the subprocess: wyoming / pocketsphinx live in .venv) ---------


def _attribution() -> Any:
    from wyoming.info import Attribution

    return Attribution(name="Jarvis tests", url="https://github.com/")


async def espeak(text: str) -> tuple[int, int, int, bytes]:
    """(rate, width, channels, pcm) of espeak-ng speaking text (US English)."""
    proc = await asyncio.create_subprocess_exec(
        "espeak-ng",
        "-v",
        "en-us",
        "--stdout",
        text,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), ESPEAK_TIMEOUT)
    except TimeoutError:
        proc.kill()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"espeak-ng failed: {err.decode(errors='replace')}")
    # espeak-ng writes a streaming WAV header (sizes 0xFFFFFFFF): read the fmt, take the rest.
    with wave.open(io.BytesIO(out)) as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
    data = out[out.index(b"data") + 8 :]
    return rate, width, channels, data


def run_tts(port: int, log_path: Path) -> None:
    """A streaming Wyoming TTS server around espeak-ng."""
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.event import Event
    from wyoming.info import Describe, Info, TtsProgram, TtsVoice
    from wyoming.server import AsyncEventHandler, AsyncServer
    from wyoming.tts import (
        Synthesize,
        SynthesizeChunk,
        SynthesizeStart,
        SynthesizeStop,
        SynthesizeStopped,
    )

    info = Info(
        tts=[
            TtsProgram(
                name="espeak-ng",
                description="espeak-ng (stand-in for Piper)",
                attribution=_attribution(),
                installed=True,
                version="1.51",
                supports_synthesize_streaming=True,
                voices=[
                    TtsVoice(
                        name="en-us",
                        description="English (US)",
                        attribution=_attribution(),
                        installed=True,
                        version=None,
                        languages=["en"],
                    )
                ],
            )
        ]
    )
    log = log_path.open("a", encoding="utf-8")

    def note(kind: str, **data: Any) -> None:
        log.write(json.dumps({"t": time.time(), "event": kind, **data}) + "\n")
        log.flush()

    class Handler(AsyncEventHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.streaming = False
            self.pending = ""
            self.started = False

        async def speak(self, text: str) -> None:
            if not text.strip():
                return
            rate, width, channels, pcm = await espeak(text)
            note("spoken", text=text, bytes=len(pcm))
            if not self.started:
                self.started = True
                await self.write_event(AudioStart(rate, width, channels).event())
            step = SAMPLES_PER_CHUNK * width * channels
            for i in range(0, len(pcm), step):
                chunk = AudioChunk(rate, width, channels, pcm[i : i + step])
                await self.write_event(chunk.event())

        async def handle_event(self, event: Event) -> bool:
            if Describe.is_type(event.type):
                await self.write_event(info.event())
                return True
            if SynthesizeStart.is_type(event.type):
                note("synthesize-start")
                self.streaming, self.pending, self.started = True, "", False
                return True
            if SynthesizeChunk.is_type(event.type):
                text = SynthesizeChunk.from_event(event).text
                note("synthesize-chunk", text=text)
                self.pending += text
                # Speak every finished sentence at once (as wyoming-piper does).
                while match := SENTENCE_END.search(self.pending):
                    sentence, self.pending = (
                        self.pending[: match.end()],
                        self.pending[match.end() :],
                    )
                    await self.speak(sentence)
                return True
            if Synthesize.is_type(event.type):
                text = Synthesize.from_event(event).text
                note("synthesize", text=text, streaming=self.streaming)
                if self.streaming:
                    return True  # the whole text again, for servers without streaming
                self.started = False
                await self.speak(text)
                await self.write_event(AudioStop().event())
                return True
            if SynthesizeStop.is_type(event.type):
                note("synthesize-stop")
                await self.speak(self.pending)
                self.pending = ""
                await self.write_event(AudioStop().event())
                await self.write_event(SynthesizeStopped().event())
                self.streaming = False
                return True
            return True

    asyncio.run(AsyncServer.from_uri(f"tcp://127.0.0.1:{port}").run(Handler))


def _decoder(sentences: Sequence[str]) -> Any:
    from pocketsphinx import Decoder, get_model_path

    model = Path(get_model_path(), "en-us")
    grammar = (
        "#JSGF V1.0;\ngrammar jarvis;\npublic <sentence> = "
        + " | ".join(f"( {s.lower()} )" for s in sentences)
        + " ;\n"
    )
    decoder = Decoder(
        hmm=str(model / "en-us"),
        dict=str(model / "cmudict-en-us.dict"),
        loglevel="ERROR",
        bestpath=False,
        fsgusefiller=False,
    )
    decoder.add_jsgf_string("jarvis", grammar)
    decoder.activate_search("jarvis")
    return decoder


def transcribe(pcm: bytes, sentences: Sequence[str]) -> str:
    """pocketsphinx's best sentence of the grammar for 16 kHz 16-bit mono PCM ("" if none).

    A fresh decoder per utterance, whole utterance at once: its cepstral mean comes from this
    speech alone (a reused decoder carries the last one's over and misses words).
    """
    decoder = _decoder(sentences)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return str(hyp.hypstr) if hyp is not None else ""


def run_stt(port: int, sentences: Sequence[str], log_path: Path) -> None:
    """A Wyoming STT server around pocketsphinx."""
    from wyoming.asr import Transcribe, Transcript
    from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStop
    from wyoming.event import Event
    from wyoming.info import AsrModel, AsrProgram, Describe, Info
    from wyoming.server import AsyncEventHandler, AsyncServer

    info = Info(
        asr=[
            AsrProgram(
                name="pocketsphinx",
                description="pocketsphinx (stand-in for faster-whisper)",
                attribution=_attribution(),
                installed=True,
                version="5",
                models=[
                    AsrModel(
                        name="en-us",
                        description="CMU en-US with a command grammar",
                        attribution=_attribution(),
                        installed=True,
                        version=None,
                        languages=["en"],
                    )
                ],
            )
        ]
    )
    log = log_path.open("a", encoding="utf-8")
    converter = AudioChunkConverter(rate=16000, width=2, channels=1)

    class Handler(AsyncEventHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.audio = bytearray()

        async def handle_event(self, event: Event) -> bool:
            if Describe.is_type(event.type):
                await self.write_event(info.event())
            elif Transcribe.is_type(event.type):
                self.audio.clear()
            elif AudioChunk.is_type(event.type):
                self.audio += converter.convert(AudioChunk.from_event(event)).audio
            elif AudioStop.is_type(event.type):
                text = await asyncio.get_running_loop().run_in_executor(
                    None, transcribe, bytes(self.audio), sentences
                )
                entry = {"t": time.time(), "event": "transcript", "text": text}
                log.write(json.dumps({**entry, "bytes": len(self.audio)}) + "\n")
                log.flush()
                await self.write_event(Transcript(text=text).event())
                self.audio.clear()
            return True

    asyncio.run(AsyncServer.from_uri(f"tcp://127.0.0.1:{port}").run(Handler))


# -- the test side ---------------------------------------------------------------------------------


class SpeechPeer:
    """One server subprocess on a free loopback port; its events in `log_path` (JSON lines)."""

    def __init__(self, kind: str, workdir: Path, sentences: Sequence[str] = ()) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = Path(workdir) / f"wyoming_{kind}.jsonl"
        self.sentences = list(sentences)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SpeechPeer:
        """Start the server and wait until it accepts connections."""
        root = Path(__file__).resolve().parents[2]
        args = [sys.executable, "-m", "tests.support.wyoming_speech", self.kind]
        args += ["--port", str(self.port), "--log", str(self.log_path)]
        for sentence in self.sentences:
            args += ["--sentence", sentence]
        self.proc = subprocess.Popen(args, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
        try:
            wait_for_port("127.0.0.1", self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the process this peer started (by its PID)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None

    def events(self) -> list[dict[str, Any]]:
        """What the server logged so far."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def room_noise(seconds: float, rate: int = 16000, seed: int = 7) -> bytes:
    """Quiet noise (±30 of 32767), as a microphone hears an empty room; digital silence is not."""
    rng = random.Random(seed)  # noqa: S311 - test audio, not secrets
    count = int(seconds * rate)
    return struct.pack(f"<{count}h", *(rng.randint(-30, 30) for _ in range(count)))


def speech_pcm(text: str, rate: int = 16000) -> bytes:
    """espeak-ng saying text between bits of room noise, as 16-bit mono PCM (for STT tests)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", text],
        capture_output=True,
        check=True,
        timeout=ESPEAK_TIMEOUT,
    ).stdout
    speech = subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            "-",
            "-ar",
            str(rate),
            "-ac",
            "1",
            "-f",
            "s16le",
            "-",
        ],
        input=wav,
        capture_output=True,
        check=True,
        timeout=ESPEAK_TIMEOUT,
    ).stdout
    return room_noise(0.3, rate) + speech + room_noise(0.5, rate, seed=8)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the server subprocess."""
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["tts", "stt"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--sentence", action="append", default=[])
    args = parser.parse_args(argv)
    if args.kind == "tts":
        run_tts(args.port, args.log)
    else:
        run_stt(args.port, args.sentence, args.log)


if __name__ == "__main__":
    main()
