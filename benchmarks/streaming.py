"""Streaming start of RVC: how soon the first converted second of a long input is ready.

Full-size RVC v2 40 kHz and HuBERT-base with random weights, written in the upstream file formats (as
benchmarks/adapters.py builds them), decoder and encoder on haysay's chosen backend (auto: ONNX Runtime on
CPU). Input: 60 s of espeak speech. The whole-file run (the WebUI's settings for the device) is timed
against `stream_rvc` with short segments; for each: time until the first second of output is delivered,
that time over one second (the real-time ratio), total time and RTF, and how far the stream's audio is
from the whole-file run's (relative L2: the segment boundaries differ), with --check-same also the
stream against the whole-file run at the stream's own settings (the same segments: 0 means bit-equal).

    python benchmarks/streaming.py [--seconds 60] [--device cpu] [--out benchmarks/results/streaming_cpu2.md]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soxr
import torch

from adapters import rel_l2, speech  # run as a script: this folder leads sys.path
from haysay.nodes.vc.backend import attach_decoder, attach_encoder
from haysay.nodes.vc.content.checkpoint import read_content_encoder, save_fairseq_checkpoint
from haysay.nodes.vc.content.hubert import hubert_base_encoder
from haysay.nodes.vc.resolve import content_digest
from haysay.nodes.vc.rvc.checkpoint import build_rvc_model, read_rvc_checkpoint, save_rvc_checkpoint
from haysay.nodes.vc.rvc.models import V2_40K, rvc_synthesizer
from haysay.nodes.vc.rvc.pipeline import DeviceSettings, RVCOptions, convert_rvc, device_settings
from haysay.nodes.vc.rvc.stream import STREAM_SETTINGS, stream_rvc

CANDIDATES = {"stream (upstream pad 1 s, cuts ~2.5 s)": STREAM_SETTINGS,
              "stream (pad 0.5 s, cuts ~2 s)": DeviceSettings(False, 0.5, 0.25, 2.0, 2.5)}


def timed_stream(x16, model, encoder, opts, dev, settings):
    """(output, seconds to the first delivered second, total seconds, segments)."""
    t0, first, parts, segments = time.perf_counter(), None, [], 0
    with torch.inference_mode():
        for block in stream_rvc(x16, model, "v2", encoder, opts, None, dev, settings):
            parts.append(block.audio)
            segments = block.segments
            if first is None and block.start + block.audio.size >= block.sample_rate:
                first = time.perf_counter() - t0
    return np.concatenate(parts), first, time.perf_counter() - t0, segments


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--f0-method", default="pm")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--out", default="")
    ap.add_argument("--check-same", action="store_true", help="also run the whole file at each stream's settings")
    args = ap.parse_args()
    dev, load_before = args.device, f"{os.getloadavg()[0]:.1f}"
    torch.manual_seed(0)
    x, rate = speech(args.seconds)
    x16 = soxr.resample(x.astype(np.float64), rate, 16000)
    duration = x16.size / 16000
    opts = RVCOptions(f0_method=args.f0_method)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("HAYSAY_COMPILED", str(root / "compiled"))
        enc_path = save_fairseq_checkpoint(root / "hubert_base.pt", hubert_base_encoder())
        rvc_path = save_rvc_checkpoint(root / "v2_40k.pth", rvc_synthesizer(V2_40K, "v2", True), "v2")
        encoder = read_content_encoder(enc_path).to(dev)
        model = build_rvc_model(read_rvc_checkpoint(rvc_path), dev)
        choice = (attach_decoder(model, content_digest(rvc_path), args.backend, dev),
                  attach_encoder(encoder, content_digest(enc_path), args.backend, dev))
        with torch.inference_mode():  # warms (and on first use exports) the graphs on a short input
            convert_rvc(x16[:16000 * 3], model, "v2", encoder, opts, None, dev)
        whole_settings = device_settings(dev)
        t = time.perf_counter()
        with torch.inference_mode():
            whole = convert_rvc(x16, model, "v2", encoder, opts, None, dev, whole_settings).audio
        t_whole = time.perf_counter() - t
        rows = [("whole file (WebUI settings)", len(_segments(x16, whole_settings)),
                 t_whole, t_whole, 0.0, "")]
        for name, settings in CANDIDATES.items():
            out, first, total, segments = timed_stream(x16, model, encoder, opts, dev, settings)
            same = ""
            if args.check_same:  # one more whole run per candidate
                with torch.inference_mode():
                    same = f"{rel_l2(out, convert_rvc(x16, model, 'v2', encoder, opts, None, dev, settings).audio):.1e}"
            rows.append((name, segments, first, total, rel_l2(out, whole), same))
    lines = [f"# RVC v2 40k streaming start, {duration:.0f} s input, {dev}",
             "",
             f"Full-size random weights (RVC v2 40k, HuBERT-base), f0 {args.f0_method}, rms_mix_rate 0.25, backends "
             f"{choice[0].get('backend')} / {choice[1][0].get('backend') if isinstance(choice[1], list) else choice[1]}; "
             f"load average before {load_before}, after {os.getloadavg()[0]:.1f} (2 shared cores: wall times swing).",
             "",
             "| run | segments | first second ready (s) | x real time | total (s) | total RTF | total vs whole | "
             "rel L2 vs whole-file audio | rel L2 vs whole run at same settings |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, segments, first, total, err, same in rows:
        lines.append(f"| {name} | {segments} | {first:.2f} | {first:.2f}x | {total:.2f} | {total / duration:.2f} | "
                     f"{total / t_whole:.2f}x | {err:.2e} | {same or '-'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


def _segments(x16: np.ndarray, settings: DeviceSettings) -> list:
    from haysay.nodes.vc.rvc.pipeline import _HP_A, _HP_B, _split_points
    from scipy import signal

    return _split_points(signal.filtfilt(_HP_B, _HP_A, x16), settings) + [None]


if __name__ == "__main__":
    main()
