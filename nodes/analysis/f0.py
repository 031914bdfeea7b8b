"""Fundamental-frequency (pitch) tracking with several estimators, all on one time grid.

`extract_f0` is the one entry point the pitch node and the voice-conversion
adapters share: whatever the method, frame i sits at `i * hop_seconds` and
there are `floor(duration / hop_seconds) + 1` frames, so tracks from
different methods line up frame for frame.
"""
from __future__ import annotations

import os

import contextlib
import io
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from haysay.graph_engine.values import F0, Audio

METHODS = ("crepe", "fcpe", "harvest", "dio", "praat")
# Methods whose network the user installs (not bundled): kept out of METHODS, which lists what works as is.
CHECKPOINT_METHODS = ("rmvpe",)
CREPE_MODELS = ("tiny", "full")

_MODEL_RATE = 16000  # crepe and fcpe were trained at 16 kHz; WORLD is fastest there too
_CREPE_VOICING = 0.21  # torchcrepe's suggested periodicity threshold for voiced frames
TORCH_LOCK = threading.Lock()  # torchcrepe keeps its loaded model in module globals


def extract_f0(samples: np.ndarray, sample_rate: int, method: str, hop_seconds: float = 0.01,
               fmin: float = 50.0, fmax: float = 1100.0, *, crepe_model: str = "full",
               device: str | None = None, checkpoint: str | Path | None = None) -> F0:
    """Pitch track of a mono signal.

    method: 'crepe' (torchcrepe, model `crepe_model` 'tiny' or 'full'), 'fcpe' (torchfcpe's
    bundled model), 'harvest' or 'dio' (WORLD), 'praat' (autocorrelation via parselmouth),
    'rmvpe' (RVC's rmvpe.pt, whose path `checkpoint` gives).
    Returns an F0 with frame times (s), Hz (0 where unvoiced) and a 0..1 confidence.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"samples: expected a mono (frames,) array, got shape {x.shape}")
    if method not in METHODS + CHECKPOINT_METHODS:
        raise ValueError(f"method: unknown pitch method {method!r}; "
                         f"one of {', '.join(METHODS + CHECKPOINT_METHODS)}")
    if method == "rmvpe" and not checkpoint:
        raise ValueError("checkpoint: method 'rmvpe' needs the path of an rmvpe.pt checkpoint")
    if not 0.001 <= hop_seconds <= 0.1:
        raise ValueError(f"hop_seconds: {hop_seconds} is outside 0.001..0.1 s")
    if not 0 < fmin < fmax:
        raise ValueError(f"fmin/fmax: need 0 < fmin < fmax, got fmin={fmin}, fmax={fmax}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate: must be positive, got {sample_rate}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples: contain NaN or infinite values")

    times = np.arange(int(len(x) / sample_rate / hop_seconds) + 1) * hop_seconds
    if len(x) < sample_rate * 0.05:  # too short for any estimator's window: all unvoiced
        return F0(times, np.zeros_like(times), np.zeros_like(times))

    if method == "praat":
        src_t, src_hz, src_conf = _praat(x, sample_rate, hop_seconds, fmin, fmax)
    else:
        x16 = _resample(x, sample_rate, _MODEL_RATE)
        if method in ("harvest", "dio"):
            src_t, src_hz, src_conf = _world(x16, _MODEL_RATE, method, hop_seconds, fmin, fmax)
        elif method == "crepe":
            if crepe_model not in CREPE_MODELS:
                raise ValueError(f"crepe_model: {crepe_model!r} is not one of {', '.join(CREPE_MODELS)}")
            src_t, src_hz, src_conf = _crepe(x16, hop_seconds, fmin, fmax, crepe_model, torch_device(device))
        elif method == "rmvpe":
            src_t, src_hz, src_conf = _rmvpe(x16, Path(checkpoint), torch_device(device))
        else:
            src_t, src_hz, src_conf = _fcpe(x16, fmin, fmax, torch_device(device))
    hz, conf = _to_grid(src_t, src_hz, src_conf, times)
    hz[(hz < fmin) | (hz > fmax)] = 0.0
    return F0(times, hz, conf)


def torch_device(device: str | None) -> str:
    """`device`, or CUDA when there is one, else the CPU."""
    if device:
        return device
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x
    import soxr
    return soxr.resample(x, rate, target)


def _world(x: np.ndarray, rate: int, method: str, hop: float, fmin: float, fmax: float):
    import pyworld

    period_ms = hop * 1000.0
    if method == "harvest":
        # Harvest calls noiseless pure tones (partly) unvoiced; a seeded dither 40 dB below the signal
        # fixes that without touching real recordings' estimates.
        rms = float(np.sqrt(np.mean(x ** 2)))
        x = x + 0.01 * rms * np.random.default_rng(0).standard_normal(x.size)
        hz, t = pyworld.harvest(x, rate, f0_floor=fmin, f0_ceil=fmax, frame_period=period_ms)
    else:
        raw, t = pyworld.dio(x, rate, f0_floor=fmin, f0_ceil=fmax, frame_period=period_ms)
        hz = pyworld.stonemask(x, raw, t, rate)  # refines dio's coarse estimate
    return t, hz, (hz > 0).astype(np.float64)


def _praat(x: np.ndarray, rate: int, hop: float, fmin: float, fmax: float):
    import parselmouth

    pitch = parselmouth.Sound(x, sampling_frequency=rate).to_pitch_ac(
        time_step=hop, pitch_floor=fmin, pitch_ceiling=fmax)
    hz = pitch.selected_array["frequency"].astype(np.float64)
    strength = np.clip(pitch.selected_array["strength"].astype(np.float64), 0.0, 1.0)
    return np.asarray(pitch.xs()), hz, np.where(hz > 0, strength, 0.0)


def _crepe(x: np.ndarray, hop: float, fmin: float, fmax: float, model: str, device: str):
    import torch
    import torchcrepe

    hop_samples = max(1, int(round(hop * _MODEL_RATE)))
    audio = torch.tensor(x, dtype=torch.float32)[None, :]
    with TORCH_LOCK:
        hz, periodicity = torchcrepe.predict(audio, _MODEL_RATE, hop_samples, max(fmin, 32.0), min(fmax, 1990.0),
                                             model=model, decoder=torchcrepe.decode.viterbi,
                                             return_periodicity=True, batch_size=1024, device=device)
    hz = hz[0].double().cpu().numpy()
    conf = periodicity[0].double().cpu().numpy()
    hz = np.where(conf >= _CREPE_VOICING, hz, 0.0)
    return np.arange(hz.size) * hop_samples / _MODEL_RATE, hz, conf


@lru_cache(maxsize=2)
def fcpe_model(device: str):
    """torchfcpe's bundled model (fcpe_c_v001), loaded once per device, in eval mode."""
    from pathlib import Path

    import torch
    import torchfcpe
    from torchfcpe.models_infer import InferCFNaiveMelPE
    from torchfcpe.tools import DotDict

    ckpt = torch.load(Path(torchfcpe.__file__).parent / "assets" / "fcpe_c_v001.pt", map_location="cpu",
                      weights_only=True)
    config = ckpt["config_dict"]
    config["model"]["conv_dropout"] = config["model"]["atten_dropout"] = 0.0
    with contextlib.redirect_stdout(io.StringIO()):  # torchfcpe prints config warnings on stdout
        model = InferCFNaiveMelPE(DotDict(config), ckpt["model"])
    return model.to(device).eval()


def _fcpe(x: np.ndarray, fmin: float, fmax: float, device: str):
    import torch

    model = fcpe_model(device)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:  # its mel front end expects [-1, 1] (and says so on stdout); pitch ignores gain
        x = x / peak
    wav = torch.tensor(x, dtype=torch.float32)[None, :, None]
    with TORCH_LOCK, torch.no_grad():
        hz = model.infer(wav, _MODEL_RATE, decoder_mode="local_argmax", threshold=0.006, f0_min=fmin)
    hz = hz.squeeze().double().cpu().numpy().reshape(-1)
    hop = model.get_hop_size() / _MODEL_RATE
    return np.arange(hz.size) * hop, hz, (hz > 0).astype(np.float64)


def rmvpe_model(checkpoint: str | Path, device: str):
    """The RMVPE network of `checkpoint` on `device`, from the warm pool (loaded once, fp32)."""
    from haysay.graph_engine.warm_pool import default_pool
    from haysay.nodes.analysis.rmvpe import load_rmvpe

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ValueError(f"checkpoint: RMVPE checkpoint not found: {checkpoint}")
    path = checkpoint.resolve()
    # fp32 in memory: up to twice the file (upstream's is fp16)
    model, _warm, _seconds = default_pool(device).get(("rmvpe", str(path), path.stat().st_mtime_ns, device),
                                                      lambda: load_rmvpe(path, device), 2 * path.stat().st_size)
    return model


def _rmvpe(x: np.ndarray, checkpoint: Path, device: str):
    from haysay.nodes.analysis.rmvpe import HOP_LENGTH, rmvpe_f0

    hz, conf = rmvpe_f0(rmvpe_model(checkpoint, device), x)  # eval-mode passes on a shared model are thread-safe
    return np.arange(hz.size) * HOP_LENGTH / _MODEL_RATE, hz, conf


def _to_grid(src_t: np.ndarray, src_hz: np.ndarray, src_conf: np.ndarray, times: np.ndarray):
    """Resample a track onto `times`: voicing from the nearest source frame, Hz interpolated
    (log-domain) between voiced frames so voiced/unvoiced edges never drag values toward 0."""
    if src_t.size == 0:
        return np.zeros_like(times), np.zeros_like(times)
    if src_t.size == times.size and np.allclose(src_t, times, atol=1e-6):
        return src_hz.astype(np.float64).copy(), src_conf.astype(np.float64).copy()
    idx = np.clip(np.searchsorted(src_t, times), 1, max(src_t.size - 1, 1))
    left = np.clip(idx - 1, 0, src_t.size - 1)
    nearest = np.where(np.abs(times - src_t[left]) <= np.abs(src_t[np.minimum(idx, src_t.size - 1)] - times),
                       left, np.minimum(idx, src_t.size - 1))
    voiced = src_hz[nearest] > 0
    hz = np.zeros_like(times)
    v = src_hz > 0
    if v.any():
        hz[voiced] = np.exp(np.interp(times[voiced], src_t[v], np.log(src_hz[v])))
    return hz, np.interp(times, src_t, src_conf)


def plot_f0(f0: F0, audio: Audio | None = None) -> bytes:
    """A PNG of the pitch track, over the audio's spectrogram when `audio` is given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    voiced_hz = np.where(f0.hz > 0, f0.hz, np.nan)
    top = max(float(np.nanmax(voiced_hz)) * 1.5, 500.0) if np.any(f0.hz > 0) else 1000.0
    if audio is not None and audio.frames > 256:
        # a -120 dB noise floor keeps digital silence from plotting as log(0) holes
        mono = audio.mono().astype(np.float64) + 1e-6 * np.random.default_rng(0).standard_normal(audio.frames)
        nfft = 2048 if audio.frames >= 2048 else 256
        ax.specgram(mono, NFFT=nfft, Fs=audio.sample_rate, noverlap=nfft * 3 // 4, cmap="magma")
    ax.plot(f0.times, voiced_hz, color="#3fd0ff", linewidth=1.5, label=f"f0 (median {f0.voiced_median():.0f} Hz)")
    ax.set_ylim(0, top)
    ax.set_xlim(0, max(float(f0.times[-1]) if f0.times.size else 0.0, audio.duration if audio is not None else 0.0)
                or 1.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Hz")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


ENV_RMVPE = "HAYSAY_RMVPE"


def rmvpe_checkpoint(field: str = "f0_method") -> Path:
    """The rmvpe.pt to use: $HAYSAY_RMVPE, else the installed model of architecture rmvpe
    (the one named "rmvpe" among several)."""
    env = os.environ.get(ENV_RMVPE, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ValueError(f"{field}: {ENV_RMVPE} names {path}, which is not a file")
        return path
    from haysay.graph_engine.models import ModelStore

    try:
        models = [m for m in ModelStore.from_env().list() if m.architecture == "rmvpe"]
    except Exception:  # an unreadable models folder is reported as "not installed" below
        models = []
    if not models:
        raise ValueError(f"{field}: 'rmvpe' needs RVC's rmvpe.pt, which is not installed; install it with "
                         "`haysay models install /path/to/rmvpe.pt --name rmvpe`, or set HAYSAY_RMVPE to its path "
                         "(or pick pm, harvest, crepe or fcpe)")
    named = [m for m in models if m.name.casefold() == "rmvpe"]
    return (named or models)[0].file("weights")
