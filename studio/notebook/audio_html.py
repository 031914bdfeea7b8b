"""Inline audio for notebooks: a WAV data URI in an HTML <audio> player, capped in length."""
from __future__ import annotations

import base64
import html
import io

import numpy as np
import soundfile as sf

from haysay.graph_engine.values import Audio

MAX_EMBED_SECONDS = 60.0  # notebooks store outputs inline; a minute of 16-bit audio is already ~5 MB at 48 kHz


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


def wav_data_uri(audio: Audio, max_seconds: float = MAX_EMBED_SECONDS) -> tuple[str, bool]:
    data, cut = clip(audio, max_seconds)
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(data, audio.sample_rate)).decode("ascii"), cut


def audio_tag(audio: Audio, label: str = "", max_seconds: float = MAX_EMBED_SECONDS) -> str:
    """An <audio controls> element; says so when only the first `max_seconds` are embedded."""
    uri, cut = wav_data_uri(audio, max_seconds)
    note = (f'<div class="hs-note">first {max_seconds:g} s of {audio.duration:.1f} s embedded</div>' if cut else "")
    title = f' title="{html.escape(label)}"' if label else ""
    return f'<audio controls preload="none"{title} src="{uri}"></audio>{note}'
