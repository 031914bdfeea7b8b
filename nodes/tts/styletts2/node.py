"""tts.styletts2: StyleTTS 2 text to speech (yl4579/StyleTTS2), 24 kHz, voice style from reference audio."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, TEXT, Port, node
from haysay.graph_engine.values import Audio
from haysay.nodes.vc.resolve import ModelRefError, content_digest, file_size, pooled, resolve_model

# torch and the networks are imported where the node runs: registering it stays light

ARCHITECTURE = "styletts2"


class StyleTTS2Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, title="Model",
                       description="An installed StyleTTS 2 model, or a folder holding epochs_2nd_*.pth and its "
                                   "config.yml (PL-BERT's config.yml where config.yml's PLBERT_dir points), or "
                                   "the .pth itself")
    alpha: float = Field(0.3, ge=0.0, le=1.0, title="Alpha (timbre)",
                         description="Share of the acoustic style taken from the text's sampled style rather than "
                                     "the reference: 0 keeps the reference voice's timbre (multi-speaker models)")
    beta: float = Field(0.7, ge=0.0, le=1.0, title="Beta (prosody)",
                        description="Share of the prosodic style taken from the sampled style rather than the "
                                    "reference: higher follows the text's own emphasis more (multi-speaker models)")
    diffusion_steps: int = Field(5, ge=2, le=100, title="Diffusion steps",
                                 description="Noise levels of the style sampler (ADPM2); more gives more varied, "
                                             "slower styles")
    embedding_scale: float = Field(1.0, ge=0.0, le=10.0, title="Embedding scale",
                                   description="Classifier-free guidance on the text: above 1 is more expressive")
    speed: float = Field(1.0, ge=0.25, le=4.0, title="Speed", json_schema_extra={"unit": "x"},
                         description="Speaking rate: predicted phoneme durations are divided by it")
    continuity: float = Field(0.7, ge=0.0, le=1.0, title="Style continuity",
                              description="Long text is spoken sentence by sentence; each sentence's style keeps "
                                          "this share of the previous one's (upstream's long-form t)")
    seed: int = Field(0, ge=0, le=2**32 - 1, title="Seed",
                      description="Seed of the diffusion and source noise: the same seed and params give the "
                                  "same audio")
    style_trait: str = Field("", max_length=200, title="Precomputed style",
                             description="Speak with a precomputed style instead of a reference recording: a "
                                         "trait of Hay Say's precomputed_styles.json ('Neutral 1', 'Happy 1', ...)")
    style_character: str = Field("", max_length=200, title="Style character",
                                 description="Whose precomputed style (default: the model's own name)")
    styles_file: str = Field("", max_length=4096, title="Styles file",
                             description="Hay Say's precomputed_styles.json (default: the one in the model's "
                                         "folder or beside it, as Hay Say keeps it)")


def _files(params: StyleTTS2Params):
    from haysay.nodes.tts.styletts2.checkpoint import find_files
    from haysay.nodes.vc.safe_load import CheckpointError

    path, installed = resolve_model(params.model, "model", ARCHITECTURE)
    if installed is not None:
        path = installed.file("weights")
    try:
        return find_files(Path(path))
    except CheckpointError as exc:
        raise ModelRefError("model", str(exc)) from None


def _model_name(params: StyleTTS2Params, files) -> str:
    """The name Hay Say files the model's styles under: the installed model's, else its folder's."""
    _, installed = resolve_model(params.model, "model", ARCHITECTURE)
    return installed.name if installed is not None else files.weights.parent.name


def _styles_path(params: StyleTTS2Params, files) -> Path | None:
    from haysay.nodes.tts.styletts2.styles import locate

    path = locate(files.weights.parent, params.styles_file)
    return path if path is not None and path.is_file() else None


def _precomputed_style(params: StyleTTS2Params, files, style_dim: int) -> list[float] | None:
    """The style vector `style_trait` names (None when no trait is chosen); field errors for the rest."""
    from haysay.nodes.tts.styletts2.styles import find_style, locate, read_styles
    from haysay.nodes.vc.safe_load import CheckpointError

    if not params.style_trait:
        if params.style_character or params.styles_file:
            raise ModelRefError("style_trait", "name the trait of the precomputed style to speak with")
        return None
    path = locate(files.weights.parent, params.styles_file)
    if path is None:
        raise ModelRefError("styles_file", "no precomputed_styles.json in the model's folder or beside it: give "
                                           "Hay Say's precomputed_styles.json")
    try:
        table = read_styles(path)
    except CheckpointError as exc:
        raise ModelRefError("styles_file", str(exc)) from None
    name = _model_name(params, files)
    try:
        vector = find_style(table, name, params.style_character or name, params.style_trait)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise ModelRefError(field, message) from None
    if len(vector) != 2 * style_dim:
        raise ModelRefError("style_trait", f"the style vector has {len(vector)} numbers; this model's styles have "
                                           f"{2 * style_dim} (2 x style_dim): it was computed for another model")
    return vector


def _check(params: StyleTTS2Params, shapes) -> None:
    """At validation: the model folder has its checkpoint and readable configs, and a chosen precomputed
    style exists and fits the model."""
    from haysay.nodes.tts.styletts2.checkpoint import read_config
    from haysay.nodes.vc.safe_load import CheckpointError

    files = _files(params)
    try:
        cfg = read_config(files)
    except CheckpointError as exc:
        raise ModelRefError("model", str(exc)) from None
    if params.style_trait and "reference" in shapes:
        raise ModelRefError("style_trait", "a reference recording is connected: speak with either it or a "
                                           "precomputed style")
    _precomputed_style(params, files, cfg.style_dim)
    return None


def _fingerprint(params: StyleTTS2Params) -> dict[str, str]:
    files = _files(params)
    return {"model": content_digest(files.weights), "config": content_digest(files.config),
            "plbert_config": content_digest(files.plbert_config) if files.plbert_config else "released",
            **({"styles": content_digest(styles)} if params.style_trait and (styles := _styles_path(params, files))
               else {})}


def _memory(params: StyleTTS2Params, shapes) -> float:
    # the reference is read whole as float32, resampled to 24 kHz and turned into a mel: ~16 B per sample
    return 16.0 * sum(s.samples for s in shapes.values())


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# Measured (benchmarks/adapters.py `styletts2`, full-size LibriTTS network, random weights, CPU fp32): 135.8 M
# params = 543 MB of weights; a process speaking a 6.9 s sentence peaked at 2.07 GB resident (torch itself
# included). memory_mb declares the weights plus working space for a sentence at a time.
@node("tts.styletts2", inputs=[Port("text", TEXT),
                               Port("reference", AUDIO, optional=True,
                                    description="Speech in the voice to speak with (its style is extracted); "
                                                "needed by multi-speaker models such as LibriTTS")],
      outputs={"audio": AUDIO}, params=StyleTTS2Params, category="tts", title="StyleTTS 2",
      gpu=True, memory_mb=1500, tags=("tts", "neural", "styletts2", "cloning"), shape=_check, memory=_memory,
      fingerprint=_fingerprint,
      lifecycle={"upstream": "yl4579/StyleTTS2", "versions": ("LibriTTS", "LJSpeech"), "status": "supported",
                 "licence": "MIT"})
def styletts2(params: StyleTTS2Params, text: str, ctx, reference: Audio | None = None) -> Audio:
    """Speak English text with a StyleTTS 2 model (the released LibriTTS or LJSpeech checkpoints, or one
    trained with upstream's train_second.py): the style diffusion samples a speaking style for the text,
    blended with the style of the reference recording by alpha (timbre) and beta (prosody). Phonemes come
    from eSpeak NG, as upstream's phonemizer. Output is mono 24 kHz."""
    import numpy as np

    from haysay.nodes.tts.styletts2.checkpoint import load_model
    from haysay.nodes.tts.styletts2.decoder import SAMPLE_RATE
    from haysay.nodes.tts.styletts2.synthesis import compute_style, synthesize
    from haysay.nodes.vc.safe_load import CheckpointError

    if not text or not text.strip():
        raise ValueError("text: nothing to say (empty text)")
    files = _files(params)
    device = _device()
    report: dict = {}
    try:
        model = pooled("styletts2", files.weights, device, lambda: load_model(files, device),
                       file_size(files.weights) * 2, report)
    except CheckpointError as exc:
        raise ModelRefError("model", str(exc)) from None
    ctx.progress(0.1, "model loaded")
    ref_s = None
    vector = _precomputed_style(params, files, model.cfg.style_dim)
    if vector is not None:
        if reference is not None:
            raise ModelRefError("style_trait", "a reference recording is connected: speak with either it or a "
                                               "precomputed style")
        import torch

        ref_s = torch.tensor([vector], dtype=torch.float32, device=next(model.parameters()).device)
    elif model.cfg.multispeaker and reference is None:
        raise ModelRefError("reference", "this multi-speaker model speaks in the style of reference audio: "
                                         "connect a recording of the voice (at least 1 s of speech) or choose a "
                                         "precomputed style (style_trait)")
    elif reference is not None:  # multi-speaker models; a single-speaker one blends it in as Hay Say's CLI does
        import soxr

        y = reference.mono().astype(np.float64)
        if reference.sample_rate != SAMPLE_RATE:  # librosa.load's default resampler, soxr HQ
            y = soxr.resample(y, reference.sample_rate, SAMPLE_RATE, quality="HQ")
        try:
            ref_s = compute_style(model, y.astype(np.float32))
        except ValueError as exc:
            raise ModelRefError("reference", str(exc).removeprefix("reference: ")) from None
    wav = synthesize(model, text, ref_s, params.seed, alpha=params.alpha, beta=params.beta,
                     diffusion_steps=params.diffusion_steps, embedding_scale=params.embedding_scale,
                     speed=params.speed, continuity=params.continuity,
                     progress=lambda f: ctx.progress(0.1 + 0.9 * f, "speaking"))
    ctx.info["model_load"] = report
    ctx.info["styletts2"] = {"multispeaker": model.cfg.multispeaker, "decoder": model.cfg.decoder["kind"],
                             "device": device, "reference_used": reference is not None and ref_s is not None,
                             "precomputed_style": params.style_trait or None}
    return Audio.from_mono(wav, SAMPLE_RATE)
