"""Loudness envelopes as so-vits-svc computes them: librosa-style frame RMS, the per-hop volume the
volume embedding is fed with, and the loudness-envelope mix applied to the synthesizer's output."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where a function runs: the slicer is used at validation too
    import torch


def frame_rms(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """RMS per frame as `librosa.feature.rms(y=y, frame_length, hop_length)` gives it (centred frames,
    zero padding, float32): frame i covers y[i*hop - frame//2 : i*hop + frame//2]."""
    y = np.asarray(y, np.float32)
    half = frame_length // 2
    padded = np.pad(y, (half, half))
    if padded.size < frame_length:
        raise ValueError(f"signal of {y.size} samples is too short for {frame_length}-sample frames")
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length]
    return np.sqrt(np.mean(frames ** 2, axis=-1, dtype=np.float32))


def hop_volume(wav: torch.Tensor, hop: int) -> torch.Tensor:
    """(samples,) -> (samples // hop,) RMS per hop, reflect-padded half a hop each side (so-vits's
    Volume_Extractor, the input of the model's volume embedding)."""
    import torch
    import torch.nn.functional as F

    n = wav.shape[-1] // hop
    power = F.pad((wav.float() ** 2)[None, None], (hop // 2, (hop + 1) // 2), mode="reflect")[0, 0]
    return torch.sqrt(power[:n * hop].reshape(n, hop).mean(dim=1))


def change_rms(source: np.ndarray, source_rate: int, target: torch.Tensor, target_rate: int,
               rate: float) -> torch.Tensor:
    """so-vits/RVC `change_rms`: `target` scaled by source_rms^(1-rate) * target_rms^(rate-1), both
    envelopes measured every half second and linearly interpolated (align_corners False) to the target's
    length. rate 1 keeps the target's own envelope; 0 imposes the source's fully."""
    import torch
    import torch.nn.functional as F

    def envelope(x: np.ndarray, sr: int) -> torch.Tensor:
        rms = torch.from_numpy(frame_rms(x, sr // 2 * 2, sr // 2)).to(target.device)
        return F.interpolate(rms[None, None], size=target.shape[0], mode="linear")[0, 0]

    rms1 = envelope(source, source_rate)
    rms2 = torch.clamp_min(envelope(target.detach().float().cpu().numpy(), target_rate), 1e-6)
    return target * (torch.pow(rms1, torch.tensor(1.0 - rate)) * torch.pow(rms2, torch.tensor(rate - 1.0)))
