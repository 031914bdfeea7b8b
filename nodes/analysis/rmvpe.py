"""RMVPE pitch estimation (Wei et al. 2023), compatible with RVC's `rmvpe.pt`.

The network is upstream's `E2E0`: a deep U-Net over a 128-bin log-mel
spectrogram (time x mel as an image), a 3x3 conv to 3 channels, a BiGRU and
a linear layer to 360 sigmoid salience bins of 20 cents each. Module and
attribute names here mirror upstream's so `state_dict()` keys match a real
`rmvpe.pt` one for one and it loads with `strict=True`.

    model = load_rmvpe("rmvpe.pt")                 # the only function that opens a file
    hz, confidence = rmvpe_f0(model, samples16k)   # 100 frames/s, frame i at i * 10 ms
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
N_FFT = WIN_LENGTH = 1024
HOP_LENGTH = 160          # 10 ms frames
N_MELS = 128
MEL_FMIN, MEL_FMAX = 30.0, 8000.0
N_BINS = 360              # salience bins, 20 cents apart
CENTS_PER_BIN = 20.0
CENTS_OFFSET = 1997.3794084376191   # bin 0's pitch in cents above 10 Hz (about 31.7 Hz)
THRESHOLD = 0.03          # upstream RVC's voicing threshold on the peak salience
_LOG_FLOOR = 1e-5         # mel magnitudes are clamped here before the log
_AVERAGE_RADIUS = 4       # the decoder averages the 9 bins around each frame's peak
_CHUNK_FRAMES = 4096      # longer inputs run in chunks, so memory stays bounded
_CHUNK_CONTEXT = 128      # frames of context either side of a chunk, dropped after the run


class _ConvBlockRes(nn.Module):
    """Two 3x3 conv + batch-norm + ReLU layers with a residual (1x1 conv when the width changes)."""

    def __init__(self, in_channels: int, out_channels: int, momentum: float = 0.01):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, (3, 3), padding=(1, 1), bias=False),
            nn.BatchNorm2d(out_channels, momentum=momentum), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, (3, 3), padding=(1, 1), bias=False),
            nn.BatchNorm2d(out_channels, momentum=momentum), nn.ReLU())
        self.shortcut = nn.Conv2d(in_channels, out_channels, (1, 1)) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + (self.shortcut(x) if self.shortcut is not None else x)


class _ResEncoderBlock(nn.Module):
    """`n_blocks` residual conv blocks, then (when `pool` is given) average pooling.
    Returns (features, pooled) with pooling, features alone without."""

    def __init__(self, in_channels: int, out_channels: int, pool: tuple[int, int] | None, n_blocks: int):
        super().__init__()
        self.conv = nn.ModuleList([_ConvBlockRes(in_channels if i == 0 else out_channels, out_channels)
                                   for i in range(n_blocks)])
        self.pool = nn.AvgPool2d(kernel_size=pool) if pool is not None else None

    def forward(self, x: torch.Tensor):
        for block in self.conv:
            x = block(x)
        return (x, self.pool(x)) if self.pool is not None else x


class _Encoder(nn.Module):
    def __init__(self, in_channels: int, n_layers: int, pool: tuple[int, int], n_blocks: int, out_channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels, momentum=0.01)
        layers = []
        for _ in range(n_layers):
            layers.append(_ResEncoderBlock(in_channels, out_channels, pool, n_blocks))
            in_channels, out_channels = out_channels, out_channels * 2
        self.layers = nn.ModuleList(layers)
        self.out_channels = out_channels  # twice the last layer's width, as upstream counts it

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        x = self.bn(x)
        for layer in self.layers:
            skip, x = layer(x)
            skips.append(skip)
        return x, skips


class _Intermediate(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, n_layers: int, n_blocks: int):
        super().__init__()
        self.layers = nn.ModuleList([_ResEncoderBlock(in_channels if i == 0 else out_channels, out_channels, None,
                                                      n_blocks) for i in range(n_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class _ResDecoderBlock(nn.Module):
    """Transposed-conv upsampling, concatenation with the encoder's skip, then residual conv blocks."""

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int], n_blocks: int):
        super().__init__()
        out_padding = (0, 1) if tuple(stride) == (1, 2) else (1, 1)
        self.conv1 = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, (3, 3), stride=stride, padding=(1, 1),
                               output_padding=out_padding, bias=False),
            nn.BatchNorm2d(out_channels, momentum=0.01), nn.ReLU())
        self.conv2 = nn.ModuleList([_ConvBlockRes(out_channels * 2 if i == 0 else out_channels, out_channels)
                                    for i in range(n_blocks)])

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.conv1(x), skip), dim=1)
        for block in self.conv2:
            x = block(x)
        return x


class _Decoder(nn.Module):
    def __init__(self, in_channels: int, n_layers: int, stride: tuple[int, int], n_blocks: int):
        super().__init__()
        layers = []
        for _ in range(n_layers):
            layers.append(_ResDecoderBlock(in_channels, in_channels // 2, stride, n_blocks))
            in_channels //= 2
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for layer, skip in zip(self.layers, reversed(skips)):
            x = layer(x, skip)
        return x


class DeepUnet(nn.Module):
    def __init__(self, pool: tuple[int, int], n_blocks: int, en_de_layers: int, inter_layers: int,
                 in_channels: int, en_out_channels: int):
        super().__init__()
        self.encoder = _Encoder(in_channels, en_de_layers, pool, n_blocks, en_out_channels)
        width = self.encoder.out_channels
        self.intermediate = _Intermediate(width // 2, width, inter_layers, n_blocks)
        self.decoder = _Decoder(width, en_de_layers, pool, n_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = self.encoder(x)
        return self.decoder(self.intermediate(x), skips)


class _BiGRU(nn.Module):
    def __init__(self, input_features: int, hidden_features: int, num_layers: int):
        super().__init__()
        self.gru = nn.GRU(input_features, hidden_features, num_layers=num_layers, batch_first=True,
                          bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(x)[0]


class E2E(nn.Module):
    """log-mel (batch, 128, frames) -> salience (batch, frames, 360) in 0..1.

    `frames` must be a multiple of 2**en_de_layers (the U-Net halves time that many times);
    `salience` pads and crops for you."""

    def __init__(self, n_blocks: int, n_gru: int, pool: tuple[int, int], en_de_layers: int = 5,
                 inter_layers: int = 4, in_channels: int = 1, en_out_channels: int = 16):
        super().__init__()
        if n_gru < 1:
            raise ValueError(f"n_gru: RMVPE needs at least one GRU layer, got {n_gru}")
        self.frame_multiple = 2 ** en_de_layers
        self.unet = DeepUnet(pool, n_blocks, en_de_layers, inter_layers, in_channels, en_out_channels)
        self.cnn = nn.Conv2d(en_out_channels, 3, (3, 3), padding=(1, 1))
        self.fc = nn.Sequential(_BiGRU(3 * N_MELS, 256, n_gru), nn.Linear(512, N_BINS), nn.Dropout(0.25),
                                nn.Sigmoid())

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.cnn(self.unet(mel.transpose(-1, -2).unsqueeze(1)))    # (batch, 3, frames, mels)
        return self.fc(x.transpose(1, 2).flatten(-2))


def rmvpe_e2e0() -> E2E:
    """The network of upstream's `rmvpe.pt` (E2E0: 4 residual blocks per stage, 5 encoder/decoder
    stages with 2x2 pooling, 4 intermediate stages, one BiGRU layer), with random weights, in eval mode."""
    return E2E(n_blocks=4, n_gru=1, pool=(2, 2)).eval()


def load_rmvpe(path: str | Path, device: str = "cpu") -> E2E:
    """Read `rmvpe.pt` (RVC's bare state dict, or so-vits's {"model": state dict}) into `rmvpe_e2e0()`.

    Loaded with torch.load(weights_only=True); every key and shape is checked first,
    and a mismatch raises a CheckpointError naming the file and what is wrong."""
    from haysay.nodes.vc.safe_load import CheckpointError

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "RMVPE checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(path, f"not a readable torch checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(path, "not an RMVPE checkpoint: expected a state dict of tensors "
                                    f"(got {type(state).__name__})")
    model = rmvpe_e2e0()
    expected = model.state_dict()
    # so-vits's rmvpe.pt (yxlllc's model.pt) also stores a TimbreFilter, unet.tf.*, that E2E0's forward
    # never calls; RVC's file has none
    state = {k: v for k, v in state.items() if not k.startswith("unet.tf.")}
    for key in expected:  # optional in old saves; BatchNorm uses it in training only
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = expected[key]
    problems = check_state_dict(state, expected)
    if problems:
        raise CheckpointError(path, "not an RMVPE (E2E0) state dict: " + "; ".join(problems))
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return model.to(device).eval()


def check_state_dict(state: dict, expected: dict) -> list[str]:
    """What keeps `state` from loading into a model whose state dict is `expected` (empty if nothing)."""
    def listed(keys: list[str]) -> str:
        return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")

    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} is {tuple(state[k].shape)}, expected {tuple(expected[k].shape)}"
              for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys ({listed(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({listed(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} wrong shapes ({listed(shapes)})")
    return problems


@lru_cache(maxsize=4)
def _mel_basis(device: str) -> torch.Tensor:
    import torchaudio

    # librosa.filters.mel(htk=True) with its default Slaney area normalisation, as upstream builds it
    fb = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, MEL_FMIN, MEL_FMAX, N_MELS, SAMPLE_RATE,
                                               norm="slaney", mel_scale="htk")
    return fb.T.contiguous().to(device)


def log_mel(samples: torch.Tensor) -> torch.Tensor:
    """(batch, samples) at 16 kHz -> (batch, 128, samples // 160 + 1) natural-log mel magnitudes.

    Centred frames (reflect padding) with a periodic Hann window, magnitude not power, as upstream."""
    if samples.shape[-1] <= N_FFT // 2:  # reflect padding needs more samples than it adds
        samples = nn.functional.pad(samples, (0, N_FFT // 2 + 1 - samples.shape[-1]))
    window = torch.hann_window(WIN_LENGTH, device=samples.device)
    spec = torch.stft(samples.float(), N_FFT, HOP_LENGTH, WIN_LENGTH, window, center=True, pad_mode="reflect",
                      return_complex=True).abs()
    mel = _mel_basis(str(samples.device)) @ spec
    return torch.log(torch.clamp(mel, min=_LOG_FLOOR))


def _run(model: E2E, mel: torch.Tensor) -> torch.Tensor:
    n = mel.shape[-1]
    pad = -n % model.frame_multiple
    if pad:
        # zeros (a log-mel of 0, not the floor), as both RVC's and so-vits's RMVPE pad
        mel = nn.functional.pad(mel, (0, pad), mode="constant", value=0.0)
    return model(mel)[:, :n]


def salience(model: E2E, samples: np.ndarray, chunk_frames: int | None = _CHUNK_FRAMES) -> np.ndarray:
    """(frames, 360) salience of mono 16 kHz samples, frame i centred at i * 10 ms.

    Inputs longer than `chunk_frames` run in chunks with context on both sides, so memory
    stays bounded on long files; each chunk's edges are cut off before joining. None runs the
    whole input in one pass, as upstream does (exact, memory grows with the length)."""
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(samples, np.float32), device=device)[None]
    with torch.inference_mode():
        mel = log_mel(x)
        n = mel.shape[-1]
        if chunk_frames is None or n <= chunk_frames:
            out = _run(model, mel)
        else:
            parts = []
            for start in range(0, n, chunk_frames):
                lo, hi = max(0, start - _CHUNK_CONTEXT), min(n, start + chunk_frames + _CHUNK_CONTEXT)
                part = _run(model, mel[..., lo:hi])
                parts.append(part[:, start - lo:start - lo + min(chunk_frames, n - start)])
            out = torch.cat(parts, dim=1)
    return out[0].float().cpu().numpy()


def bin_cents(bins: np.ndarray | float) -> np.ndarray:
    """Cents above 10 Hz of salience bin(s) (fractional bins allowed)."""
    return CENTS_PER_BIN * np.asarray(bins, np.float64) + CENTS_OFFSET


def cents_to_hz(cents: np.ndarray | float) -> np.ndarray:
    return 10.0 * 2.0 ** (np.asarray(cents, np.float64) / 1200.0)


def decode_salience(sal: np.ndarray, threshold: float = THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """(Hz, peak salience) per frame from a (frames, 360) salience matrix.

    Upstream's decoder: the salience-weighted mean of the cents of the 9 bins around each frame's
    peak (bins past either end count zero); frames whose peak is at or below `threshold` are unvoiced (0 Hz)."""
    sal = np.asarray(sal, np.float64)
    if sal.ndim != 2 or sal.shape[1] != N_BINS:
        raise ValueError(f"salience: expected (frames, {N_BINS}), got shape {sal.shape}")
    r = _AVERAGE_RADIUS
    peak_bin = np.argmax(sal, axis=1) if sal.shape[0] else np.zeros(0, np.int64)
    padded = np.pad(sal, ((0, 0), (r, r)))
    cents_map = np.pad(bin_cents(np.arange(N_BINS)), (r, r))
    window = peak_bin[:, None] + np.arange(2 * r + 1)[None, :]          # indices into the padded axis
    weights = np.take_along_axis(padded, window, axis=1)
    total = weights.sum(axis=1)
    cents = np.divide((weights * cents_map[window]).sum(axis=1), total, out=np.zeros_like(total),
                      where=total > 0)
    peak = sal.max(axis=1) if sal.shape[0] else np.zeros(0)
    voiced = (peak > threshold) & (cents > 0)
    hz = np.where(voiced, cents_to_hz(cents), 0.0)
    return hz, np.clip(peak, 0.0, 1.0)


def rmvpe_f0(model: E2E, samples: np.ndarray, threshold: float = THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """(Hz, confidence) per 10 ms frame of mono 16 kHz samples; 0 Hz where unvoiced.
    There are len(samples) // 160 + 1 frames, frame i centred at i * 160 samples."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"samples: expected a mono (frames,) array, got shape {x.shape}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold: {threshold} is outside 0..1")
    return decode_salience(salience(model, x), threshold)
