"""The linear magnitude spectrogram OpenVoice's converter reads (upstream mel_processing.spectrogram_torch)."""
from __future__ import annotations

import torch


def linear_spectrogram(y: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """(batch, samples) -> (batch, n_fft // 2 + 1, frames) magnitudes.

    As upstream: reflect-padded by (n_fft - hop) / 2 each side, STFT without centring, Hann window,
    and sqrt(re^2 + im^2 + 1e-6) (the 1e-6 keeps silent bins at 1e-3, which the model was trained on).
    """
    pad = int((n_fft - hop) / 2)
    y = torch.nn.functional.pad(y.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(win, dtype=y.dtype, device=y.device)
    spec = torch.stft(y, n_fft, hop_length=hop, win_length=win, window=window, center=False,
                      normalized=False, onesided=True, return_complex=True)
    spec = torch.view_as_real(spec)
    return torch.sqrt(spec.pow(2).sum(-1) + 1e-6)
