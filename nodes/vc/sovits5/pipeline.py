"""so-vits-svc 5.0 inference as upstream runs it (svc_inference.py and the three extractors it calls):
Whisper PPG (whisper/inference.py), HuBERT-Soft units (hubert/inference.py) and crepe pitch
(pitch/inference.py compute_f0_sing) from 16 kHz audio, each at 50 frames/s repeated to 100/s, then
svc_infer's synthesis in 25 s chunks overlapping by 10 frames."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from haysay.nodes.vc.content.whisper import log_mel
from haysay.nodes.vc.sovits5.models import Sovits5Synthesizer

SAMPLE_RATE_IN = 16000
WHISPER_PIECE = 15 * SAMPLE_RATE_IN
HUBERT_PIECE = 20 * SAMPLE_RATE_IN
CONTENT_HOP = 320
OUT_CHUNK, OVERLAP = 2500, 10  # frames of 10 ms (svc_infer's out_chunk and hop_frame)


@torch.no_grad()
def whisper_ppg(encoder, wav16k: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
    """(frames at 50/s, n_audio_state) from a haysay WhisperEncoder as upstream pred_ppg: the last quarter
    of the encoder's blocks dropped, 15 s pieces without padding to 30 s, mel dithered with 0.1 noise."""
    keep = len(encoder.blocks) - len(encoder.blocks) // 4
    out = []
    for start in range(0, len(wav16k), WHISPER_PIECE):
        piece = torch.from_numpy(np.ascontiguousarray(wav16k[start:start + WHISPER_PIECE], np.float32))
        dev = encoder.conv1.weight.device
        mel = log_mel(piece.to(dev), encoder.dims.n_mels)
        mel = mel + torch.randn(mel.shape, generator=generator).to(dev) * 0.1
        x = F.gelu(encoder.conv2(F.gelu(encoder.conv1(mel[None])))).transpose(1, 2)
        x = x + encoder.positional_embedding[: x.shape[1]]
        for block in encoder.blocks[:keep]:
            x = block(x)
        out.append(encoder.ln_post(x)[0, : len(piece) // CONTENT_HOP].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, encoder.dims.n_audio_state), np.float32)


@torch.no_grad()
def hubert_units(encoder, wav16k: np.ndarray) -> np.ndarray:
    """(frames at 50/s, 256) HuBERT-Soft units in 20 s pieces (upstream pred_vec)."""
    dev = next(encoder.parameters()).device
    out = [encoder.features(torch.from_numpy(np.ascontiguousarray(wav16k[s:s + HUBERT_PIECE], np.float32))[None]
                            .to(dev))[0].float().cpu().numpy()
           for s in range(0, len(wav16k), HUBERT_PIECE)]
    return np.concatenate(out) if out else np.zeros((0, 256), np.float32)


def crepe_f0(wav16k: np.ndarray, device: str, generator: torch.Generator | None = None) -> np.ndarray:
    """Hz at 100 frames/s as upstream compute_f0_sing + save_csv_pitch: 1e-3 dither, torchcrepe full at a
    20 ms hop (50-1000 Hz, viterbi), repeated 2x, 5-frame mean, truncated to whole Hz. Upstream's viterbi also
    dithers each bin by up to 20 cents from numpy's global generator; the bin centres are used here (as
    vc.sovits does), so a seed reproduces the track."""
    import torchcrepe

    from haysay.nodes.analysis.f0 import TORCH_LOCK
    from haysay.nodes.vc.pitch import _viterbi_undithered

    audio = torch.from_numpy(np.ascontiguousarray(wav16k, np.float32))[None]
    audio = audio + torch.randn(audio.shape, generator=generator) * 0.001
    with TORCH_LOCK:
        pitch = torchcrepe.predict(audio, SAMPLE_RATE_IN, 320, 50, 1000, "full", batch_size=512, device=device,
                                   return_periodicity=False, decoder=_viterbi_undithered)
    pitch = torchcrepe.filter.mean(torch.repeat_interleave(pitch.cpu(), 2, dim=-1), 5)[0]
    return np.trunc(torch.nan_to_num(pitch, nan=0.0).numpy()).astype(np.float64)


def shift_f0(f0: np.ndarray, semitones: float) -> np.ndarray:
    return np.asarray(f0, np.float64) * 2 ** (semitones / 12) if semitones else np.asarray(f0, np.float64)


@torch.no_grad()
def synthesize(model: Sovits5Synthesizer, ppg: np.ndarray, vec: np.ndarray, f0: np.ndarray, spk: np.ndarray,
               generator: torch.Generator | None = None) -> np.ndarray:
    """upstream svc_infer (retrieval off): frame-aligned 100/s features -> audio at the model's rate.
    The excitation is drawn for the whole input first, then each chunk's prior noise, as upstream draws them
    from torch's global generator (`generator` None: that one, so a manual_seed reproduces upstream)."""
    n = min(len(f0), len(vec), len(ppg))
    dev = next(model.parameters()).device
    hop = model.cfg.hop_length
    pit = torch.as_tensor(np.asarray(f0[:n]), dtype=torch.float32)[None]
    ppg_t = torch.as_tensor(np.asarray(ppg[:n]), dtype=torch.float32)
    vec_t = torch.as_tensor(np.asarray(vec[:n]), dtype=torch.float32)
    spk_t = torch.as_tensor(np.asarray(spk), dtype=torch.float32).reshape(1, -1).to(dev)
    source = model.source(pit, generator).to(dev)
    out, index = [], 0
    while index < n:
        cut_s, keep_s = (0, 0) if index == 0 else (index - OVERLAP, OVERLAP * hop)
        last = index + OUT_CHUNK + OVERLAP > n
        cut_e = n if last else index + OUT_CHUNK + OVERLAP
        noise = torch.randn((1, model.cfg.inter_channels, cut_e - cut_s), generator=generator).to(dev)
        y = model.infer(ppg_t[None, cut_s:cut_e].to(dev), vec_t[None, cut_s:cut_e].to(dev),
                        pit[:, cut_s:cut_e].to(dev), spk_t, source[:, :, cut_s * hop:cut_e * hop], noise)[0, 0]
        # upstream cuts [keep_s:-1] on the last chunk too, so its output is one sample short of n * hop
        out.append(y[keep_s:-1 if last else -OVERLAP * hop].float().cpu().numpy())
        index += OUT_CHUNK
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def repeat_frames(x: np.ndarray) -> np.ndarray:
    """50 -> 100 frames/s as svc_inference does (np.repeat(x, 2, 0))."""
    return np.repeat(np.asarray(x, np.float32), 2, 0)
