"""GPT-SoVITS v2 Chinese front end (text/chinese2.py with is_g2pw off): normalised text -> jieba words ->
pypinyin initials and toned finals -> tone sandhi and erhua -> the v2 initial/final symbols, with word2ph
(phones per character) for the BERT features.

Upstream's default reads polyphones with g2pW (a neural model it downloads); this is its pypinyin path,
so a polyphonic character gets pypinyin's phrase-dictionary reading where g2pW would judge from the
sentence. jieba stands in for jieba_fast (the same dictionary and algorithm in C)."""
from __future__ import annotations

import re

from haysay.nodes.tts.gpt_sovits.frontend import TextError
from haysay.nodes.tts.gpt_sovits.zh_normalize import PUNCTUATION

# erhua: words whose 儿 always merges into the previous syllable, and words where it never does
MUST_ERHUA = frozenset("小院儿 胡同儿 范儿 老汉儿 撒欢儿 寻老礼儿 妥妥儿 媳妇儿".split())
NOT_ERHUA = frozenset(
    "虐儿 为儿 护儿 瞒儿 救儿 替儿 有儿 一儿 我儿 俺儿 妻儿 拐儿 聋儿 乞儿 患儿 幼儿 孤儿 婴儿 婴幼儿 连体儿 脑瘫儿 流浪儿 "
    "体弱儿 混血儿 蜜雪儿 舫儿 祖儿 美儿 应采儿 可儿 侄儿 孙儿 侄孙儿 女儿 男儿 红孩儿 花儿 虫儿 马儿 鸟儿 猪儿 猫儿 狗儿 "
    "少儿".split())
TWO_LETTER_INITIALS = ("zh", "ch", "sh")
ZERO_INITIAL = {"a": "AA", "e": "EE", "o": "OO"}  # opencpop-strict's glottal initials
SPECIAL = {"￥": "SP2", "^": "SP3"}  # cleaner.special: the mark is read as a pause symbol


class ChineseTextError(TextError):
    """Chinese text this front end cannot turn into phonemes."""


def syllable_symbols(pinyin: str) -> tuple[str, str]:
    """A toneless pinyin syllable -> (initial, final) in opencpop-strict.txt's scheme: zh/ch/sh/r + i is
    'ir', z/c/s + i is 'i0', ü (written u after j/q/x/y) is 'v', y/w-syllables keep y/w as the initial,
    a/e/o-syllables take AA/EE/OO."""
    if pinyin[0] in ZERO_INITIAL:
        return ZERO_INITIAL[pinyin[0]], pinyin
    if pinyin[0] == "y":
        rest = pinyin[1:]
        return "y", "v" + rest[1:] if rest.startswith("u") else {"an": "En", "e": "E"}.get(rest, rest)
    if pinyin[0] == "w":
        return "w", "u" if pinyin == "wu" else pinyin[1:]
    initial = pinyin[:2] if pinyin.startswith(TWO_LETTER_INITIALS) else pinyin[0]
    rest = pinyin[len(initial):]
    if rest == "i" and initial in ("zh", "ch", "sh", "r"):
        return initial, "ir"
    if rest == "i" and initial in ("z", "c", "s"):
        return initial, "i0"
    if initial in "jqx" and rest.startswith("u"):
        return initial, "v" + rest[1:]
    return initial, rest


def spelled(initial: str, final: str) -> str:
    """pypinyin's strict initial + toneless final -> the written syllable (yi, wu, yu, gui, jiu...)."""
    if initial:
        return initial + {"uei": "ui", "iou": "iu", "uen": "un"}.get(final, final)
    whole = {"ing": "ying", "i": "yi", "in": "yin", "u": "wu"}.get(final)
    if whole:
        return whole
    return {"v": "yu", "i": "y", "u": "w"}.get(final[0], final[0]) + final[1:]


def _initials_finals(word: str) -> tuple[list[str], list[str]]:
    from pypinyin import Style, lazy_pinyin

    return (lazy_pinyin(word, neutral_tone_with_five=True, style=Style.INITIALS),
            lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3))


def _erhua(initials: list[str], finals: list[str], word: str, pos: str) -> tuple[list[str], list[str]]:
    """chinese2._merge_erhua: a final 儿 read er1 is er2; it takes the previous syllable's tone unless the
    word (or its part of speech: a, j, nr) keeps it apart."""
    if finals and word[len(finals) - 1] == "儿" and finals[-1] == "er1":
        finals[-1] = "er2"
    if word not in MUST_ERHUA and (word in NOT_ERHUA or pos in ("a", "j", "nr")):
        return initials, finals
    if len(finals) != len(word):
        return initials, finals
    if len(word) > 1 and word[-1] == "儿" and finals[-1] in ("er2", "er5") and word[-2:] not in NOT_ERHUA:
        finals = finals[:-1] + ["er" + finals[-2][-1]]
    return initials, finals


def _segment_phones(segment: str, symbols: set[str]) -> tuple[list[str], list[int]]:
    import jieba.posseg

    from haysay.nodes.tts.gpt_sovits.zh_sandhi import modified_tone, pre_merge

    initials, finals = [], []
    for word, pos in pre_merge(jieba.posseg.lcut(segment)):
        if pos == "eng":
            continue
        ini, fin = _initials_finals(word)
        ini, fin = _erhua(ini, modified_tone(word, pos, fin), word, pos)
        initials += ini
        finals += fin
    phones, word2ph = [], []
    for c, v in zip(initials, finals):
        if c == v:
            if c not in PUNCTUATION:
                raise ChineseTextError(f"no pinyin for {c!r} (in {segment!r})")
            phones.append(c)
            word2ph.append(1)
            continue
        tone = v[-1]
        if tone not in "12345":
            raise ChineseTextError(f"no tone in the pinyin of {c + v!r} (in {segment!r})")
        new_c, new_v = syllable_symbols(spelled(c, v[:-1]))
        if new_c not in symbols or new_v + tone not in symbols:
            raise ChineseTextError(f"pinyin {spelled(c, v[:-1]) + tone!r} is not a v2 syllable (in {segment!r})")
        phones += [new_c, new_v + tone]
        word2ph.append(2)
    return phones, word2ph


def g2p(norm_text: str, symbols: set[str]) -> tuple[list[str], list[int]]:
    """chinese2.g2p on normalised text: phones and phones-per-character (Latin letters are dropped)."""
    punct = re.escape(PUNCTUATION)
    phones, word2ph = [], []
    for sentence in re.split(rf"(?<=[{punct}])\s*", norm_text):
        if sentence.strip():
            p, w = _segment_phones(re.sub("[a-zA-Z]+", "", sentence), symbols)
            phones += p
            word2ph += w
    return phones, word2ph


def clean_text(text: str, symbols: set[str]) -> tuple[list[str], list[int], str]:
    """cleaner.clean_text for "zh": (phones, word2ph, normalised text); ￥ and ^ become the SP2/SP3
    pauses (upstream's clean_special)."""
    from haysay.nodes.tts.gpt_sovits.zh_normalize import text_normalize

    special = next((s for s in SPECIAL if s in text), None)
    norm = text_normalize(text.replace(special, ",") if special else text)
    phones, word2ph = g2p(norm, symbols)
    if special:
        phones = [SPECIAL[special] if p == "," else p for p in phones]
    if len(word2ph) != len(norm):  # upstream asserts this (Latin letters left in the text trip it)
        raise ChineseTextError(f"{len(norm)} characters but {len(word2ph)} readings in {norm!r}")
    return phones, word2ph, norm


def split_languages(text: str) -> list[tuple[str, str]]:
    """upstream's "zh" mode: English runs and Chinese runs (frontend.split_english)."""
    from haysay.nodes.tts.gpt_sovits.frontend import split_english

    return split_english(text, "zh", r"[\u4e00-\u9fa5\d]")


def bert_features(bert, norm_text: str, word2ph: list[int]):
    """get_bert_feature: the third-last hidden layer of chinese-roberta-wwm-ext-large per character (CLS and
    SEP dropped), repeated for each of its phones -> (1024, phones) float32."""
    import torch

    tokenizer, model = bert
    device = next(model.parameters()).device
    limit = model.config.max_position_embeddings - 2
    if len(norm_text) > limit:
        raise ChineseTextError(f"a piece of {len(norm_text)} characters is longer than the BERT reads ({limit}); "
                               "split the text (cut_method)")
    inputs = tokenizer(norm_text, return_tensors="pt").to(device)
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True).hidden_states[-3][0, 1:-1].float()
    if hidden.shape[0] != len(word2ph):
        raise ChineseTextError(f"the BERT tokenizer made {hidden.shape[0]} tokens of {len(word2ph)} characters "
                               f"({norm_text!r})")
    counts = torch.tensor(word2ph, device=device)
    return hidden.repeat_interleave(counts, dim=0).T
