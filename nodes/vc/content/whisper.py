"""Whisper's audio encoder (so-vits `whisper-ppg` / `whisper-ppg-large`): the "PPG" features.

OpenAI's `medium.pt` / `large-v2.pt` are {"dims": {...}, "model_state_dict": {...}}; only the
`encoder.*` half is used. As so-vits does, audio goes in 30 s windows padded with silence
(the encoder's 1500 positions), log-mel at 100 fps, two convs (the second strides 2) -> 50 fps,
pre-norm transformer blocks, `ln_post`; each window keeps samples // 320 frames. Module names
match OpenAI's, so the state dict loads with the "encoder." prefix stripped. No file I/O here.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE, N_FFT, HOP = 16000, 400, 160
WINDOW_SAMPLES = 30 * SAMPLE_RATE
FRAME_SAMPLES = 320  # one output frame per 2 mel hops


@dataclass(frozen=True)
class WhisperDims:
    n_mels: int = 80
    n_audio_ctx: int = 1500
    n_audio_state: int = 1024
    n_audio_head: int = 16
    n_audio_layer: int = 24


@lru_cache(maxsize=4)
def mel_filters(n_mels: int) -> torch.Tensor:
    """Whisper's filterbank: librosa's Slaney mel for 16 kHz, n_fft 400 (what mel_filters.npz holds)."""
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels).astype(np.float32))


def log_mel(wav16k: torch.Tensor, n_mels: int) -> torch.Tensor:
    """(samples,) -> (n_mels, samples // 160) Whisper log-mel, clamped 8 decades below its peak."""
    stft = torch.stft(wav16k.float(), N_FFT, HOP, window=torch.hann_window(N_FFT, device=wav16k.device),
                      return_complex=True)
    power = stft[..., :-1].abs() ** 2
    mel = mel_filters(n_mels).to(wav16k.device) @ power
    log = torch.clamp(mel, min=1e-10).log10()
    log = torch.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


class _Attention(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (proj(x).view(b, t, self.n_head, -1).transpose(1, 2) for proj in (self.query, self.key, self.value))
        return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, c))


class _Block(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.attn = _Attention(n_state, n_head)
        self.attn_ln = nn.LayerNorm(n_state)
        self.mlp = nn.Sequential(nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state))
        self.mlp_ln = nn.LayerNorm(n_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x))
        return x + self.mlp(self.mlp_ln(x))


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's fixed position table (sin half, then cos half)."""
    step = np.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-step * torch.arange(channels // 2, dtype=torch.float32))
    t = torch.arange(length, dtype=torch.float32)[:, None] * inv[None]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


class WhisperEncoder(nn.Module):
    def __init__(self, dims: WhisperDims):
        super().__init__()
        if dims.n_audio_state % dims.n_audio_head or dims.n_audio_state % 2:
            raise ValueError(f"n_audio_state {dims.n_audio_state} does not split into {dims.n_audio_head} heads")
        self.dims = dims
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_audio_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dims.n_audio_state, dims.n_audio_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(dims.n_audio_ctx, dims.n_audio_state))
        self.blocks = nn.ModuleList(_Block(dims.n_audio_state, dims.n_audio_head) for _ in range(dims.n_audio_layer))
        self.ln_post = nn.LayerNorm(dims.n_audio_state)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, 2 * n_audio_ctx) -> (batch, n_audio_ctx, n_audio_state)."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        x = x + self.positional_embedding[: x.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x)

    @torch.no_grad()
    def features(self, wav16k: torch.Tensor, layer: int | None = None, final_proj: bool = False) -> torch.Tensor:
        """(1, samples) at 16 kHz -> (1, samples // 320, n_audio_state), 30 s windows as so-vits runs them."""
        if wav16k.dim() != 2 or wav16k.shape[0] != 1:
            raise ValueError(f"expected one waveform (1, samples), got {tuple(wav16k.shape)}")
        if final_proj or layer not in (None, self.dims.n_audio_layer):
            raise ValueError("the Whisper encoder gives only its final output (no layer choice, no final_proj)")
        window = 2 * HOP * self.dims.n_audio_ctx  # 30 s for every released model
        wav = wav16k[0].float()
        pieces = []
        for start in range(0, max(wav.numel(), 1), window):
            chunk = wav[start:start + window]
            mel = log_mel(F.pad(chunk, (0, window - chunk.numel())), self.dims.n_mels)
            pieces.append(self(mel[None].to(self.conv1.weight.dtype))[0, : chunk.numel() // FRAME_SAMPLES])
        return torch.cat(pieces)[None].float()
