"""Streaming start of RVC: how soon the first converted second of a long input is ready.

Full-size RVC v2 40 kHz and HuBERT-base with random weights, written in the upstream file formats (as
benchmarks/adapters.py builds them), decoder and encoder on haysay's chosen backend (auto: ONNX Runtime on
CPU). Input: 60 s of espeak speech. The whole-file run (the WebUI's settings for the device) is timed
against `stream_rvc` with short segments (fixed steps, or growing from a short first one); for each: time
until the first second of output is delivered, that time over one second (the real-time ratio), the stalls
a player starting then would hear, total time and RTF, and how far the stream's audio is from the
whole-file run's (relative L2 over the common length, and the length difference: segments round to 10 ms
frames at other places, so the lengths differ by a few frames), with --check-same also a fixed-step stream
against the whole-file run at the stream's own settings (the same segments: 0 means bit-equal). The last
row runs the default stream as a user does, through the engine: a pipeline audio.load -> vc.rvc with
`stream` on, its blocks taken from the run's events, timed from the run's start (--no-engine skips it).

Warm, as a studio's warm pool is after its first conversion: models read, compiled graphs built and run
once on a 3 s input before any clock starts. Not counted: reading the checkpoints (the pool keeps them).

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
from haysay.nodes.vc.rvc.stream import STREAM_CUTS, STREAM_SETTINGS, stream_rvc

PAD_HALF = DeviceSettings(False, 0.5, 0.25, 2.0, 2.5)
# (settings, cuts): cuts None = the settings' fixed steps, as convert_rvc cuts
CANDIDATES = {"stream, pad 1 s, fixed cuts ~2.5 s": (STREAM_SETTINGS, None),
              "stream, pad 0.5 s, fixed cuts ~2 s": (PAD_HALF, None),
              "stream, pad 1 s, growing cuts 1.6 s x2 to 8 s (default)": (STREAM_SETTINGS, STREAM_CUTS),
              "stream, pad 0.5 s, growing cuts 1.6 s x2 to 8 s": (PAD_HALF, STREAM_CUTS)}


def common_rel_l2(got: np.ndarray, ref: np.ndarray) -> float:
    n = min(got.size, ref.size)
    return rel_l2(got[:n], ref[:n])


def stalls(arrivals: list[tuple[float, int, int, int]], first: float) -> tuple[float, int]:
    """(seconds of silence, gaps) a player hears that starts at `first` and plays each block as soon as it
    has arrived and the one before it has played; arrivals: (time, start, frames, rate)."""
    clock, gaps, silent = first, 0, 0.0
    for t, _start, frames, rate in arrivals:
        if t > clock + 1e-9 and t > first:
            silent, gaps, clock = silent + t - clock, gaps + 1, t
        clock += frames / rate
    return silent, gaps


def timed_engine(root: Path, rvc_path: Path, enc_path: Path, x: np.ndarray, rate: int, stream: bool = True):
    """The default stream through the engine (a pipeline audio.load -> vc.rvc stream on, run in this
    process as the studio's engine runs it, the blocks taken from the run's events): (output, seconds from
    the run's start to the first delivered second, total seconds, blocks, (stall s, gaps), the stage's
    time alone). Warm: one run of a 3 s clip first, so the model pool holds the model and encoder."""
    import soundfile

    from haysay.graph_engine import Engine, Settings, parse_pipeline

    def doc(wav: Path):
        return parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
            {"id": "load", "type": "audio.load", "params": {"path": str(wav)}},
            {"id": "vc", "type": "vc.rvc", "params": {"model": str(rvc_path), "content_encoder": str(enc_path),
                                                      "stream": stream}}],
            "edges": [{"from": "load.audio", "to": "vc.audio"}], "outputs": {"out": "vc.audio"}})

    for name, clip in (("warm.wav", x[:rate * 3]), ("long.wav", x)):
        soundfile.write(root / name, clip, rate, subtype="FLOAT")
    os.environ["HAYSAY_HOME"] = str(root / "home")
    with Engine(Settings.from_env()) as eng:
        assert eng.run(doc(root / "warm.wav")).ok
        t0, first, arrivals = time.perf_counter(), [None], []

        def on_event(ev) -> None:
            if ev.node == "vc" and ev.block is not None:
                now, audio = time.perf_counter() - t0, ev.block.audio
                arrivals.append((now, ev.block.start, audio.frames, audio.sample_rate))
                if first[0] is None and ev.block.start + audio.frames >= audio.sample_rate:
                    first[0] = now

        result = eng.run(doc(root / "long.wav"), on_event=on_event)
        total = time.perf_counter() - t0
        assert result.ok, result.error
        out = eng.store.open(result.stages["vc"].cache_key)["audio"].numpy()[0]
        stage = result.stages["vc"].duration
    first = first[0] if stream else total
    return out, first, total, len(arrivals), stalls(arrivals, first) if stream else (0.0, 0), stage


def timed_stream(x16, model, encoder, opts, dev, settings, cuts):
    """(output, seconds to the first delivered second, total seconds, segments, (stall s, gaps))."""
    t0, first, parts, segments, arrivals = time.perf_counter(), None, [], 0, []
    with torch.inference_mode():
        for block in stream_rvc(x16, model, "v2", encoder, opts, None, dev, settings, cuts):
            now = time.perf_counter() - t0
            parts.append(block.audio)
            arrivals.append((now, block.start, block.audio.size, block.sample_rate))
            segments = block.segments
            if first is None and block.start + block.audio.size >= block.sample_rate:
                first = now
    return np.concatenate(parts), first, time.perf_counter() - t0, segments, stalls(arrivals, first)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--f0-method", default="pm")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--out", default="")
    ap.add_argument("--check-same", action="store_true", help="also run the whole file at each stream's settings")
    ap.add_argument("--only", default="", help="run only the candidates whose name contains this")
    ap.add_argument("--no-whole", action="store_true",
                    help="skip the whole-file run (its columns show '-'): the start figures only")
    ap.add_argument("--no-engine", action="store_true", help="skip the run through the engine")
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
        whole, t_whole, rows = None, None, []
        if not args.no_whole:
            t = time.perf_counter()
            with torch.inference_mode():
                whole = convert_rvc(x16, model, "v2", encoder, opts, None, dev, whole_settings).audio
            t_whole = time.perf_counter() - t
            rows.append(("whole file (WebUI settings)", len(_segments(x16, whole_settings)),
                         t_whole, (0.0, 0), t_whole, 0.0, 0, ""))
        for name, (settings, cuts) in CANDIDATES.items():
            if args.only not in name:
                continue
            load = os.getloadavg()[0]
            out, first, total, segments, stall = timed_stream(x16, model, encoder, opts, dev, settings, cuts)
            same = ""
            if args.check_same and cuts is None:  # one more whole run per fixed-step candidate
                with torch.inference_mode():
                    same = f"{rel_l2(out, convert_rvc(x16, model, 'v2', encoder, opts, None, dev, settings).audio):.1e}"
            print(f"{name}: first second {first:.2f} s, total {total:.1f} s (load before {load:.1f})", flush=True)
            rows.append((name, segments, first, stall, total, None if whole is None else common_rel_l2(out, whole),
                         None if whole is None else out.size - whole.size, same))
        if not args.no_engine:  # the default stream as a user runs it: a pipeline through the engine
            load = os.getloadavg()[0]
            out, first, total, blocks, stall, stage = timed_engine(root, rvc_path, enc_path, x, rate)
            name = f"engine run, vc.rvc stream on (the default stream; {blocks} blocks; stage {stage:.1f} s)"
            print(f"{name}: first second {first:.2f} s, total {total:.1f} s (load before {load:.1f})", flush=True)
            rows.append((name, "-", first, stall, total,
                         None if whole is None else common_rel_l2(out, whole),
                         None if whole is None else out.size - whole.size, ""))
    lines = [f"# RVC v2 40k streaming start, {duration:.0f} s input, {dev}",
             "",
             f"Full-size random weights (RVC v2 40k, HuBERT-base), f0 {args.f0_method}, rms_mix_rate 0.25, backends "
             f"{choice[0].get('backend')} / {_backend(choice[1])}; "
             f"load average before {load_before}, after {os.getloadavg()[0]:.1f} (2 shared cores: wall times swing).",
             "",
             "| run | segments | first second ready (s) | x real time | stalls after start (s, gaps) | total (s) | "
             "total RTF | total vs whole | rel L2 vs whole-file audio (common length) | length vs whole (samples) | "
             "rel L2 vs whole run at same settings |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, segments, first, (silent, gaps), total, err, dlen, same in rows:
        vs_whole = "-" if t_whole is None else f"{total / t_whole:.2f}x"
        lines.append(f"| {name} | {segments} | {first:.2f} | {first:.2f}x | {silent:.1f}, {gaps} | {total:.2f} | "
                     f"{total / duration:.2f} | {vs_whole} | {'-' if err is None else f'{err:.2e}'} | "
                     f"{'-' if dlen is None else f'{dlen:+d}'} | {same or '-'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


def _backend(info) -> str:
    info = info[0] if isinstance(info, list) else info
    return str(info.get("backend")) if isinstance(info, dict) else str(info)


def _segments(x16: np.ndarray, settings: DeviceSettings) -> list:
    from haysay.nodes.vc.rvc.pipeline import _HP_A, _HP_B, _split_points
    from scipy import signal

    return _split_points(signal.filtfilt(_HP_B, _HP_A, x16), settings) + [None]


if __name__ == "__main__":
    main()
