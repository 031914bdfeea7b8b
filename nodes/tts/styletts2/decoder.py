"""StyleTTS 2's waveform decoders (Modules/istftnet.py and Modules/hifigan.py), inference only.

Both share the style-conditioned front (`Decoder`: aligned text features + F0 + energy -> 512 channels
at twice the frame rate) and an NSF harmonic source; they differ in the generator: iSTFTNet predicts a
small STFT (magnitude, phase) and inverts it, HiFi-GAN upsamples to samples with Snake activations.
Upstream fixes the front's widths (1024, 512, 64) in code; they are kept. Noise comes from a generator.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from haysay.nodes.tts.styletts2.models import AdaIN1d, AdainResBlk1d

SAMPLE_RATE = 24000
_HARMONICS, _VOICED_HZ, _SINE_AMP, _NOISE_STD = 8, 10.0, 0.1, 0.003


def _snake(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return x + (1 / alpha) * torch.sin(alpha * x) ** 2


class AdaINResBlock1(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation, style_dim: int):
        super().__init__()
        pad = lambda d: (kernel_size * d - d) // 2  # noqa: E731
        self.convs1 = nn.ModuleList([nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=pad(d))
                                     for d in dilation])
        self.convs2 = nn.ModuleList([nn.Conv1d(channels, channels, kernel_size, 1, padding=pad(1)) for _ in dilation])
        self.adain1 = nn.ModuleList([AdaIN1d(style_dim, channels) for _ in dilation])
        self.adain2 = nn.ModuleList([AdaIN1d(style_dim, channels) for _ in dilation])
        self.alpha1 = nn.ParameterList([nn.Parameter(torch.ones(1, channels, 1)) for _ in dilation])
        self.alpha2 = nn.ParameterList([nn.Parameter(torch.ones(1, channels, 1)) for _ in dilation])

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        for c1, c2, n1, n2, a1, a2 in zip(self.convs1, self.convs2, self.adain1, self.adain2, self.alpha1, self.alpha2):
            x = x + c2(_snake(n2(c1(_snake(n1(x, s), a1)), s), a2))
        return x


class SourceModuleHnNSF(nn.Module):
    """Harmonic excitation (fundamental + 8 overtones, merged by a linear layer) from a sample-rate F0.
    The phase is accumulated at the frame rate and interpolated back, as upstream's SineGen does."""

    def __init__(self, upsample_scale: int):
        super().__init__()
        self.upsample_scale = upsample_scale
        self.l_linear = nn.Linear(_HARMONICS + 1, 1)

    def forward(self, f0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B, n, 1) F0 in Hz -> (B, n, 1) excitation."""
        fn = f0 * torch.arange(1, _HARMONICS + 2, dtype=f0.dtype, device=f0.device)
        rad = (fn / SAMPLE_RATE) % 1
        start = torch.rand(fn.shape[0], fn.shape[2], device=f0.device, generator=generator)
        start[:, 0] = 0
        rad[:, 0, :] = rad[:, 0, :] + start
        scale = self.upsample_scale
        rad = F.interpolate(rad.transpose(1, 2), scale_factor=1 / scale, mode="linear").transpose(1, 2)
        phase = torch.cumsum(rad, dim=1) * 2 * math.pi
        phase = F.interpolate(phase.transpose(1, 2) * scale, scale_factor=scale, mode="linear").transpose(1, 2)
        sines = torch.sin(phase) * _SINE_AMP
        uv = (f0 > _VOICED_HZ).float()
        noise_amp = uv * _NOISE_STD + (1 - uv) * _SINE_AMP / 3
        # upstream's randn_like: like-strided draws (a transposed tensor fills differently from a fresh one)
        sines = sines * uv + noise_amp * torch.empty_like(sines).normal_(generator=generator)
        torch.empty_like(uv).normal_(generator=generator)  # upstream's unused noise branch: keeps the stream
        return torch.tanh(self.l_linear(sines))


class _Generator(nn.Module):
    def __init__(self, style_dim: int, kernels, rates, initial: int, dilations, up_kernels, istft: tuple | None):
        super().__init__()
        self.istft = istft  # (n_fft, hop) for iSTFTNet, None for HiFi-GAN
        self.num_kernels, self.num_upsamples = len(kernels), len(rates)
        self.upp = int(math.prod(rates)) * (istft[1] if istft else 1)
        self.m_source = SourceModuleHnNSF(self.upp)
        source_ch = istft[0] + 2 if istft else 1
        self.ups, self.noise_convs, self.noise_res, self.resblocks = (nn.ModuleList() for _ in range(4))
        for i, (u, k) in enumerate(zip(rates, up_kernels)):
            c_in, ch = initial // 2 ** i, initial // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(c_in, ch, k, u, padding=(k - u) // 2) if istft
                            else nn.ConvTranspose1d(c_in, ch, k, u, padding=u // 2 + u % 2, output_padding=u % 2))
            if i + 1 < len(rates):
                stride = int(math.prod(rates[i + 1:]))
                self.noise_convs.append(nn.Conv1d(source_ch, ch, stride * 2, stride=stride, padding=(stride + 1) // 2))
                self.noise_res.append(AdaINResBlock1(ch, 7, (1, 3, 5), style_dim))
            else:
                self.noise_convs.append(nn.Conv1d(source_ch, ch, 1))
                self.noise_res.append(AdaINResBlock1(ch, 11, (1, 3, 5), style_dim))
            for kk, d in zip(kernels, dilations):
                self.resblocks.append(AdaINResBlock1(ch, kk, d, style_dim))
        if istft:
            self.conv_post = nn.Conv1d(ch, istft[0] + 2, 7, 1, padding=3)
            # scipy get_window("hann") in float64, then float32, as upstream TorchSTFT: the phase of near-empty
            # bins follows the last bit of the window
            self.register_buffer("window", torch.hann_window(istft[0], dtype=torch.float64).float(), persistent=False)
        else:
            self.alphas = nn.ParameterList([nn.Parameter(torch.ones(1, initial // 2 ** i, 1))
                                            for i in range(len(rates) + 1)])
            self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3)

    def forward(self, x: torch.Tensor, s: torch.Tensor, f0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        f0 = F.interpolate(f0[:, None], scale_factor=float(self.upp), mode="nearest").transpose(1, 2)
        har = self.m_source(f0, generator).transpose(1, 2)
        if self.istft:
            n_fft, hop = self.istft
            spec = torch.stft(har.squeeze(1), n_fft, hop, n_fft, window=self.window, return_complex=True)
            har = torch.cat([spec.abs(), spec.angle()], dim=1)
        for i in range(self.num_upsamples):
            x = F.leaky_relu(x, 0.1) if self.istft else _snake(x, self.alphas[i])
            source = self.noise_res[i](self.noise_convs[i](har), s)
            x = self.ups[i](x)
            if self.istft and i == self.num_upsamples - 1:
                x = F.pad(x, (1, 0), mode="reflect")
            x = x + source
            xs = None
            for j in range(self.num_kernels):
                y = self.resblocks[i * self.num_kernels + j](x, s)
                xs = y if xs is None else xs + y
            x = xs / self.num_kernels
        if not self.istft:
            return torch.tanh(self.conv_post(_snake(x, self.alphas[-1]))).squeeze(1)
        x = self.conv_post(F.leaky_relu(x))
        n_fft, hop = self.istft
        mag, phase = torch.exp(x[:, :n_fft // 2 + 1]), torch.sin(x[:, n_fft // 2 + 1:])
        return torch.istft(mag * torch.exp(phase * 1j), n_fft, hop, n_fft, window=self.window)


class Decoder(nn.Module):
    def __init__(self, dim_in: int, style_dim: int, kind: str, resblock_kernel_sizes, upsample_rates,
                 upsample_initial_channel: int, resblock_dilation_sizes, upsample_kernel_sizes,
                 gen_istft_n_fft: int = 20, gen_istft_hop_size: int = 5):
        super().__init__()
        self.encode = AdainResBlk1d(dim_in + 2, 1024, style_dim)
        self.decode = nn.ModuleList([AdainResBlk1d(1024 + 2 + 64, 1024, style_dim) for _ in range(3)]
                                    + [AdainResBlk1d(1024 + 2 + 64, 512, style_dim, upsample=True)])
        self.F0_conv = nn.Conv1d(1, 1, 3, stride=2, padding=1)
        self.N_conv = nn.Conv1d(1, 1, 3, stride=2, padding=1)
        self.asr_res = nn.Sequential(nn.Conv1d(512, 64, 1))
        istft = (gen_istft_n_fft, gen_istft_hop_size) if kind == "istftnet" else None
        self.generator = _Generator(style_dim, resblock_kernel_sizes, upsample_rates, upsample_initial_channel,
                                    resblock_dilation_sizes, upsample_kernel_sizes, istft)

    @property
    def samples_per_frame(self) -> int:
        return self.generator.upp * 2  # the F0/energy curves and the generator's input run at twice the frame rate

    def forward(self, asr: torch.Tensor, f0_curve: torch.Tensor, n: torch.Tensor, s: torch.Tensor,
                generator: torch.Generator) -> torch.Tensor:
        """Aligned features (1, 512, frames), F0 and energy (1, 2*frames), style (1, style_dim) -> (1, samples)."""
        f0 = self.F0_conv(f0_curve.unsqueeze(1))
        n = self.N_conv(n.unsqueeze(1))
        x = self.encode(torch.cat([asr, f0, n], dim=1), s)
        asr_res = self.asr_res(asr)
        res = True
        for block in self.decode:
            if res:
                x = torch.cat([x, asr_res, f0, n], dim=1)
            x = block(x, s)
            if block.upsample_type != "none":
                res = False
        return self.generator(x, s, f0_curve, generator)
