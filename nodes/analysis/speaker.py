"""analysis.speaker_similarity: how alike two voices sound to Resemblyzer's pretrained speaker
encoder (the GE2E network inside its package): the cosine of their 256-d embeddings."""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict

from haysay.graph_engine.contract import AUDIO, Port, node
from haysay.graph_engine.values import Audio, Metrics, PortType
from haysay.nodes.analysis.measure import mono_at, package_versions, report, require

require("resemblyzer", "webrtcvad", "librosa")  # models inside these wheels; without them the node is left out

RATE = 16000  # the encoder's rate
_LOCK = threading.Lock()
MIN_SPEECH_S = 0.5  # what must remain once the encoder's own VAD took out long silences


@lru_cache(maxsize=1)
def _encoder():
    from resemblyzer import VoiceEncoder
    return VoiceEncoder("cpu", verbose=False)  # a 1.4M-parameter LSTM: the CPU is as quick as loading a GPU


def embedding(samples_16k: np.ndarray, field: str = "audio") -> np.ndarray:
    """The L2-normalised speaker embedding (256,) of mono float samples at 16 kHz, after
    Resemblyzer's own preprocessing (volume normalised, silences over ~0.2 s shortened)."""
    from resemblyzer import preprocess_wav

    x = np.asarray(samples_16k, dtype=np.float32)
    if not x.size or not np.any(x):
        raise ValueError(f"{field}: is digital silence; there is no voice to compare")
    wav = preprocess_wav(x)
    if wav.size < MIN_SPEECH_S * RATE:
        raise ValueError(f"{field}: only {wav.size / RATE:.2f} s of it sounds like speech; "
                         f"the speaker encoder needs at least {MIN_SPEECH_S} s")
    with _LOCK:
        return np.asarray(_encoder().embed_utterance(wav), dtype=np.float64)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class SpeakerSimilarityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@node("analysis.speaker_similarity",
      inputs=[Port("audio", AUDIO, description="The voice to judge (e.g. a conversion)"),
              Port("reference", AUDIO, description="A recording of the target speaker"),
              Port("source", AUDIO, optional=True, description="The voice before conversion")],
      outputs={"metrics": PortType.METRICS}, params=SpeakerSimilarityParams, category="analysis",
      title="Speaker similarity", memory_mb=384, memory=24.0,  # measured 16.4 B per sample of the three inputs
      tags=("speaker", "evaluation"), fingerprint=package_versions("resemblyzer"))
def speaker_similarity(params: SpeakerSimilarityParams, audio: Audio, reference: Audio, ctx,
                       source: Audio | None = None) -> Metrics:
    """Cosine similarity (-1..1; one voice in two recordings scores near 0.8-0.9, different voices
    lower) of the voice to the target speaker's recording and, when given, to the source voice:
    how much of the source voice remains after conversion."""
    voice = embedding(mono_at(audio, RATE), "audio")
    values = {"similarity_reference": cosine(voice, embedding(mono_at(reference, RATE), "reference"))}
    if source is not None:
        values["similarity_source"] = cosine(voice, embedding(mono_at(source, RATE), "source"))
    return report(ctx, Metrics(values, {k: "cosine" for k in values}))
