"""Real-time factor and memory of each analysis node on 60 s of speech (Piper's bundled voice).

RTF = processing seconds / audio seconds (lower is faster), best of --repeat runs after a warm-up
on a short clip (models loaded). Peak memory is the rise of the resident size (polled) over the
warm state during the run, per input sample (what a node's `memory=` declares); each node runs in
its own process so one node's peak never hides another's. Prints a markdown table.

    python benchmarks/evaluation.py [--seconds 60] [--repeat 1] [--only analysis.vad ...]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import threading
import time

import numpy as np

SENTENCES = ["The quick brown fox jumps over the lazy dog.",
             "She sells sea shells by the sea shore, and the shells she sells are surely seashells.",
             "Peter Piper picked a peck of pickled peppers; how many pickled peppers did he pick?",
             "A journey of a thousand miles begins with a single step."]

# node type -> (params, how its inputs are made from the speech clip `a`)
CASES = {
    "analysis.transcribe": ({}, lambda a, text: {"audio": a, "reference": text}),
    "analysis.quality": ({}, lambda a, text: {"audio": a}),
    "analysis.speaker_similarity": ({}, lambda a, text: {"audio": a, "reference": a, "source": a}),
    "analysis.pitch_error": ({}, lambda a, text: {"audio": a, "reference": a}),
    "analysis.vad": ({}, lambda a, text: {"audio": a}),
    "audio.trim_silence": ({"mode": "vad"}, lambda a, text: {"audio": a}),
}


def speech(seconds: float):
    from haysay.graph_engine.values import Audio
    from haysay.nodes.tts.piper import synthesize_piper

    parts, said, total, i = [], [], 0.0, 0
    while total < seconds:
        clip = synthesize_piper(SENTENCES[i % len(SENTENCES)])
        parts.append(clip.mono())
        said.append(SENTENCES[i % len(SENTENCES)])
        total += clip.duration
        rate = clip.sample_rate
        i += 1
    x = np.concatenate(parts)[: int(seconds * rate)]
    return Audio.from_mono(x, rate), " ".join(said)  # the reference runs a little past the cut


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class PeakRss:
    """The highest resident size seen (polled every 2 ms) while the block runs, above its start."""

    def __enter__(self) -> "PeakRss":
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def rise(self) -> int:
        return self.peak - self.start


def measure(type_id: str, samples: np.ndarray, rate: int, text: str, repeat: int, queue) -> None:
    from haysay.graph_engine.contract import default_registry
    from haysay.graph_engine.values import Audio

    spec = default_registry()[type_id]
    params, make = CASES[type_id]
    audio = Audio.from_mono(samples, rate)  # made by the parent: no synthesis heap here to hide a peak
    short = Audio(audio.numpy()[:, : audio.sample_rate * 3], audio.sample_rate)
    spec.call(params, **make(short, SENTENCES[0]))  # warm-up: imports, models loaded
    inputs = make(audio, text)
    best, rise = float("inf"), 0
    for _ in range(repeat):
        with PeakRss() as mem:
            start = time.perf_counter()
            out = spec.call(params, **inputs)
            best = min(best, time.perf_counter() - start)
        rise = max(rise, mem.rise)
    samples = sum(v.frames * v.channels for v in inputs.values() if isinstance(v, Audio))
    value = next(iter(out.values()))
    figures = getattr(value, "values", None) or {"frames": float(value.frames)}
    queue.put((type_id, best / audio.duration, rise / samples, spec.memory, figures))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", nargs="*", choices=sorted(CASES), help="node types to measure (default: all)")
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    audio, text = speech(args.seconds)
    print(f"# Analysis nodes on {audio.duration:g} s of Piper speech ({audio.sample_rate} Hz mono)\n")
    print("| node | RTF | peak memory B/sample | declared | figures |")
    print("|---|---:|---:|---:|---|")
    for type_id in args.only or CASES:
        queue = ctx.Queue()
        proc = ctx.Process(target=measure, args=(type_id, audio.mono(), audio.sample_rate, text, args.repeat, queue))
        proc.start()
        type_id, rtf, per_sample, declared, figures = queue.get(timeout=1800)
        proc.join()
        declared = declared if isinstance(declared, (int, float)) else "by mode"
        shown = ", ".join(f"{k}={v:.3g}" for k, v in figures.items())
        print(f"| {type_id} | {rtf:.4f} | {per_sample:.1f} | {declared} | {shown} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
