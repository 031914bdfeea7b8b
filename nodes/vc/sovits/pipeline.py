"""so-vits-svc inference: model-rate speech -> f0 + content (+ cluster, volume) -> synthesizer."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import soxr
import torch

from haysay.nodes.vc.content.hubert import SAMPLE_RATE as SSL_RATE
from haysay.nodes.vc.content.speech_encoders import speech_features
from haysay.nodes.vc.pitch import interpolate_unvoiced, track_f0
from haysay.nodes.vc.sovits.checkpoint import SovitsModelInfo
from haysay.nodes.vc.sovits.models import SovitsSynthesizer

CHUNK_SECONDS, SEARCH_SECONDS = 30.0, 5.0  # long input is cut at quiet points about every 30 s


@dataclass
class SovitsOptions:
    speaker: str = ""
    transpose: float = 0.0
    f0_method: str = "pm"
    noise_scale: float = 0.4
    auto_predict_f0: bool = False
    cluster_ratio: float = 0.0
    seed: int = 52468


@dataclass
class SovitsResult:
    audio: np.ndarray
    sample_rate: int
    f0: np.ndarray  # Hz per frame the decoder was driven with (interpolated through unvoiced frames)
    info: dict = field(default_factory=dict)


def speaker_id(info: SovitsModelInfo, speaker: str) -> tuple[int, str]:
    """Resolve a speaker name (or numeric id) from config.json's `spk`; default: the first speaker."""
    spk = info.speakers
    if not speaker:
        if not spk:
            return 0, "0"
        name = min(spk, key=spk.get)
        return spk[name], name
    if speaker in spk:
        return spk[speaker], speaker
    folded = {k.casefold(): k for k in spk}
    if speaker.casefold() in folded:
        name = folded[speaker.casefold()]
        return spk[name], name
    if speaker.isdigit() and int(speaker) < info.config.n_speakers:
        ids = {v: k for k, v in spk.items()}
        return int(speaker), ids.get(int(speaker), speaker)
    raise ValueError(f"speaker: {speaker!r} is not in this model; it has {', '.join(spk) or 'no named speakers'}")


def expand_frames(content: torch.Tensor, frames: int) -> torch.Tensor:
    """(dims, n) -> (dims, frames) repeating each content frame over the f0 frames it covers."""
    src = content.shape[-1]
    idx = torch.clamp((torch.arange(frames) * src) // max(frames, 1), max=src - 1)
    return content[:, idx.to(content.device)]


def volume(wav: np.ndarray, hop: int) -> np.ndarray:
    """RMS per hop (so-vits's volume extractor, reflect-padded half a hop each side)."""
    n = wav.size // hop
    padded = np.pad(wav.astype(np.float64) ** 2, (hop // 2, (hop + 1) // 2), mode="reflect")
    return np.sqrt(padded[:n * hop].reshape(n, hop).mean(axis=1)).astype(np.float32)


def nearest_centers(features: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Each (frames, dims) row replaced by its nearest k-means centre."""
    d = (features ** 2).sum(1, keepdims=True) - 2 * features @ centers.T + (centers ** 2).sum(1)[None]
    return centers[np.argmin(d, axis=1)]


def _cuts(wav: np.ndarray, rate: int) -> list[int]:
    step, half = int(CHUNK_SECONDS * rate), int(SEARCH_SECONDS * rate)
    if wav.size <= step + 2 * half:
        return []
    frame = rate // 100
    energy = np.convolve(np.abs(wav), np.ones(frame), mode="same")
    return [t - half + int(np.argmin(energy[t - half:t + half])) for t in range(step, wav.size - half, step)]


def _convert_piece(wav: np.ndarray, model: SovitsSynthesizer, info: SovitsModelInfo, encoder: torch.nn.Module,
                   opts: SovitsOptions, sid: int, centers: np.ndarray | None, device: str,
                   gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    sr, hop = info.config.sampling_rate, info.hop_length
    n = wav.size // hop
    if n == 0:
        return np.zeros(0, np.float32), np.zeros(0)
    raw_f0 = track_f0(wav, sr, opts.f0_method, hop / sr, n)
    f0, uv = interpolate_unvoiced(raw_f0)
    f0 = f0 * 2.0 ** (opts.transpose / 12.0)
    wav16 = soxr.resample(wav.astype(np.float32), sr, SSL_RATE)
    c = speech_features(encoder, info.speech_encoder, torch.from_numpy(wav16)[None].to(device))[0]  # (frames, dims)
    if c.shape[-1] != info.config.ssl_dim:
        raise ValueError(f"content_encoder: gives {c.shape[-1]}-dim features ({info.speech_encoder}) but the "
                         f"model's ssl_dim is {info.config.ssl_dim}")
    c = expand_frames(c.T, n)
    if centers is not None and opts.cluster_ratio > 0:
        if centers.shape[1] != c.shape[0]:
            raise ValueError(f"cluster_model: centres are {centers.shape[1]}-dim, features {c.shape[0]}-dim")
        clustered = torch.from_numpy(nearest_centers(c.T.float().cpu().numpy(), centers).T).to(device)
        c = opts.cluster_ratio * clustered + (1 - opts.cluster_ratio) * c
    vol = torch.from_numpy(volume(wav, hop)[:n])[None].to(device) if info.config.vol_embedding else None
    f0_t = torch.from_numpy(f0.astype(np.float32))[None].to(device)
    uv_t = torch.from_numpy(uv.astype(np.float32))[None].to(device)
    audio, used = model.infer(c[None].float(), f0_t, uv_t, sid, opts.noise_scale, opts.auto_predict_f0, vol, gen)
    return audio[0, 0].float().cpu().numpy(), used[0].float().cpu().numpy()


def convert_sovits(wav: np.ndarray, model: SovitsSynthesizer, info: SovitsModelInfo, encoder: torch.nn.Module,
                   opts: SovitsOptions, centers: dict[str, np.ndarray] | None = None,
                   device: str = "cpu") -> SovitsResult:
    """Convert mono speech already at the model's sampling rate."""
    sid, name = speaker_id(info, opts.speaker)
    spk_centers = None
    if centers is not None and opts.cluster_ratio > 0:
        if name not in centers:
            raise ValueError(f"cluster_model: has no centres for speaker {name!r} (it has {', '.join(centers)})")
        spk_centers = centers[name]
    gen = torch.Generator(device=device).manual_seed(opts.seed)
    bounds = [0] + _cuts(wav, info.config.sampling_rate) + [wav.size]
    audio, f0 = [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        out, used = _convert_piece(wav[a:b], model, info, encoder, opts, sid, spk_centers, device, gen)
        audio.append(out)
        f0.append(used)
    result = np.concatenate(audio).astype(np.float32)
    return SovitsResult(result, info.config.sampling_rate, np.concatenate(f0),
                        {"speaker": name, "pieces": len(audio)})
