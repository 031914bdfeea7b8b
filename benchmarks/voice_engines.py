"""Real-time factor of the built-in voice engines and pitch trackers on CPU.

Speech is made once with espeak (about `--seconds` long); each engine or
tracker then runs on it `--repeats` times after one warm-up (model loads are
not counted). RTF = compute time / audio duration; below 1 is faster than
real time. Targets: TTS and DSP conversion RTF < 0.5 on one CPU core; the
neural trackers (crepe tiny, fcpe) RTF < 1.

    python benchmarks/voice_engines.py [--seconds 10] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs back home again. "


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: loads models and caches
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="approximate length of the test speech")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from haysay.nodes.analysis.f0 import extract_f0
    from haysay.nodes.tts.espeak import synthesize_espeak
    from haysay.nodes.tts.piper import synthesize_piper
    from haysay.nodes.vc.praat import change_gender
    from haysay.nodes.vc.world import world_convert

    text = SENTENCE * max(1, round(args.seconds / 4.0))
    speech = synthesize_espeak(text)
    x, rate, dur = speech.mono(), speech.sample_rate, speech.duration

    rows: list[tuple[str, float, float]] = []
    for name, fn in [
        ("tts.espeak", lambda: synthesize_espeak(text)),
        ("tts.piper (bundled voice)", lambda: synthesize_piper(text)),
        ("vc.world (praat f0)", lambda: world_convert(x, rate, f0_shift=5.0, formant_shift=1.1)),
        ("vc.world (harvest f0)", lambda: world_convert(x, rate, f0_shift=5.0, f0_method="harvest")),
        ("vc.praat", lambda: change_gender(x, rate, formant_shift_ratio=1.1, pitch_shift=5.0)),
        *[(f"f0 {m}", (lambda m=m: extract_f0(x, rate, m))) for m in ("praat", "dio", "harvest", "fcpe")],
        ("f0 crepe tiny", lambda: extract_f0(x, rate, "crepe", crepe_model="tiny")),
        ("f0 crepe full", lambda: extract_f0(x, rate, "crepe", crepe_model="full")),
    ]:
        seconds = timed(fn, args.repeats)
        out_dur = dur
        if name.startswith("tts.piper"):
            out_dur = synthesize_piper(text).duration  # its speech has its own length
        rows.append((name, seconds, seconds / out_dur))

    print(f"speech: {dur:.1f} s at {rate} Hz, median of {args.repeats} runs after a warm-up")
    print(f"{'stage':<28}{'seconds':>10}{'RTF':>8}")
    for name, seconds, rtf in rows:
        print(f"{name:<28}{seconds:>10.3f}{rtf:>8.3f}")


if __name__ == "__main__":
    main()
