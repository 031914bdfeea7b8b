"""Long audio through the engine without holding it in memory.

One hour (default) of 48 kHz stereo: audio.load -> audio.gain -> audio.resample -> saved output,
on the embedded cluster. Prints wall time per stage and the process's peak RSS (target: < 2 GB).

    python benchmarks/long_audio.py [--minutes 60]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def make_input(path: Path, minutes: float, rate: int = 48000) -> None:
    block = rate * 10
    total = int(minutes * 60 * rate)
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=2, subtype="PCM_16") as f:
        for start in range(0, total, block):
            n = min(block, total - start)
            t = (start + np.arange(n)) / rate
            tone = 0.3 * np.sin(2 * np.pi * 220 * t)
            f.write(np.stack([tone, tone + 0.01 * rng.standard_normal(n)], axis=1))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="haysay-long-"))
    os.environ["HAYSAY_HOME"] = str(work / "home")
    src = work / "long.wav"
    t = time.time()
    make_input(src, args.minutes)
    make_s = time.time() - t
    rss_before = peak_rss_mb()

    from haysay.graph_engine import Engine, parse_pipeline
    from haysay.graph_engine.audiofile import write_audio

    doc = parse_pipeline({
        "format": "haysay.pipeline/1",
        "nodes": [{"id": "gain", "type": "audio.gain", "params": {"gain_db": -3}},
                  {"id": "rs", "type": "audio.resample", "params": {"sample_rate": 44100}}],
        "edges": [{"from": "gain.audio", "to": "rs.audio"}],
        "inputs": {"audio": {"bind": "gain.audio"}}, "outputs": {"out": "rs.audio"}})
    with Engine() as eng:
        t = time.time()
        result = eng.run(doc, inputs={"audio": str(src)})
        run_s = time.time() - t
        assert result.ok, result.error
        t = time.time()
        out = write_audio(work / "out.flac", result.outputs["out"], "flac", "16")
        save_s = time.time() - t
    info = sf.info(str(out))
    rows = [("make 16-bit input wav", make_s)] + [
        (f"stage {n} ({s.type})", s.duration or 0.0) for n, s in result.stages.items()] + [
        ("engine run total", run_s), ("save output (flac, streamed)", save_s)]
    print(f"\n{args.minutes:g} min of 48 kHz stereo ({src.stat().st_size / 1e6:.0f} MB wav) -> "
          f"{info.duration / 60:.1f} min at {info.samplerate} Hz\n")
    print("| step | seconds |\n|---|---:|")
    for name, sec in rows:
        print(f"| {name} | {sec:.1f} |")
    peak = peak_rss_mb()
    print(f"\npeak RSS: {peak:.0f} MB (before engine: {rss_before:.0f} MB); target < 2048 MB: "
          f"{'PASS' if peak < 2048 else 'FAIL'}")
    return 0 if peak < 2048 else 1


if __name__ == "__main__":
    sys.exit(main())
