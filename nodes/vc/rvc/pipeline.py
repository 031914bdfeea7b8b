"""RVC inference: 16 kHz speech -> content features (+ pitch) -> synthesizer -> model-rate audio.

Follows the WebUI's `vc_single` (tag 20240604) step for step: peak limited to 0.95,
48 Hz high-pass, reflect padding around every segment, long input split at quiet
points, HuBERT layer 9 + final_proj (v1) or layer 12 (v2), optional faiss retrieval,
features doubled to 100 fps, `protect` keeping unvoiced frames closer to the source,
RMS envelope mixing, optional resampling, peak limited to 0.99.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from scipy import signal
from torch.nn import functional as F

from haysay.nodes.vc import pitch as vc_pitch
from haysay.nodes.vc.content.hubert import ContentEncoder
from haysay.nodes.vc.retrieval import FeatureIndex, retrieve
from haysay.nodes.vc.rvc.models import RVCSynthesizer

SR = 16000
WINDOW = 160  # samples per 10 ms frame at 16 kHz
PRECISIONS = ("auto", "fp32", "fp16")
_HP_B, _HP_A = signal.butter(N=5, Wn=48, btype="high", fs=SR)


@dataclass(frozen=True)
class DeviceSettings:
    """Precision and long-input segmenting (seconds: context pad, cut search half-width, cut step, longest
    uncut input), which the WebUI chooses per device; more context costs memory that fp16 frees."""
    half: bool
    x_pad: float
    x_query: float
    x_center: float
    x_max: float


FP32_SETTINGS = DeviceSettings(False, 1, 6, 38, 41)
FP16_SETTINGS = DeviceSettings(True, 3, 10, 60, 65)


def gpu_prefers_fp32(gpu_name: str) -> bool:
    """The GPUs the WebUI runs in fp32 (GTX 16xx, Pascal): slow or broken half precision."""
    upper = gpu_name.upper()
    return (("16" in gpu_name and "V100" not in upper) or "P40" in upper or "P10" in upper
            or any(n in gpu_name for n in ("1060", "1070", "1080")))


def select_settings(device_type: str, precision: str = "auto", gpu_name: str = "",
                    gpu_mem_gb: int | None = None) -> DeviceSettings:
    """The WebUI's device_config as a pure function: fp16 with wider segments on CUDA unless the GPU is
    one it runs in fp32, the fp32 values elsewhere, short segments on GPUs of 4 GB or less."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
    cuda = device_type == "cuda"
    if precision == "fp16" and not cuda:
        raise ValueError(f"precision: fp16 runs on a CUDA device only, and this one is {device_type}")
    half = precision == "fp16" or (precision == "auto" and cuda and not gpu_prefers_fp32(gpu_name))
    chosen = FP16_SETTINGS if half else FP32_SETTINGS
    if cuda and gpu_mem_gb is not None and gpu_mem_gb <= 4:
        chosen = DeviceSettings(half, 1, 5, 30, 32)
    return chosen


def device_settings(device: str | torch.device = "cpu", precision: str = "auto") -> DeviceSettings:
    """select_settings for a torch device, reading the GPU's name and memory as the WebUI does."""
    device = torch.device(device)
    if device.type != "cuda":
        return select_settings(device.type, precision)
    index = device.index if device.index is not None else torch.cuda.current_device()
    mem = int(torch.cuda.get_device_properties(index).total_memory / 1024 ** 3 + 0.4)
    return select_settings("cuda", precision, torch.cuda.get_device_name(index), mem)


@dataclass
class RVCOptions:
    speaker_id: int = 0
    pitch_shift: float = 0.0  # semitones
    f0_method: str = "pm"
    index_rate: float = 0.75
    filter_radius: int = 3
    rms_mix_rate: float = 0.25
    protect: float = 0.33
    seed: int = 0
    resample_sr: int = 0  # output rate; 0 (or below 16000) keeps the model's
    # Replaces the pitch tracker: (padded 16 kHz input, frames) -> Hz per 10 ms frame, before the shift.
    f0_tracker: Callable[[np.ndarray, int], np.ndarray] | None = None


@dataclass
class RVCResult:
    audio: np.ndarray  # mono float32 at `sample_rate`
    sample_rate: int
    f0: np.ndarray | None = None  # Hz per 10 ms frame the NSF decoder was driven with (after the shift)
    info: dict = field(default_factory=dict)


def _frame_rms(x: np.ndarray, sr: int) -> torch.Tensor:
    """librosa.feature.rms with half-second hops, as the WebUI calls it: centred zero-padded frames of
    sr // 2 * 2 samples, squared and averaged in float32 over the same strided view."""
    frame, hop = sr // 2 * 2, sr // 2
    padded = np.pad(x, frame // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop].T  # (frame, n), librosa's layout
    return torch.from_numpy(np.sqrt(np.mean(np.square(frames, dtype=np.float32), axis=-2, keepdims=True)))


def change_rms(source: np.ndarray, source_rate: int, target: np.ndarray, target_rate: int, rate: float) -> np.ndarray:
    """Give `target` the source's loudness envelope to the degree 1 - rate (rate 1 keeps the target's own).

    Envelopes are RMS per half second, stretched to the target's length by linear interpolation with
    half-pixel (not aligned) corners, as upstream's torch call does."""
    n = int(target.shape[0])
    rms1 = F.interpolate(_frame_rms(source, source_rate)[None], size=n, mode="linear").squeeze()
    rms2 = F.interpolate(_frame_rms(target, target_rate)[None], size=n, mode="linear").squeeze()
    rms2 = torch.clamp(rms2, min=1e-6)
    gain = torch.pow(rms1, torch.tensor(1 - rate)) * torch.pow(rms2, torch.tensor(rate - 1))
    return (np.asarray(target, np.float32) * gain.numpy().reshape(n)).astype(np.float32)


def _split_points(audio: np.ndarray, s: DeviceSettings) -> list[int]:
    """Cut positions (samples) at the quietest 10 ms near every x_center seconds, for input over x_max s."""
    padded = np.pad(audio, (WINDOW // 2, WINDOW // 2), mode="reflect")
    if padded.size <= SR * s.x_max:
        return []
    energy = np.convolve(np.abs(padded), np.ones(WINDOW), mode="valid")[:audio.size]
    q, step = int(SR * s.x_query), int(SR * s.x_center)  # int: streaming settings may use fractions of a second
    return [t - q + int(np.argmin(energy[t - q:t + q])) for t in range(step, audio.size, step)]


def _segment(model: RVCSynthesizer, version: str, encoder: ContentEncoder, audio: np.ndarray,
             pitch: np.ndarray | None, pitchf: np.ndarray | None, opts: RVCOptions, index: FeatureIndex | None,
             device: str, dtype: torch.dtype, gen: torch.Generator) -> np.ndarray:
    wav = torch.from_numpy(np.asarray(audio, np.float64)).to(dtype)[None].to(device)
    v1 = version == "v1"
    feats = encoder.features(wav, 9 if v1 else 12, final_proj=v1)  # (1, frames, dims) at 50 fps
    if feats.shape[-1] != model.phone_dim:
        raise ValueError(f"content_encoder: gives {feats.shape[-1]}-dim features for an RVC {version} model, "
                         f"which needs {model.phone_dim}")
    protecting = opts.protect < 0.5 and pitch is not None
    feats0 = feats.clone() if protecting else None
    if index is not None and opts.index_rate > 0:
        # blended in the features' own dtype, as upstream blends (fp16 on GPU)
        found = retrieve(feats[0].float().cpu().numpy(), index, 1.0)
        found_t = torch.from_numpy(found).to(feats.dtype)[None].to(device)
        feats = found_t * opts.index_rate + (1 - opts.index_rate) * feats
    feats = F.interpolate(feats.permute(0, 2, 1), scale_factor=2).permute(0, 2, 1)  # 100 fps, one per pitch frame
    if feats0 is not None:
        feats0 = F.interpolate(feats0.permute(0, 2, 1), scale_factor=2).permute(0, 2, 1)
    p_len = min(audio.size // WINDOW, feats.shape[1])
    feats = feats[:, :p_len]
    pitch_t = pitchf_t = None
    if pitch is not None:
        pitch_t = torch.from_numpy(pitch[:p_len])[None].to(device)
        pitchf_t = torch.from_numpy(pitchf[:p_len])[None].to(device)
    if feats0 is not None:
        # Unvoiced frames (consonants, breaths) keep `protect` of the retrieved/converted features' weight.
        keep = torch.where(pitchf_t < 1, opts.protect, 1.0).to(pitchf_t.dtype).unsqueeze(-1)
        feats = (feats * keep + feats0[:, :p_len] * (1 - keep)).to(feats0.dtype)
    out = model.infer(feats, pitch_t, pitchf_t, sid=opts.speaker_id, generator=gen)
    return out[0, 0].float().cpu().numpy()


def _resample(x: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """librosa.resample's default (soxr HQ, length fixed to ceil(n * ratio)), which upstream calls."""
    import soxr

    y = soxr.resample(x, rate, new_rate, quality="HQ")
    n = int(np.ceil(x.size * float(new_rate) / rate))
    return np.pad(y, (0, max(0, n - y.size)))[:n].astype(np.float32)


@dataclass
class Prepared:
    """The whole-input steps before any segment converts: peak limit, high-pass, quiet-point cuts,
    reflect padding and the pitch track over the padded input (upstream tracks the whole file at once)."""
    audio: np.ndarray       # limited, high-passed 16 kHz input (float64)
    audio_pad: np.ndarray   # the same, reflect-padded by t_pad each side
    cuts: list[int]
    pitch: np.ndarray | None
    pitchf: np.ndarray | None
    settings: DeviceSettings
    dtype: torch.dtype
    t_pad: int
    t_pad_tgt: int


def prepare(audio16k: np.ndarray, model: RVCSynthesizer, opts: RVCOptions, device: str = "cpu",
            settings: DeviceSettings | None = None) -> Prepared:
    """Check the request and run the whole-input steps `convert_rvc` and `stream_rvc` share.

    `settings` default: the WebUI's for `device` at the model's precision (fp16 if it was built half)."""
    if not 0 <= opts.speaker_id < model.cfg.spk_embed_dim:
        raise ValueError(f"speaker_id: {opts.speaker_id} is outside 0..{model.cfg.spk_embed_dim - 1} of this model")
    model_half = next(model.parameters()).dtype == torch.float16
    settings = settings or device_settings(device, "fp16" if model_half else "fp32")
    if settings.half != model_half:
        raise ValueError(f"precision: the model is {'fp16' if model_half else 'fp32'} but the settings ask for "
                         f"{'fp16' if settings.half else 'fp32'}")
    t_pad, t_pad_tgt = int(SR * settings.x_pad), int(model.cfg.sr * settings.x_pad)
    audio = np.asarray(audio16k)
    if audio.size:
        peak = np.abs(audio).max() / 0.95
        if peak > 1:
            audio = audio / peak
    audio = signal.filtfilt(_HP_B, _HP_A, audio) if audio.size > 18 else audio.astype(np.float64)
    cuts = _split_points(audio, settings)
    audio_pad = np.pad(audio, (t_pad, t_pad), mode="reflect")
    p_len = audio_pad.size // WINDOW
    pitch = pitchf = None
    if model.use_f0:
        if opts.f0_tracker is None:
            pitch, pitchf = vc_pitch.rvc_f0(audio_pad, p_len, opts.f0_method, opts.pitch_shift,
                                            opts.filter_radius, device)
        else:
            pitchf = np.asarray(opts.f0_tracker(audio_pad, p_len), np.float64) * 2.0 ** (opts.pitch_shift / 12.0)
            pitch = vc_pitch.coarse_pitch(pitchf)
        pitch = np.asarray(pitch[:p_len], np.int64)
        pitchf = np.asarray(pitchf[:p_len], np.float32)
    dtype = torch.float16 if settings.half else torch.float32
    return Prepared(audio, audio_pad, cuts, pitch, pitchf, settings, dtype, t_pad, t_pad_tgt)


def segment_spans(prep: Prepared) -> list[tuple[slice, slice]]:
    """Per segment: (its samples of the padded input, its 10 ms frames), as upstream's loop cuts them."""
    p_len, spans, start = prep.audio_pad.size // WINDOW, [], 0
    for t in prep.cuts + [None]:
        if t is None:
            spans.append((slice(start, None), slice(start // WINDOW, p_len)))
        else:
            t = t // WINDOW * WINDOW
            spans.append((slice(start, t + 2 * prep.t_pad + WINDOW),
                          slice(start // WINDOW, (t + 2 * prep.t_pad) // WINDOW)))
            start = t
    return spans


def convert_segments(prep: Prepared, model: RVCSynthesizer, version: str, encoder: ContentEncoder,
                     opts: RVCOptions, index: FeatureIndex | None = None, device: str = "cpu"):
    """Yield each segment's converted audio at the model's rate, context padding cut off, in order; the
    generator (seeded once) runs the segments in sequence, so their noise is the whole-file run's."""
    gen = torch.Generator(device=device).manual_seed(opts.seed)
    for seg_sl, sl in segment_spans(prep):
        seg = prep.audio_pad[seg_sl]
        out = _segment(model, version, encoder, seg, None if prep.pitch is None else prep.pitch[sl],
                       None if prep.pitchf is None else prep.pitchf[sl], opts, index, device, prep.dtype, gen)
        n = prep.t_pad_tgt
        yield out[n:-n] if out.size > 2 * n else out[:0]


def convert_rvc(audio16k: np.ndarray, model: RVCSynthesizer, version: str, encoder: ContentEncoder,
                opts: RVCOptions, index: FeatureIndex | None = None, device: str = "cpu",
                settings: DeviceSettings | None = None) -> RVCResult:
    """Convert mono 16 kHz speech with an RVC model; returns audio at the model's rate (or opts.resample_sr).

    `settings` default: the WebUI's for `device` at the model's precision (fp16 if it was built half)."""
    prep = prepare(audio16k, model, opts, device, settings)
    settings, audio, tgt_sr = prep.settings, prep.audio, model.cfg.sr
    segments = [[int(prep.audio_pad[a].size), len(range(prep.audio_pad.size // WINDOW)[b])]
                for a, b in segment_spans(prep)]
    result = np.concatenate(list(convert_segments(prep, model, version, encoder, opts, index, device)))
    result = result.astype(np.float32)
    if opts.rms_mix_rate != 1 and result.size:
        result = change_rms(audio, SR, result, tgt_sr, opts.rms_mix_rate)
    out_sr = tgt_sr
    if tgt_sr != opts.resample_sr >= 16000:
        result, out_sr = _resample(result, tgt_sr, opts.resample_sr), opts.resample_sr
    peak = float(np.max(np.abs(result))) if result.size else 0.0
    if peak / 0.99 > 1:
        result = result / (peak / 0.99)
    t_pad, pitchf = prep.t_pad, prep.pitchf
    driven = None if pitchf is None else pitchf[t_pad // WINDOW: (prep.audio_pad.size - t_pad) // WINDOW]
    info = {"segments": segments, "half": settings.half, "x_pad": settings.x_pad, "x_max": settings.x_max}
    return RVCResult(result.astype(np.float32), out_sr, driven, info)
