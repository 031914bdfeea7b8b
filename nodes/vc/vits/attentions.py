"""The VITS transformer encoder: relative-position multi-head attention + conv feed-forward."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class LayerNorm(nn.Module):
    """Layer norm over the channel axis of (batch, channels, time), with VITS's gamma/beta names."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, -1), (x.shape[1],), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class MultiHeadAttention(nn.Module):
    """Self-attention with optional learned relative-position keys/values within +-window_size frames."""

    def __init__(self, channels: int, out_channels: int, n_heads: int, window_size: int | None = None):
        super().__init__()
        assert channels % n_heads == 0
        self.n_heads, self.k_channels, self.window_size = n_heads, channels // n_heads, window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        if window_size is not None:
            std = self.k_channels ** -0.5
            self.emb_rel_k = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * std)
            self.emb_rel_v = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * std)

    def forward(self, x: torch.Tensor, c: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.conv_q(x), self.conv_k(c), self.conv_v(c)
        b, d, t_s = k.shape
        t_t = q.shape[2]
        q = q.view(b, self.n_heads, self.k_channels, t_t).transpose(2, 3) / math.sqrt(self.k_channels)
        k = k.view(b, self.n_heads, self.k_channels, t_s).transpose(2, 3)
        v = v.view(b, self.n_heads, self.k_channels, t_s).transpose(2, 3)
        scores = q @ k.transpose(-2, -1)
        if self.window_size is not None:
            rel_k = self._relative_embeddings(self.emb_rel_k, t_s)
            scores = scores + _relative_to_absolute(q @ rel_k.unsqueeze(0).transpose(-2, -1))
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, -1e4)
        p = torch.softmax(scores, dim=-1)
        out = p @ v
        if self.window_size is not None:
            rel_v = self._relative_embeddings(self.emb_rel_v, t_s)
            out = out + _absolute_to_relative(p) @ rel_v.unsqueeze(0)
        out = out.transpose(2, 3).contiguous().view(b, d, t_t)
        return self.conv_o(out)

    def _relative_embeddings(self, emb: torch.Tensor, length: int) -> torch.Tensor:
        # Embeddings for offsets -(length-1)..(length-1); beyond the window they are zero.
        w = self.window_size
        pad = max(length - (w + 1), 0)
        start = max((w + 1) - length, 0)
        if pad > 0:
            emb = F.pad(emb, [0, 0, pad, pad, 0, 0])
        return emb[:, start:start + 2 * length - 1]


def _relative_to_absolute(x: torch.Tensor) -> torch.Tensor:
    """(b, h, l, 2l-1) relative logits -> (b, h, l, l) absolute, by the pad-and-reshape skew."""
    b, h, length, _ = x.shape
    x = F.pad(x, [0, 1]).view(b, h, length * 2 * length)
    x = F.pad(x, [0, length - 1])
    return x.view(b, h, length + 1, 2 * length - 1)[:, :, :length, length - 1:]


def _absolute_to_relative(x: torch.Tensor) -> torch.Tensor:
    """(b, h, l, l) -> (b, h, l, 2l-1): the inverse skew."""
    b, h, length, _ = x.shape
    x = F.pad(x, [0, length - 1]).view(b, h, length * length + length * (length - 1))
    x = F.pad(x, [length, 0])
    return x.view(b, h, length, 2 * length)[:, :, :, 1:]


class FFN(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, filter_channels: int, kernel_size: int,
                 causal: bool = False):
        super().__init__()
        self.kernel_size, self.causal = kernel_size, causal
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        if k == 1:
            return x
        return F.pad(x, [k - 1, 0] if self.causal else [(k - 1) // 2, k // 2])

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv_1(self._pad(x * x_mask)))
        return self.conv_2(self._pad(x * x_mask)) * x_mask


class Encoder(nn.Module):
    """Post-norm transformer encoder with relative positions (window 10), as in VITS."""

    def __init__(self, hidden: int, filter_channels: int, n_heads: int, n_layers: int, kernel_size: int = 1,
                 window_size: int = 10):
        super().__init__()
        self.attn_layers = nn.ModuleList(MultiHeadAttention(hidden, hidden, n_heads, window_size)
                                         for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(LayerNorm(hidden) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(FFN(hidden, hidden, filter_channels, kernel_size) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(LayerNorm(hidden) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for attn, n1, ffn, n2 in zip(self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2):
            x = n1(x + attn(x, x, attn_mask))
            x = n2(x + ffn(x, x_mask))
        return x * x_mask


class FFT(nn.Module):
    """Causal transformer (no relative positions, causal FFN) used by so-vits-svc's F0 decoder."""

    def __init__(self, hidden: int, filter_channels: int, n_heads: int, n_layers: int = 1, kernel_size: int = 1):
        super().__init__()
        self.self_attn_layers = nn.ModuleList(MultiHeadAttention(hidden, hidden, n_heads) for _ in range(n_layers))
        self.norm_layers_0 = nn.ModuleList(LayerNorm(hidden) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(FFN(hidden, hidden, filter_channels, kernel_size, causal=True)
                                        for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(LayerNorm(hidden) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        t = x_mask.shape[2]
        causal = torch.tril(torch.ones(t, t, device=x.device, dtype=x.dtype))[None, None]
        x = x * x_mask
        for attn, n0, ffn, n1 in zip(self.self_attn_layers, self.norm_layers_0, self.ffn_layers, self.norm_layers_1):
            x = n0(x + attn(x, x, causal))
            x = n1(x + ffn(x, x_mask))
        return x * x_mask


def sequence_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]
