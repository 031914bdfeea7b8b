"""The English front end follows english.py's word rules and cleaner.clean_text's padding."""
from __future__ import annotations

from haysay.nodes.tts.gpt_sovits.frontend import phone_ids, phonemes_en, symbol_ids
from haysay.nodes.tts.talknet.frontend import cmu, g2p_model, predict


def test_word_rules():
    d = cmu()
    assert len(symbol_ids()) == 732  # text/symbols2.py's v2 table
    # a capital A alone is "EY1"; short out-of-dictionary words are read letter by letter
    assert phonemes_en("A cat.")[:1] == ["EY1"]
    assert phonemes_en("The xqz.") == d["the"][0] + d["x"][0] + d["q"][0] + d["z"][0] + ["."]
    # 's after a voiceless consonant is S, after a sibilant AH0 Z, otherwise Z
    assert phonemes_en("Blorptack's")[-1:] == ["S"] and phonemes_en("Blorptash's")[-2:] == ["AH0", "Z"]
    # a longer unknown word gets g2p_en's neural guess, not a spelling
    assert phonemes_en("Blorptastic") == predict("blorptastic", g2p_model())
    # fewer than four phonemes get a leading comma; fewer than six ids retry with a leading "."
    assert phonemes_en("Hi") == [","] + d["hi"][0]
    ids = symbol_ids()
    assert phone_ids("Hi", "en") == [ids[p] for p in [",", "."] + d["hi"][0]]


def test_dictionary_in_upstreams_format(tmp_path):
    from haysay.nodes.tts.gpt_sovits.frontend import read_dictionary

    rep = tmp_path / "cmudict.rep"  # cmudict.rep's layout: ';;;' header, then 'WORD  PH PH' lines
    rep.write_text(";;; # CMUdict  --  Major Version: 0.07\n;;;\nMODULE  M AO1 JH UW0 L\nHAYSAY  HH EY1 S EY1\n")
    words = read_dictionary(rep)
    assert words == {"module": ["M", "AO1", "JH", "UW0", "L"], "haysay": ["HH", "EY1", "S", "EY1"]}
    assert phonemes_en("The module.", words)[2:7] == ["M", "AO1", "JH", "UW0", "L"]
    assert phonemes_en("The module.")[2:7] == cmu()["module"][0] != words["module"]
    bad = tmp_path / "bad.rep"
    bad.write_text("LONELYWORD\n")
    import pytest

    with pytest.raises(ValueError, match="line 1"):
        read_dictionary(bad)


def test_language_runs_match_upstream_langsegmenter():
    """zh/en and ja/en runs against upstream's LangSegmenter.getTexts folded as get_phones_and_bert's "zh"/"ja"
    branch (data/langseg_upstream.md): the hand-written sentences all, the random ones but for a few where
    upstream drops a mark or joins a number across marks."""
    import json

    from haysay.nodes.tts.gpt_sovits import ja, zh

    from .conftest import DATA

    cases = json.loads((DATA / "langseg_upstream.json").read_text(encoding="utf-8"))["cases"]
    same = {(lang, rnd): 0 for lang in ("zh", "ja") for rnd in (False, True)}
    for case in cases:
        runs = (ja if case["language"] == "ja" else zh).split_languages(case["text"])
        same[case["language"], case["random"]] += [list(r) for r in runs] == case["runs"]
    assert same[("zh", False)] == 14 and same[("ja", False)] == 13
    assert same[("zh", True)] >= 196 and same[("ja", True)] >= 196  # of 200 each
