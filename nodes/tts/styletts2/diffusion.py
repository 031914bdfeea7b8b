"""StyleTTS 2's style diffusion: the denoising transformer and its sampler, inference only.

Upstream (Modules/diffusion/modules.py, sampler.py) wraps a `StyleTransformer1d` (multi-speaker: each
attention's layer norm is conditioned on the reference style) or a `Transformer1d` (single speaker)
in a Karras `KDiffusion`, sampled with `ADPM2Sampler` on a `KarrasSchedule(1e-4, 3.0, rho=9)`. The same
arithmetic is kept here with module names unchanged, and noise drawn from an explicit generator.
"""
from __future__ import annotations

from math import pi, sqrt

import torch
import torch.nn.functional as F
from torch import nn

from haysay.nodes.tts.styletts2.models import AdaLayerNorm

SIGMA_MIN, SIGMA_MAX, RHO = 1e-4, 3.0, 9.0  # the inference notebooks' "empirical parameters"


class _AttentionBase(nn.Module):
    def __init__(self, features: int, head_features: int, num_heads: int):
        super().__init__()
        self.scale, self.num_heads = head_features ** -0.5, num_heads
        self.to_out = nn.Linear(head_features * num_heads, features)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, n, _ = q.shape
        q, k, v = (t.reshape(b, t.shape[1], self.num_heads, -1).transpose(1, 2) for t in (q, k, v))
        attn = (q @ k.transpose(-1, -2) * self.scale).softmax(dim=-1)
        return self.to_out((attn @ v).transpose(1, 2).reshape(b, n, -1))


class _Attention(nn.Module):
    """Self-attention with a layer norm (`style_dim` set: normalised by the style, StyleAttention)."""

    def __init__(self, features: int, head_features: int, num_heads: int, style_dim: int | None):
        super().__init__()
        mid = head_features * num_heads
        self.styled = style_dim is not None
        self.norm = AdaLayerNorm(style_dim, features) if self.styled else nn.LayerNorm(features)
        self.norm_context = AdaLayerNorm(style_dim, features) if self.styled else nn.LayerNorm(features)
        self.to_q = nn.Linear(features, mid, bias=False)
        self.to_kv = nn.Linear(features, mid * 2, bias=False)
        self.attention = _AttentionBase(features, head_features, num_heads)

    def forward(self, x: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        q_in, kv_in = (self.norm(x, s), self.norm_context(x, s)) if self.styled else (self.norm(x), self.norm_context(x))
        k, v = torch.chunk(self.to_kv(kv_in), 2, dim=-1)
        return self.attention(self.to_q(q_in), k, v)


class _Block(nn.Module):
    def __init__(self, features: int, num_heads: int, head_features: int, multiplier: int, style_dim: int | None):
        super().__init__()
        self.attention = _Attention(features, head_features, num_heads, style_dim)
        self.feed_forward = nn.Sequential(nn.Linear(features, features * multiplier), nn.GELU(),
                                          nn.Linear(features * multiplier, features))

    def forward(self, x: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        x = self.attention(x, s) + x
        return self.feed_forward(x) + x


class _LearnedPositionalEmbedding(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(dim // 2))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = t[:, None]
        freqs = t * self.weights[None, :] * 2 * pi
        return torch.cat((t, freqs.sin(), freqs.cos()), dim=-1)


class _FixedEmbedding(nn.Module):
    def __init__(self, max_length: int, features: int):
        super().__init__()
        self.embedding = nn.Embedding(max_length, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(torch.arange(x.shape[1], device=x.device)).expand(x.shape[0], -1, -1)


class StyleTransformer(nn.Module):
    """Denoiser over a (1, 1, channels) style given BERT token embeddings; `context_features` set: also
    conditioned on the reference style (upstream StyleTransformer1d), unset: Transformer1d."""

    def __init__(self, num_layers: int, channels: int, num_heads: int, head_features: int, multiplier: int,
                 context_embedding_features: int, context_features: int | None = None,
                 embedding_max_length: int = 512):
        super().__init__()
        feats = channels + context_embedding_features
        self.blocks = nn.ModuleList([_Block(feats, num_heads, head_features, multiplier, context_features)
                                     for _ in range(num_layers)])
        self.to_out = nn.Sequential(nn.Identity(), nn.Conv1d(feats, channels, 1))  # [0] was a Rearrange
        self.to_mapping = nn.Sequential(nn.Linear(feats, feats), nn.GELU(), nn.Linear(feats, feats), nn.GELU())
        self.to_time = nn.Sequential(nn.Sequential(_LearnedPositionalEmbedding(channels),
                                                   nn.Linear(channels + 1, feats)), nn.GELU())
        self.use_context_features = context_features is not None
        if self.use_context_features:
            self.to_features = nn.Sequential(nn.Linear(context_features, feats), nn.GELU())
        self.fixed_embedding = _FixedEmbedding(embedding_max_length, context_embedding_features)

    def run(self, x: torch.Tensor, time: torch.Tensor, embedding: torch.Tensor,
            features: torch.Tensor | None) -> torch.Tensor:
        mapping = self.to_time(time)
        if self.use_context_features:
            mapping = mapping + self.to_features(features)
        mapping = self.to_mapping(mapping).unsqueeze(1).expand(-1, embedding.size(1), -1)
        x = torch.cat([x.expand(-1, embedding.size(1), -1), embedding], dim=-1)
        for block in self.blocks:
            x = block(x + mapping, features)
        x = self.to_out[1](x.mean(dim=1, keepdim=True).transpose(1, 2))
        return x.transpose(-1, -2)

    def forward(self, x: torch.Tensor, time: torch.Tensor, embedding: torch.Tensor,
                features: torch.Tensor | None = None, embedding_scale: float = 1.0) -> torch.Tensor:
        out = self.run(x, time, embedding, features)
        if embedding_scale == 1.0:
            return out
        # classifier-free guidance against the learned "no text" embedding
        masked = self.run(x, time, self.fixed_embedding(embedding), features)
        return masked + (out - masked) * embedding_scale


def karras_sigmas(num_steps: int) -> torch.Tensor:
    """Karras et al. (2022) eq. 5 noise levels, with a final 0 (upstream KarrasSchedule)."""
    rho_inv = 1.0 / RHO
    steps = torch.arange(num_steps, dtype=torch.float32)
    sigmas = (SIGMA_MAX ** rho_inv + steps / (num_steps - 1) * (SIGMA_MIN ** rho_inv - SIGMA_MAX ** rho_inv)) ** RHO
    return F.pad(sigmas, (0, 1), value=0.0)


def adpm2_sigmas(sigma: torch.Tensor, sigma_next: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    """(up, down, mid) noise levels of one ADPM2 step (rho 1), python floats where upstream's math.sqrt
    makes them and a float32 tensor elsewhere, so the arithmetic rounds as upstream's does."""
    sigma_up = sqrt(float(sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2))
    sigma_down = sqrt(float(sigma_next ** 2 - sigma_up ** 2))
    return sigma_up, sigma_down, (sigma + sigma_down) / 2


def sample_style(net: StyleTransformer, noise: torch.Tensor, embedding: torch.Tensor, sigma_data: float,
                 num_steps: int, embedding_scale: float, features: torch.Tensor | None,
                 generator: torch.Generator) -> torch.Tensor:
    """ADPM2 sampling of a (1, 1, 2*style_dim) style from `noise` (KDiffusion preconditioning).
    As upstream, num_steps noise levels give num_steps - 1 steps, each drawing fresh noise."""

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigmas = sigma.reshape(1).expand(x.shape[0])
        c_noise = torch.log(sigmas) * 0.25
        s = sigmas[:, None, None]
        c_skip = sigma_data ** 2 / (s ** 2 + sigma_data ** 2)
        c_out = s * sigma_data * (sigma_data ** 2 + s ** 2) ** -0.5
        c_in = (s ** 2 + sigma_data ** 2) ** -0.5
        return c_skip * x + c_out * net(c_in * x, c_noise, embedding, features, embedding_scale)

    sigmas = karras_sigmas(num_steps).to(noise.device)
    x = sigmas[0] * noise
    for i in range(num_steps - 1):
        sigma = sigmas[i]
        sigma_up, sigma_down, sigma_mid = adpm2_sigmas(sigma, sigmas[i + 1])
        d = (x - denoise(x, sigma)) / sigma
        x_mid = x + d * (sigma_mid - sigma)
        d_mid = (x_mid - denoise(x_mid, sigma_mid)) / sigma_mid
        x = x + d_mid * (sigma_down - sigma)
        x = x + torch.randn(x.shape, generator=generator, device=x.device) * sigma_up
    return x

