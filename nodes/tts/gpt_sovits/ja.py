"""GPT-SoVITS v2 Japanese front end (text/japanese.py's g2p with prosody marks, as cleaner.clean_text runs it
for "ja"): repeated marks collapsed -> ％ read as パーセント, Latin letters lowered -> each run of Japanese
characters read by OpenJTalk's full-context labels into phonemes with the accent marks "[" (pitch rises)
and "]" (falls) and "#" (accent-phrase border, not a v2 symbol: it becomes UNK as upstream's does) -> the
marks between runs mapped to the v2 punctuation. Upstream gives Japanese no BERT features (zeros) and no
word2ph.

The readings are pyopenjtalk-plus's (its dictionary ships in the wheel, so nothing is downloaded):
tsukumijima's extended dictionary with Sudachi homograph and 何 corrections, where upstream's
pyopenjtalk reads with open_jtalk_dic_utf_8-1.11, so a word's reading or accent can differ. Upstream
also compiles text/ja_userdic/userdict.csv into a MeCab user dictionary when that file is present; none
is applied here."""
from __future__ import annotations

import os
import re
from importlib.util import find_spec
from pathlib import Path

from haysay.nodes.tts.gpt_sovits.frontend import TextError

PACKAGE = "pyopenjtalk-plus"
# characters OpenJTalk reads (japanese._japanese_characters); every other character is a mark of its own
JAPANESE = "A-Za-z\\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d"
TOKENS = re.compile(f"[{JAPANESE}]+|[^{JAPANESE}]")
REPEATED = re.compile(r"([!?….,\-])[!?….,\-]+")  # symbols.punctuation, a run kept as its first mark
MARKS = {"：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",", "、": ","}
SPOKEN_MARKS = {"％": "パーセント"}
PHONE = re.compile(r"-(.*?)\+")


class JapaneseTextError(TextError):
    """Japanese text this front end cannot turn into phonemes."""


def dictionary_dir() -> Path | None:
    """The OpenJTalk dictionary pyopenjtalk would read, found without importing it (plain pyopenjtalk
    downloads its dictionary at first use; pyopenjtalk-plus ships it): None when it is not installed."""
    spec = find_spec("pyopenjtalk")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(list(spec.submodule_search_locations)[0])
    candidates = [os.environ.get("OPEN_JTALK_DICT_DIR", ""), package / "dictionary",
                  package / "open_jtalk_dic_utf_8-1.11"]
    return next((Path(c) for c in candidates if c and (Path(c) / "sys.dic").is_file()), None)


def missing() -> str | None:
    """Why Japanese cannot be read here, or None."""
    if find_spec("pyopenjtalk") is None:
        return f"Japanese needs the {PACKAGE} package (OpenJTalk with its dictionary): pip install {PACKAGE}"
    if dictionary_dir() is None:
        return (f"pyopenjtalk is installed without its dictionary (it would download it at first use): "
                f"pip install {PACKAGE}, which ships it")
    return None


def _number(pattern: str, label: str) -> int:
    found = re.search(pattern, label)
    return int(found.group(1)) if found else -50


def prosody_phones(word: str) -> list[str]:
    """espnet's pyopenjtalk_g2p_prosody (as japanese.py carries it), without its leading "^" and its final
    "$" / "?" (upstream slices [1:-1]): phonemes, devoiced vowels as plain ones, pauses as "_", and "#",
    "[" or "]" after a mora where an accent phrase ends, the pitch rises or falls."""
    import pyopenjtalk

    labels = pyopenjtalk.make_label(pyopenjtalk.run_frontend(word))
    out = []
    for n, label in enumerate(labels):
        phone = PHONE.search(label).group(1)
        if phone in "AEIOU":  # a substring test, as upstream's
            phone = phone.lower()
        if phone == "sil":
            if 0 < n < len(labels) - 1:
                raise JapaneseTextError(f"OpenJTalk put a silence inside {word!r}")
            if n == 0:
                out.append("^")
            else:  # E3: 1 when the phrase is a question
                out += {0: ["$"], 1: ["?"]}.get(_number(r"!(\d+)_", label), [])
            continue
        if phone == "pau":
            out.append("_")
            continue
        out.append(phone)
        a1, a2, a3 = (_number(p, label) for p in (r"/A:([0-9\-]+)\+", r"\+(\d+)\+", r"\+(\d+)/"))
        moras = _number(r"/F:(\d+)_", label)
        a2_next = _number(r"\+(\d+)\+", labels[n + 1])
        if a3 == 1 and a2_next == 1 and phone in "aeiouAEIOUNcl":
            out.append("#")
        elif a1 == 0 and a2_next == a2 + 1 and a2 != moras:
            out.append("]")
        elif a2 == 1 and a2_next == 2:
            out.append("[")
    return out[1:-1]


def normalize(text: str) -> str:
    """japanese.text_normalize: a run of marks is kept as its first (to not leak the reference's pauses)."""
    return REPEATED.sub(r"\1", text)


def g2p(norm_text: str) -> list[str]:
    """japanese.g2p (with_prosody): Japanese runs read with prosody marks, each other character kept as a
    mark (spaces dropped) and mapped to the v2 punctuation where it has one."""
    text = norm_text
    for mark, words in SPOKEN_MARKS.items():
        text = text.replace(mark, words)
    phones = []
    for token in TOKENS.findall(text.lower()):
        if re.match(f"[{JAPANESE}]", token):
            phones += prosody_phones(token)
        elif token != " ":
            phones.append(MARKS.get(token, token))
    return phones


def clean_text(text: str, symbols: set[str]) -> tuple[list[str], str]:
    """cleaner.clean_text for "ja": (phones, normalised text); a phone outside the v2 symbols is UNK."""
    reason = missing()
    if reason:
        raise JapaneseTextError(reason)
    norm = normalize(text)
    return [p if p in symbols else "UNK" for p in g2p(norm)], norm


def split_languages(text: str) -> list[tuple[str, str]]:
    """upstream's "ja" mode: English runs and Japanese runs (frontend.split_english)."""
    from haysay.nodes.tts.gpt_sovits.frontend import split_english

    return split_english(text, "ja", r"[\u3005\u3040-\u30ff\u4e00-\u9fff\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d\d]")
