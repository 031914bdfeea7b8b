"""Inline audio for notebooks: a compressed (MP3, else Ogg Vorbis) data URI in an <audio> player, capped in length.

A notebook saves every output inline, so a player embeds a compact encoding rather
than the WAV: a 2 s clip is ~10 kB as MP3 against ~90-190 kB as 16-bit WAV. The
audio itself stays in the artifact store; `run["node"].audio.save(path)` writes it
at full quality.
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np
import soundfile as sf

from haysay.graph_engine.values import Audio

MAX_EMBED_SECONDS = 60.0  # a minute of MP3 at the default quality is ~0.5 MB
MP3_RATES = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}  # what MPEG-1/2/2.5 layer III can carry


def clip(audio: Audio, max_seconds: float = MAX_EMBED_SECONDS) -> tuple[np.ndarray, bool]:
    """The first `max_seconds` of samples as (channels, frames), and whether anything was cut."""
    limit = int(max_seconds * audio.sample_rate)
    cut = audio.frames > limit
    data = np.asarray(audio.data[:, :limit] if cut else audio.numpy(), dtype=np.float32)
    return data, cut


def wav_bytes(data: np.ndarray, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(data, -1.0, 1.0).T, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def preview_bytes(data: np.ndarray, sample_rate: int) -> tuple[str, bytes]:
    """(mime type, encoded bytes): MP3 where its rates and channels allow, else Ogg Vorbis, else WAV."""
    frames = np.clip(data, -1.0, 1.0).T
    attempts = []
    if sample_rate in MP3_RATES and data.shape[0] <= 2:
        attempts.append(("audio/mpeg", "MP3", "MPEG_LAYER_III"))
    if data.shape[0] <= 255:
        attempts.append(("audio/ogg", "OGG", "VORBIS"))
    for mime, fmt, subtype in attempts:
        buf = io.BytesIO()
        try:
            sf.write(buf, frames, sample_rate, format=fmt, subtype=subtype)
        except (sf.LibsndfileError, RuntimeError, ValueError):
            continue  # e.g. a rate this libsndfile's encoder refuses
        return mime, buf.getvalue()
    return "audio/wav", wav_bytes(data, sample_rate)


def audio_data_uri(audio: Audio, max_seconds: float = MAX_EMBED_SECONDS) -> tuple[str, bool]:
    """A compact data URI of the first `max_seconds`, and whether anything was cut."""
    data, cut = clip(audio, max_seconds)
    mime, payload = preview_bytes(data, audio.sample_rate)
    return f"data:{mime};base64," + base64.b64encode(payload).decode("ascii"), cut


def wav_data_uri(audio: Audio, max_seconds: float = MAX_EMBED_SECONDS) -> tuple[str, bool]:
    """An uncompressed 16-bit WAV data URI (kept for exact-sample checks; players use `audio_data_uri`)."""
    data, cut = clip(audio, max_seconds)
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(data, audio.sample_rate)).decode("ascii"), cut


def audio_tag(audio: Audio, label: str = "", max_seconds: float = MAX_EMBED_SECONDS) -> str:
    """An <audio controls> element; says so when only the first `max_seconds` are embedded."""
    uri, cut = audio_data_uri(audio, max_seconds)
    note = (f'<div class="hs-note">first {max_seconds:g} s of {audio.duration:.1f} s embedded</div>' if cut else "")
    title = f' title="{html.escape(label)}"' if label else ""
    return f'<audio controls preload="none"{title} src="{uri}"></audio>{note}'
