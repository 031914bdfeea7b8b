"""Real-time factor of the neural voice-conversion adapters, cold (load + convert) vs warm (convert).

Full-size networks with random weights, written in the upstream file formats:
RVC v2 40 kHz (the WebUI's v2 config), so-vits-svc 4.1 (44.1 kHz, vec768l12), and a
HuBERT-base content encoder (12 layers x 768, fairseq form). Input: 10 s of espeak speech.

    python benchmarks/adapters.py [--device cuda] [--seconds 10] [--f0-method pm]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soxr
import torch

from haysay.nodes.tts.espeak import synthesize_espeak
from haysay.nodes.vc.content.checkpoint import read_content_encoder, save_fairseq_checkpoint
from haysay.nodes.vc.content.hubert import hubert_base_encoder
from haysay.nodes.vc.rvc.checkpoint import build_rvc_model, read_rvc_checkpoint, save_rvc_checkpoint
from haysay.nodes.vc.rvc.models import V2_40K, rvc_synthesizer
from haysay.nodes.vc.rvc.pipeline import RVCOptions, convert_rvc
from haysay.nodes.vc.sovits.checkpoint import build_sovits_model, read_sovits_config, save_sovits_files
from haysay.nodes.vc.sovits.models import SovitsConfig, SovitsSynthesizer
from haysay.nodes.vc.sovits.pipeline import SovitsOptions, convert_sovits


def speech(seconds: float) -> tuple[np.ndarray, int]:
    text = ("The quick brown fox jumps over the lazy dog, and then it runs far away across the green field "
            "while the farmer watches from the old wooden fence.")
    audio = synthesize_espeak(text)
    x = audio.mono()
    reps = int(np.ceil(seconds * audio.sample_rate / x.size))
    return np.tile(x, reps)[: int(seconds * audio.sample_rate)], audio.sample_rate


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device):
    sync(device)
    t = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--f0-method", default="pm")
    ap.add_argument("--runs", type=int, default=2, help="warm runs (the best is reported)")
    args = ap.parse_args()
    dev = args.device
    torch.manual_seed(0)
    x, rate = speech(args.seconds)
    duration = x.size / rate
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        enc_path = save_fairseq_checkpoint(root / "hubert_base.pt", hubert_base_encoder())
        rvc_path = save_rvc_checkpoint(root / "v2_40k.pth", rvc_synthesizer(V2_40K, "v2", True), "v2")
        sovits_model = SovitsSynthesizer(SovitsConfig(speakers={"speaker0": 0}))
        sovits_weights, sovits_cfg = save_sovits_files(root / "sovits", sovits_model, "4.1", "vec768l12")
        del sovits_model
        sizes = {p: p.stat().st_size / 2 ** 20 for p in (enc_path, rvc_path, sovits_weights)}

        x16 = soxr.resample(x.astype(np.float64), rate, 16000)
        (encoder, t_enc) = timed(lambda: read_content_encoder(enc_path).to(dev), dev)
        (rvc, t_rvc_load) = timed(lambda: (lambda c: (c, build_rvc_model(c, dev)))(read_rvc_checkpoint(rvc_path)), dev)
        opts = RVCOptions(f0_method=args.f0_method)
        with torch.inference_mode():
            _, t_first = timed(lambda: convert_rvc(x16, rvc[1], "v2", encoder, opts, None, dev), dev)
            warm = min(timed(lambda: convert_rvc(x16, rvc[1], "v2", encoder, opts, None, dev), dev)[1]
                       for _ in range(args.runs))
        rows.append(("RVC v2 40k", sizes[rvc_path], t_enc + t_rvc_load, t_enc + t_rvc_load + t_first, warm))
        del rvc

        info = read_sovits_config(sovits_cfg)
        x44 = soxr.resample(x.astype(np.float64), rate, info.config.sampling_rate)
        (model, t_load) = timed(lambda: build_sovits_model(sovits_weights, info, dev), dev)
        (encoder, t_enc) = timed(lambda: read_content_encoder(enc_path).to(dev), dev)
        sopts = SovitsOptions(f0_method=args.f0_method)
        with torch.inference_mode():
            _, t_first = timed(lambda: convert_sovits(x44, model, info, encoder, sopts, None, dev), dev)
            warm = min(timed(lambda: convert_sovits(x44, model, info, encoder, sopts, None, dev), dev)[1]
                       for _ in range(args.runs))
        rows.append(("so-vits-svc 4.1 44k", sizes[sovits_weights], t_enc + t_load, t_enc + t_load + t_first, warm))

    threads = torch.get_num_threads()
    print(f"\n{duration:.1f} s of speech, device {dev}"
          f"{'' if dev != 'cpu' else f' ({threads} torch threads)'}, f0 {args.f0_method}; "
          f"HuBERT-base file {sizes[enc_path]:.0f} MiB. RTF = processing time / audio duration.\n")
    print(f"| model | file MiB | load s | cold s (load+convert) | cold RTF | warm s | warm RTF |")
    print(f"|---|---:|---:|---:|---:|---:|---:|")
    for name, mib, load, cold, warm in rows:
        print(f"| {name} | {mib:.0f} | {load:.2f} | {cold:.2f} | {cold / duration:.2f} | {warm:.2f} | "
              f"{warm / duration:.2f} |")


if __name__ == "__main__":
    main()
