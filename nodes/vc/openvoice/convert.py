"""OpenVoice inference as upstream's ToneColorConverter does it: `extract_se` and `convert` over arrays."""
from __future__ import annotations

import numpy as np
import torch

from haysay.nodes.vc.openvoice.models import ToneColourConverter
from haysay.nodes.vc.openvoice.spectrogram import linear_spectrogram

SPLIT_SECONDS = 10.0  # upstream se_extractor's split length


def split_chunks(x: np.ndarray, sample_rate: int, split_seconds: float = SPLIT_SECONDS) -> list[np.ndarray]:
    """Equal chunks of about `split_seconds` as se_extractor.split_audio_vad cuts the reference
    (round(duration / split_seconds) pieces, at least one)."""
    n = max(1, int(np.round(len(x) / sample_rate / split_seconds)))
    bounds = np.linspace(0, len(x), n + 1).round().astype(int)
    return [x[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


# se_extractor.split_audio_vad calls whisper-timestamped's get_vad_segments(method="silero") with these:
# 100 ms shortest speech, 1 s shortest silence, and its default 0.5 s widening of each segment
VAD_MIN_SPEECH_MS, VAD_MIN_SILENCE_MS, VAD_DILATION_S = 100, 1000, 0.5


def vad_segments(x16: np.ndarray) -> np.ndarray:
    """(n, 2) start/end times (s) of the speech in 16 kHz mono samples as upstream's get_se finds it: silero
    on the signal scaled to peak max(0.1, |x|max), each segment widened by 0.5 s (clipped), overlaps merged."""
    from haysay.nodes.analysis.vad import RATE, speech_segments

    x = np.asarray(x16, np.float32)
    found = speech_segments(x / max(0.1, float(np.max(np.abs(x), initial=0.0))),
                            min_speech_ms=VAD_MIN_SPEECH_MS, min_silence_ms=VAD_MIN_SILENCE_MS)
    pad = round(VAD_DILATION_S * RATE)
    merged: list[list[int]] = []
    for start, end in np.round(found * RATE).astype(int):
        start, end = max(0, start - pad), min(len(x), end + pad)
        if merged and merged[-1][1] >= start:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return np.array(merged, dtype=np.float64).reshape(-1, 2) / RATE


def speech_only(x: np.ndarray, sample_rate: int, segments: np.ndarray) -> np.ndarray:
    """The segments (s) of `x` joined, cut at whole milliseconds as upstream's pydub slicing cuts them."""
    cuts = [x[int(s * 1000) * sample_rate // 1000:int(e * 1000) * sample_rate // 1000] for s, e in segments]
    return np.concatenate(cuts) if cuts else x[:0]


def _spec(model: ToneColourConverter, x: np.ndarray, device: str) -> torch.Tensor:
    cfg = model.cfg
    y = torch.as_tensor(np.asarray(x, np.float32), device=device)[None]
    return linear_spectrogram(y, cfg.filter_length, cfg.hop_length, cfg.win_length)


def min_samples(model: ToneColourConverter) -> int:
    """Shortest signal the spectrogram takes (its reflect padding needs more than (n_fft - hop) / 2 samples)."""
    return model.cfg.filter_length // 2 + 1


@torch.no_grad()
def extract_embedding(model: ToneColourConverter, chunks: list[np.ndarray], device: str = "cpu") -> torch.Tensor:
    """Tone-colour embedding (1, gin_channels, 1): ref_enc of each chunk's spectrogram, averaged."""
    gs = [model.embedding(_spec(model, c, device)) for c in chunks]
    return torch.stack(gs).mean(0)


@torch.no_grad()
def convert(model: ToneColourConverter, x: np.ndarray, src_se: torch.Tensor, tgt_se: torch.Tensor, tau: float,
            seed: int, device: str = "cpu") -> np.ndarray:
    """Source audio at the model's rate -> converted audio (float32, frames * hop samples).
    `tau` scales the posterior's noise; it is drawn on the CPU from a generator seeded with `seed`, so a seed
    gives the same output on any device, and the draws are upstream's on CPU after torch.manual_seed(seed)
    (upstream on CUDA draws from the CUDA generator instead)."""
    spec = _spec(model, x, device)
    gen = torch.Generator().manual_seed(int(seed))
    out = model.voice_conversion(spec, src_se.to(device), tgt_se.to(device), tau, gen)
    return out[0, 0].float().cpu().numpy()
