"""Reference timing as ControllableTalkNet takes it (ExtractDuration.get_duration): NeMo's
`asr_talknet_aligner` (an EncDecCTCModel: mel preprocessor, QuartzNet encoder, 1x1 CTC decoder) gives
per-frame phoneme log-probabilities of the reference recording, and a Viterbi pass over the
blank-interleaved transcript (core/nemo_functions.py, from NeMo's TalkNet duration extraction) turns
them into frames per token.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from haysay.graph_engine.models.checkpoint_limits import CheckpointError
from haysay.nodes.tts.talknet.models import QuartzNetEncoder, check_encoder

_WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window, "blackman": torch.blackman_window,
            "bartlett": torch.bartlett_window}
STD_GUARD = 1e-5  # features.CONSTANT


class MelFeatures(nn.Module):
    """FilterbankFeatures at inference (no dither): pre-emphasis, centred STFT, |X|^p, the saved mel
    filterbank, log with its zero guard, per-feature normalisation, padding to a multiple of pad_to."""

    def __init__(self, cfg: dict[str, Any], where: str):
        super().__init__()
        rate = int(cfg.get("sample_rate", 16000))
        win = cfg.get("n_window_size") or int(float(cfg.get("window_size", 0.02)) * rate)
        hop = cfg.get("n_window_stride") or int(float(cfg.get("window_stride", 0.01)) * rate)
        if cfg.get("frame_splicing", 1) != 1 or cfg.get("stft_conv") or cfg.get("exact_pad") \
                or cfg.get("window", "hann") not in _WINDOWS:
            raise CheckpointError(where, "aligner preprocessor options (frame splicing, exact pad, conv STFT, "
                                         "window) other than NeMo's defaults are not supported")
        self.rate, self.win, self.hop = rate, int(win), int(hop)
        self.n_fft = int(cfg.get("n_fft") or 2 ** math.ceil(math.log2(self.win)))
        self.preemph = cfg.get("preemph", 0.97)
        self.mag_power = float(cfg.get("mag_power", 2.0))
        self.log, self.guard_type = bool(cfg.get("log", True)), cfg.get("log_zero_guard_type", "add")
        self.guard = float(cfg.get("log_zero_guard_value", 2 ** -24))
        self.normalize, self.pad_to = cfg.get("normalize", "per_feature"), cfg.get("pad_to", 16)
        self.pad_value = float(cfg.get("pad_value", 0.0))
        n_mels = int(cfg.get("features", 64))
        self.register_buffer("window", _WINDOWS[cfg.get("window", "hann")](self.win, periodic=False))
        self.register_buffer("fb", torch.zeros(1, n_mels, self.n_fft // 2 + 1))  # the checkpoint's own filterbank

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        n = x.shape[-1] // self.hop + 1  # get_seq_len with centre padding
        if self.preemph is not None:
            x = torch.cat((x[:, :1], x[:, 1:] - self.preemph * x[:, :-1]), dim=1)
        spec = torch.stft(x, self.n_fft, hop_length=self.hop, win_length=self.win, center=True,
                          window=self.window.float(), return_complex=True)
        spec = torch.sqrt(spec.real ** 2 + spec.imag ** 2)
        if self.mag_power != 1.0:
            spec = spec.pow(self.mag_power)
        spec = torch.matmul(self.fb.to(spec.dtype), spec)
        if self.log:
            spec = torch.log(spec + self.guard) if self.guard_type == "add" else torch.log(spec.clamp(min=self.guard))
        if self.normalize == "per_feature":
            mean, std = spec[:, :, :n].mean(dim=2, keepdim=True), spec[:, :, :n].std(dim=2, keepdim=True)
            spec = (spec - mean) / (std + STD_GUARD)
        elif self.normalize == "all_features":
            spec = (spec - spec[:, :, :n].mean()) / (spec[:, :, :n].std() + STD_GUARD)
        spec[:, :, n:] = self.pad_value
        if isinstance(self.pad_to, int) and self.pad_to > 0 and spec.shape[-1] % self.pad_to:
            spec = F.pad(spec, (0, self.pad_to - spec.shape[-1] % self.pad_to), value=self.pad_value)
        return spec, n


class _Featurizer(nn.Module):
    def __init__(self, cfg: dict[str, Any], where: str):
        super().__init__()
        self.featurizer = MelFeatures(cfg, where)


class _Decoder(nn.Module):
    def __init__(self, feat_in: int, classes: int):
        super().__init__()
        self.decoder_layers = nn.Sequential(nn.Conv1d(feat_in, classes + 1, kernel_size=1, bias=True))


class Aligner(nn.Module):
    """EncDecCTCModel at inference, with NeMo's state-dict names."""

    def __init__(self, cfg: dict[str, Any], where: str):
        super().__init__()
        pre, dec = cfg.get("preprocessor") or {}, cfg.get("decoder") or {}
        blocks = check_encoder(cfg, where, "encoder")
        self.preprocessor = _Featurizer(pre, where)
        self.encoder = QuartzNetEncoder(int(cfg["encoder"]["feat_in"]), blocks)
        self.decoder = _Decoder(int(dec.get("feat_in", self.encoder.feat_out)), int(dec["num_classes"]))
        self.sample_rate = self.preprocessor.featurizer.rate

    @property
    def blank(self) -> int:  # num_classes_with_blank - 1
        return self.decoder.decoder_layers[0].out_channels - 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(1, samples) at the aligner's rate -> log-probabilities (frames, classes + 1), padding included."""
        spec, n = self.preprocessor.featurizer(audio)
        mask = (torch.arange(spec.shape[-1], device=spec.device) < n).view(1, 1, -1).to(spec.dtype)
        y = self.decoder.decoder_layers(self.encoder(spec, mask))
        return F.log_softmax(y.transpose(1, 2), dim=-1)[0]


def build_aligner(cfg: dict[str, Any], state: dict[str, Any], where: str) -> Aligner:
    from haysay.nodes.vc.safe_load import build_checked

    for key in ("preprocessor", "encoder", "decoder"):
        if not isinstance(cfg.get(key), dict):
            raise CheckpointError(where, f"model_config.yaml has no {key}: not an ASR (CTC) aligner")
    if not isinstance(cfg["decoder"].get("num_classes"), int) or not isinstance(cfg["encoder"].get("feat_in"), int):
        raise CheckpointError(where, "decoder.num_classes / encoder.feat_in missing: not a QuartzNet CTC aligner")
    return build_checked(lambda: Aligner(cfg, where), state, where).eval()


def forward_extractor(tokens: list[int], log_probs: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """States f (best log-prob of the first s codes ending at frame t) and back-pointers p."""
    n, m = len(tokens), log_probs.shape[0]
    f = np.full((n + 1, m + 1), -(10.0 ** 9))
    p = np.zeros((n + 1, m + 1), dtype=int)
    f[0, 0] = 0.0
    for s in range(1, n + 1):
        c = tokens[s - 1]
        # a code may follow the one two back unless it is a blank or repeats it
        back = 2 if s == 1 or c == blank or c == tokens[s - 3] else 3
        stop = s - back if s - back >= 0 else None
        for t in range((s + 1) // 2, m + 1):
            options = f[s:stop:-1, t - 1]
            f[s, t] = log_probs[t - 1, c] + np.max(options)
            p[s, t] = np.argmax(options)
    return f, p


def backward_extractor(f: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Frames per code from the Viterbi back-pointers; the path may end on the last blank or the last token."""
    n, m = f.shape[0] - 1, f.shape[1] - 1
    durs = np.zeros(n, dtype=int)
    s, t = (n, m) if f[-1, -1] >= f[-2, -1] else (n - 1, m)
    while s > 0:
        durs[s - 1] += 1
        s -= p[s, t]
        t -= 1
    return durs


@torch.no_grad()
def align(aligner: Aligner, audio: np.ndarray, rate: int, ids: list[int]) -> np.ndarray:
    """Frames per blank-interleaved token (2n+1) of `ids` spoken in `audio`."""
    import soxr

    x = np.asarray(audio, np.float64)
    if rate != aligner.sample_rate:
        x = soxr.resample(x, rate, aligner.sample_rate)
    device = next(aligner.parameters()).device
    log_probs = aligner(torch.tensor(x, dtype=torch.float32, device=device)[None]).cpu().numpy()
    targets = [aligner.blank]
    for c in ids:
        if c >= aligner.blank:
            raise ValueError(f"phoneme id {c} is outside the aligner's {aligner.blank} classes")
        targets += [c, aligner.blank]
    if log_probs.shape[0] < len(ids):
        raise ValueError(f"the reference is too short to hold {len(ids)} phonemes "
                         f"({log_probs.shape[0]} aligner frames)")
    return backward_extractor(*forward_extractor(targets, log_probs, aligner.blank))
