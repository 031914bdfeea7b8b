"""The Japanese front end against upstream's text.cleaner.clean_text(text, "ja", "v2") (data/ja_upstream.json,
see data/ja_upstream.md; and a randomized comparison run on upstream's own code when its snapshot is here), and
tts.gpt_sovits speaking Japanese."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from haysay.graph_engine.contract import NodeContext
from haysay.nodes.tts.gpt_sovits import ja
from haysay.nodes.tts.gpt_sovits.frontend import symbol_ids, text_runs
from haysay.nodes.vc.resolve import ModelRefError

from .conftest import DATA
from .test_gpt_sovits import params, run

pytest.importorskip("pyopenjtalk")
UPSTREAM = Path("/work/.mirror/RVC-Boss+GPT-SoVITS/repo")
UPSTREAM_FILES = ("text/__init__.py", "text/symbols.py", "text/symbols2.py", "text/cleaner.py", "text/japanese.py")
# upstream's clean_text for each line of stdin (JSON strings), as JSON lines
UPSTREAM_RUNNER = """
import json, sys
from text.cleaner import clean_text
for line in sys.stdin:
    phones, word2ph, norm = clean_text(json.loads(line), "ja", "v2")
    print(json.dumps([" ".join(phones), norm, word2ph], ensure_ascii=False))
"""


def ours(text: str) -> tuple[str, str]:
    phones, norm = ja.clean_text(text, set(symbol_ids()))
    return " ".join(phones), norm


def test_phones_match_upstream():
    ref = json.loads((DATA / "ja_upstream.json").read_text(encoding="utf-8"))
    from importlib.metadata import version

    assert version("pyopenjtalk-plus") == ref["pyopenjtalk-plus"], "the readings were stored with another version"
    same = [ours(c["text"]) == (c["phones"], c["norm_text"]) for c in ref["cases"]]
    assert sum(same) == len(same) == 61, [c["text"] for c, s in zip(ref["cases"], same) if not s]


def test_prosody_marks_and_punctuation():
    phones, norm = ours("東京タワーに行きましょう？ええと……３０％です!!")
    assert norm == "東京タワーに行きましょう？ええと…３０％です!"  # a run of marks keeps its first
    assert phones.startswith("t o [ o ky o o t a ] w a a")  # rise after the first mora, fall after タ
    assert "? e UNK e" in phones  # ？ -> ?, and the accent-phrase border "#" is not a v2 symbol
    assert "p a a s e ] N t o" in phones  # ％ read as パーセント
    assert phones.endswith("d e s u !")
    assert ours("「はい」")[0] == "UNK h a ] i UNK"  # brackets are marks outside the vocabulary


def test_mixed_text_reads_english_words_as_english():
    runs = text_runs("私はTomです。", "ja")
    assert [r.language for r in runs] == ["ja", "en", "ja"]
    assert runs[1].phones[-3:] == ["T", "AA1", "M"] and all(r.word2ph is None for r in runs)
    assert runs[2].phones == ours("です。")[0].split() and runs[2].norm_text == "です。"


def random_sentences(n: int, seed: int) -> list[str]:
    """Words, kana, digits (half and full width), Latin, spaces and marks in random order."""
    rng = random.Random(seed)
    words = ("今日 天気 東京 学校 先生 勉強 電車 新聞 日本語 山々 人々 映画 音楽 友達 会社 時間 週末 病院 "
             "コーヒー パソコン テレビ ヴァイオリン ティー ファイル ｶﾀｶﾅ ＡＢＣ ａｂｃ "
             "は が を に で と も の です ます でした ません ください ましょう か ね よ だ "
             "行き 来 見 食べ 飲み 話し 読ん 書い 走っ 待っ 言っ 知っ 思い "
             "ちょっと きって がっこう しんぶん きゃく にゅうがく ああ うーん えっ 何 何人 "
             "1 2 10 2024 3.5 １２ ３０ ０ abc Hello nice PC").split()
    marks = list("、。！？…，：；·「」（）～ー-.,!?%％ \n") + ["！！", "……", "...", "――", "　"]
    out = []
    for _ in range(n):
        parts = [rng.choice(words) if rng.random() < 0.75 else rng.choice(marks) for _ in range(rng.randint(1, 12))]
        out.append("".join(parts))
    return out


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="upstream GPT-SoVITS snapshot not here")
def test_random_sentences_match_upstream(tmp_path):
    """300 random sentences through upstream's own japanese.py (from the snapshot, run in a temporary folder,
    with the same pyopenjtalk) and through ja.clean_text."""
    for name in UPSTREAM_FILES:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(subprocess.run(["git", "--git-dir", str(UPSTREAM), "show", f"HEAD:GPT_SoVITS/{name}"],
                                        check=True, capture_output=True, timeout=60).stdout)
    texts = random_sentences(300, seed=7)
    done = subprocess.run([sys.executable, "-c", UPSTREAM_RUNNER], input="".join(json.dumps(t) + "\n" for t in texts),
                          capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = [tuple(json.loads(line)) for line in done.stdout.splitlines()]
    assert len(theirs) == len(texts)
    differ = [(t, ours(t), u[:2]) for t, u in zip(texts, theirs) if (*ours(t), None) != u]
    assert not differ, differ[:3]


def ja_params(gs_files, gs_hubert, **kw):
    return params(gs_files, gs_hubert, prompt_text="これは私の声のテストです。", prompt_language="ja",
                  text_language="ja", cut_method="cut5", **kw)


def test_speaks_japanese(gs_files, gs_hubert):
    ctx = NodeContext()
    p = ja_params(gs_files, gs_hubert)
    short = run(p, text="こんにちは、今日はいい天気ですね。", ctx=ctx)
    pieces = ctx.info["gpt_sovits"]["pieces"]
    assert short.sample_rate == 32000 and len(pieces) == 2  # cut5: at 、 and 。
    assert short.frames == sum(q["semantic_tokens"] for q in pieces) * 1280 + 2 * 9600
    # "、" ends no sentence: upstream appends "。" to that piece
    expected = [len(text_runs(t, "ja")[0].phones) for t in ("こんにちは、。", "今日はいい天気ですね。")]
    assert [q["phonemes"] for q in pieces] == expected
    assert float(np.sqrt(np.mean(short.mono() ** 2))) > 0.01
    assert np.array_equal(run(p, text="こんにちは、今日はいい天気ですね。").mono(), short.mono())
    ctx = NodeContext()
    longer = run(p, text="こんにちは、今日はいい天気ですね。明日は雨が降るでしょう。傘を持って行きます。", ctx=ctx)
    assert len(ctx.info["gpt_sovits"]["pieces"]) == 4 and longer.frames > short.frames
    assert float(np.sqrt(np.mean(longer.mono() ** 2))) > 0.01
    assert "gpt_sovits_bert" not in ctx.info["model_load"]  # Japanese takes no BERT features


def test_missing_pyopenjtalk_is_located_on_its_language_field(gs_files, gs_hubert, monkeypatch):
    monkeypatch.setattr(ja, "find_spec", lambda name: None)
    for field, kw in (("text_language", {"text_language": "ja"}),
                      ("prompt_language", {"prompt_language": "ja", "prompt_text": "これはテストです。"})):
        with pytest.raises(ModelRefError, match="pip install pyopenjtalk-plus") as e:
            run(params(gs_files, gs_hubert, **kw), text="こんにちは。")
        assert e.value.field == field


def test_pyopenjtalk_without_its_dictionary_is_refused(tmp_path, monkeypatch):
    """Plain pyopenjtalk downloads its dictionary at first use: without one on disk, Japanese is refused."""
    from importlib.machinery import ModuleSpec

    spec = ModuleSpec("pyopenjtalk", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(ja, "find_spec", lambda name: spec)
    monkeypatch.delenv("OPEN_JTALK_DICT_DIR", raising=False)
    assert "download" in ja.missing() and ja.dictionary_dir() is None
    (tmp_path / "open_jtalk_dic_utf_8-1.11").mkdir()
    (tmp_path / "open_jtalk_dic_utf_8-1.11" / "sys.dic").write_bytes(b"")
    assert ja.missing() is None
