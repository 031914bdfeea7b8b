"""Real-time factor of each audio transform node on 60 s of 48 kHz audio, next to the obvious library call.

RTF = processing seconds / audio seconds (lower is faster; 0.01 means 100x faster than real time).
Nodes run through `NodeSpec.call` (block-wise nodes through their stream, in 65536-frame blocks).
Prints a markdown table, then the quality tables that justify each kept method (pitch / tempo
residual and f0 error, denoise SNR gain).

    python benchmarks/transforms.py [--seconds 60] [--repeat 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

import numpy as np

from haysay.graph_engine.contract import default_registry
from haysay.graph_engine.values import Audio

RATE = 48000


def voice_like(seconds: float, rate: int = RATE) -> np.ndarray:
    """A buzzy harmonic tone with gliding pitch, syllable-like on/off envelope and a noise floor."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 25))
    envelope = (np.sin(2 * np.pi * 2.5 * t) > -0.3).astype(float)
    rng = np.random.default_rng(0)
    return (0.2 * x * envelope + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def references(mono: np.ndarray, stereo: np.ndarray) -> dict[str, tuple[str, Callable[[], object]]]:
    import librosa
    import noisereduce
    import pedalboard
    import pyloudnorm
    import torch
    import torchaudio.functional as taf
    from scipy import signal

    sos = signal.butter(4, 80, "highpass", fs=RATE, output="sos")
    tensor = torch.from_numpy(mono)

    def loudness():
        meter = pyloudnorm.Meter(RATE)
        return pyloudnorm.normalize.loudness(mono.astype(np.float64), meter.integrated_loudness(mono), -23.0)

    return {
        "audio.to_mono": ("numpy mean", lambda: stereo.mean(axis=0)),
        "audio.peak_normalize": ("librosa.util.normalize", lambda: librosa.util.normalize(mono)),
        "audio.loudness_normalize": ("pyloudnorm meter + normalize", loudness),
        "audio.trim_silence": ("librosa.effects.trim", lambda: librosa.effects.trim(mono, top_db=40)),
        "audio.pad_crop": ("librosa.util.fix_length", lambda: librosa.util.fix_length(mono, size=65 * RATE)),
        "audio.pitch_shift": ("librosa.effects.pitch_shift", lambda: librosa.effects.pitch_shift(mono, sr=RATE, n_steps=4)),
        "audio.time_stretch": ("librosa.effects.time_stretch", lambda: librosa.effects.time_stretch(mono, rate=1.25)),
        "audio.speed": ("scipy.signal.resample_poly", lambda: signal.resample_poly(mono, 4, 5)),
        "audio.filter": ("scipy.signal.sosfilt", lambda: signal.sosfilt(sos, mono)),
        "audio.eq": ("torchaudio equalizer_biquad", lambda: taf.equalizer_biquad(tensor, RATE, 3000, 6.0, 1.0)),
        "audio.mix": ("numpy sum", lambda: mono + 0.5 * mono),
        "audio.reverb": ("pedalboard.Reverb whole array", lambda: pedalboard.Reverb(room_size=0.7)(mono, RATE)),
        "audio.denoise (noisereduce)": ("noisereduce.reduce_noise", lambda: noisereduce.reduce_noise(y=mono, sr=RATE)),
        "audio.concat": ("numpy concatenate", lambda: np.concatenate([mono, mono])),
    }


CASES = [  # (label, node type, params, uses stereo input, two inputs)
    ("audio.to_mono", "audio.to_mono", {}, True, False),
    ("audio.peak_normalize", "audio.peak_normalize", {"peak_db": -1}, False, False),
    ("audio.loudness_normalize", "audio.loudness_normalize", {"target_lufs": -23}, False, False),
    ("audio.trim_silence", "audio.trim_silence", {"threshold_db": -40}, False, False),
    ("audio.fade", "audio.fade", {"fade_in": 1, "fade_out": 3}, False, False),
    ("audio.pad_crop", "audio.pad_crop", {"length": 65}, False, False),
    ("audio.pitch_shift", "audio.pitch_shift", {"semitones": 4}, False, False),
    ("audio.pitch_shift (phase vocoder)", "audio.pitch_shift", {"semitones": 4, "method": "phase_vocoder"}, False, False),
    ("audio.pitch_shift (world)", "audio.pitch_shift", {"semitones": 4, "method": "world"}, False, False),
    ("audio.time_stretch", "audio.time_stretch", {"rate": 1.25}, False, False),
    ("audio.time_stretch (phase vocoder)", "audio.time_stretch", {"rate": 1.25, "method": "phase_vocoder"}, False, False),
    ("audio.speed", "audio.speed", {"factor": 1.25}, False, False),
    ("audio.filter", "audio.filter", {"kind": "highpass", "cutoff_hz": 80, "order": 4}, False, False),
    ("audio.eq", "audio.eq", {"kind": "peaking", "freq_hz": 3000, "gain_db": 6, "q": 1}, False, False),
    ("audio.noise_gate", "audio.noise_gate", {"threshold_db": -40}, False, False),
    ("audio.denoise", "audio.denoise", {}, False, False),
    ("audio.denoise (noisereduce)", "audio.denoise", {"method": "noisereduce"}, False, False),
    ("audio.reverb", "audio.reverb", {"room_size": 0.7}, False, False),
    ("audio.compressor", "audio.compressor", {"threshold_db": -24, "ratio": 4}, False, False),
    ("audio.limiter", "audio.limiter", {"threshold_db": -6, "ceiling_db": -1}, False, False),
    ("audio.chorus", "audio.chorus", {}, False, False),
    ("audio.delay", "audio.delay", {"delay_seconds": 0.25, "feedback": 0.3}, False, False),
    ("audio.distortion", "audio.distortion", {}, False, False),
    ("audio.high_shelf", "audio.high_shelf", {"cutoff_frequency_hz": 4000, "gain_db": 3}, False, False),
    ("audio.low_shelf", "audio.low_shelf", {"cutoff_frequency_hz": 200, "gain_db": -3}, False, False),
    ("audio.mix", "audio.mix", {"gain_b_db": -6}, False, True),
    ("audio.mix (xcorr align)", "audio.mix", {"gain_b_db": -6, "align": "xcorr"}, False, True),
    ("audio.concat", "audio.concat", {"gap": 0.5}, False, True),
]


def tone_residual_db(y: np.ndarray, freq: float, rate: int) -> float:
    """Energy of everything but the tone (farther than 2% or 8 bins from it), dB re the tone, over the middle."""
    from scipy.signal.windows import blackmanharris  # -92 dB side lobes: the floor stays below -85 dB

    y = y[int(0.1 * rate):-int(0.1 * rate)]
    spec = np.abs(np.fft.rfft(y * blackmanharris(len(y)))) ** 2
    near = np.abs(np.fft.rfftfreq(len(y), 1 / rate) - freq) < max(0.02 * freq, 8 * rate / len(y))
    return float(10 * np.log10(spec[~near].sum() / spec[near].sum()))


def frame_cents(x: np.ndarray, y: np.ndarray, rate: int) -> float:
    """Median per-frame pitch change (cents) where Praat finds both voiced."""
    import parselmouth

    def track(z):
        return parselmouth.Sound(z.astype(np.float64), rate).to_pitch(
            time_step=0.01, pitch_floor=40, pitch_ceiling=600).selected_array["frequency"]
    a, b = track(x), track(y)
    n = min(len(a), len(b))
    both = (a[:n] > 0) & (b[:n] > 0)
    return float(np.median(1200 * np.log2(b[:n][both] / a[:n][both])))


def quality_tables(registry) -> None:
    """Why each method is kept: tone residual and speech f0 error of pitch / tempo methods; SNR gain of
    the denoise methods on speech in noise (STOI by pystoi where installed)."""
    from haysay.nodes.tts.espeak import synthesize_espeak

    speech = synthesize_espeak("Hello there. This sentence is spoken to test the audio transforms.")
    sine = Audio((0.5 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)[None], RATE)
    shift, stretch = registry["audio.pitch_shift"], registry["audio.time_stretch"]
    print("\n| pitch / tempo | method | residual on a 220 Hz tone (dB) | speech f0 error (cents) |")
    print("|---|---|---:|---:|")
    for st in (4, -5, 12, -12):
        for method in ("rubberband", "phase_vocoder"):
            p = {"semitones": st, "method": method, "preserve_formants": False}
            tone = shift.call(p, audio=sine)["audio"].numpy()[0]
            voice = shift.call(p, audio=speech)["audio"].numpy()[0]
            err = frame_cents(speech.numpy()[0], voice, speech.sample_rate) - 100 * st
            print(f"| pitch {st:+d} st | {method} | {tone_residual_db(tone, 220 * 2 ** (st / 12), RATE):.1f} | "
                  f"{err:+.1f} |")
    for rate in (0.5, 1.25, 2.0):
        for method in ("rubberband", "phase_vocoder"):
            tone = stretch.call({"rate": rate, "method": method}, audio=sine)["audio"].numpy()[0]
            print(f"| tempo x{rate:g} | {method} | {tone_residual_db(tone, 220, RATE):.1f} | - |")

    try:
        from pystoi import stoi
    except ImportError:
        stoi = None
    rate = speech.sample_rate
    clean = np.concatenate([np.zeros(rate // 2), speech.numpy()[0] * (0.3 / np.abs(speech.numpy()).max()),
                            np.zeros(rate // 2)]).astype(np.float32)
    rng = np.random.default_rng(0)
    t = np.arange(clean.size) / rate
    denoise = registry["audio.denoise"]
    print("\n| denoise: noise | SNR in (dB) | gate SNR gain | noisereduce SNR gain | STOI in / gate / noisereduce |")
    print("|---|---:|---:|---:|---|")
    for kind in ("white", "hum"):
        for snr_in in (0, 5, 10):
            noise = rng.standard_normal(clean.size) if kind == "white" else \
                np.sin(2 * np.pi * 60 * t) + 0.5 * np.sin(2 * np.pi * 180 * t) + 0.2 * rng.standard_normal(clean.size)
            noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2)) * 10 ** (-snr_in / 20)
            noisy = (clean + noise).astype(np.float32)
            outs = [denoise.call({"method": m}, audio=Audio(noisy[None], rate))["audio"].numpy()[0]
                    for m in ("gate", "noisereduce")]
            gains = [10 * np.log10(np.sum(clean ** 2) / np.sum((o - clean) ** 2)) - snr_in for o in outs]
            st = " / ".join(f"{stoi(clean, z, rate):.3f}" for z in [noisy, *outs]) if stoi else "-"
            print(f"| {kind} | {snr_in} | {gains[0]:+.1f} | {gains[1]:+.1f} | {st} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs")
    ap.add_argument("--no-quality", action="store_true", help="skip the method quality tables")
    args = ap.parse_args()

    mono = voice_like(args.seconds)
    stereo = np.stack([mono, np.roll(mono, 480)])
    refs = references(mono, stereo)
    registry = default_registry()
    audio_mono, audio_stereo = Audio(mono, RATE), Audio(stereo, RATE)

    print(f"{args.seconds:g} s of {RATE} Hz audio (mono unless noted), best of {args.repeat}; RTF = seconds / audio seconds\n")
    print("| node | haysay s | haysay RTF | reference | reference s | reference RTF |")
    print("|---|---:|---:|---|---:|---:|")
    for label, type_id, params, use_stereo, two in CASES:
        spec = registry[type_id]
        audio = audio_stereo if use_stereo else audio_mono
        inputs = {"a": audio, "b": audio} if two else {"audio": audio}
        ours = best_of(lambda: spec.call(params, **inputs), args.repeat)
        ref_name, ref_fn = refs.get(label, ("-", None))
        ref = best_of(ref_fn, args.repeat) if ref_fn else None
        ref_cols = f"{ref_name} | {ref:.3f} | {ref / args.seconds:.4f}" if ref is not None else "- | - | -"
        print(f"| {label}{' (stereo)' if use_stereo else ''} | {ours:.3f} | {ours / args.seconds:.4f} | {ref_cols} |",
              flush=True)
    if not args.no_quality:
        quality_tables(registry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
