"""RVC inference: 16 kHz speech -> content features (+ pitch) -> synthesizer -> model-rate audio.

Follows the WebUI's pipeline: 48 Hz high-pass, reflect padding around every
segment, long input split at quiet points, HuBERT layer 9 + final_proj (v1) or
layer 12 (v2), optional faiss retrieval, features doubled to 100 fps, `protect`
keeping unvoiced frames closer to the source, RMS envelope mixing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import signal
from torch.nn import functional as F

from haysay.nodes.vc.content.hubert import ContentEncoder
from haysay.nodes.vc.pitch import coarse_pitch, track_f0
from haysay.nodes.vc.retrieval import FeatureIndex, retrieve
from haysay.nodes.vc.rvc.models import RVCSynthesizer

SR = 16000
WINDOW = 160  # samples per 10 ms frame at 16 kHz
# Segmenting of long input (the WebUI's fp32 settings, in seconds): pad, search half-width, step, max.
X_PAD, X_QUERY, X_CENTER, X_MAX = 1, 6, 38, 41
_HP_B, _HP_A = signal.butter(N=5, Wn=48, btype="high", fs=SR)


@dataclass
class RVCOptions:
    speaker_id: int = 0
    pitch_shift: float = 0.0  # semitones
    f0_method: str = "pm"
    index_rate: float = 0.75
    filter_radius: int = 3
    rms_mix_rate: float = 0.25
    protect: float = 0.33
    seed: int = 0


@dataclass
class RVCResult:
    audio: np.ndarray  # mono float32 at the model's rate
    sample_rate: int
    f0: np.ndarray | None = None  # Hz per 10 ms frame the NSF decoder was driven with (after the shift)
    info: dict = field(default_factory=dict)


def change_rms(source: np.ndarray, source_rate: int, target: np.ndarray, target_rate: int, rate: float) -> np.ndarray:
    """Give `target` the source's loudness envelope to the degree 1 - rate (rate 1 keeps the target's own)."""
    def envelope(x: np.ndarray, sr: int) -> np.ndarray:
        frame, hop = sr // 2 * 2, sr // 2
        padded = np.pad(x, frame // 2)
        n = 1 + (padded.size - frame) // hop if padded.size >= frame else 1
        rms = np.array([np.sqrt(np.mean(padded[i * hop:i * hop + frame] ** 2)) for i in range(n)])
        return np.interp(np.linspace(0, n - 1, target.size), np.arange(n), rms)

    rms1, rms2 = envelope(source, source_rate), np.maximum(envelope(target, target_rate), 1e-6)
    return (target * np.power(rms1, 1 - rate) * np.power(rms2, rate - 1)).astype(np.float32)


def _split_points(audio: np.ndarray) -> list[int]:
    """Cut positions (samples) at the quietest 10 ms near every X_CENTER seconds, for input over X_MAX s."""
    padded = np.pad(audio, (WINDOW // 2, WINDOW // 2), mode="reflect")
    if padded.size <= SR * X_MAX:
        return []
    energy = np.convolve(np.abs(padded), np.ones(WINDOW), mode="valid")[:audio.size]
    q = SR * X_QUERY
    return [t - q + int(np.argmin(energy[t - q:t + q])) for t in range(SR * X_CENTER, audio.size, SR * X_CENTER)]


def _segment(model: RVCSynthesizer, version: str, encoder: ContentEncoder, audio: np.ndarray,
             pitch: np.ndarray | None, pitchf: np.ndarray | None, opts: RVCOptions, index: FeatureIndex | None,
             device: str, gen: torch.Generator) -> np.ndarray:
    wav = torch.from_numpy(audio.astype(np.float32))[None].to(device)
    v1 = version == "v1"
    feats = encoder.features(wav, 9 if v1 else 12, final_proj=v1)  # (1, frames, dims) at 50 fps
    if feats.shape[-1] != model.phone_dim:
        raise ValueError(f"content_encoder: gives {feats.shape[-1]}-dim features for an RVC {version} model, "
                         f"which needs {model.phone_dim}")
    protecting = opts.protect < 0.5 and pitch is not None
    feats0 = feats.clone() if protecting else None
    if index is not None and opts.index_rate > 0:
        blended = retrieve(feats[0].float().cpu().numpy(), index, opts.index_rate)
        feats = torch.from_numpy(blended)[None].to(device)
    feats = F.interpolate(feats.permute(0, 2, 1), scale_factor=2).permute(0, 2, 1)  # 100 fps, one per pitch frame
    if feats0 is not None:
        feats0 = F.interpolate(feats0.permute(0, 2, 1), scale_factor=2).permute(0, 2, 1)
    p_len = min(audio.size // WINDOW, feats.shape[1])
    feats = feats[:, :p_len]
    pitch_t = pitchf_t = None
    if pitch is not None:
        pitch_t = torch.from_numpy(pitch[:p_len])[None].to(device)
        pitchf_t = torch.from_numpy(pitchf[:p_len].astype(np.float32))[None].to(device)
    if feats0 is not None:
        # Unvoiced frames (consonants, breaths) keep `protect` of the retrieved/converted features' weight.
        keep = torch.where(pitchf_t > 0, 1.0, opts.protect).unsqueeze(-1).to(feats.dtype)
        feats = feats * keep + feats0[:, :p_len] * (1 - keep)
    out = model.infer(feats, pitch_t, pitchf_t, sid=opts.speaker_id, generator=gen)
    return out[0, 0].float().cpu().numpy()


def convert_rvc(audio16k: np.ndarray, model: RVCSynthesizer, version: str, encoder: ContentEncoder,
                opts: RVCOptions, index: FeatureIndex | None = None, device: str = "cpu") -> RVCResult:
    """Convert mono 16 kHz speech with an RVC model; returns audio at the model's rate."""
    if not 0 <= opts.speaker_id < model.cfg.spk_embed_dim:
        raise ValueError(f"speaker_id: {opts.speaker_id} is outside 0..{model.cfg.spk_embed_dim - 1} of this model")
    tgt_sr = model.cfg.sr
    t_pad, t_pad_tgt = SR * X_PAD, tgt_sr * X_PAD
    audio = signal.filtfilt(_HP_B, _HP_A, np.asarray(audio16k, np.float64)) if audio16k.size > 18 else audio16k
    cuts = _split_points(audio)
    audio_pad = np.pad(audio, (t_pad, t_pad), mode="reflect")
    p_len = audio_pad.size // WINDOW
    pitch = pitchf = None
    if model.use_f0:
        f0 = track_f0(audio_pad, SR, opts.f0_method, WINDOW / SR, p_len)
        if opts.f0_method == "harvest" and opts.filter_radius > 2:
            f0 = signal.medfilt(f0, 3)
        pitchf = f0 * 2.0 ** (opts.pitch_shift / 12.0)
        pitch = coarse_pitch(pitchf)
    gen = torch.Generator(device=device).manual_seed(opts.seed)
    parts, start = [], 0
    for t in cuts + [None]:
        if t is None:
            seg = audio_pad[start:]
            sl = slice(start // WINDOW, None)
        else:
            t = t // WINDOW * WINDOW
            seg = audio_pad[start:t + 2 * t_pad + WINDOW]
            sl = slice(start // WINDOW, (t + 2 * t_pad) // WINDOW)
        out = _segment(model, version, encoder, seg, None if pitch is None else pitch[sl],
                       None if pitchf is None else pitchf[sl], opts, index, device, gen)
        parts.append(out[t_pad_tgt:-t_pad_tgt] if out.size > 2 * t_pad_tgt else out[:0])
        if t is not None:
            start = t
    result = np.concatenate(parts).astype(np.float32)
    if opts.rms_mix_rate != 1 and result.size:
        result = change_rms(audio.astype(np.float32), SR, result, tgt_sr, opts.rms_mix_rate)
    peak = float(np.max(np.abs(result))) if result.size else 0.0
    if peak / 0.99 > 1:
        result = result / (peak / 0.99)
    driven = None if pitchf is None else pitchf[t_pad // WINDOW: (audio_pad.size - t_pad) // WINDOW]
    return RVCResult(result.astype(np.float32), tgt_sr, driven, {"segments": len(parts)})
