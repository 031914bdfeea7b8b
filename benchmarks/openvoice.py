"""vc.openvoice on CPU (or --device cuda): real-time factor and memory of the full-size v2 converter.

Random weights at upstream's v2 converter sizes (checkpoints_v2/converter/config.json: 22.05 kHz,
1024-point spectrogram, 192 channels, HiFi-GAN 512 -> 8*8*2*2, 256-dim tone colour), written as upstream's
checkpoint layout and loaded the way the node loads it. Input: espeak speech repeated to each length; the
reference is 10 s of another voice. The memory column is the peak resident growth of a fresh process
over one conversion (source embedding + conversion, after a warm-up on 1 s), per 22.05 kHz input sample: what `memory=` declares.

    python benchmarks/openvoice.py [--device cuda] [--seconds 5 20 60] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from haysay.nodes.tts.espeak import synthesize_espeak
from haysay.nodes.vc.openvoice.checkpoint import build_openvoice_model, read_openvoice_checkpoint
from haysay.nodes.vc.openvoice.convert import convert, extract_embedding, split_chunks
from haysay.nodes.vc.openvoice.models import OpenVoiceConfig, ToneColourConverter

SR = 22050
V2_CONFIG = {"_version_": "v2",
             "data": {"sampling_rate": SR, "filter_length": 1024, "hop_length": 256, "win_length": 1024,
                      "n_speakers": 0},
             "model": {"zero_g": True, "inter_channels": 192, "hidden_channels": 192, "filter_channels": 768,
                       "n_heads": 2, "n_layers": 6, "kernel_size": 3, "p_dropout": 0.1, "resblock": "1",
                       "resblock_kernel_sizes": [3, 7, 11], "resblock_dilation_sizes": [[1, 3, 5]] * 3,
                       "upsample_rates": [8, 8, 2, 2], "upsample_initial_channel": 512,
                       "upsample_kernel_sizes": [16, 16, 4, 4], "gin_channels": 256}}


def write_converter(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = ToneColourConverter(OpenVoiceConfig(zero_g=True, version="v2"))
    torch.save({"model": net.state_dict()}, folder / "checkpoint.pth")
    (folder / "config.json").write_text(json.dumps(V2_CONFIG))
    return folder / "checkpoint.pth"


def speech(seconds: float, text: str) -> np.ndarray:
    audio = synthesize_espeak(text)
    x = audio.mono()
    if audio.sample_rate != SR:
        import soxr
        x = soxr.resample(x.astype(np.float64), audio.sample_rate, SR).astype(np.float32)
    return np.tile(x, int(np.ceil(seconds * SR / x.size)))[: int(seconds * SR)]


SOURCE = "The quick brown fox jumps over the lazy dog, and then it runs far away across the green field."
REFERENCE = "She sells sea shells by the sea shore, and the shells she sells are surely sea shells."


def memory_child(weights: str, seconds: float) -> None:
    """In a fresh process: load, warm up on 1 s, then report the peak RSS growth of one conversion
    (its peak over the resident size just before it; the warm-up's smaller peak is below it)."""
    model = build_openvoice_model(read_openvoice_checkpoint(weights))
    x1 = speech(1, SOURCE)
    ref = extract_embedding(model, [speech(1, REFERENCE)])
    convert(model, x1, extract_embedding(model, [x1]), ref, 0.3, 0)
    x = speech(seconds, SOURCE)
    with open("/proc/self/statm") as fh:
        before = int(fh.read().split()[1]) * resource.getpagesize()
    src = extract_embedding(model, split_chunks(x, SR))
    convert(model, x, src, ref, 0.3, 0)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"bytes": after - before, "samples": x.size}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, nargs="+", default=[5.0, 20.0, 60.0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child[0], float(args.memory_child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        weights = write_converter(Path(tmp) / "converter")
        t = time.perf_counter()
        model = build_openvoice_model(read_openvoice_checkpoint(weights), args.device)
        load = time.perf_counter() - t
        ref_audio = speech(10, REFERENCE)
        t = time.perf_counter()
        ref = extract_embedding(model, split_chunks(ref_audio, SR), args.device)
        embed = time.perf_counter() - t
        n_params = sum(p.numel() for p in model.parameters())
        print(f"vc.openvoice v2 converter, {n_params / 1e6:.1f} M parameters, device {args.device}, "
              f"torch threads {torch.get_num_threads()}")
        print(f"load {load:.2f} s; reference embedding of 10 s: {embed:.3f} s\n")
        print("| input (s) | convert (s, best of runs) | RTF | peak RSS growth (B / 22.05 kHz sample) |")
        print("|---:|---:|---:|---:|")
        for seconds in args.seconds:
            x = speech(seconds, SOURCE)
            best = float("inf")
            for _ in range(args.runs):
                t = time.perf_counter()
                src = extract_embedding(model, split_chunks(x, SR), args.device)
                convert(model, x, src, ref, 0.3, 0, args.device)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t)
            mem = "-"
            if args.device == "cpu":
                out = subprocess.run([sys.executable, __file__, "--memory-child", str(weights), str(seconds),
                                      "--threads", str(torch.get_num_threads())],
                                     capture_output=True, text=True, check=True)
                m = json.loads(out.stdout.strip().splitlines()[-1])
                mem = f"{m['bytes'] / m['samples']:.0f}"
            print(f"| {seconds:g} | {best:.2f} | {best / seconds:.3f} | {mem} |")


if __name__ == "__main__":
    main()
