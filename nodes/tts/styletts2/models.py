"""StyleTTS 2's text and style networks, inference paths only (yl4579/StyleTTS2 models.py).

Layers keep upstream's module names so a released state dict loads by key. Weight and spectral
norms are folded into plain weights when the checkpoint is read (checkpoint.py), so every conv here
is a plain one; dropout is left out (inference runs in eval mode upstream too).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """Layer norm over channels of a (batch, channels, time) tensor."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class _ConvNorm(nn.Sequential):
    # upstream: Sequential(weight_norm(Conv1d), LayerNorm, LeakyReLU(0.2), Dropout); indices 0 and 1 hold weights
    def __init__(self, channels: int, kernel_size: int):
        super().__init__(nn.Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2),
                         LayerNorm(channels), nn.LeakyReLU(0.2))


class TextEncoder(nn.Module):
    def __init__(self, channels: int, kernel_size: int, depth: int, n_symbols: int):
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, channels)
        self.cnn = nn.ModuleList([_ConvNorm(channels, kernel_size) for _ in range(depth)])
        self.lstm = nn.LSTM(channels, channels // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(1, T) token ids -> (1, channels, T). One unpadded sequence: no masks needed."""
        x = self.embedding(tokens).transpose(1, 2)
        for c in self.cnn:
            x = c(x)
        x, _ = self.lstm(x.transpose(1, 2))
        return x.transpose(1, 2)


class AdaIN1d(nn.Module):
    def __init__(self, style_dim: int, num_features: int):
        super().__init__()
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = torch.chunk(self.fc(s).unsqueeze(-1), 2, dim=1)
        return (1 + gamma) * F.instance_norm(x) + beta


class AdainResBlk1d(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.upsample_type = "half" if upsample else "none"
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv1d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv1d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN1d(style_dim, dim_in)
        self.norm2 = AdaIN1d(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv1d(dim_in, dim_out, 1, 1, 0, bias=False)
        self.pool = (nn.ConvTranspose1d(dim_in, dim_in, 3, stride=2, groups=dim_in, padding=1, output_padding=1)
                     if upsample else nn.Identity())

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample_type != "none":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv1x1(x) if self.learned_sc else x

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.pool(F.leaky_relu(self.norm1(x, s), 0.2))
        h = self.conv2(F.leaky_relu(self.norm2(self.conv1(h), s), 0.2))
        return (h + self._shortcut(x)) / math.sqrt(2)


class AdaLayerNorm(nn.Module):
    """Style-conditioned layer norm over the last dim of a (batch, time, channels) tensor."""

    def __init__(self, style_dim: int, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps = channels, eps
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = torch.chunk(self.fc(s).unsqueeze(1), 2, dim=-1)
        return (1 + gamma) * F.layer_norm(x, (self.channels,), eps=self.eps) + beta


class DurationEncoder(nn.Module):
    def __init__(self, sty_dim: int, d_model: int, nlayers: int):
        super().__init__()
        self.lstms = nn.ModuleList()
        for _ in range(nlayers):
            self.lstms.append(nn.LSTM(d_model + sty_dim, d_model // 2, 1, batch_first=True, bidirectional=True))
            self.lstms.append(AdaLayerNorm(sty_dim, d_model))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """(1, d_model, T) BERT features and (1, sty_dim) style -> (1, T, d_model + sty_dim)."""
        s = style.unsqueeze(1).expand(-1, x.shape[-1], -1)
        x = torch.cat([x.transpose(1, 2), s], dim=-1)
        for block in self.lstms:
            if isinstance(block, AdaLayerNorm):
                x = torch.cat([block(x, style), s], dim=-1)
            else:
                x, _ = block(x)
        return x


class ProsodyPredictor(nn.Module):
    def __init__(self, style_dim: int, d_hid: int, nlayers: int, max_dur: int):
        super().__init__()
        self.text_encoder = DurationEncoder(style_dim, d_hid, nlayers)
        self.lstm = nn.LSTM(d_hid + style_dim, d_hid // 2, 1, batch_first=True, bidirectional=True)
        self.duration_proj = _Linear(d_hid, max_dur)
        self.shared = nn.LSTM(d_hid + style_dim, d_hid // 2, 1, batch_first=True, bidirectional=True)
        self.F0 = nn.ModuleList([AdainResBlk1d(d_hid, d_hid, style_dim),
                                 AdainResBlk1d(d_hid, d_hid // 2, style_dim, upsample=True),
                                 AdainResBlk1d(d_hid // 2, d_hid // 2, style_dim)])
        self.N = nn.ModuleList([AdainResBlk1d(d_hid, d_hid, style_dim),
                                AdainResBlk1d(d_hid, d_hid // 2, style_dim, upsample=True),
                                AdainResBlk1d(d_hid // 2, d_hid // 2, style_dim)])
        self.F0_proj = nn.Conv1d(d_hid // 2, 1, 1, 1, 0)
        self.N_proj = nn.Conv1d(d_hid // 2, 1, 1, 1, 0)

    def durations(self, d: torch.Tensor) -> torch.Tensor:
        """Frames per token (float, before rounding): sum of the sigmoid duration bins."""
        x, _ = self.lstm(d)
        return torch.sigmoid(self.duration_proj(x)).sum(dim=-1).squeeze(0)

    def F0Ntrain(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, _ = self.shared(x.transpose(-1, -2))
        f0 = n = x.transpose(-1, -2)
        for block in self.F0:
            f0 = block(f0, s)
        for block in self.N:
            n = block(n, s)
        return self.F0_proj(f0).squeeze(1), self.N_proj(n).squeeze(1)


class _Linear(nn.Module):
    # upstream's LinearNorm: a Linear stored as `linear_layer`
    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


class ResBlk(nn.Module):
    """2-D residual block that halves both axes (upstream ResBlk, downsample='half')."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.downsample_res = _LearnedDown(dim_in)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sc = self.conv1x1(x) if self.learned_sc else x
        if sc.shape[-1] % 2:
            sc = torch.cat([sc, sc[..., -1:]], dim=-1)
        sc = F.avg_pool2d(sc, 2)
        h = self.downsample_res(self.conv1(F.leaky_relu(x, 0.2)))
        h = self.conv2(F.leaky_relu(h, 0.2))
        return (sc + h) / math.sqrt(2)


class _LearnedDown(nn.Module):
    def __init__(self, dim_in: int):
        super().__init__()
        self.conv = nn.Conv2d(dim_in, dim_in, 3, stride=2, groups=dim_in, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class StyleEncoder(nn.Module):
    """Mel spectrogram (1, 1, 80, frames) -> style vector (1, style_dim); upstream's `shared` Sequential
    indices are kept (weights at 0, 1-4, 6 of the Sequential)."""

    def __init__(self, dim_in: int, style_dim: int, max_conv_dim: int):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(1, dim_in, 3, 1, 1)]
        for _ in range(4):
            dim_out = min(dim_in * 2, max_conv_dim)
            blocks.append(ResBlk(dim_in, dim_out))
            dim_in = dim_out
        blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 5, 1, 0), nn.AdaptiveAvgPool2d(1), nn.LeakyReLU(0.2)]
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.Linear(dim_out, style_dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.unshared(self.shared(mel).flatten(1))
