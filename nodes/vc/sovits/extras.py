"""so-vits-svc 4.1's optional inference stages for vc.sovits, as upstream's Svc wires them: shallow
diffusion (or only diffusion) through the NSF-HiFiGAN vocoder, the NSF-HiFiGAN enhancer, and feature
retrieval in place of the k-means blend. Finding the files, loading them through the warm pool, checking
they fit the so-vits model, and the `post` / `blend` hooks the pipeline calls."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from haysay.nodes.vc.content.speech_encoders import speech_encoder_spec, speech_features
from haysay.nodes.vc.content.hubert import SAMPLE_RATE as SSL_RATE
from haysay.nodes.vc.resolve import ModelRefError, file_size, pooled, resolve_model
from haysay.nodes.vc.safe_load import CheckpointError
from haysay.nodes.vc.sovits.checkpoint import UNIT_INTERPOLATE_MODES, SovitsModelInfo
from haysay.nodes.vc.sovits.diffusion import DiffusionModel, shallow_diffusion
from haysay.nodes.vc.sovits.diffusion_checkpoint import load_diffusion, load_nsf_hifigan
from haysay.nodes.vc.sovits.enhancer import enhance
from haysay.nodes.vc.sovits.envelope import hop_volume
from haysay.nodes.vc.sovits.feature_index import read_feature_index, retrieve, speaker_index
from haysay.nodes.vc.sovits.models import SovitsConfig
from haysay.nodes.vc.sovits.pipeline import FeatureBlend, SynthOutput, repeat_expand, resample
from haysay.nodes.vc.vits.nsf_hifigan import NsfHifiGan

VOCODER_HINT = ("so-vits's pretrain/nsf_hifigan folder (`model` + config.json, openvpi's pretrained "
                "NSF-HiFiGAN): install it with `haysay models install <that folder>` or give its path as vocoder")


def _step(path: Path) -> int:
    digits = "".join(c for c in path.stem if c.isdigit())
    return int(digits) if digits else -1


def _latest_diffusion(folder: Path, field: str) -> Path:
    found = sorted(folder.glob("model_*.pt"), key=_step)
    if not found:
        raise ModelRefError(field, f"no diffusion model_*.pt in {folder}")
    return found[-1]


def diffusion_files(model_ref: str, config_ref: str, weights: Path, installed: Any) -> tuple[Path, Path]:
    """(model_*.pt, config.yaml): the `diffusion_model` param (file, folder or installed sovits_diffusion
    model), else the installed so-vits model's `diffusion` file, else the latest diffusion/model_*.pt
    beside G_*.pth (upstream's logs/44k/diffusion/); the config defaults to config.yaml beside it."""
    config = None
    if model_ref:
        path, inst = resolve_model(model_ref, "diffusion_model", "sovits_diffusion")
        if inst is not None:
            model, config = inst.file("weights"), inst.find("config")
        else:
            model = _latest_diffusion(path, "diffusion_model") if path.is_dir() else path
    elif installed is not None and installed.find("diffusion") is not None:
        model, config = installed.find("diffusion"), installed.find("diffusion_config")
    else:
        folder = Path(weights).parent / "diffusion"
        if not folder.is_dir():
            raise ModelRefError("diffusion_model", f"no diffusion model given and no diffusion/ folder beside "
                                                   f"{Path(weights).name}; give diffusion_model (a model_*.pt)")
        model = _latest_diffusion(folder, "diffusion_model")
    config = Path(config_ref) if config_ref else (config or model.parent / "config.yaml")
    if not config.is_file():
        raise ModelRefError("diffusion_config", f"file not found: {config} (the diffusion model's config.yaml)")
    return model, config


def vocoder_folder(ref: str) -> Path:
    """The NSF-HiFiGAN folder or `model` file: the `vocoder` param, else the installed nsf_hifigan model."""
    if ref:
        path, inst = resolve_model(ref, "vocoder", "nsf_hifigan")
        return inst.file("weights") if inst is not None else path
    from haysay.graph_engine.models import ModelStore

    try:
        models = [m for m in ModelStore.from_env().list() if m.architecture == "nsf_hifigan"]
    except Exception:
        models = []
    if not models:
        raise ModelRefError("vocoder", "shallow diffusion, only_diffusion and enhance need the NSF-HiFiGAN "
                                       "vocoder and none is installed; " + VOCODER_HINT)
    named = [m for m in models if "nsf" in m.name.casefold()]
    return (named or models)[0].file("weights")


def load_diffusion_pooled(model: Path, config: Path, device: str, report: dict) -> DiffusionModel:
    try:
        return pooled("sovits_diffusion", model, device, lambda: load_diffusion(model, config, device),
                      file_size(model) * 2, report)
    except CheckpointError as exc:
        raise ModelRefError("diffusion_config" if exc.path == str(config) else "diffusion_model", str(exc)) from None


def load_vocoder_pooled(folder: Path, device: str, vocoder_type: str, report: dict) -> NsfHifiGan:
    model = folder / "model" if folder.is_dir() else folder
    if not model.is_file():
        raise ModelRefError("vocoder", f"no NSF-HiFiGAN `model` file at {folder}; " + VOCODER_HINT)
    try:
        return pooled(f"nsf_hifigan.{vocoder_type}", folder, device,
                      lambda: load_nsf_hifigan(folder, device, vocoder_type), file_size(folder) * 2, report)
    except CheckpointError as exc:
        raise ModelRefError("vocoder", str(exc)) from None


def load_feature_index(path: Path, report: dict) -> dict:
    try:
        return pooled("sovits_feature_index", path, "cpu", lambda: read_feature_index(path),
                      file_size(path) * 2, report)
    except CheckpointError as exc:
        raise ModelRefError("cluster_model", f"{exc} (feature_retrieval reads upstream's feature_and_index.pkl)") \
            from None


def diffusion_info(d: DiffusionModel) -> SovitsModelInfo:
    """What the pipeline needs to know when the diffusion model stands alone (upstream's only_diffusion takes
    the rate, hop, speakers, encoder and unit interpolation from its config)."""
    try:
        speech_encoder_spec(d.encoder)
    except ValueError as exc:
        raise ModelRefError("diffusion_config", f"data.{exc}") from None
    if d.unit_interpolate_mode not in UNIT_INTERPOLATE_MODES:
        raise ModelRefError("diffusion_config", f"data.unit_interpolate_mode {d.unit_interpolate_mode!r} is not "
                                                f"one of {', '.join(UNIT_INTERPOLATE_MODES)}")
    cfg = SovitsConfig(ssl_dim=d.net.config.units, n_speakers=max(d.net.n_spk, 1), sampling_rate=d.sample_rate,
                       vol_embedding=False, speakers=dict(d.speakers))
    return SovitsModelInfo(cfg, "diffusion", d.encoder, d.block_size, d.unit_interpolate_mode, dict(d.speakers))


def retrieval_blend(indexes: dict, speaker: int, ratio: float, path: Path) -> FeatureBlend:
    """Upstream's feature retrieval for one speaker id: each frame pulled `ratio` of the way to the
    inverse-squared-distance mean of its 8 nearest stored features."""
    try:
        index = speaker_index(indexes, speaker, path)
    except CheckpointError as exc:
        raise ModelRefError("cluster_model", str(exc)) from None
    return lambda features: retrieve(features, index, ratio)


def diffusion_speaker(speaker: int | torch.Tensor, n_spk: int) -> int | torch.Tensor:
    """Speaker-mix weights over the so-vits model's embedding slots (config n_speakers, often 200) cut to the
    diffusion model's n_spk slots, which upstream numbers the same way."""
    if not isinstance(speaker, torch.Tensor) or n_spk <= 1 or speaker.shape[-1] == n_spk:
        return speaker
    if speaker.shape[-1] > n_spk and not speaker[..., n_spk:].any():
        return speaker[..., :n_spk]
    raise ValueError(f"speaker_mix: weighs speakers beyond the diffusion model's {n_spk}")


@dataclass
class PostStages:
    """The `post` hook: shallow diffusion (the synthesizer's audio as the mel to refine) or only diffusion
    (a mel from noise), then the vocoder; else the enhancer. Upstream Svc.infer's order and inputs."""

    diffusion: DiffusionModel | None = None
    vocoder: NsfHifiGan | None = None      # the diffusion model's vocoder
    enhancer: NsfHifiGan | None = None
    only_diffusion: bool = False
    k_step: int = 100
    method: str | None = None
    speedup: int | None = None
    second_encoding: bool = False
    adaptive_key: float = 0.0
    encoder: torch.nn.Module | None = None  # for second_encoding
    speech_encoder: str = "vec768l12"
    unit_interpolate_mode: str = "left"
    resampler: str = "torchaudio"

    def __call__(self, out: SynthOutput) -> torch.Tensor:
        audio = out.audio
        if self.diffusion is not None:
            # with a volume embedding the synthesizer's own (input) volume, else the RMS of the audio refined
            vol = out.volume if out.volume is not None else hop_volume(audio, out.hop)[None]
            content = out.content
            if self.second_encoding and not self.only_diffusion:
                wav16 = resample(audio.detach().cpu().numpy(), out.sample_rate, SSL_RATE, self.resampler)
                c = speech_features(self.encoder, self.speech_encoder, torch.from_numpy(wav16)[None].to(audio.device))
                content = repeat_expand(c[0].T.float(), out.f0.shape[1], self.unit_interpolate_mode)[None]
            mel = None if self.only_diffusion else self.vocoder.extract_mel(audio[None], out.sample_rate)
            try:
                speaker = diffusion_speaker(out.speaker, self.diffusion.net.n_spk)
                mel = shallow_diffusion(self.diffusion, mel, content.transpose(1, 2), out.f0, vol, speaker,
                                        self.k_step, self.method, self.speedup, out.generator)
            except ValueError as exc:
                if str(exc).startswith("speaker_mix:"):
                    raise
                raise ValueError(f"{'only_diffusion' if self.only_diffusion else 'k_step'}: {exc}") from None
            return self.vocoder.infer(mel, out.f0, out.generator)[0]
        if self.enhancer is not None:
            audio, rate = enhance(self.enhancer, audio[None], out.sample_rate, out.f0, out.hop, self.adaptive_key,
                                  generator=out.generator)
            if rate != out.sample_rate:  # upstream assumes the vocoder's rate is the model's
                audio = torch.from_numpy(resample(audio.cpu().numpy(), rate, out.sample_rate, self.resampler))
            audio = audio.to(out.audio.device)
        return audio


def check_fit(stages: PostStages, info: SovitsModelInfo) -> None:
    """Refuse, on the field to change, a diffusion model or vocoder whose frames would not line up."""
    sr, hop = info.config.sampling_rate, info.hop_length
    d = stages.diffusion
    if d is not None:
        if (d.sample_rate, d.block_size) != (sr, hop):
            raise ModelRefError("diffusion_model", f"runs at {d.sample_rate} Hz, block_size {d.block_size}, but the "
                                                   f"so-vits model at {sr} Hz, hop {hop}")
        if d.net.config.units != info.config.ssl_dim:
            raise ModelRefError("diffusion_model", f"takes {d.net.config.units}-dim units but the so-vits model's "
                                                   f"content is {info.config.ssl_dim}-dim ({info.speech_encoder})")
        v = stages.vocoder
        if (v.sample_rate, v.hop_size) != (sr, hop):
            raise ModelRefError("vocoder", f"runs at {v.sample_rate} Hz, hop {v.hop_size}, but the diffusion "
                                           f"model at {sr} Hz, block_size {hop}")
        if stages.only_diffusion and d.net.k_step_max != d.net.timesteps:
            raise ModelRefError("only_diffusion", f"this diffusion model was trained for shallow diffusion only "
                                                  f"(k_step_max {d.net.k_step_max}); turn only_diffusion off")
        if not stages.only_diffusion and stages.k_step > d.net.k_step_max:
            raise ModelRefError("k_step", f"{stages.k_step} is beyond the {d.net.k_step_max} steps this "
                                          "diffusion model was trained on")
