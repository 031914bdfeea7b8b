"""tts.coqui: Coqui TTS models (VITS, YourTTS, XTTS v2) from a local model folder, through `coqui-tts`."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, TEXT, Port, node
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.resolve import ModelRefError, content_digest, file_size, pooled, resolve_model

ARCHITECTURE = "coqui"


class CoquiParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, title="Model",
                       description="An installed Coqui model (`haysay models install <folder>`) or a folder holding "
                                   "config.json and model.pth (XTTS v2: also vocab.json, speakers_xtts.pth)")
    speaker: str = Field("", max_length=200, title="Speaker",
                         description="A speaker of a multi-speaker model (XTTS: a stored speaker); empty: the "
                                     "reference audio when wired, else the model's first speaker")
    language: str = Field("", max_length=16, title="Language",
                          description="Language of the text for multilingual models (XTTS: en, es, fr, de, ...); "
                                      "empty: English for XTTS, the model's only language otherwise")
    speed: float = Field(1.0, ge=0.25, le=4.0, title="Speed", json_schema_extra={"unit": "x"},
                         description="Speaking rate: above 1 is faster (XTTS's speed; VITS divides its length_scale)")
    temperature: float | None = Field(None, ge=0.01, le=2.0, title="Temperature",
                                      description="XTTS sampling temperature; empty: the model config's "
                                                  "(0.75 in XTTS v2's); only XTTS samples")
    seed: int = Field(0, ge=0, le=2**32 - 1, title="Seed",
                      description="Seed of the model's noise and sampling: the same seed and params give the same audio")
    split_sentences: bool = Field(True, title="Split sentences",
                                  description="Speak sentence by sentence, as Coqui does by default")


def _files(params: CoquiParams):
    from importlib.util import find_spec

    from haysay.nodes.tts.coqui.engine import CoquiModelError, find_files

    if find_spec("TTS") is None:
        raise ModelRefError("model", "tts.coqui needs the coqui-tts library: pip install 'haysay[coqui]'")

    path, installed = resolve_model(params.model, "model", ARCHITECTURE)
    try:
        return find_files(Path(path))
    except CoquiModelError as exc:
        raise ModelRefError("model", str(exc).removeprefix("model: ")) from None


def _check(params: CoquiParams, shapes) -> None:
    """At validation: the folder is a Coqui model this node runs, and the params fit it."""
    files = _files(params)
    if params.temperature is not None and files.model != "xtts":
        raise ValueError("temperature: only XTTS samples; leave it empty for a VITS model")
    from haysay.nodes.tts.coqui.engine import language_problem

    problem = language_problem(files, params.language)
    if problem:
        raise ValueError(problem)
    return None


def _fingerprint(params: CoquiParams) -> dict[str, str]:
    return {"model": content_digest(_files(params).folder)}


def _memory(params: CoquiParams, shapes) -> float:
    # a reference recording is read whole, as float32, and resampled: ~16 B per input sample
    return 16.0 * sum(s.samples for s in shapes.values())


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@node("tts.coqui", inputs=[Port("text", TEXT), Port("speaker", AUDIO, optional=True,
                                                    description="Reference recording of the voice to clone (XTTS)")],
      outputs={"audio": AUDIO}, params=CoquiParams, category="tts", title="Coqui TTS (XTTS v2, VITS)",
      gpu=True, memory_mb=2500, tags=("tts", "neural", "coqui", "cloning"), shape=_check, memory=_memory,
      fingerprint=_fingerprint)
def coqui(params: CoquiParams, text: str, ctx, speaker: Audio | None = None) -> Audio:
    """Speak with a Coqui model from its folder: XTTS v2 clones the voice of the reference audio wired
    to `speaker` (or a stored speaker); VITS/YourTTS models speak with their own speakers. Runs through
    the coqui-tts library itself (`pip install haysay[coqui]`), seeded for repeatable output."""
    from haysay.graph_engine.config import Settings
    from haysay.nodes.tts.coqui.engine import CoquiModelError, load_synthesizer, synthesize

    if not text or not text.strip():
        raise ValueError("text: nothing to say (empty text)")
    files = _files(params)
    device = _device()
    cache = Settings.from_env().home / "cache" / "coqui"
    report: dict = {}
    try:
        synth = pooled("coqui", files.folder, device, lambda: load_synthesizer(files, device, cache),
                       file_size(files.folder) * 2, report)
    except CoquiModelError as exc:
        raise ModelRefError("model", str(exc).removeprefix("model: ")) from None
    ctx.info["model_load"] = report
    ref = (speaker.mono(), speaker.sample_rate) if speaker is not None else None
    ctx.progress(0.05, "speaking")
    wav = synthesize(synth, files, text, speaker=params.speaker, language=params.language, reference=ref,
                     speed=params.speed, temperature=params.temperature, seed=params.seed,
                     split_sentences=params.split_sentences)
    ctx.info["architecture"] = files.model
    return Audio.from_mono(wav, int(synth.output_sample_rate))
