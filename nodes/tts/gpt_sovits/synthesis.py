"""inference_webui.get_tts_wav for v2 models, on loaded networks and arrays (no file I/O here)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from haysay.nodes.tts.gpt_sovits import frontend
from haysay.nodes.tts.gpt_sovits.models import SynthesizerTrn, linear_spectrogram
from haysay.nodes.tts.gpt_sovits.t2s import BERT_DIM, Text2SemanticDecoder

SSL_RATE = 16000
SEMANTIC_HZ = 50  # upstream's hz: early_stop_num = hz * max_sec
REFERENCE_SECONDS = (3.0, 10.0)  # upstream refuses references outside 48000..160000 samples at 16 kHz


@dataclass
class Settings:
    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    speed: float = 1.0
    pause_seconds: float = 0.3
    noise_scale: float = 0.5


def prompt_tokens(sovits: SynthesizerTrn, hubert, wav16k: np.ndarray, pause_samples: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Reference at 16 kHz (+ upstream's zero pad, sized at the model's rate) -> HuBERT -> semantic tokens (1, t).
    With a CPU `generator`, one uniform draw per HuBERT layer is taken from it, as transformers' HubertEncoder
    draws its LayerDrop number (torch.rand([])) from torch's CPU generator even in eval mode: upstream seeds
    that generator and then samples tokens and decoder noise from it, so its sequence starts after them."""
    device = next(sovits.parameters()).device
    wav = torch.from_numpy(np.concatenate([wav16k.astype(np.float32), np.zeros(pause_samples, np.float32)]))
    ssl = hubert.features(wav[None].to(device), hubert.num_layers, False).transpose(1, 2)
    if generator is not None and generator.device.type == "cpu":
        for _ in range(hubert.num_layers):
            torch.rand([], generator=generator)
    return sovits.extract_latent(ssl)


def reference_spectrogram(sovits: SynthesizerTrn, wav: np.ndarray, rate: int | None = None) -> torch.Tensor:
    """get_spepc: reference (at `rate`, default the model's) resampled to the model's rate as upstream does
    (torchaudio's windowed-sinc Resample, not librosa's soxr: that one only feeds HuBERT), peaks over 1 scaled
    down (by at most 2), linear spectrogram."""
    audio = torch.from_numpy(wav.astype(np.float32))[None].to(next(sovits.parameters()).device)
    if rate is not None and rate != sovits.cfg.sampling_rate:
        import torchaudio

        audio = torchaudio.functional.resample(audio, rate, sovits.cfg.sampling_rate)
    peak = float(audio.abs().max())
    if peak > 1:
        audio = audio / min(2.0, peak)
    return linear_spectrogram(audio, sovits.cfg)


def encode(runs: list[frontend.Run], bert, device) -> tuple[list[int], torch.Tensor]:
    """get_phones_and_bert's ids and (1024, n) features: BERT's per-character features for Chinese runs
    (`bert` = (tokenizer, model)), zeros for the others."""
    from haysay.nodes.tts.gpt_sovits.zh import bert_features

    ids = frontend.symbol_ids()
    parts = [bert_features(bert, r.norm_text, r.word2ph).to(device) if r.language == "zh"
             else torch.zeros(BERT_DIM, len(r.phones), device=device) for r in runs]
    return [ids[p] for r in runs for p in r.phones], torch.cat(parts, dim=1)


def synthesize(t2s: Text2SemanticDecoder, sovits: SynthesizerTrn, pieces: list[str], language: str,
               prompt: torch.Tensor | None, prompt_ids: list[int], refer: torch.Tensor | None, settings: Settings,
               generator: torch.Generator, progress=None, words: dict | None = None, bert=None,
               prompt_bert: torch.Tensor | None = None,
               ge: torch.Tensor | None = None) -> tuple[np.ndarray, list[dict]]:
    """Each piece: phonemes (+ BERT features; `bert` = (tokenizer, model) for Chinese) -> AR semantic tokens
    (after the prompt's, whose features are `prompt_bert`, zeros if not given) -> SoVITS decode; pieces joined
    with upstream's pause. Returns audio at the model's rate and per-piece figures. `ge` (a precomputed
    timbre vector) replaces the one computed from `refer`, which may then be None."""
    device = next(sovits.parameters()).device
    if prompt_bert is None:
        prompt_bert = torch.zeros(BERT_DIM, len(prompt_ids), device=device)
    pause = np.zeros(int(sovits.cfg.sampling_rate * settings.pause_seconds), np.float32)
    out, info = [], []
    for n, piece in enumerate(pieces):
        if not piece.strip():
            continue
        ids, features = encode(frontend.text_runs(frontend.finish_sentence(piece, language), language, words),
                               bert, device)
        all_ids = torch.tensor([prompt_ids + ids], dtype=torch.long, device=device)
        features = torch.cat([prompt_bert.to(device), features], dim=1)[None]
        tokens, eos = t2s.infer(all_ids, prompt, features, settings.top_k, settings.top_p, settings.temperature,
                                settings.repetition_penalty, SEMANTIC_HZ * t2s.cfg.max_sec, generator)
        audio = sovits.decode(tokens, torch.tensor([ids], device=device), refer, settings.noise_scale,
                              settings.speed, generator, ge=ge)[0, 0]
        peak = float(audio.abs().max())
        if peak > 1:
            audio = audio / peak
        out += [audio.float().cpu().numpy(), pause]
        info.append({"phonemes": len(ids), "semantic_tokens": int(tokens.shape[1]), "eos": eos})
        if progress:
            progress(0.3 + 0.7 * (n + 1) / len(pieces), f"piece {n + 1}/{len(pieces)}")
    return np.concatenate(out) if out else pause, info
