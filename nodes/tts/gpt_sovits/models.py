"""GPT-SoVITS v2 SoVITS synthesiser (RVC-Boss/GPT-SoVITS module/models.py SynthesizerTrn), inference only.

Module and parameter names follow upstream so a released `.pth` state dict loads by name; the VITS parts
(relative-position encoder, coupling flow, HiFi-GAN decoder) are the shared nodes/vc/vits modules, which
match upstream's layers exactly. No file I/O here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from haysay.nodes.vc.vits.attentions import Encoder, MultiHeadAttention
from haysay.nodes.vc.vits.flows import ResidualCouplingBlock
from haysay.nodes.vc.vits.hifigan import Generator

SSL_DIM = 768  # chinese-hubert-base's width, fixed in upstream's code
STYLE_BINS = 704  # v2's reference encoder reads the lowest 704 linear-spectrogram bins
WINDOW = 4  # upstream's attentions.Encoder default relative-position window


@dataclass(frozen=True)
class SoVITSConfig:
    """The `model`/`data` sections of a SoVITS `.pth`'s config (upstream configs/s2.json)."""
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (10, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 2, 2)
    gin_channels: int = 512
    n_symbols: int = 732
    sampling_rate: int = 32000
    filter_length: int = 2048
    hop_length: int = 640
    win_length: int = 2048
    extra: dict = field(default_factory=dict, compare=False)


class LinearNorm(nn.Module):
    def __init__(self, i: int, o: int):
        super().__init__()
        self.fc = nn.Linear(i, o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class Mish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(F.softplus(x))


class ConvNorm(nn.Module):
    def __init__(self, i: int, o: int, k: int):
        super().__init__()
        self.conv = nn.Conv1d(i, o, k, padding=(k - 1) // 2)


class Conv1dGLU(nn.Module):
    def __init__(self, channels: int, k: int):
        super().__init__()
        self.channels = channels
        self.conv1 = ConvNorm(channels, 2 * channels, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv1.conv(x).split(self.channels, dim=1)
        return x + a * torch.sigmoid(b)


class StyleAttention(nn.Module):
    """modules.MultiHeadAttention of the style encoder: linear q/k/v, scaled by sqrt(d_model), residual."""

    def __init__(self, n_head: int, d_model: int):
        super().__init__()
        self.n_head, self.d_k, self.scale = n_head, d_model // n_head, d_model ** 0.5
        self.w_qs = nn.Linear(d_model, d_model)
        self.w_ks = nn.Linear(d_model, d_model)
        self.w_vs = nn.Linear(d_model, d_model)
        self.fc = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape

        def heads(lin: nn.Linear) -> torch.Tensor:
            return lin(x).view(b, t, self.n_head, self.d_k).transpose(1, 2)

        att = torch.softmax(heads(self.w_qs) @ heads(self.w_ks).transpose(-1, -2) / self.scale, dim=-1)
        out = (att @ heads(self.w_vs)).transpose(1, 2).reshape(b, t, -1)
        return self.fc(out) + x


class MelStyleEncoder(nn.Module):
    """Reference (timbre) encoder over a linear spectrogram: one global vector per reference."""

    def __init__(self, n_bins: int, out_dim: int, hidden: int = 128, kernel: int = 5, heads: int = 2):
        super().__init__()
        self.spectral = nn.Sequential(LinearNorm(n_bins, hidden), Mish(), nn.Dropout(0.0),
                                      LinearNorm(hidden, hidden), Mish(), nn.Dropout(0.0))
        self.temporal = nn.Sequential(Conv1dGLU(hidden, kernel), Conv1dGLU(hidden, kernel))
        self.slf_attn = StyleAttention(heads, hidden)
        self.fc = LinearNorm(hidden, out_dim)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """(1, bins, frames) -> (1, out_dim, 1); one unpadded reference, so the masked mean is the mean."""
        x = self.spectral(spec.transpose(1, 2))
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)
        return self.fc(self.slf_attn(x)).mean(dim=1).unsqueeze(-1)


class MRTE(nn.Module):
    """Multi-reference timbre encoder: content attends to the text, plus the global style vector."""

    def __init__(self, content: int = 192, hidden: int = 512, heads: int = 4):
        super().__init__()
        self.cross_attention = MultiHeadAttention(hidden, hidden, heads)
        self.c_pre = nn.Conv1d(content, hidden, 1)
        self.text_pre = nn.Conv1d(content, hidden, 1)
        self.c_post = nn.Conv1d(hidden, content, 1)

    def forward(self, ssl: torch.Tensor, ssl_mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                ge: torch.Tensor) -> torch.Tensor:
        attn_mask = text_mask.unsqueeze(2) * ssl_mask.unsqueeze(-1)
        ssl = self.c_pre(ssl * ssl_mask)
        text = self.text_pre(text * text_mask)
        x = self.cross_attention(ssl * ssl_mask, text * text_mask, attn_mask) + ssl + ge
        return self.c_post(x * ssl_mask)


class TextEncoder(nn.Module):
    def __init__(self, cfg: SoVITSConfig):
        super().__init__()
        h, f, nh, nl, k = cfg.hidden_channels, cfg.filter_channels, cfg.n_heads, cfg.n_layers, cfg.kernel_size
        self.out_channels = cfg.inter_channels
        self.ssl_proj = nn.Conv1d(SSL_DIM, h, 1)
        self.encoder_ssl = Encoder(h, f, nh, nl // 2, k, WINDOW)
        self.encoder_text = Encoder(h, f, nh, nl, k, WINDOW)
        self.text_embedding = nn.Embedding(cfg.n_symbols, h)
        self.mrte = MRTE(h, 512, 4)
        self.encoder2 = Encoder(h, f, nh, nl // 2, k, WINDOW)
        self.proj = nn.Conv1d(h, cfg.inter_channels * 2, 1)

    def forward(self, y: torch.Tensor, text: torch.Tensor, ge: torch.Tensor, speed: float = 1.0):
        y_mask = torch.ones_like(y[:, :1])
        text_mask = torch.ones(text.shape[0], 1, text.shape[1], dtype=y.dtype, device=y.device)
        y = self.encoder_ssl(self.ssl_proj(y), y_mask)
        t = self.encoder_text(self.text_embedding(text).transpose(1, 2), text_mask)
        y = self.encoder2(self.mrte(y, y_mask, t, text_mask, ge), y_mask)
        if speed != 1:
            y = F.interpolate(y, size=int(y.shape[-1] / speed) + 1, mode="linear")
            y_mask = F.interpolate(y_mask, size=y.shape[-1], mode="nearest")
        m, logs = torch.split(self.proj(y) * y_mask, self.out_channels, dim=1)
        return m, logs, y_mask


class Codebook(nn.Module):
    """core_vq.EuclideanCodebook's buffers (only `embed` is used at inference)."""

    def __init__(self, dim: int, bins: int):
        super().__init__()
        self.register_buffer("inited", torch.ones(1))
        self.register_buffer("cluster_size", torch.zeros(bins))
        self.register_buffer("embed", torch.zeros(bins, dim))
        self.register_buffer("embed_avg", torch.zeros(bins, dim))


class VQLayer(nn.Module):
    def __init__(self, dim: int, bins: int):
        super().__init__()
        self._codebook = Codebook(dim, bins)


class RVQ(nn.Module):
    def __init__(self, dim: int, bins: int):
        super().__init__()
        self.layers = nn.ModuleList([VQLayer(dim, bins)])


class ResidualVectorQuantizer(nn.Module):
    """One-level residual VQ over HuBERT features (quantize.ResidualVectorQuantizer, n_q=1, 1024 bins)."""

    def __init__(self, dim: int = SSL_DIM, bins: int = 1024):
        super().__init__()
        self.vq = RVQ(dim, bins)

    @property
    def embed(self) -> torch.Tensor:
        return self.vq.layers[0]._codebook.embed

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(b, dim, t) -> (b, t) nearest-code indices (upstream's max of negative squared distance)."""
        b, _, t = x.shape
        x = x.transpose(1, 2).reshape(b * t, -1)
        e = self.embed.t()
        dist = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ e + e.pow(2).sum(0, keepdim=True))
        return dist.max(dim=-1).indices.view(b, t)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(b, t) -> (b, dim, t)."""
        return F.embedding(codes, self.embed).transpose(1, 2)


class SynthesizerTrn(nn.Module):
    """v2 SoVITS: semantic tokens + phonemes + a reference spectrogram -> 32 kHz audio."""

    def __init__(self, cfg: SoVITSConfig):
        super().__init__()
        self.cfg = cfg
        self.enc_p = TextEncoder(cfg)
        self.dec = Generator(cfg.inter_channels, cfg.resblock, list(cfg.resblock_kernel_sizes),
                             [list(d) for d in cfg.resblock_dilation_sizes], list(cfg.upsample_rates),
                             cfg.upsample_initial_channel, list(cfg.upsample_kernel_sizes), cfg.gin_channels)
        self.flow = ResidualCouplingBlock(cfg.inter_channels, cfg.hidden_channels, 5, 1, 4,
                                          gin_channels=cfg.gin_channels)
        self.ref_enc = MelStyleEncoder(STYLE_BINS, cfg.gin_channels)
        self.ssl_proj = nn.Conv1d(SSL_DIM, SSL_DIM, 2, stride=2)  # 25 Hz semantic frames
        self.quantizer = ResidualVectorQuantizer()

    @torch.no_grad()
    def extract_latent(self, ssl: torch.Tensor) -> torch.Tensor:
        """HuBERT features (1, 768, frames at 50 Hz) -> semantic tokens (1, frames / 2)."""
        return self.quantizer.encode(self.ssl_proj(ssl))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, text: torch.Tensor, refer: torch.Tensor | None, noise_scale: float = 0.5,
               speed: float = 1.0, generator: torch.Generator | None = None,
               ge: torch.Tensor | None = None) -> torch.Tensor:
        """codes (1, t) + phoneme ids (1, n) + reference spectrogram (1, bins, frames) -> audio (1, 1, samples).
        `ge` (1, gin_channels, 1), a timbre vector computed before (Hay Say's precomputed traits), stands in
        for the reference's (upstream's decode takes ge; get_ge computes it from the spectrograms)."""
        ge = self.ref_enc(refer[:, :STYLE_BINS]) if ge is None else ge
        quantized = self.quantizer.decode(codes)
        quantized = F.interpolate(quantized, size=int(quantized.shape[-1] * 2), mode="nearest")
        m, logs, y_mask = self.enc_p(quantized, text, ge, speed)
        noise = torch.randn(m.shape, generator=generator, dtype=m.dtype, device=m.device)
        z = self.flow.reverse(m + noise * torch.exp(logs) * noise_scale, y_mask, g=ge)
        return self.dec(z * y_mask, g=ge)


def linear_spectrogram(audio: torch.Tensor, cfg: SoVITSConfig) -> torch.Tensor:
    """mel_processing.spectrogram_torch (center=False, reflect padding): (1, samples) -> (1, bins, frames)."""
    pad = (cfg.filter_length - cfg.hop_length) // 2
    y = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(cfg.win_length, dtype=audio.dtype, device=audio.device)
    spec = torch.stft(y, cfg.filter_length, hop_length=cfg.hop_length, win_length=cfg.win_length, window=window,
                      center=False, normalized=False, onesided=True, return_complex=True)
    return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-8)  # upstream's epsilon (its v3/v4 mel uses 1e-6)
