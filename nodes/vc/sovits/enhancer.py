"""so-vits-svc's NSF-HiFiGAN enhancer: re-vocode the synthesizer's output with the pretrained vocoder.

The audio is analysed into the vocoder's mel and resynthesised from it with the given f0. With an
adaptive key k the audio is first resampled to the vocoder's rate times 2^(k/12) but analysed as if at the
vocoder's rate, so the vocoder sees a mel shifted down k semitones, with f0 scaled to match, and the
output is resampled back: high voices then fall in the range the vocoder was trained on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from haysay.nodes.vc.sovits.diffusion_checkpoint import load_nsf_hifigan
from haysay.nodes.vc.vits.nsf_hifigan import NsfHifiGan, log_mel, resample


def load_enhancer(path: str | Path, device: str | torch.device = "cpu") -> NsfHifiGan:
    """The enhancer's vocoder: upstream's `pretrain/nsf_hifigan` folder (or its `model` file)."""
    return load_nsf_hifigan(path, device)


def enhance(vocoder: NsfHifiGan, audio: torch.Tensor, sample_rate: int, f0: torch.Tensor, hop_size: int,
            adaptive_key: float = 0.0, silence_front: float = 0.0,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """Enhance audio (1, samples) at sample_rate whose f0 (1, frames) Hz is at hop_size; returns
    (audio (samples',) at the vocoder's rate, that rate).

    `silence_front` seconds at the start are passed over and returned as zeros. `generator` draws the
    vocoder's source phases and noise (None: torch's global generator).
    """
    cfg = vocoder.cfg
    f0 = f0.reshape(1, -1)
    start_frame = int(silence_front * sample_rate / hop_size)
    real_front = start_frame * hop_size / sample_rate
    audio = audio.reshape(1, -1)[:, int(np.round(real_front * sample_rate)):]
    f0 = f0[:, start_frame:]
    factor = 2 ** (-adaptive_key / 12)
    adaptive_rate = 100 * int(np.round(cfg.sampling_rate / factor / 100))
    real_factor = cfg.sampling_rate / adaptive_rate
    audio_res = resample(audio, sample_rate, adaptive_rate)
    n_frames = int(audio_res.shape[-1] // cfg.hop_size + 1)
    f0_np = f0[0].detach().cpu().double().numpy() * real_factor
    if f0_np.size == 0:
        raise ValueError("enhance needs at least one f0 frame")
    time_org = (hop_size / sample_rate) * np.arange(len(f0_np)) / real_factor
    time_frame = (cfg.hop_size / cfg.sampling_rate) * np.arange(n_frames)
    f0_res = np.interp(time_frame, time_org, f0_np, left=f0_np[0], right=f0_np[-1])
    f0_res = torch.from_numpy(f0_res).float()[None].to(audio.device)
    with torch.no_grad():
        mel = log_mel(audio_res, cfg)
        out = vocoder.generator(mel, f0_res[:, :mel.shape[-1]], generator=generator).reshape(-1)
    out = resample(out, adaptive_rate, cfg.sampling_rate)
    if start_frame > 0:
        out = F.pad(out, (int(np.round(cfg.sampling_rate * real_front)), 0))
    return out, cfg.sampling_rate
