"""Speed of the neural voice-conversion adapters: haysay vs a plain-torch reference of the same networks.

Full-size networks with random weights, written in the upstream file formats:
RVC v2 40 kHz (the WebUI's v2 config), so-vits-svc 4.1 (44.1 kHz, vec768l12), so-vits-svc 3.0 (32 kHz, its
fixed decoder, HuBERT-Soft), a HuBERT-base content encoder (12 layers x 768, fairseq form) and a HuBERT-Soft
one (the same size, bshall's hubert-soft-0d54a1f4.pt form). Input: 10 s of espeak speech. The reference
is what upstream runs (fp32 torch eager under no_grad); haysay runs its chosen decoder backend (auto: the
ONNX Runtime graph on CPU, exported on first load, which "load" includes), and both outputs are compared.

    python benchmarks/adapters.py [--device cuda] [--seconds 10] [--f0-method pm]
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

from haysay.nodes.tts.espeak import synthesize_espeak
from haysay.nodes.vc.backend import BACKENDS, attach_decoder, attach_encoder
from haysay.nodes.vc.content.checkpoint import read_content_encoder, save_fairseq_checkpoint
from haysay.nodes.vc.content.hubert import HubertConfig, hubert_base_encoder
from haysay.nodes.vc.content.soft import SoftHubert, encoder_state_to_soft
from haysay.nodes.vc.content.speech_encoders import read_speech_encoder
from haysay.nodes.vc.resolve import content_digest
from haysay.nodes.vc.rvc.checkpoint import build_rvc_model, read_rvc_checkpoint, save_rvc_checkpoint
from haysay.nodes.vc.rvc.models import V2_40K, rvc_synthesizer
from haysay.nodes.vc.rvc.pipeline import RVCOptions, convert_rvc
from haysay.nodes.vc.sovits.checkpoint import build_sovits_model, read_sovits_config, save_sovits_files
from haysay.nodes.vc.sovits.models import SovitsConfig, SovitsSynthesizer
from haysay.nodes.vc.sovits.models_v3 import SovitsV3Synthesizer
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


def race(convert, model, encoder, choose, runs: int, dev: str):
    """Reference and haysay runs interleaved (so a busy machine slows both alike): the reference with the
    torch networks under no_grad, haysay with `choose()`'s backends under inference_mode. Returns
    (reference out, haysay out, haysay first s, reference best warm s, haysay best warm s, choices)."""
    with torch.no_grad():
        ref, _ = timed(convert, dev)  # warms the reference
    t = time.perf_counter()
    choices = choose()
    core, graphs = model.dec.core, getattr(encoder, "graphs", None)
    with torch.inference_mode():
        out, _ = timed(convert, dev)  # exports the encoder's graph on its first use
    first = time.perf_counter() - t  # attaching and exporting count as haysay's first run
    ref_t, fast_t, ref_cpu, fast_cpu = [], [], [], []
    for _ in range(runs):
        model.dec.core, encoder.graphs = None, None
        c = time.process_time()
        with torch.no_grad():
            ref_t.append(timed(convert, dev)[1])
        ref_cpu.append(time.process_time() - c)
        model.dec.core, encoder.graphs = core, graphs
        c = time.process_time()
        with torch.inference_mode():
            fast_t.append(timed(convert, dev)[1])
        fast_cpu.append(time.process_time() - c)
    CPU_SECONDS.append((min(ref_cpu), min(fast_cpu)))
    return ref, out, first, min(ref_t), min(fast_t), choices


# process CPU seconds (all threads) of the best reference and haysay runs: on a machine shared with other
# work, wall times swing with the load, CPU seconds much less
CPU_SECONDS: list[tuple[float, float]] = []


def rel_l2(got: np.ndarray, ref: np.ndarray) -> float:
    n = min(got.size, ref.size)
    return float(np.linalg.norm(got[:n].astype(np.float64) - ref[:n]) / max(np.linalg.norm(ref[:n]), 1e-30)) \
        if got.size == ref.size else float("inf")


# warm CPU RTF before this work, on the same loaded 2-core VM (README's earlier table)
PREVIOUS_CPU_RTF = {"RVC v2 40k": "1.14", "so-vits-svc 4.1 44k": "0.47-0.55"}


PARTS = ("vc", "styletts2", "sovits5", "talknet", "gpt_sovits", "openvoice")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--f0-method", default="pm")
    ap.add_argument("--runs", type=int, default=2, help="warm runs (the best is reported)")
    ap.add_argument("--backend", default="auto", choices=BACKENDS, help="haysay's decoder backend")
    ap.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts (default: all)")
    args = ap.parse_args()
    dev = args.device
    load_before = f"{os.getloadavg()[0]:.1f}"
    only = set(args.only or PARTS)
    if "vc" in only:
        vc_race(args, dev, load_before)
    for name, run in (("styletts2", lambda: styletts2(dev, args.runs)),
                      ("sovits5", lambda: sovits5(args.seconds, dev, args.runs)),
                      ("talknet", lambda: talknet(dev, args.runs)), ("gpt_sovits", lambda: gpt_sovits(dev, args.runs)),
                      ("openvoice", lambda: openvoice(args.seconds, dev, args.runs))):
        if name in only:
            run()


def vc_race(args, dev: str, load_before: str) -> None:
    """RVC v2, so-vits-svc 4.1 and 3.0: haysay raced against the plain-torch reference (the table)."""
    torch.manual_seed(0)
    x, rate = speech(args.seconds)
    duration = x.size / rate
    rows, backends = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("HAYSAY_COMPILED", str(root / "compiled"))  # a cold graph cache: first load exports
        enc_path = save_fairseq_checkpoint(root / "hubert_base.pt", hubert_base_encoder())
        rvc_path = save_rvc_checkpoint(root / "v2_40k.pth", rvc_synthesizer(V2_40K, "v2", True), "v2")
        sovits_model = SovitsSynthesizer(SovitsConfig(speakers={"speaker0": 0}))
        sovits_weights, sovits_cfg = save_sovits_files(root / "sovits", sovits_model, "4.1", "vec768l12")
        del sovits_model
        v3_model = SovitsV3Synthesizer(SovitsConfig(gin_channels=256, ssl_dim=256, sampling_rate=32000,
                                                    use_automatic_f0_prediction=False, speakers={"speaker0": 0}))
        v3_weights, v3_cfg = save_sovits_files(root / "sovits3", v3_model, "3.0")
        del v3_model
        soft_path = root / "hubert-soft-0d54a1f4.pt"  # bshall/hubert v0.1's bare DDP state dict
        torch.save({"module." + k: v for k, v in encoder_state_to_soft(SoftHubert(HubertConfig())).items()},
                   soft_path)
        sizes = {p: p.stat().st_size / 2 ** 20 for p in (enc_path, rvc_path, sovits_weights, v3_weights)}

        x16 = soxr.resample(x.astype(np.float64), rate, 16000)
        (encoder, t_enc) = timed(lambda: read_content_encoder(enc_path).to(dev), dev)
        enc_digest = content_digest(enc_path)
        (ckpt, t_read) = timed(lambda: read_rvc_checkpoint(rvc_path), dev)
        (rvc, t_build) = timed(lambda: build_rvc_model(ckpt, dev), dev)
        opts = RVCOptions(f0_method=args.f0_method)
        ref, out, first, ref_warm, warm, choice = race(
            lambda: convert_rvc(x16, rvc, "v2", encoder, opts, None, dev).audio, rvc, encoder,
            lambda: (attach_decoder(rvc, content_digest(rvc_path), args.backend, dev),
                     attach_encoder(encoder, enc_digest, args.backend, dev)), args.runs, dev)
        load = t_enc + t_read + t_build
        rows.append(("RVC v2 40k", sizes[rvc_path], load, load + first, ref_warm, warm, rel_l2(out, ref)))
        backends.append(choice)
        rvc = None  # frees the network before so-vits loads

        info = read_sovits_config(sovits_cfg)
        x44 = soxr.resample(x.astype(np.float64), rate, info.config.sampling_rate)
        (model, t_load) = timed(lambda: build_sovits_model(sovits_weights, info, dev), dev)
        (encoder, t_enc) = timed(lambda: read_content_encoder(enc_path).to(dev), dev)  # its layer-12 graph is cached from RVC
        sopts = SovitsOptions(f0_method=args.f0_method)
        ref, out, first, ref_warm, warm, choice = race(
            lambda: convert_sovits(x44, model, info, encoder, sopts, None, dev).audio, model, encoder,
            lambda: (attach_decoder(model, content_digest(sovits_weights), args.backend, dev),
                     attach_encoder(encoder, enc_digest, args.backend, dev)), args.runs, dev)
        load = t_enc + t_load
        rows.append(("so-vits-svc 4.1 44k", sizes[sovits_weights], load, load + first, ref_warm, warm,
                     rel_l2(out, ref)))
        backends.append(choice)
        model = encoder = None

        info = read_sovits_config(v3_cfg)
        x32 = soxr.resample(x.astype(np.float64), rate, info.config.sampling_rate)
        (model, t_load) = timed(lambda: build_sovits_model(v3_weights, info, dev), dev)
        (encoder, t_enc) = timed(lambda: read_speech_encoder(soft_path, "hubertsoft").to(dev), dev)
        ref, out, first, ref_warm, warm, choice = race(
            lambda: convert_sovits(x32, model, info, encoder, sopts, None, dev).audio, model, encoder,
            lambda: (attach_decoder(model, content_digest(v3_weights), args.backend, dev),
                     attach_encoder(encoder, content_digest(soft_path), args.backend, dev)), args.runs, dev)
        load = t_enc + t_load
        rows.append(("so-vits-svc 3.0 32k", sizes[v3_weights], load, load + first, ref_warm, warm,
                     rel_l2(out, ref)))
        backends.append(choice)

    threads = torch.get_num_threads()
    print(f"\nLoad average before / after: {load_before} / {os.getloadavg()[0]:.1f}")
    print(f"{duration:.1f} s of speech, device {dev}"
          f"{'' if dev != 'cpu' else f' ({threads} torch threads, {os.cpu_count()} cores)'}, f0 {args.f0_method}; "
          f"HuBERT-base file {sizes[enc_path]:.0f} MiB. RTF = processing time / audio duration.\n"
          "Reference: the same networks in plain torch fp32 eager under no_grad (what upstream runs); haysay: "
          f"backend {args.backend!r}, inference_mode. Warm = best of {args.runs} after a first run. relL2: "
          "haysay's output against the reference's (same seed).\n")
    print("| model | file MiB | load s | cold s (load + first run, graph export incl.) | reference warm s | "
          "haysay warm s | speed-up | reference RTF | haysay RTF | previous RTF (CPU) | decoder / encoder | "
          "relL2 vs reference | CPU s reference / haysay | CPU speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|")
    for (name, mib, load, cold, ref_warm, warm, rel), (dec, enc), (rc, fc) in zip(rows, backends, CPU_SECONDS):
        print(f"| {name} | {mib:.0f} | {load:.2f} | {cold:.2f} | {ref_warm:.2f} | {warm:.2f} | "
              f"{ref_warm / warm:.2f}x | {ref_warm / duration:.2f} | {warm / duration:.2f} | "
              f"{PREVIOUS_CPU_RTF.get(name, '-') if dev == 'cpu' else '-'} | {dec['backend']} / {enc['backend']} | "
              f"{rel:.1e} | {rc:.1f} / {fc:.1f} | {rc / fc:.2f}x |")
    print()
    for (name, *_), (dec, enc) in zip(rows, backends):
        print(f"{name}: decoder {({k: v for k, v in dec.items() if k != 'graph'})}; encoder "
              f"{({k: v for k, v in enc.items() if k != 'layers'})} "
              f"{[{k: v for k, v in layer.items() if k != 'graph'} for layer in enc.get('layers', {}).values()]}")


def gpt_sovits(dev: str, runs: int, tokens: int = 150) -> None:
    """tts.gpt_sovits: full-size v2 networks (s1longer-v2.yaml GPT: 24 x 512; s2.json SoVITS) and HuBERT-base,
    random weights, a 5 s reference with its transcript; the AR decoder is held to `tokens` (3 s) by
    upstream's early stop, then SoVITS decodes them at 32 kHz."""
    from haysay.nodes.tts.gpt_sovits import frontend, synthesis
    from haysay.nodes.tts.gpt_sovits.models import SoVITSConfig, SynthesizerTrn
    from haysay.nodes.tts.gpt_sovits.t2s import T2SConfig, Text2SemanticDecoder

    torch.manual_seed(0)
    # upstream's early stop (hz * max_sec) holds random weights, which rarely emit EOS, to `tokens`
    t2s = Text2SemanticDecoder(T2SConfig(max_sec=tokens // synthesis.SEMANTIC_HZ)).eval()
    vq = SynthesizerTrn(SoVITSConfig()).eval()
    with torch.no_grad():
        for layer in t2s.h.layers:
            torch.nn.init.xavier_uniform_(layer.self_attn.in_proj_weight)
            layer.self_attn.in_proj_bias.zero_()
        vq.quantizer.vq.layers[0]._codebook.embed.normal_()
    t2s, vq, hubert = t2s.to(dev), vq.to(dev), hubert_base_encoder(None).eval().to(dev)
    ref = synthesize_espeak("A reference voice, speaking for a few seconds, and then a little more.")
    mono = ref.mono()[: 5 * ref.sample_rate]
    wav16k = soxr.resample(mono.astype(np.float64), ref.sample_rate, 16000, quality="HQ").astype(np.float32)
    wav32k = soxr.resample(mono.astype(np.float64), ref.sample_rate, 32000, quality="HQ").astype(np.float32)
    prompt_ids = frontend.phone_ids("A reference voice, speaking for a few seconds.", "en")
    settings = synthesis.Settings()

    def run():
        with torch.no_grad():
            prompt = synthesis.prompt_tokens(vq, hubert, wav16k, 9600)
            refer = synthesis.reference_spectrogram(vq, wav32k)
            return synthesis.synthesize(t2s, vq, ["The quick brown fox jumps over the lazy dog."], "en", prompt,
                                        prompt_ids, refer, settings, torch.Generator(dev).manual_seed(0))

    (audio, info), cold = timed(run, dev)
    best = min(timed(run, dev)[1] for _ in range(runs))
    seconds = audio.size / 32000
    params = sum(p.numel() for m in (t2s, vq) for p in m.parameters()) / 1e6
    print(f"GPT-SoVITS v2 ({params:.1f} M params GPT+SoVITS, + HuBERT-base), torch eager, {seconds:.2f} s of speech "
          f"({info[0]['semantic_tokens']} semantic tokens): cold {cold:.2f} s, warm {best:.2f} s, "
          f"RTF {best / seconds:.2f}")


def talknet(dev: str, runs: int) -> None:
    """tts.talknet: full-size TalkNet 2 spect/durs/pitch networks (NeMo's default configs) and a V1 HiFi-GAN
    with its denoiser, random weights (durations fixed at 6 frames a token), one sentence; then hifisr."""
    from haysay.nodes.tts.talknet import frontend, synthesis, vocoder
    from haysay.nodes.tts.talknet.models import KINDS, Vocab, check_encoder, default_config

    torch.manual_seed(0)
    vocab = Vocab(**default_config("spect")["train_ds"]["dataset"]["vocab"])
    nets = {k: KINDS[k](default_config(k), vocab, check_encoder(default_config(k), k)).eval().to(dev) for k in KINDS}
    with torch.no_grad():
        nets["durs"].proj.weight.zero_()
        nets["durs"].proj.bias.fill_(float(np.log(7.0)))
    voice = synthesis.Voice(nets["spect"], nets["durs"], nets["pitch"], vocab, True)
    gen = {k: vocoder._generator(h).state_dict() for k, h in (("v1", vocoder.CONFIG_V1), ("sr", vocoder.CONFIG_32K))}
    voc = vocoder.Vocoder(gen["v1"], vocoder.CONFIG_V1, "v1").to(dev)
    sr = vocoder.Vocoder(gen["sr"], vocoder.CONFIG_32K, "hifisr").to(dev)
    ids = frontend.tokens("The quick brown fox jumps over the lazy dog.", vocab)

    def run():
        mel, _, _ = synthesis.spectrogram(voice, ids)
        return mel, voc.vocode(mel)

    (mel, audio), _ = timed(run, dev)
    best = min(timed(run, dev)[1] for _ in range(runs))
    best_sr = min(timed(lambda: vocoder.superres(sr, audio, 22050), dev)[1] for _ in range(runs))
    seconds = audio.size / 22050
    params = sum(p.numel() for n in nets.values() for p in n.parameters()) / 1e6
    print(f"TalkNet 2 ({params:.1f} M params in spect+durs+pitch) + HiFi-GAN V1, torch eager, {seconds:.2f} s of "
          f"speech ({mel.shape[-1]} frames): warm {best:.2f} s, RTF {best / seconds:.2f}; hifisr super-resolution "
          f"+{best_sr:.2f} s (RTF {best_sr / seconds:.2f})")


def openvoice(seconds: float, dev: str, runs: int) -> None:
    """vc.openvoice: the full-size v2 tone-colour converter (benchmarks/openvoice.py's network and files),
    random weights, on `seconds` of espeak speech with a 10 s reference of another voice."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import openvoice as ov  # benchmarks/openvoice.py (its memory table too: run it alone)

    with tempfile.TemporaryDirectory() as tmp:
        model = ov.build_openvoice_model(ov.read_openvoice_checkpoint(ov.write_converter(Path(tmp) / "conv")), dev)
        ref = ov.extract_embedding(model, ov.split_chunks(ov.speech(10, ov.REFERENCE), ov.SR), dev)
        x = ov.speech(seconds, ov.SOURCE)

        def once():
            src = ov.extract_embedding(model, ov.split_chunks(x, ov.SR), dev)
            return ov.convert(model, x, src, ref, 0.3, 0, dev)

        best = min(timed(once, dev)[1] for _ in range(runs + 1))
    print(f"OpenVoice v2 converter ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params), torch "
          f"eager, {seconds:.1f} s (source embedding included): warm {best:.2f} s, RTF {best / seconds:.2f}")


def sovits5(seconds: float, dev: str, runs: int) -> None:
    """vc.sovits5's synthesizer (full-size base.yaml network, random weights) on `seconds` of random
    Whisper/HuBERT features at 100 frames/s: torch eager only (no exported backend for it yet)."""
    from haysay.nodes.vc.sovits5.models import Sovits5Config, Sovits5Synthesizer
    from haysay.nodes.vc.sovits5.pipeline import synthesize

    cfg = Sovits5Config()
    model = Sovits5Synthesizer(cfg).eval().to(dev)
    n = int(seconds * 100)
    g = np.random.default_rng(0)
    feats = (g.standard_normal((n, cfg.ppg_dim)), g.standard_normal((n, cfg.vec_dim)), np.full(n, 200.0),
             g.standard_normal(cfg.spk_dim))
    best = min(timed(lambda: synthesize(model, *feats), dev)[1] for _ in range(runs + 1))
    print(f"so-vits-svc 5.0 32k synthesizer ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params), "
          f"torch eager, {seconds:.1f} s: warm {best:.2f} s, RTF {best / seconds:.2f}")


def styletts2(dev: str, runs: int) -> None:
    """tts.styletts2: the full-size LibriTTS network (Configs/config_libritts.yml model_params, PL-BERT's
    12 x 768 ALBERT), random weights (durations biased to about 5 frames a token), one sentence with a
    reference voice: 5 diffusion steps, HiFi-GAN decoder at 24 kHz."""
    from haysay.nodes.tts.styletts2.checkpoint import StyleTTS2, StyleTTS2Config, factories
    from haysay.nodes.tts.styletts2.synthesis import compute_style, synthesize

    cfg = StyleTTS2Config(
        hidden_dim=512, style_dim=128, dim_in=64, n_layer=3, n_token=178, max_dur=50, multispeaker=True,
        decoder={"kind": "hifigan", "resblock_kernel_sizes": [3, 7, 11], "upsample_rates": [10, 5, 3, 2],
                 "upsample_initial_channel": 512, "resblock_dilation_sizes": [[1, 3, 5]] * 3,
                 "upsample_kernel_sizes": [20, 10, 6, 4]},
        transformer={"num_layers": 3, "num_heads": 8, "head_features": 64, "multiplier": 2}, sigma_data=0.2,
        bert={"vocab_size": 178, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048,
              "max_position_embeddings": 512, "num_hidden_layers": 12})
    torch.manual_seed(0)
    model = StyleTTS2(cfg, {k: f() for k, f in factories(cfg).items()}).eval().to(dev)
    with torch.no_grad():
        model.predictor.duration_proj.linear_layer.bias.fill_(-2.3)
    ref = synthesize_espeak("A reference voice, speaking for a few seconds.")
    y = soxr.resample(ref.mono().astype(np.float64), ref.sample_rate, 24000, quality="HQ").astype(np.float32)
    ref_s = compute_style(model, y)
    text = "The quick brown fox jumps over the lazy dog."
    audio, _ = timed(lambda: synthesize(model, text, ref_s, 0), dev)
    best = min(timed(lambda: synthesize(model, text, ref_s, 0), dev)[1] for _ in range(runs))
    seconds = audio.size / 24000
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"StyleTTS 2 LibriTTS ({params:.1f} M params, {params * 4:.0f} MB fp32), torch eager, {seconds:.2f} s of "
          f"speech: warm {best:.2f} s, RTF {best / seconds:.2f}")


if __name__ == "__main__":
    main()
