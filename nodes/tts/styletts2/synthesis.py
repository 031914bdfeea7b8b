"""StyleTTS 2 speech from text: phonemes, reference style, and the inference notebooks' `inference`.

Text front end. Upstream runs phonemizer's EspeakBackend('en-us', preserve_punctuation=True,
with_stress=True), then nltk's word_tokenize, joined by spaces, and maps characters through
text_utils.TextCleaner's symbol table. Here the same espeak-ng library (shipped in espeakng-loader) is
asked for the same IPA with stress; punctuation is cut out before phonemizing and put back as its own
space-separated token, as word_tokenize leaves it. Known differences: word_tokenize also splits a few
IPA words at characters it treats as punctuation (rare), and turns '"' into `` / '' (which the symbol
table then drops); here '"' stays a '"' token.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from haysay.nodes.tts.styletts2.checkpoint import StyleTTS2
from haysay.nodes.tts.styletts2.decoder import SAMPLE_RATE

# text_utils.py's symbol table, verbatim ("'" appears twice: the later index wins, as in its dict)
_PAD = "$"
_PUNCTUATION = ';:,.!?¡¿—…"«»“” '
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LETTERS_IPA = ("ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘'̩'ᵻ")
SYMBOLS = {c: i for i, c in enumerate([_PAD] + list(_PUNCTUATION) + list(_LETTERS) + list(_LETTERS_IPA))}
_MARKS = ';:,.!?¡¿—…"«»“”'  # phonemizer's default punctuation marks
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
# "weird pulse at the end of the model": the notebook's inference cuts 50 samples, its LFinference 100
TRIM_SAMPLES, TRIM_SAMPLES_LONG_FORM = 50, 100
MIN_REFERENCE_FRAMES = 80  # the style encoder's 4 halvings and 5x5 conv need 80 mel frames (1 s at 24 kHz)


def phonemize(text: str, voice: str = "en-us") -> str:
    """IPA of `text` with stress marks, words and punctuation marks separated by single spaces."""
    from haysay.nodes.tts.coqui.phonemes import text_to_phonemes

    out: list[str] = []
    for piece in re.split(f"([{re.escape(_MARKS)}])", text):
        if not piece.strip():
            continue
        if len(piece) == 1 and piece in _MARKS:
            out.append(piece)
            continue
        for clause in text_to_phonemes(piece, voice):
            clause = re.sub(r"\([^)]*\)", "", clause).replace("_", "")  # language-switch flags, separators
            out.extend(clause.split())
    return " ".join(out)


def tokens_of(phonemes: str) -> list[int]:
    """TextCleaner: symbol ids, unknown characters skipped, with the leading pad token the notebook inserts."""
    return [0] + [SYMBOLS[c] for c in phonemes if c in SYMBOLS]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def chunk_tokens(phonemes: str, limit: int) -> list[list[int]]:
    """Token lists of at most `limit` ids (BERT's position table), cut at word boundaries."""
    chunks, words = [], phonemes.split(" ")
    current: list[str] = []
    for word in words:
        if current and len(tokens_of(" ".join(current + [word]))) > limit:
            chunks.append(tokens_of(" ".join(current)))
            current = []
        current.append(word[: limit - 1])
    if current:
        chunks.append(tokens_of(" ".join(current)))
    return chunks


def trim_silence(y: np.ndarray, top_db: float = 30.0, frame: int = 2048, hop: int = 512) -> np.ndarray:
    """librosa.effects.trim(y, top_db=30): cut leading/trailing frames more than top_db below the loudest
    (frame RMS, centred zero-padded frames)."""
    padded = np.pad(y.astype(np.float64), frame // 2)
    n = 1 + (len(padded) - frame) // hop
    if n <= 0:
        return y
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    power = np.mean(padded[idx] ** 2, axis=1)
    db = 10 * np.log10(np.maximum(power, 1e-10)) - 10 * np.log10(max(power.max(), 1e-10))
    loud = np.flatnonzero(db > -top_db)
    if not len(loud):
        return y[:0]
    return y[loud[0] * hop: min(len(y), (loud[-1] + 1) * hop)]


def reference_mel(y: np.ndarray) -> torch.Tensor:
    """The notebook's `preprocess`: torchaudio mel (80 bands, n_fft 2048, win 1200, hop 300, at torchaudio's
    default 16 kHz filter bank, as upstream), log, normalised with mean -4, std 4 -> (1, 80, frames)."""
    import torchaudio

    to_mel = torchaudio.transforms.MelSpectrogram(n_mels=80, n_fft=2048, win_length=1200, hop_length=300)
    mel = to_mel(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)))
    return (torch.log(1e-5 + mel.unsqueeze(0)) + 4) / 4


@torch.no_grad()
def compute_style(model: StyleTTS2, y24k: np.ndarray) -> torch.Tensor:
    """The notebook's compute_style: (1, 2*style_dim) = [acoustic style, prosodic style] of a 24 kHz clip."""
    audio = trim_silence(y24k)
    mel = reference_mel(audio)
    if mel.shape[-1] < MIN_REFERENCE_FRAMES:
        raise ValueError(f"reference: the reference audio holds {len(audio) / SAMPLE_RATE:.2f} s of sound after "
                         f"trimming silence; the style encoder needs at least 1 s")
    device = next(model.parameters()).device
    mel = mel.to(device).unsqueeze(1)
    return torch.cat([model.style_encoder(mel), model.predictor_encoder(mel)], dim=1)


@torch.no_grad()
def synthesize_tokens(model: StyleTTS2, tokens: list[int], ref_s: torch.Tensor | None, generator: torch.Generator,
                      alpha: float = 0.3, beta: float = 0.7, diffusion_steps: int = 5, embedding_scale: float = 1.0,
                      speed: float = 1.0, s_prev: torch.Tensor | None = None, continuity: float = 0.7,
                      long_form: bool = False) -> tuple[np.ndarray, torch.Tensor]:
    """The notebooks' `inference` (multi-speaker: LibriTTS, with `ref_s`; single: LJSpeech) on token ids;
    `long_form`: their `LFinference`, a sentence of a passage, its style blended with `s_prev` (the previous
    sentence's, None for the first). Returns (samples, the style used)."""
    from haysay.nodes.tts.styletts2.diffusion import sample_style

    cfg, device = model.cfg, next(model.parameters()).device
    sd = cfg.style_dim
    x = torch.tensor([tokens], dtype=torch.long, device=device)
    t_en = model.text_encoder(x)
    bert_dur = model.bert(x, attention_mask=torch.ones_like(x)).last_hidden_state
    d_en = model.bert_encoder(bert_dur).transpose(-1, -2)
    noise = torch.randn((1, 2 * sd), generator=generator, device=device).unsqueeze(1)
    s_pred = sample_style(model.diffusion, noise, bert_dur, cfg.sigma_data, diffusion_steps, embedding_scale,
                          ref_s if cfg.multispeaker else None, generator).squeeze(1)
    if s_prev is not None:
        s_pred = continuity * s_prev + (1 - continuity) * s_pred
    ref, s = s_pred[:, :sd], s_pred[:, sd:]
    if ref_s is not None:  # multi-speaker models always; a single-speaker one when given a style (as Hay Say's CLI)
        ref = alpha * ref + (1 - alpha) * ref_s[:, :sd]
        s = beta * s + (1 - beta) * ref_s[:, sd:]
    d = model.predictor.text_encoder(d_en, s)
    duration = model.predictor.durations(d) / speed
    pred_dur = torch.round(duration).clamp(min=1).long()
    if not cfg.multispeaker and not long_form:
        pred_dur[-1] += 5  # the LJSpeech notebook's extra frames on the last token
    aln = torch.repeat_interleave(torch.eye(len(tokens), device=device), pred_dur, dim=1)
    en = d.transpose(-1, -2) @ aln
    asr = t_en @ aln
    if cfg.decoder["kind"] == "hifigan":  # the notebook delays features one frame for the HiFi-GAN decoder
        en = torch.cat([en[:, :, :1], en[:, :, :-1]], dim=2)
        asr = torch.cat([asr[:, :, :1], asr[:, :, :-1]], dim=2)
    f0, n = model.predictor.F0Ntrain(en, s)
    out = model.decoder(asr, f0, n, ref, generator).squeeze(0)
    if cfg.multispeaker:
        out = out[:-(TRIM_SAMPLES_LONG_FORM if long_form else TRIM_SAMPLES)]
    return out.float().cpu().numpy(), torch.cat([ref, s], dim=-1)


def synthesize(model: StyleTTS2, text: str, ref_s: torch.Tensor | None, seed: int, *, alpha: float = 0.3,
               beta: float = 0.7, diffusion_steps: int = 5, embedding_scale: float = 1.0, speed: float = 1.0,
               continuity: float = 0.7, progress=None) -> np.ndarray:
    """Speak `text`: one sentence as the notebooks' `inference`; several sentence by sentence as their
    long-form `LFinference` (each phonemized and sampled alone, from the second on its style blended with
    the previous one's by `continuity`), joined end to end."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    limit = min(model.cfg.bert["max_position_embeddings"], model.diffusion.fixed_embedding.embedding.num_embeddings)
    parts = [chunk for sentence in sentences(text) for chunk in chunk_tokens(phonemize(sentence), limit)]
    parts = [p for p in parts if len(p) > 1]
    if not parts:
        raise ValueError("text: nothing to say (no speakable characters)")
    pieces, s_prev = [], None
    for i, tokens in enumerate(parts):
        y, s_prev = synthesize_tokens(model, tokens, ref_s, generator, alpha, beta, diffusion_steps,
                                      embedding_scale, speed, s_prev if i else None, continuity, len(parts) > 1)
        pieces.append(y)
        if progress:
            progress((i + 1) / len(parts))
    return np.concatenate(pieces)
