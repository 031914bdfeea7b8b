"""vc.sovits: convert a voice with a so-vits-svc 3.0/4.0/4.1 model (G_*.pth + config.json)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from haysay.graph_engine.contract import AUDIO, node
from haysay.graph_engine.values import Audio
from haysay.nodes.analysis.f0 import rmvpe_checkpoint
from haysay.nodes.vc.content.encoder_specs import speech_encoder_spec
from haysay.nodes.vc.resolve import (ModelRefError, content_digest, file_size, pooled, resolve_content_encoder,
                                  resolve_model)
from haysay.nodes.vc.sovits.config import read_sovits_config
from haysay.nodes.vc.sovits.slicer import Slicing

# torch, torchaudio and the networks are imported where the node runs: registering it stays light
if TYPE_CHECKING:
    from haysay.nodes.vc.sovits.extras import PostStages
    from haysay.nodes.vc.sovits.pipeline import SovitsOptions

class SovitsParams(BaseModel):
    """Defaults are so-vits-svc 4.1-Stable's inference_main.py (where its webUI differs, noted)."""
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, description="Installed so-vits-svc model name, or path to G_*.pth "
                                                      "(config.json beside it)")
    config: str = Field("", description="config.json path if not beside the weights")
    content_encoder: str = Field("", description="Installed speech encoder name or path to the file the "
                                                 "config's speech_encoder needs: ContentVec "
                                                 "checkpoint_best_legacy_500.pt / a transformers folder (vec*), "
                                                 "hubert-soft-0d54a1f4.pt, chinese-hubert-large, WavLM-Base+.pt, "
                                                 "whisper medium.pt / large-v2.pt")
    speaker: str = Field("", description="Speaker name from the config's spk map (default: the first)")
    speaker_mix: dict[str, float] = Field(default_factory=dict, description=(
        "Blend of speakers, name -> weight (normalised to sum 1; upstream's character mix held constant over "
        "the whole input). Empty: `speaker` alone. Not combinable with cluster_ratio"))
    speaker_mix_track: dict[str, list[tuple[float, float, float, float]]] = Field(default_factory=dict, description=(
        "Blend of speakers varying over the input, upstream's spkmix.py: name -> [[start, end, from, to], ...], "
        "start/end as fractions 0..1 of the input, the weight ramping from -> to; each speaker's segments "
        "follow on end to start; unlisted speakers weigh 0; normalised per frame"))
    transpose: float = Field(0.0, ge=-48.0, le=48.0, description="Pitch shift",
                             json_schema_extra={"unit": "semitones"})
    f0_method: Literal["pm", "harvest", "dio", "crepe", "crepe-tiny", "fcpe", "rmvpe"] = Field(
        "pm", description="Pitch tracker (pm = Praat autocorrelation; rmvpe = RVC's neural tracker, needs "
              "rmvpe.pt installed: haysay models install rmvpe.pt, or HAYSAY_RMVPE=path)")
    cr_threshold: float = Field(0.05, ge=0.0, le=1.0, description="F0 voicing threshold of the neural trackers "
                                                                  "(crepe, rmvpe, fcpe): lower = fewer off-key "
                                                                  "frames but more muted ones")
    f0_filter: bool = Field(False, description="Stop with an error when a chunk has no voiced frame instead of "
                                               "converting it on a flat pitch")
    noise_scale: float | None = Field(None, ge=0.0, le=2.0, title="Noise scale",
                                      description="Prior noise scale (variation in timbre); empty: upstream's for "
                                                  "the model's version (0.4 for 4.x, 1.0 for 3.0)")
    auto_predict_f0: bool = Field(False, description="Let the model predict the pitch (speech only; off for "
                                                     "singing, where it goes badly off key; transpose then has no "
                                                     "effect)")
    cluster_model: str = Field("", description="kmeans_*.pt path, or with feature_retrieval the "
                                                "feature_and_index.pkl; default: the installed model's own, if any")
    cluster_ratio: float = Field(0.0, ge=0.0, le=1.0, description="Pull features toward the speaker's "
                                                                   "k-means centres, or with feature_retrieval "
                                                                   "toward the indexed features (timbre vs. "
                                                                   "clarity; about 0.5 if used)")
    feature_retrieval: bool = Field(False, description=(
        "Blend with retrieved features instead of k-means centres: cluster_model is then a feature index "
        "(feature_and_index.pkl, read without unpickling code) and cluster_ratio its share"))
    shallow_diffusion: bool = Field(False, description=(
        "Refine the output with the so-vits diffusion model: the synthesizer's audio -> NSF-HiFiGAN mel -> "
        "k_step diffusion steps -> NSF-HiFiGAN (cures some electronic artefacts; enhance is then off)"))
    only_diffusion: bool = Field(False, description=(
        "Skip the so-vits synthesizer: the diffusion model makes the mel from noise out of the input's "
        "content, pitch and volume (needs one trained on all steps, k_step_max 0; its config sets rate, hop, "
        "speakers and encoder)"))
    diffusion_model: str = Field("", description=(
        "Diffusion model_*.pt, a folder of them, or an installed sovits_diffusion model; default: the so-vits "
        "model's own (the latest diffusion/model_*.pt beside G_*.pth)"))
    diffusion_config: str = Field("", description="The diffusion model's config.yaml; default: the one beside it")
    k_step: int = Field(100, ge=1, le=1000, description=(
        "Shallow-diffusion steps: more = nearer the diffusion model's own result (at most its k_step_max)"))
    second_encoding: bool = Field(False, description=(
        "Encode the synthesizer's output again for the diffusion model's units (upstream: sometimes better, "
        "sometimes worse)"))
    diffusion_method: Literal["", "dpm-solver++", "dpm-solver", "unipc", "ddim", "pndm"] = Field(
        "", description="Diffusion sampler; empty: the diffusion config's infer.method")
    diffusion_speedup: int = Field(0, ge=0, le=1000, description=(
        "Sampler step stride (1 = the plain DDPM chain); 0: the diffusion config's infer.speedup"))
    enhance: bool = Field(False, description=(
        "Re-vocode the output with the NSF-HiFiGAN enhancer (helps some models trained on little data, "
        "harms well-trained ones; off with shallow_diffusion or only_diffusion)"))
    enhancer_adaptive_key: int = Field(0, ge=-36, le=36, description=(
        "Let the enhancer reach higher voices: the audio is analysed this many semitones down"),
        json_schema_extra={"unit": "semitones"})
    vocoder: str = Field("", description=(
        "NSF-HiFiGAN for diffusion and enhance: so-vits's pretrain/nsf_hifigan folder (model + config.json) "
        "or an installed nsf_hifigan model; default: the installed one"))
    loudness_envelope_adjustment: float = Field(1.0, ge=0.0, le=1.0, description=(
        "Output loudness envelope: 1 = the model's own (off; inference_main's default), 0 = the input's "
        "(the webUI's default), between = a mix"))
    slice_db: float = Field(-40.0, ge=-120.0, le=0.0, description="Silence threshold for slicing the input "
                                                                  "(-30 for noisy input, -50 to keep breaths)",
                            json_schema_extra={"unit": "dB"})
    pad_seconds: float = Field(0.5, ge=0.0, le=5.0, description="Silence padded around each chunk before "
                                                                "conversion and trimmed after (hides edge "
                                                                "artefacts)", json_schema_extra={"unit": "s"})
    clip_seconds: float = Field(0.0, ge=0.0, le=600.0, description="Force chunks no longer than this (0 = "
                                                                   "only cut at silences)",
                                json_schema_extra={"unit": "s"})
    crossfade_seconds: float = Field(0.0, ge=0.0, le=10.0, description="Crossfade between forced clips "
                                                                       "(upstream linear_gradient; 0 = none)",
                                     json_schema_extra={"unit": "s"})
    crossfade_retain: float = Field(0.75, gt=0.0, le=1.0, description="Share of the crossfade region that is "
                                                                      "blended; the rest of each clip's edge is "
                                                                      "dropped (upstream linear_gradient_retain)")
    resampler: Literal["torchaudio", "soxr"] = Field("torchaudio", description=(
        "Resampler to the model's rate and to the encoder's 16 kHz: torchaudio's windowed sinc (upstream's) "
        "or soxr"))
    backend: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="Where the decoder runs: onnx = an ONNX Runtime graph exported from the checkpoint "
                            "on first load and checked against torch (about 2x faster on CPU); auto = onnx on "
                            "CPU when it checks out, torch on CUDA")
    seed: int = Field(52468, ge=0, description="Noise seed, reset for every chunk as upstream does (upstream's "
                                               "52468)")


def sovits_options(params: SovitsParams) -> SovitsOptions:
    from haysay.nodes.vc.sovits.pipeline import SovitsOptions

    slicing = Slicing(slice_db=params.slice_db, pad_seconds=params.pad_seconds, clip_seconds=params.clip_seconds,
                      crossfade_seconds=params.crossfade_seconds, crossfade_retain=params.crossfade_retain)
    return SovitsOptions(speaker=params.speaker, speaker_mix=dict(params.speaker_mix),
                         speaker_mix_track={k: [tuple(seg) for seg in v] for k, v in params.speaker_mix_track.items()},
                         transpose=params.transpose,
                         f0_method=params.f0_method, cr_threshold=params.cr_threshold, f0_filter=params.f0_filter,
                         noise_scale=params.noise_scale, auto_predict_f0=params.auto_predict_f0,
                         cluster_ratio=params.cluster_ratio,
                         loudness_envelope_adjustment=params.loudness_envelope_adjustment, slicing=slicing,
                         resampler=params.resampler, seed=params.seed)


# Measured peak with full-size 4.1 + HuBERT-base on CPU: ~720 B per 44.1 kHz sample of the longest slice;
# a slice can be the whole input (no silence in it), so the whole input counts.
BYTES_PER_44K_SAMPLE = 800.0


def sovits_memory(params: SovitsParams, shapes) -> float:
    return BYTES_PER_44K_SAMPLE * sum(s.frames * 44100 / s.sample_rate for s in shapes.values())


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _weights_and_config(params: SovitsParams):
    path, installed = resolve_model(params.model, "model", "sovits")
    if installed is not None:
        weights, config = installed.file("weights"), installed.file("config")
        kmeans = installed.find("feature_index" if params.feature_retrieval else "kmeans")
    else:
        weights = path
        if path.is_dir():
            gens = sorted(path.glob("G_*.pth"), key=lambda p: p.stat().st_mtime)
            if not gens:
                raise ModelRefError("model", f"no G_*.pth in {path}")
            weights = gens[-1]
        config, kmeans = weights.parent / "config.json", None
    if params.config:
        config = Path(params.config)
    if params.cluster_model:
        kmeans = Path(params.cluster_model)
        if not kmeans.is_file():
            raise ModelRefError("cluster_model", f"file not found: {kmeans}")
    return weights, Path(config), kmeans, installed


def sovits_models(params: SovitsParams) -> dict[str, str]:
    """The files a run reads, by content, as the node itself resolves them (the cache key holds these)."""
    weights, config, cluster, installed = _weights_and_config(params)
    out: dict[str, str] = {}
    if params.only_diffusion:
        encoder_name = None
    else:
        out["model"], out["config"] = content_digest(weights), content_digest(config)
        encoder_name = read_sovits_config(config).speech_encoder
    if params.cluster_ratio > 0 and cluster is not None:
        out["cluster_model"] = content_digest(cluster)
    if params.shallow_diffusion or params.only_diffusion:
        from haysay.nodes.vc.sovits.extras import diffusion_files, vocoder_folder

        model, dconfig = diffusion_files(params.diffusion_model, params.diffusion_config, weights, installed)
        out["diffusion_model"], out["diffusion_config"] = content_digest(model), content_digest(dconfig)
        out["vocoder"] = content_digest(vocoder_folder(params.vocoder))
        if encoder_name is None:
            import yaml

            encoder_name = (yaml.safe_load(dconfig.read_text()) or {}).get("data", {}).get("encoder", "")
    elif params.enhance:
        from haysay.nodes.vc.sovits.extras import vocoder_folder

        out["vocoder"] = content_digest(vocoder_folder(params.vocoder))
    prefer = speech_encoder_spec(encoder_name).prefer if encoder_name else ("contentvec", "hubert")
    out["content_encoder"] = content_digest(resolve_content_encoder(params.content_encoder, prefer))
    if params.f0_method == "rmvpe":
        out["rmvpe"] = content_digest(rmvpe_checkpoint())
    return out


def _post_stages(params: SovitsParams, weights: Path, installed, device: str, report: dict) -> PostStages:
    """Upstream Svc.__init__'s choices: diffusion for shallow/only diffusion, else the enhancer if asked."""
    from haysay.nodes.vc.sovits.extras import (PostStages, diffusion_files, load_diffusion_pooled,
                                               load_vocoder_pooled, vocoder_folder)

    diffusing = params.shallow_diffusion or params.only_diffusion
    stages = PostStages(only_diffusion=params.only_diffusion, k_step=params.k_step,
                        method=params.diffusion_method or None, speedup=params.diffusion_speedup or None,
                        second_encoding=params.second_encoding, adaptive_key=params.enhancer_adaptive_key,
                        resampler=params.resampler)
    if diffusing:
        model, config = diffusion_files(params.diffusion_model, params.diffusion_config, weights, installed)
        stages.diffusion = load_diffusion_pooled(model, config, device, report)
        stages.vocoder = load_vocoder_pooled(vocoder_folder(params.vocoder), device, stages.diffusion.vocoder_type,
                                             report)
    elif params.enhance:
        stages.enhancer = load_vocoder_pooled(vocoder_folder(params.vocoder), device, "nsf-hifigan", report)
    return stages


@node("vc.sovits", inputs={"audio": AUDIO}, outputs={"audio": AUDIO}, params=SovitsParams, category="vc",
      title="so-vits-svc voice conversion", gpu=True, memory_mb=1500, tags=("neural", "sovits"),
      fingerprint=sovits_models, memory=sovits_memory, lifecycle={"upstream": "svc-develop-team/so-vits-svc", "versions": ("3.0 (Mera-SVC-32k/48k)", "4.0", "4.1-Stable"), "status": "supported", "licence": "AGPL-3.0-only"})
def sovits(params: SovitsParams, audio: Audio, ctx):
    """Convert speech or singing to a so-vits-svc 3.0/4.0/4.1 voice as upstream's inference does: the input
    sliced at silences, ContentVec/HuBERT (3.0: HuBERT-Soft) content, pitch with transpose (or predicted), optional k-means
    cluster blending or feature retrieval, a speaker by name or a blend of speakers, optional shallow
    diffusion (or diffusion alone) or NSF-HiFiGAN enhancement, optional loudness-envelope matching."""
    from haysay.nodes.vc.backend import ensure_decoder, ensure_encoder
    from haysay.nodes.vc.content.speech_encoders import read_speech_encoder
    from haysay.nodes.vc.sovits.checkpoint import build_sovits_model, read_kmeans
    from haysay.nodes.vc.sovits.extras import check_fit, diffusion_info, load_feature_index, retrieval_blend
    from haysay.nodes.vc.sovits.pipeline import convert_sovits, speaker_id

    device = _device()
    report: dict = {}
    weights, config, cluster, installed = _weights_and_config(params)
    stages = _post_stages(params, weights, installed, device, report)
    if params.only_diffusion:
        info, model = diffusion_info(stages.diffusion), None
    else:
        info = read_sovits_config(config)
        model = pooled("sovits", weights, device, lambda: build_sovits_model(weights, info, device),
                       file_size(weights) * 2, report)
    check_fit(stages, info)
    ctx.progress(0.1, "model loaded")
    spec = speech_encoder_spec(info.speech_encoder)
    enc_path = resolve_content_encoder(params.content_encoder, spec.prefer)
    # HuBERT-family encoders share the RVC adapter's pool entry; the others are pooled per family
    kind = "content_encoder" if spec.family == "hubert" else f"speech_encoder.{spec.family}"
    encoder = pooled(kind, enc_path, device, lambda: read_speech_encoder(enc_path, info.speech_encoder).to(device),
                     file_size(enc_path) * 2, report)
    encoder_info = ensure_encoder(encoder, content_digest(enc_path), params.backend, device)
    decoder_info = ensure_decoder(model, content_digest(weights), params.backend, device) if model is not None \
        else None
    stages.encoder, stages.speech_encoder, stages.unit_interpolate_mode = (encoder, info.speech_encoder,
                                                                           info.unit_interpolate_mode)
    centers, blend = None, None
    if params.cluster_ratio > 0:
        if cluster is None:
            what = "a feature_and_index.pkl" if params.feature_retrieval else "a kmeans_*.pt"
            raise ModelRefError("cluster_ratio", f"no cluster model: give cluster_model ({what}) or set 0")
        if params.feature_retrieval:  # keyed by speaker id, as upstream's train_index.py writes it
            blend = retrieval_blend(load_feature_index(cluster, report), speaker_id(info, params.speaker)[0],
                                    params.cluster_ratio, cluster)
        elif cluster.suffix.lower() == ".pkl":
            raise ModelRefError("feature_retrieval", f"{cluster.name} is a feature index; turn feature_retrieval "
                                                     "on to use it (k-means models are kmeans_*.pt)")
        else:
            centers = pooled("kmeans", cluster, "cpu", lambda: read_kmeans(cluster), file_size(cluster) * 2, report)
    ctx.progress(0.2, "content encoder loaded")
    post = stages if (stages.diffusion is not None or stages.enhancer is not None) else None
    result = convert_sovits(audio.mono().astype(np.float32), model, info, encoder, sovits_options(params), centers,
                            device, sample_rate=audio.sample_rate, post=post, blend=blend)
    ctx.info["model_load"] = report
    ctx.info["sovits"] = {"version": info.version, "speech_encoder": info.speech_encoder, "device": device,
                          "post": ("only_diffusion" if params.only_diffusion else "shallow_diffusion"
                                   if stages.diffusion is not None else "enhance" if stages.enhancer else None),
                          "feature_retrieval": blend is not None,
                          "decoder": decoder_info, "content_encoder": encoder_info, **result.info}
    ctx.progress(1.0, "done")
    return Audio(result.audio[None, :], result.sample_rate)
