"""Real-time factor of each audio transform node on 60 s of 48 kHz audio, next to the obvious library call.

RTF = processing seconds / audio seconds (lower is faster; 0.01 means 100x faster than real time).
Nodes run through `NodeSpec.call` (block-wise nodes through their stream, in 65536-frame blocks).
Prints a markdown table.

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
    ("audio.pitch_shift (world)", "audio.pitch_shift", {"semitones": 4, "method": "world"}, False, False),
    ("audio.time_stretch", "audio.time_stretch", {"rate": 1.25}, False, False),
    ("audio.speed", "audio.speed", {"factor": 1.25}, False, False),
    ("audio.filter", "audio.filter", {"kind": "highpass", "cutoff_hz": 80, "order": 4}, False, False),
    ("audio.eq", "audio.eq", {"kind": "peaking", "freq_hz": 3000, "gain_db": 6, "q": 1}, False, False),
    ("audio.noise_gate", "audio.noise_gate", {"threshold_db": -40}, False, False),
    ("audio.denoise", "audio.denoise", {}, False, False),
    ("audio.mix", "audio.mix", {"gain_b_db": -6}, False, True),
    ("audio.concat", "audio.concat", {"gap": 0.5}, False, True),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
