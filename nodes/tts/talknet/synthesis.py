"""ControllableTalkNet's generate_audio as functions: a character folder's three TalkNet networks speak
phoneme ids (generate_spectrogram, or force_spectrogram with a reference's pitch), and the output is
re-pitched with Praat PSOLA (ExtractPitch.auto_tune, through the psola package upstream).

A character folder is upstream's download layout: TalkNetSpect.nemo, TalkNetDurs.nemo, TalkNetPitch.nemo
and the HiFi-GAN `hifiganmodel`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from haysay.graph_engine.models.checkpoint_limits import CheckpointError

SPECT, DURS, PITCH, VOCODER = "TalkNetSpect.nemo", "TalkNetDurs.nemo", "TalkNetPitch.nemo", "hifiganmodel"
SINGER = "TalkNetSinger.nemo"
RATE, HOP = 22050, 256
OCTAVES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
PSOLA_FMIN, PSOLA_FMAX = 40.0, 550.0  # psola.FMIN / FMAX
CONF_THRESHOLD, AUDIO_THRESHOLD = 0.25, 0.0005  # ExtractPitch._crepe_f0


@dataclass
class Voice:
    spect: torch.nn.Module
    durs: torch.nn.Module
    pitch: torch.nn.Module
    vocab: object
    blanking: bool


def load_voice(spect_path: Path, device: str = "cpu") -> Voice:
    """The spectrogram model and, beside it, the duration and pitch models (as generate_audio finds them:
    a TalkNetSinger.nemo beside the spectrogram model is used in its place)."""
    from haysay.nodes.tts.talknet.archive import read_nemo
    from haysay.nodes.tts.talknet.models import build_talknet

    nets = {}
    singer = spect_path.with_name(SINGER)
    main = ("singer", singer) if singer.is_file() else ("spect", spect_path)
    for kind, path in (main, ("durs", spect_path.with_name(DURS)),
                       ("pitch", spect_path.with_name(PITCH))):
        if not path.is_file():
            raise CheckpointError(path, f"missing: TalkNet needs {path.name} beside {spect_path.name} "
                                        "(upstream's 'Model doesn't support pitch prediction')")
        archive = read_nemo(path)
        nets["spect" if kind == "singer" else kind] = build_talknet(kind, archive.config, archive.state, str(path))
    vocab, blanking = nets["spect"][1], nets["spect"][2]
    if any(len(n[1].labels) != len(vocab.labels) for n in nets.values()):
        raise CheckpointError(spect_path, "the three TalkNet models use different vocabularies")
    return Voice(*(nets[k][0].to(device) for k in ("spect", "durs", "pitch")), vocab, blanking)


def stretch_durations(durs: torch.Tensor, frames: int) -> torch.Tensor:
    """Whole-frame durations scaled to sum to `frames` (cumulative rounding keeps every boundary within a frame)."""
    d = durs.double().clamp(min=0)
    total = float(d.sum())
    if total <= 0:
        d = torch.ones_like(d)
        total = float(d.numel())
    edges = torch.round(torch.cumsum(d, 0) * frames / total).long()
    return torch.diff(edges, prepend=torch.zeros(1, dtype=torch.long))


@torch.no_grad()
def spectrogram(voice: Voice, ids: list[int], f0_reference: np.ndarray | None = None,
                durations: np.ndarray | None = None, f0_factor: float = 1.0
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mel (1, n_mels, frames), durations, f0 (1, frames)) for phoneme ids.

    Without a reference: generate_spectrogram (predicted durations and pitch). With a per-frame reference
    f0 (hop 256 at 22.05 kHz): force_spectrogram on it, with the aligner's `durations` of the reference as
    upstream takes them, or else the predicted ones stretched to the reference's length. The f0 is cut or
    zero-padded to the durations' total (an aligner that pads its frames gives a few more). `f0_factor`
    scales the predicted f0 (only a singer model hears it: the speech model normalises f0 away).
    """
    from haysay.nodes.tts.talknet.models import interleave_blanks

    device = next(voice.spect.parameters()).device
    tokens = torch.tensor(ids, dtype=torch.long)
    if voice.blanking:
        tokens = interleave_blanks(tokens, voice.vocab.blank)
    tokens = tokens[None].to(device)
    durs = voice.durs.frames(tokens)
    if f0_reference is None:
        if int(durs.sum()) == 0:
            raise ValueError("text: the duration model gives every phoneme zero frames")
        f0 = voice.pitch.f0(tokens, durs) * f0_factor
    else:
        if durations is None:
            durs = stretch_durations(durs[0].cpu(), len(f0_reference))[None].to(device)
        elif len(durations) != tokens.shape[-1]:
            raise ValueError(f"durations: {len(durations)} values for {tokens.shape[-1]} tokens")
        else:
            durs = torch.as_tensor(np.asarray(durations), dtype=torch.long, device=device)[None]
        n = int(durs.sum())
        f0 = np.pad(np.asarray(f0_reference, np.float64), (0, max(0, n - len(f0_reference))))[:n]
        f0 = torch.tensor(f0, dtype=torch.float32, device=device)[None]
    return voice.spect(tokens, durs, f0), durs, f0


def track(x: np.ndarray, rate: int, method: str, device: str | None = None):
    """haysay's pitch tracker at 10 ms, 50-800 Hz (upstream's CREPE range); "crepe-tiny" is CREPE's tiny model."""
    from haysay.nodes.analysis.f0 import extract_f0

    name, model = ("crepe", "tiny") if method == "crepe-tiny" else (method, "full")
    return extract_f0(np.asarray(x, np.float64), rate, name, hop_seconds=0.01, fmin=50.0, fmax=800.0,
                      crepe_model=model, device=device)


def reference_f0(samples: np.ndarray, rate: int, method: str = "crepe", device: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """ExtractPitch.get_pitch: (f0 per 256-sample frame at 22.05 kHz, 0 where unconfident or quiet;
    the 10 ms track with its gaps filled, auto-tune's target)."""
    import soxr

    from haysay.nodes.vc.pitch import interpolate_unvoiced

    x = np.asarray(samples, np.float64)
    if rate != RATE:
        x = soxr.resample(x, rate, RATE)
    tracked = track(x, RATE, method, device)
    hz, times = np.asarray(tracked.hz, np.float64), np.asarray(tracked.times, np.float64)
    filled, voiced = interpolate_unvoiced(hz)
    conf = np.asarray(tracked.confidence, np.float64) * voiced
    t = np.arange(0, len(x), HOP) / RATE
    f0 = np.interp(t, times, filled)
    level = np.convolve(np.interp(t, np.arange(len(x)) / RATE, np.abs(x)), [0.25, 0.25, 0.5], "same")
    f0[(np.interp(t, times, conf) < CONF_THRESHOLD) | (level < AUDIO_THRESHOLD)] = 0.0
    if len(x) % HOP == 0:  # upstream's "hack to make f0 and mel lengths equal"
        f0 = np.pad(f0, (0, 1))
    return f0, filled


def psola(audio: np.ndarray, rate: int, target: np.ndarray) -> np.ndarray:
    """psola.vocode(audio, rate, target_pitch=target): Praat's overlap-add resynthesis on a pitch tier with
    the target spread evenly over the clip (To Manipulation: 1 ms, 40-550 Hz)."""
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(np.asarray(audio, np.float64), sampling_frequency=rate)
    duration = len(audio) / rate
    tier = call("Create PitchTier", "target", 0.0, duration)
    for t, hz in zip(np.linspace(0.0, duration, len(target)), np.nan_to_num(target)):
        call(tier, "Add point", float(t), float(hz))
    manipulation = call(sound, "To Manipulation", 1e-3, PSOLA_FMIN, PSOLA_FMAX)
    call([tier, manipulation], "Replace pitch tier")
    return call(manipulation, "Get resynthesis (overlap-add)").values[0]


def auto_tune(audio: np.ndarray, target: np.ndarray, method: str = "crepe", device: str | None = None
              ) -> tuple[np.ndarray, float]:
    """ExtractPitch.auto_tune on 22.05 kHz audio (int16 scale): the output's own pitch is tracked, the target
    moved by the octave nearest their mean ratio and laid over the output with PSOLA, then peak-normalised
    as upstream does ((1/peak)^0.9). Returns (audio in int16 scale, octave factor)."""
    from haysay.nodes.vc.pitch import interpolate_unvoiced

    own = track(np.asarray(audio, np.float64) / 32768.0, RATE, method, device)
    out_hz, _ = interpolate_unvoiced(np.asarray(own.hz, np.float64))
    target = np.asarray(target, np.float64)
    mean_out = out_hz.mean() if out_hz.size else 0.0
    factor = mean_out / target.mean() if target.size and target.mean() > 0 else 1.0
    octave = min(OCTAVES, key=lambda o: abs(o - factor)) if mean_out > 0 else 1.0
    n = len(out_hz) or len(target)
    target = np.pad(target * octave, (0, max(0, n - len(target))))[:n]
    y = psola(np.asarray(audio, np.float64) / 32768.0, RATE, target)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0:
        y = y * (1.0 / peak) ** 0.9
    return y * 32768.0, octave
