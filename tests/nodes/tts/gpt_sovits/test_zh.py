"""The Chinese front end and BERT features against upstream's outputs (data/zh_upstream.json,
data/zh_bert_upstream.npz; see data/README.md), and tts.gpt_sovits speaking Chinese."""
from __future__ import annotations

import json

import numpy as np
import pytest

from haysay.graph_engine.contract import NodeContext
from haysay.graph_engine.values import Audio
from haysay.nodes.tts.gpt_sovits.frontend import symbol_ids, text_runs
from haysay.nodes.tts.gpt_sovits.zh import clean_text
from haysay.nodes.vc.resolve import ModelRefError
from haysay.nodes.vc.safe_load import CheckpointError

from .conftest import DATA, write_bert
from .test_gpt_sovits import params, run

ZH_PROMPT = "我们说中文，你好。"


def test_phones_and_word2ph_match_upstream():
    cases = json.loads((DATA / "zh_upstream.json").read_text(encoding="utf-8"))
    symbols = set(symbol_ids())
    same = 0
    for case in cases:
        phones, word2ph, norm = clean_text(case["text"], symbols)
        assert norm == case["norm_text"], case["text"]
        same += (" ".join(phones), "".join(map(str, word2ph))) == (case["phones"], case["word2ph"])
    assert same == len(cases) == 66


def test_sandhi_and_numbers():
    symbols = set(symbol_ids())
    phones, word2ph, norm = clean_text("你好，我不去。2024年3月15日，50%。", symbols)
    assert norm == "你好,我不去.二零二四年三月十五日,百分之五十."
    assert phones[:4] == ["n", "i2", "h", "ao3"]  # third tone before third tone becomes second
    assert phones[7:11] == ["b", "u2", "q", "v4"]  # 不 before a fourth tone becomes second
    assert len(word2ph) == len(norm) and sum(word2ph) == len(phones)
    assert clean_text("一个人", symbols)[0][:2] == ["y", "i2"]  # 一 before a fourth tone (个)
    assert clean_text("价格是￥100", symbols)[0][6:7] == ["SP2"]  # cleaner.clean_special's pause


def test_mixed_text_reads_english_words_as_english():
    runs = text_runs("我叫Tom，很高兴。", "zh")
    assert [r.language for r in runs] == ["zh", "en", "zh"]
    assert runs[1].norm_text == "Tom，" and runs[1].word2ph is None  # the mark stays with the word before it
    assert runs[1].phones == ["T", "AA1", "M", ","]


def test_bert_features_match_upstream(gs_bert):
    from haysay.nodes.tts.gpt_sovits.bert import read_bert
    from haysay.nodes.tts.gpt_sovits.zh import bert_features

    bert, ref = read_bert(gs_bert), np.load(DATA / "zh_bert_upstream.npz")
    for text_key, bert_key in (("text", "bert"), ("text2", "bert2")):
        _, word2ph, norm = clean_text(str(ref[text_key]), set(symbol_ids()))
        ours, theirs = bert_features(bert, norm, word2ph).numpy(), ref[bert_key].astype(np.float32)
        assert ours.shape == theirs.shape == (1024, sum(word2ph))
        assert np.linalg.norm(ours - theirs) / np.linalg.norm(theirs) < 2e-3


def test_bert_from_pytorch_model_bin(tmp_path, gs_bert):
    """A folder saved with save_pretrained(safe_serialization=False) (chinese-roberta's released form) reads
    through the restricted loader to the same features."""
    import torch
    from transformers import BertForMaskedLM

    from haysay.nodes.tts.gpt_sovits.bert import read_bert
    from haysay.nodes.tts.gpt_sovits.zh import bert_features

    folder = tmp_path / "bin"
    BertForMaskedLM.from_pretrained(str(gs_bert), local_files_only=True).save_pretrained(folder,
                                                                                         safe_serialization=False)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).write_bytes((gs_bert / name).read_bytes())
    assert (folder / "pytorch_model.bin").is_file() and not (folder / "model.safetensors").exists()
    _, word2ph, norm = clean_text("你好，今天天气很好。", set(symbol_ids()))
    a, b = (bert_features(read_bert(f), norm, word2ph) for f in (gs_bert, folder))
    assert torch.equal(a, b)


def test_bad_bert_folders_are_refused(tmp_path, gs_bert):
    import shutil

    from haysay.nodes.tts.gpt_sovits.bert import read_bert

    with pytest.raises(CheckpointError, match="transformers folder"):
        read_bert(tmp_path / "missing")
    narrow = tmp_path / "narrow"
    shutil.copytree(gs_bert, narrow)
    config = json.loads((narrow / "config.json").read_text())
    (narrow / "config.json").write_text(json.dumps({**config, "hidden_size": 768}))
    with pytest.raises(CheckpointError, match="1024-wide"):
        read_bert(narrow)
    (narrow / "config.json").write_text(json.dumps(config))
    (narrow / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        read_bert(narrow)


def zh_params(gs_files, gs_hubert, bert, **kw):
    return params(gs_files, gs_hubert, bert_model=str(bert), prompt_text=ZH_PROMPT, prompt_language="zh",
                  text_language="zh", **kw)


def test_speaks_chinese_with_its_bert(gs_files, gs_hubert, gs_bert, tmp_path):
    ctx = NodeContext()
    p = zh_params(gs_files, gs_hubert, gs_bert, cut_method="cut5")
    out = run(p, text="你好，今天天气很好。", ctx=ctx)
    pieces = ctx.info["gpt_sovits"]["pieces"]
    assert out.sample_rate == 32000 and len(pieces) == 1  # cut5 merges "你好，" (under 5 characters) on
    assert out.frames == pieces[0]["semantic_tokens"] * 1280 + 9600
    assert pieces[0]["phonemes"] == 18  # eight syllables of an initial and a final, and two marks
    assert float(np.sqrt(np.mean(out.mono() ** 2))) > 0.01
    assert np.array_equal(run(p, text="你好，今天天气很好。").mono(), out.mono())
    ctx = NodeContext()
    longer = run(p, text="你好，今天天气很好。我们说中文，一共三个人，不是吗？", ctx=ctx)
    assert len(ctx.info["gpt_sovits"]["pieces"]) == 3 and longer.frames > out.frames  # 不是吗？ joins the third
    # the BERT features steer the decoder: another BERT's weights change what is said
    other = run(zh_params(gs_files, gs_hubert, write_bert(tmp_path / "other-bert", seed=11), cut_method="cut5"),
                text="你好，今天天气很好。")
    assert other.frames != out.frames or not np.array_equal(other.mono(), out.mono())


def test_bert_is_loaded_and_planned_only_for_chinese(gs_files, gs_hubert, gs_bert):
    from haysay.nodes.tts.gpt_sovits.node import BERT_BYTES, GPTSoVITSParams, gpt_sovits_memory

    english, chinese = NodeContext(), NodeContext()
    run(params(gs_files, gs_hubert, bert_model=str(gs_bert)), ctx=english)
    run(zh_params(gs_files, gs_hubert, gs_bert), text="你好，今天天气很好。", ctx=chinese)
    assert "gpt_sovits_bert" not in english.info["model_load"] and "gpt_sovits_bert" in chinese.info["model_load"]
    en, zh = (gpt_sovits_memory(GPTSoVITSParams(**p), {}) for p in
              (params(gs_files, gs_hubert), zh_params(gs_files, gs_hubert, gs_bert)))
    assert zh - en == BERT_BYTES


def test_chinese_needs_bert_and_japanese_its_package(gs_files, gs_hubert, tmp_path, monkeypatch):
    with pytest.raises(ModelRefError, match="chinese-roberta") as e:
        run(params(gs_files, gs_hubert, text_language="zh"), text="你好。")
    assert e.value.field == "bert_model"
    with pytest.raises(ModelRefError) as e:
        run(zh_params(gs_files, gs_hubert, tmp_path / "no-such-bert"), text="你好。")
    assert e.value.field == "bert_model"
    monkeypatch.setattr("haysay.nodes.tts.gpt_sovits.ja.find_spec", lambda name: None)  # no pyopenjtalk
    with pytest.raises(ModelRefError, match="pyopenjtalk") as e:
        run(params(gs_files, gs_hubert, text_language="ja"), text="こんにちは。")
    assert e.value.field == "text_language"


def test_t2s_with_chinese_features_matches_upstream(gs_files, gs_bert):
    """Greedy decoding of a Chinese prompt + text with BERT features: upstream's infer_panel gave these 227
    tokens (data/zh_t2s_upstream.npz); with zero features it gives others, so the features are in play."""
    import torch

    from haysay.nodes.tts.gpt_sovits import synthesis
    from haysay.nodes.tts.gpt_sovits.bert import read_bert
    from haysay.nodes.tts.gpt_sovits.checkpoint import read_gpt

    ref, prompt = np.load(DATA / "zh_t2s_upstream.npz"), torch.from_numpy(np.load(DATA / "parity.npz")["prompt"])
    bert, t2s = read_bert(gs_bert), read_gpt(gs_files[0])
    p1, b1 = synthesis.encode(text_runs(ZH_PROMPT, "zh"), bert, "cpu")
    p2, b2 = synthesis.encode(text_runs("你好，今天天气很好。", "zh"), bert, "cpu")
    assert (p1, p2) == (ref["phones1"].tolist(), ref["phones2"].tolist())
    with torch.no_grad():
        tokens, eos = t2s.infer(torch.tensor([p1 + p2]), prompt, torch.cat([b1, b2], 1)[None], top_k=1, top_p=1.0,
                                temperature=1.0, early_stop_num=50 * 54)
    assert eos and tokens.tolist() == ref["semantic"].tolist()


def test_unreadable_chinese_is_a_text_error(gs_files, gs_hubert, gs_bert):
    with pytest.raises(ModelRefError, match="longer than the BERT reads") as e:  # 254 positions in the tiny BERT
        run(zh_params(gs_files, gs_hubert, gs_bert, cut_method="cut0"), text="你好" * 200 + "。")
    assert e.value.field == "text"
