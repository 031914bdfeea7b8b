"""tts.coqui on CPU: real-time factor of full-size Coqui models with random weights (no weights can be
downloaded here), built by Coqui's own code at their released sizes and run through haysay's adapter.

    python benchmarks/coqui.py            # VITS (LJSpeech size)
    python benchmarks/coqui.py --xtts     # also XTTS v2 (released size; slow on a small CPU)

Random weights never learn to stop, so an XTTS run generates its maximum number of audio tokens:
its RTF is an upper bound for the GPT part.
"""
from __future__ import annotations

import argparse
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


TEXT = ("The quick brown fox jumps over the lazy dog. A voice model speaks these words for a benchmark, "
        "at its own pace, with the settings it was released with.")


def _vits(folder: Path) -> None:
    from haysay.nodes.tts.coqui.phonemes import install_library_espeak
    from trainer.io import save_model
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    install_library_espeak()
    folder.mkdir(parents=True)
    config = VitsConfig(model_args=VitsArgs(init_discriminator=False), use_phonemes=True, phonemizer="espeak",
                        phoneme_language="en-us", text_cleaner="phoneme_cleaners")
    config.audio.do_trim_silence = False
    save_model(config, Vits(config), folder / "model.pth", current_step=1, epoch=1)
    config.save_json(str(folder / "config.json"))


def _xtts(folder: Path) -> None:
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from trainer.io import save_model
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.models.xtts import Xtts

    folder.mkdir(parents=True)
    special = ["[STOP]", "[UNK]", "[SPACE]", "[START]", "[en]"]
    vocab = {t: i for i, t in enumerate(special + list(string.ascii_lowercase + string.digits + ".,!?'-"))}
    tok = Tokenizer(BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tok.add_special_tokens(special)
    tok.save(str(folder / "vocab.json"))
    args = XttsArgs(gpt_number_text_tokens=len(vocab), gpt_start_text_token=vocab["[START]"],
                    gpt_stop_text_token=vocab["[STOP]"], tokenizer_file=str(folder / "vocab.json"),
                    gpt_max_audio_tokens=605)  # XTTS v2's released GPT: 30 layers x 1024
    config = XttsConfig(model_args=args, languages=["en"])
    model = Xtts(config)
    model.init_models()
    save_model(config, model, folder / "model.pth", current_step=1, epoch=1)
    config.save_json(str(folder / "config.json"))


def measure(kind: str, folder: Path) -> dict:
    from haysay.nodes.tts.coqui.engine import find_files, load_synthesizer, synthesize

    files = find_files(folder)
    t0 = time.perf_counter()
    synth = load_synthesizer(files, "cpu", folder.parent / "cache")
    load = time.perf_counter() - t0
    rate = synth.output_sample_rate
    ref = None
    if kind == "xtts":
        t = np.arange(rate * 4) / rate
        ref = ((0.3 * np.sin(2 * np.pi * 160 * t)).astype(np.float32), rate)
    kw = {"reference": ref, "language": "en"} if kind == "xtts" else {}
    synthesize(synth, files, "Warm up.", seed=0, **kw)
    t0 = time.perf_counter()
    wav = synthesize(synth, files, TEXT, seed=0, **kw)
    took = time.perf_counter() - t0
    seconds = wav.size / rate
    return {"model": kind, "load_s": load, "audio_s": seconds, "wall_s": took, "rtf": took / max(seconds, 1e-9)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xtts", action="store_true", help="also XTTS v2 at its released size")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="haysay-bench-coqui-") as tmp:
        _vits(Path(tmp) / "vits")
        rows.append(measure("vits", Path(tmp) / "vits"))
        if args.xtts:
            _xtts(Path(tmp) / "xtts")
            rows.append(measure("xtts", Path(tmp) / "xtts"))
    print("| model (random weights, released size) | load s | audio s | wall s | CPU RTF (warm) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['load_s']:.1f} | {r['audio_s']:.1f} | {r['wall_s']:.2f} | {r['rtf']:.3f} |")


if __name__ == "__main__":
    main()
