"""Pitch for the neural voice-conversion adapters, computed as the upstream projects compute it.

`rvc_f0` is RVC WebUI 20240604's `Pipeline.get_f0`; `sovits_f0` is so-vits-svc 4.1's
`get_f0_predictor(method, hop, sr, threshold=...).compute_f0_uv`; `rvc_coarse` and `sovits_coarse` are their
Hz -> pitch-id mappings. Each upstream method is reproduced step for step (same tracker settings, frame
placement, filters and gap filling), because a model was trained on its own front end's pitch and a
one-frame voicing flip changes whole frames of output. `track_f0` is haysay's generic tracker
(nodes.analysis.f0) on a model's grid, behind the extra, non-upstream methods.
"""
from __future__ import annotations

import numpy as np
import torch

from haysay.nodes.analysis.f0 import TORCH_LOCK, fcpe_model, rmvpe_checkpoint, rmvpe_model, torch_device

# Upstream RVC's methods first; "dio", "crepe-tiny" and "fcpe" are haysay's additions (see rvc_f0).
RVC_F0_METHODS = ("pm", "harvest", "crepe", "rmvpe", "dio", "crepe-tiny", "fcpe")
SOVITS_F0_METHODS = ("pm", "dio", "harvest", "crepe", "rmvpe", "fcpe")
F0_METHODS = ("pm", "harvest", "dio", "crepe", "crepe-tiny", "fcpe", "rmvpe")
F0_MIN, F0_MAX = 50.0, 1100.0
_MEL_MIN = 1127 * np.log(1 + F0_MIN / 700)
_MEL_MAX = 1127 * np.log(1 + F0_MAX / 700)
_RVC_RATE, _RVC_HOP = 16000, 160
_RVC_CREPE_BATCH = 512
_RVC_RMVPE_THRESHOLD = 0.03
_SOVITS_F0_BINS = 256
_CREPE_CENTS_OFFSET = 1997.3794084376191  # torchcrepe's bin 0 in cents above 10 Hz


def rvc_f0(x_padded: np.ndarray, p_len: int, method: str, pitch_shift: float = 0.0, filter_radius: int = 3,
           device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Upstream RVC `Pipeline.get_f0` on the 16 kHz high-passed, reflect-padded signal: (coarse int64 ids
    1..255, Hz float64 after the shift by 2^(pitch_shift/12)).

    p_len frames for pm, rmvpe, dio and fcpe; upstream's own length (len // 160 + 1) for harvest and crepe
    (the caller keeps the first p_len, as upstream's pipeline does).

    Upstream: pm = Praat autocorrelation (10 ms, voicing threshold 0.6, 50-1100 Hz), frames centred in
    p_len by zero padding; harvest = WORLD harvest + stonemask, 3-point median filter when filter_radius > 2;
    crepe = torchcrepe full (viterbi, batch 512; bin centres without torchcrepe's random dither, see
    _viterbi_undithered), periodicity median-3 and f0 mean-3 filtered, 0 where periodicity < 0.1;
    rmvpe = RVC's rmvpe.pt, thred 0.03, one unchunked pass.
    haysay's additions, not in upstream RVC 20240604: "crepe-tiny" is upstream's crepe recipe with
    torchcrepe's tiny model; "dio" is WORLD dio + stonemask (10 ms, no median filter) and "fcpe" torchfcpe's
    bundled model (local argmax, threshold 0.006), both haysay's generic tracker on the 10 ms grid.
    """
    x = np.asarray(x_padded, np.float64)
    if method not in RVC_F0_METHODS:
        raise ValueError(f"f0_method: unknown method {method!r}; one of {', '.join(RVC_F0_METHODS)}")
    time_step = _RVC_HOP / _RVC_RATE * 1000 / 1000  # upstream's arithmetic, for Praat's exact frame times
    if method == "pm":
        f0 = _praat(x, _RVC_RATE, time_step)
        f0 = _centre(f0, p_len)
    elif method == "harvest":
        f0 = _world(x, _RVC_RATE, "harvest", 10)
        if filter_radius > 2:
            from scipy import signal
            f0 = signal.medfilt(f0, 3)
    elif method in ("crepe", "crepe-tiny"):
        f0 = _rvc_crepe(x, "tiny" if method == "crepe-tiny" else "full", torch_device(device))
    elif method == "rmvpe":
        from haysay.nodes.analysis.rmvpe import decode_salience, salience

        model = rmvpe_model(rmvpe_checkpoint(), torch_device(device))
        f0 = decode_salience(salience(model, x, chunk_frames=None), _RVC_RMVPE_THRESHOLD)[0][:p_len]
    else:
        f0 = track_f0(x, _RVC_RATE, method, _RVC_HOP / _RVC_RATE, p_len, device=device)
    f0 = f0 * pow(2, pitch_shift / 12)  # in the tracker's dtype: crepe's float32 sets its coarse ids
    return rvc_coarse(f0), f0.astype(np.float64)


def rvc_coarse(f0_hz: np.ndarray) -> np.ndarray:
    """Upstream RVC's pitch ids (int64): mel-scaled f0 over 50..1100 Hz quantised to 1..255, 1 = unvoiced.

    Computed in the input's precision when it is float32 (upstream's crepe track is), else float64."""
    f0 = np.asarray(f0_hz)
    f0 = f0.astype(np.float32 if f0.dtype == np.float32 else np.float64)  # a copy: filled in below
    mel = 1127 * np.log(1 + f0 / 700)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - _MEL_MIN) * 254 / (_MEL_MAX - _MEL_MIN) + 1
    mel[mel <= 1] = 1
    mel[mel > 255] = 255
    return np.rint(mel).astype(np.int64)


def sovits_f0(wav: np.ndarray, sample_rate: int, hop: int, method: str, device: str | None = None,
              threshold: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Upstream so-vits `get_f0_predictor(method, hop, sample_rate, threshold=threshold).compute_f0_uv(wav)`:
    (f0 Hz float64 with unvoiced gaps filled as upstream fills them, uv 0/1 float64), len(wav) // hop frames.

    pm = Praat (hop / sr steps, voicing 0.6) centred by zero padding; dio / harvest = WORLD at the model
    rate plus stonemask (dio rounded to 0.1 Hz), resized to the frame count with unvoiced frames as gaps;
    crepe = torchcrepe full at the model rate (viterbi without its dither, batch 1024), periodicity
    median-3, -60 dB silence gate, `threshold` on periodicity, f0 mean-3; rmvpe = rmvpe.pt on torchaudio's
    16 kHz resampling (lowpass width 128), `threshold` on the peak salience; fcpe = torchfcpe's bundled
    model (local argmax, `threshold`) where upstream loads its own pretrain/fcpe.pt, so fcpe's values
    differ from upstream's.
    Gaps are filled by linear interpolation between voiced frames, ends held.
    """
    x = np.asarray(wav, np.float32)
    if method not in SOVITS_F0_METHODS:
        raise ValueError(f"f0_predictor: unknown method {method!r}; one of {', '.join(SOVITS_F0_METHODS)}")
    p_len = x.shape[0] // hop
    if method == "pm":
        f0 = _centre(_praat(x, sample_rate, hop / sample_rate * 1000 / 1000), p_len)
        return _fill_by_frame(f0, hop, sample_rate)
    if method in ("dio", "harvest"):
        f0 = _world(x.astype(np.double), sample_rate, method, 1000 * hop / sample_rate)
        if method == "dio":
            f0 = np.round(f0, 1)  # upstream rounds each np.float64, which is numpy's rounding
        return _fill_by_frame(_resize(f0, p_len), hop, sample_rate)
    dev = torch_device(device)
    if method == "crepe":
        f0 = _sovits_crepe(x, sample_rate, hop, threshold, dev)
    elif method == "rmvpe":
        f0 = _sovits_rmvpe(x, sample_rate, threshold, dev)
    else:
        f0 = _sovits_fcpe(x, sample_rate, threshold, dev)
    if not torch.any(f0 != 0):
        return np.zeros(p_len), np.zeros(p_len)
    return _fill_expanded(f0, hop, sample_rate, p_len)


def sovits_coarse(f0: torch.Tensor) -> torch.Tensor:
    """Upstream so-vits `utils.f0_to_coarse` (int64 ids): 1..255 over 50..1100 Hz, 1 = unvoiced, and 0 above
    about 1103 Hz (upstream maps ids past 255 to 0, not 255; kept, as its models were trained on that)."""
    mel = 1127 * (1 + f0 / 700).log()
    a = (_SOVITS_F0_BINS - 2) / (_MEL_MAX - _MEL_MIN)
    b = _MEL_MIN * a - 1.0
    mel = torch.where(mel > 0, mel * a - b, mel)
    ids = torch.round(mel).long()
    ids = torch.where(ids < 1, torch.ones_like(ids), ids)
    return torch.where(ids >= _SOVITS_F0_BINS, torch.zeros_like(ids), ids)


# -- trackers, as upstream calls them ------------------------------------------------------------------------

def _praat(x: np.ndarray, rate: int, time_step: float) -> np.ndarray:
    import parselmouth

    return parselmouth.Sound(x, rate).to_pitch_ac(time_step=time_step, voicing_threshold=0.6, pitch_floor=F0_MIN,
                                                  pitch_ceiling=F0_MAX).selected_array["frequency"]


def _centre(f0: np.ndarray, p_len: int) -> np.ndarray:
    """Praat's frames start half a window in: zero-pad them to p_len, the odd frame at the front."""
    front = (p_len - len(f0) + 1) // 2
    back = p_len - len(f0) - front
    if front > 0 or back > 0:
        return np.pad(f0, [[max(front, 0), max(back, 0)]], mode="constant")
    return f0


def _world(x: np.ndarray, rate: int, method: str, period_ms: float) -> np.ndarray:
    import pyworld

    track = pyworld.harvest if method == "harvest" else pyworld.dio
    raw, t = track(x, fs=rate, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=period_ms)
    return pyworld.stonemask(x, raw, t, rate)


def _viterbi_undithered(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torchcrepe's viterbi decoder without the random +-20 cent dither it adds to each bin's pitch.

    Upstream's crepe tracks carry that dither from numpy's global generator, so no two upstream runs agree
    (about 13 cents apart at the 95th percentile); the bin centres are its expected value, reproducible and
    nearer any upstream run (9 cents p95 on the reference track, never more than the dither's 20)."""
    import torchcrepe

    bins, _dithered = torchcrepe.decode.viterbi(logits)
    return bins, torchcrepe.convert.cents_to_frequency(torchcrepe.CENTS_PER_BIN * bins + _CREPE_CENTS_OFFSET)


def _rvc_crepe(x: np.ndarray, model: str, device: str) -> np.ndarray:
    import torchcrepe

    audio = torch.tensor(np.copy(x))[None].float()
    with TORCH_LOCK:
        f0, pd = torchcrepe.predict(audio, _RVC_RATE, _RVC_HOP, F0_MIN, F0_MAX, model, batch_size=_RVC_CREPE_BATCH,
                                    device=device, return_periodicity=True, decoder=_viterbi_undithered)
    pd = torchcrepe.filter.median(pd, 3)
    f0 = torchcrepe.filter.mean(f0, 3)
    f0[pd < 0.1] = 0
    return f0[0].cpu().numpy()


def _sovits_crepe(x: np.ndarray, rate: int, hop: int, threshold: float, device: str) -> torch.Tensor:
    import torchcrepe

    audio = torch.from_numpy(x)[None].to(device)
    with TORCH_LOCK:
        f0, pd = torchcrepe.predict(audio, rate, hop, F0_MIN, F0_MAX, pad=True, model="full", batch_size=1024,
                                    device=device, return_periodicity=True, decoder=_viterbi_undithered)
    # so-vits's NaN-aware 3-frame median/mean pools compute what torchcrepe.filter's do
    pd = torchcrepe.filter.median(pd, 3)
    pd = torchcrepe.threshold.Silence(-60.0)(pd, audio, rate, hop)
    f0 = torchcrepe.threshold.At(threshold)(f0, pd)
    f0 = torchcrepe.filter.mean(f0, 3)
    return torch.nan_to_num(f0, nan=0.0)[0]


def _sovits_rmvpe(x: np.ndarray, rate: int, threshold: float, device: str) -> torch.Tensor:
    import torchaudio

    from haysay.nodes.analysis.rmvpe import SAMPLE_RATE, decode_salience, salience

    audio = torch.from_numpy(x)[None]
    if rate != SAMPLE_RATE:
        audio = torchaudio.functional.resample(audio, rate, SAMPLE_RATE, lowpass_filter_width=128)
    model = rmvpe_model(rmvpe_checkpoint("f0_predictor"), device)
    hz = decode_salience(salience(model, audio[0].numpy(), chunk_frames=None), threshold)[0]
    return torch.from_numpy(hz).float()


def _sovits_fcpe(x: np.ndarray, rate: int, threshold: float, device: str) -> torch.Tensor:
    model = fcpe_model(device)
    wav = torch.from_numpy(x).to(device)[None, :, None]
    with TORCH_LOCK, torch.no_grad():
        hz = model.infer(wav, rate, decoder_mode="local_argmax", threshold=threshold)
    return hz.reshape(-1).float().cpu()


# -- upstream so-vits's resizing and gap filling ----------------------------------------------------------------

def _resize(f0: np.ndarray, n: int) -> np.ndarray:
    """WORLD's track onto n frames by linear interpolation, unvoiced frames as NaN gaps (so a frame next to
    one comes out unvoiced too), as so-vits's resize_f0."""
    src = np.array(f0, dtype=np.float64)
    src[src < 0.001] = np.nan
    pos = np.arange(0, len(src) * n, len(src)) / n
    return np.nan_to_num(np.interp(pos, np.arange(0, len(src)), src))


def _fill_by_frame(f0: np.ndarray, hop: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """so-vits pm/dio/harvest interpolate_f0: gaps filled linearly in time, ends held."""
    uv = (f0 > 0.0).astype(np.float64)
    voiced = np.nonzero(f0)[0]
    if voiced.size == 0:
        return np.zeros(f0.shape[0]), uv
    if voiced.size == 1:
        return np.full(f0.shape[0], float(f0[0])), uv  # upstream fills with frame 0's value, voiced or not
    # upstream's times: float32 for the voiced frames, float64 for the grid
    t_voiced = hop / rate * voiced.astype(np.float32)
    t_grid = np.arange(f0.shape[0]) * hop / rate
    data = f0[voiced]
    return np.interp(t_grid, t_voiced, data, left=data[0], right=data[-1]), uv


def _fill_expanded(f0: torch.Tensor, hop: int, rate: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """so-vits crepe/rmvpe/fcpe post_process: the track stretched to n frames (nearest), then gaps filled."""
    f0 = torch.nn.functional.interpolate(f0.float().cpu()[None, None], size=n, mode="nearest")[0, 0]
    uv = (f0 > 0.0).double().numpy()
    voiced = torch.nonzero(f0).reshape(-1).numpy()
    data = f0.numpy()[voiced]
    if data.shape[0] == 1:
        return np.full(n, float(data[0])), uv
    t_voiced = hop / rate * voiced
    t_grid = np.arange(n) * hop / rate
    return np.interp(t_grid, t_voiced, data, left=data[0], right=data[-1]), uv


# -- haysay's generic tracker on a model grid --------------------------------------------------------------------

def track_f0(samples: np.ndarray, sample_rate: int, method: str, hop_seconds: float, n_frames: int,
             device: str | None = None) -> np.ndarray:
    """Hz per frame (0 = unvoiced) from haysay's generic tracker (nodes.analysis.f0.extract_f0, not upstream's
    settings), frame i at i * hop_seconds, exactly n_frames long."""
    from haysay.nodes.analysis.f0 import extract_f0

    if method not in F0_METHODS:
        raise ValueError(f"f0_method: unknown method {method!r}; one of {', '.join(F0_METHODS)}")
    name = {"pm": "praat", "crepe-tiny": "crepe"}.get(method, method)
    extra = {"crepe_model": "tiny" if method == "crepe-tiny" else "full",
             "checkpoint": rmvpe_checkpoint() if method == "rmvpe" else None}
    track = extract_f0(np.asarray(samples, np.float64), sample_rate, name, hop_seconds=hop_seconds,
                       fmin=F0_MIN, fmax=F0_MAX, device=device, **extra)
    hz = np.asarray(track.hz, dtype=np.float64)[:n_frames]
    if hz.size < n_frames:
        hz = np.pad(hz, (0, n_frames - hz.size))
    return hz


def coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """RVC pitch ids of an f0 track (float64): rvc_coarse."""
    return rvc_coarse(np.asarray(f0, np.float64))


def interpolate_unvoiced(f0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f0 with unvoiced gaps filled linearly between voiced neighbours, and the 0/1 voicing (by frame index;
    sovits_f0 fills as upstream does)."""
    f0 = np.asarray(f0, np.float64)
    uv = (f0 > 0).astype(np.float64)
    if not uv.any():
        return np.zeros_like(f0), uv
    idx = np.arange(f0.size)
    filled = np.interp(idx, idx[f0 > 0], f0[f0 > 0])
    return filled, uv
