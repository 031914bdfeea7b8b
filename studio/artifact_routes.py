"""HTTP routes that serve stage outputs from the artifact store as WAV.

    GET /artifact/{cache_key}/{port}.wav            16-bit PCM for the players
    GET /artifact/{cache_key}/{port}.wav?download=1  32-bit float, as an attachment

The key must be a full sha256 cache key and the port a plain identifier, so
a request can never name anything but an artifact. WAV bytes are computed
block by block from the zarr array (an hour of audio is never held in
memory), and byte ranges are honoured so the players can seek.
"""
from __future__ import annotations

import re
import struct
from typing import Iterator

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from haysay.graph_engine import F0, ArtifactStore, Audio

KEY_RE = re.compile(r"^[0-9a-f]{64}$")
PORT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
READ_FRAMES = 1 << 16


def wav_header(frames: int, channels: int, rate: int, float32: bool) -> bytes:
    """A canonical 44-byte RIFF/WAVE header (PCM 16-bit or IEEE float 32-bit)."""
    width = 4 if float32 else 2
    data_bytes = frames * channels * width
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 3 if float32 else 1, channels, rate, rate * channels * width,
                                    channels * width, width * 8)
            + b"data" + struct.pack("<I", data_bytes))


def encode_block(block: np.ndarray, float32: bool) -> bytes:
    """(channels, frames) float32 -> interleaved little-endian samples."""
    inter = np.ascontiguousarray(np.asarray(block, dtype=np.float32).T)
    if float32:
        return inter.astype("<f4").tobytes()
    return (np.clip(inter, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def wav_bytes(audio: Audio, float32: bool, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Bytes [start, end) of the WAV file of `audio`, read block by block."""
    header = wav_header(audio.frames, audio.channels, audio.sample_rate, float32)
    frame_bytes = audio.channels * (4 if float32 else 2)
    total = len(header) + audio.frames * frame_bytes
    end = total if end is None else min(end, total)
    if start < len(header):
        yield header[start:end]
        start = len(header)
    pos = start
    while pos < end:
        first = (pos - len(header)) // frame_bytes
        last = min(audio.frames, first + READ_FRAMES)
        chunk = encode_block(audio.data[:, first:last], float32)
        skip = (pos - len(header)) - first * frame_bytes
        piece = chunk[skip: skip + (end - pos)]
        if not piece:
            break
        yield piece
        pos += len(piece)


def parse_range(header: str | None, total: int) -> tuple[int, int] | None:
    """`bytes=a-b` -> (a, b+1); None for no or an unsupported range."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix range: the last N bytes
        n = int(m.group(2))
        return max(0, total - n), total
    a = int(m.group(1))
    b = int(m.group(2)) + 1 if m.group(2) else total
    return a, min(b, total)


def add_artifact_routes(app: FastAPI, store: ArtifactStore) -> None:
    def stored(key: str, port: str, kind: type):
        if not KEY_RE.fullmatch(key):
            raise HTTPException(400, "cache key must be 64 lowercase hex digits")
        if not PORT_RE.fullmatch(port):
            raise HTTPException(400, "port must be an identifier")
        if not store.exists(key):
            raise HTTPException(404, f"no artifact {key[:12]}…")
        value = store.open(key).get(port)
        if value is None:
            raise HTTPException(404, f"artifact {key[:12]}… has no port {port!r}")
        if not isinstance(value, kind):
            raise HTTPException(415, f"port {port!r} holds {type(value).__name__}, not {kind.__name__}")
        return value

    @app.get("/artifact/{key}/{port}.png")
    def artifact_f0_plot(key: str, port: str):
        """A pitch track drawn for "debug pitch" (analysis.pitch outputs)."""
        from haysay.nodes.analysis.f0 import plot_f0
        png = plot_f0(stored(key, port, F0))
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/artifact/{key}/{port}.wav")
    def artifact_wav(key: str, port: str, request: Request, download: int = 0):
        value = stored(key, port, Audio)
        float32 = bool(download)
        total = 44 + value.frames * value.channels * (4 if float32 else 2)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="{key[:12]}-{port}.wav"'
        rng = parse_range(request.headers.get("range"), total)
        if rng is not None:
            a, b = rng
            if a >= total or a >= b:
                return Response(status_code=416, headers={"Content-Range": f"bytes */{total}"})
            headers.update({"Content-Range": f"bytes {a}-{b - 1}/{total}", "Content-Length": str(b - a)})
            return StreamingResponse(wav_bytes(value, float32, a, b), status_code=206, media_type="audio/wav",
                                     headers=headers)
        headers["Content-Length"] = str(total)
        return StreamingResponse(wav_bytes(value, float32), media_type="audio/wav", headers=headers)
