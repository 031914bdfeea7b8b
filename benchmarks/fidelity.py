"""How close haysay's adapters are to upstream, on upstream's own files and outputs.

Reads ../shared/fixtures/upstream (or $HAYSAY_UPSTREAM_FIXTURES): model files written by RVC WebUI 20240604
and so-vits-svc 4.1-Stable, their inputs, and the outputs upstream computed (its README gives the exact
conditions: noise zeroed, a stub content encoder). Prints, per adapter, case and f0 source, the
correlation and log-mel distance of haysay's output against upstream's stored output, and, per f0
method, how haysay's tracker agrees with upstream's track.

    python benchmarks/fidelity.py [--quick]

f0 source "upstream" injects upstream's own track (isolates everything but the tracker); "haysay" runs
haysay's tracker (and, for so-vits, its resampler): the numbers a user's model actually sees. For f0
methods upstream has no stored pipeline output for (RVC harvest/crepe, so-vits dio/harvest), the reference
is haysay's pipeline driven by upstream's stored track for that method, which matches upstream's pipeline
to 1 LSB wherever it is checked.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _harness():
    spec = importlib.util.spec_from_file_location("upstream_harness", REPO / "tests/nodes/vc/upstream/conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


H = _harness()


def log_mel_distance(a: np.ndarray, b: np.ndarray, sr: int) -> float:
    """Mean absolute difference of 80-band log-mel spectrograms, in dB (librosa, 2048/512)."""
    import librosa

    n = min(a.size, b.size)
    spec = [librosa.power_to_db(librosa.feature.melspectrogram(y=np.asarray(x[:n], np.float32), sr=sr, n_fft=2048,
                                                               hop_length=512, n_mels=80), ref=1.0, amin=1e-10,
                                top_db=None) for x in (a, b)]
    return float(np.mean(np.abs(np.maximum(spec[0], -100) - np.maximum(spec[1], -100))))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.size, b.size)
    a, b = np.asarray(a[:n], np.float64), np.asarray(b[:n], np.float64)
    if not a.std() or not b.std():
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def track_agreement(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(% of frames with the same voicing, 95th-percentile |cents| over frames voiced in both)."""
    n = min(got.size, ref.size)
    got, ref = np.asarray(got[:n], np.float64), np.asarray(ref[:n], np.float64)
    same = float(np.mean((got > 0) == (ref > 0)) * 100)
    both = (got > 0) & (ref > 0)
    cents = np.abs(1200 * np.log2(got[both] / ref[both])) if both.any() else np.zeros(1)
    return same, float(np.percentile(cents, 95))


def rvc_rows(quick: bool) -> tuple[list[tuple], list[tuple]]:
    from haysay.nodes.vc import pitch
    from haysay.nodes.vc.retrieval import read_feature_index
    from haysay.nodes.vc.rvc.checkpoint import load_rvc_model
    from haysay.nodes.vc.rvc.pipeline import FP32_SETTINGS, RVCOptions, convert_rvc

    data = H.load_npz("rvc", "pipeline.npz")
    params = H.case_params(data)
    stub = H.StubEncoder()
    rows = []
    cases = [c for c in params if not quick or "long" not in c]

    def run(case, f0_method, tracker=None):
        p = params[case]
        ckpt, model = load_rvc_model(H.upstream_path("rvc", p["model"]))
        index = read_feature_index(H.upstream_path("rvc", p["file_index"])) if p["file_index"] else None
        opts = RVCOptions(speaker_id=p["sid"], pitch_shift=p["f0_up_key"], f0_method=f0_method,
                          index_rate=p["index_rate"], filter_radius=p["filter_radius"],
                          rms_mix_rate=p["rms_mix_rate"], protect=p["protect"], resample_sr=p["resample_sr"],
                          f0_tracker=tracker)
        audio = data[p["input"]].astype(np.float32) / 32768
        with H.UpstreamNoise("zero").patched():
            out = convert_rvc(audio, model, ckpt.version, stub, opts, index, "cpu", FP32_SETTINGS)
        return (out.audio * 32768).astype(np.int16), out.sample_rate

    for case in cases:
        ref = data[f"{case}__out"]
        shift = 2.0 ** (params[case]["f0_up_key"] / 12)
        upstream_f0 = data[f"{case}__pitchf"].astype(np.float64) / shift
        for source in ("upstream", "haysay"):
            tracker = (lambda x, n, f=upstream_f0: f) if source == "upstream" else None
            got, sr = run(case, "pm", tracker)
            lsb = int(np.max(np.abs(got.astype(np.int32) - ref.astype(np.int32)))) if got.shape == ref.shape else -1
            rows.append(("vc.rvc", case, "pm", source, corr(got, ref), log_mel_distance(got / 32768, ref / 32768, sr),
                         lsb))

    f0 = H.load_npz("rvc", "f0.npz")
    tracks = []
    for method in ("pm", "harvest", "crepe"):
        for key in (0, 5):
            _, hz = pitch.rvc_f0(f0["x_padded"].astype(np.float64), int(f0["p_len"]), method, key, 3, "cpu")
            tracks.append(("vc.rvc", method, key) + track_agreement(hz, f0[f"{method}_key{key}_hz"]))
        if method != "pm":  # output-level effect of the tracker, against upstream's track driving the same pipeline
            ref, sr = run("v2_8s_index", method, lambda x, n, f=f0[f"{method}_key0_hz"].astype(np.float64): f[:n])
            got, _ = run("v2_8s_index", method)
            rows.append(("vc.rvc", "v2_8s_index", method, "haysay vs upstream track", corr(got, ref),
                         log_mel_distance(got / 32768, ref / 32768, sr),
                         int(np.max(np.abs(got.astype(np.int32) - ref.astype(np.int32))))))
    return rows, tracks


def sovits_rows() -> tuple[list[tuple], list[tuple]]:
    from haysay.nodes.vc import pitch
    from haysay.nodes.vc.sovits.checkpoint import build_sovits_model, read_kmeans, read_sovits_config
    from haysay.nodes.vc.sovits.pipeline import FrontEnd, SovitsOptions, convert_sovits, infer_piece, speaker_id

    data = H.load_npz("sovits", "pipeline.npz")
    params = H.case_params(data)
    info = read_sovits_config(H.upstream_path("sovits", "4.1", "config.json"))
    model = build_sovits_model(H.upstream_path("sovits", "4.1", "G_1000.pth"), info)
    centers = read_kmeans(H.upstream_path("sovits", "kmeans_10.pt"))
    stub = H.StubEncoder()
    rows = []

    def run(case, method="pm", front_end=None, wav=None):
        p = params[case]
        opts = SovitsOptions(speaker=p["speaker"], transpose=p["tran"], f0_method=method,
                             noise_scale=p["noice_scale"], auto_predict_f0=p["auto_predict_f0"],
                             cluster_ratio=p["cluster_infer_ratio"],
                             loudness_envelope_adjustment=p["loudness_envelope_adjustment"])
        wav = data[p["input"]].astype(np.float32) / 32768 if wav is None else wav
        with H.UpstreamNoise("zero").patched():
            if p["call"] == "Svc.infer":
                sid, name = speaker_id(info, opts.speaker)
                return infer_piece(wav, model, info, stub, opts, sid, centers[name], front_end=front_end)[0].numpy()
            return convert_sovits(wav, model, info, stub, opts, centers, sample_rate=p["sample_rate"],
                                  front_end=front_end).audio

    def upstream_front_end(case):
        p = params[case]
        cuts = np.cumsum(data[f"{case}__piece_frames"])[:-1]
        f0 = np.split(data[f"{case}__f0"].astype(np.float64) / 2 ** (p["tran"] / 12), cuts)
        pieces = iter(zip(f0, np.split(data[f"{case}__uv"], cuts)))
        wav16k = (lambda w: data["input_piece_wav16k"]) if p["call"] == "Svc.infer" else None
        return FrontEnd(f0=lambda w: next(pieces), wav16k=wav16k)

    for case in params:
        ref = data[f"{case}__out_q"].astype(np.float64) * float(data[f"{case}__out_scale"])
        for source in ("upstream", "haysay"):
            got = run(case, front_end=upstream_front_end(case) if source == "upstream" else None)
            lsb = float(np.max(np.abs(got - ref)) * 32768) if got.shape == ref.shape else -1
            rows.append(("vc.sovits", case, "pm", source, corr(got, ref), log_mel_distance(got, ref, 44100),
                         round(lsb, 2)))

    f0 = H.load_npz("sovits", "f0.npz")
    audio = f0["audio"].astype(np.float32) / 32768
    tracks = []
    for method in ("pm", "dio", "harvest"):
        hz, uv = pitch.sovits_f0(audio, int(f0["sample_rate"]), int(f0["hop"]), method)
        same, cents = track_agreement(hz * uv, f0[f"{method}_f0"] * f0[f"{method}_uv"])
        tracks.append(("vc.sovits", method, "f0/uv", same, cents))
        if method != "pm":  # output-level effect of the tracker against upstream's track on the same pipeline
            ref_track = (f0[f"{method}_f0"].astype(np.float64), f0[f"{method}_uv"])
            ref = run("piece_base", method, FrontEnd(f0=lambda w, t=ref_track: t), audio)
            got = run("piece_base", method, None, audio)
            rows.append(("vc.sovits", "f0.npz 8 s input, one piece", method, "haysay vs upstream track", corr(got, ref),
                         log_mel_distance(got, ref, 44100), round(float(np.max(np.abs(got - ref)) * 32768), 2)))
    return rows, tracks


def print_tables(rows, tracks) -> None:
    print("\n| adapter | case | f0 method | f0 source | corr | log-mel dB | max LSB |")
    print("|---|---|---|---|---:|---:|---:|")
    for adapter, case, method, source, c, d, lsb in rows:
        print(f"| {adapter} | {case} | {method} | {source} | {c:.6f} | {d:.3f} | {lsb} |")
    print("\n| adapter | f0 method | key/track | voicing agreement % | voiced p95 cents |")
    print("|---|---|---|---:|---:|")
    for adapter, method, key, same, cents in tracks:
        print(f"| {adapter} | {method} | {key} | {same:.2f} | {cents:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 42 s RVC cases")
    args = ap.parse_args()
    if not H.UPSTREAM.exists():
        sys.exit(f"upstream reference data not found at {H.UPSTREAM} (set HAYSAY_UPSTREAM_FIXTURES)")
    import torch
    torch.set_num_threads(2)
    rows, tracks = rvc_rows(args.quick)
    more_rows, more_tracks = sovits_rows()
    print_tables(rows + more_rows, tracks + more_tracks)


if __name__ == "__main__":
    main()
