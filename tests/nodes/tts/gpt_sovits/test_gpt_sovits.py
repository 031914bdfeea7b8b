"""tts.gpt_sovits as a node: tiny random-weight v2 files (conftest), a tiny HuBERT folder, tone references."""
from __future__ import annotations

import numpy as np
import pytest

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.graph_engine.values import Audio
from haysay.nodes.tts.gpt_sovits.frontend import cut
from haysay.nodes.vc.resolve import ModelRefError

from .conftest import voice, write_sovits, write_sovits_hparams


def params(gs_files, hubert, **kw):
    return {"gpt_weights": str(gs_files[0]), "model": str(gs_files[1]), "content_encoder": str(hubert),
            "prompt_text": "This is a test of my voice.", **kw}


def run(p, text="Hello there, how are you today?", ref=None, ctx=None):
    ref = ref if ref is not None else Audio.from_mono(voice(), 16000)
    return default_registry()["tts.gpt_sovits"].call(p, ctx=ctx or NodeContext(), text=text, reference=ref)["audio"]


def spectrum(audio: Audio) -> np.ndarray:
    x = audio.mono()
    s = np.abs(np.fft.rfft(x[: len(x) // 2048 * 2048].reshape(-1, 2048) * np.hanning(2048), axis=1)).mean(0)
    return s / s.sum()


def test_speaks_at_32k_and_is_deterministic(gs_files, gs_hubert):
    ctx = NodeContext()
    out = run(params(gs_files, gs_hubert), ctx=ctx)
    info = ctx.info["gpt_sovits"]
    assert out.sample_rate == 32000
    assert info["prompt_tokens"] == int((3.5 * 16000 + 9600) / 640)  # 25 Hz tokens of reference + pad
    piece = info["pieces"][0]
    assert piece["eos"] and piece["semantic_tokens"] >= 11  # EOS ended it, after upstream's 11-token minimum
    # decoded length = 2 frames per token x 640 samples, plus the 0.3 s pause
    assert out.frames == piece["semantic_tokens"] * 1280 + 9600
    assert float(np.sqrt(np.mean(out.mono() ** 2))) > 0.01
    assert np.array_equal(run(params(gs_files, gs_hubert)).mono(), out.mono())
    other = run(params(gs_files, gs_hubert, seed=1, top_k=50))
    assert other.frames != out.frames or not np.array_equal(other.mono(), out.mono())


def test_longer_text_gives_longer_speech(gs_files, gs_hubert):
    p = params(gs_files, gs_hubert, cut_method="cut5")
    short, ctx = run(p, text="Hello there."), NodeContext()
    long = run(p, text="Hello there. The quick brown fox jumps, over the lazy dog, again and again.", ctx=ctx)
    assert len(ctx.info["gpt_sovits"]["pieces"]) == 4  # cut5 splits at each mark
    assert long.frames > 2 * short.frames


def test_reference_voice_changes_the_output(gs_files, gs_hubert):
    p = params(gs_files, gs_hubert)
    low_ref, high_ref = (Audio.from_mono(voice(f0=110, bright=0.3), 16000),
                         Audio.from_mono(voice(f0=260, bright=0.8), 16000))
    low, high = run(p, ref=low_ref), run(p, ref=high_ref)
    assert np.array_equal(low.mono(), run(p, ref=low_ref).mono())
    reseeded = run({**p, "seed": 1}, ref=low_ref)

    def apart(a, b):
        return float(np.abs(spectrum(a) - spectrum(b)).sum())

    # measured: 0.38 between the two voices, 0.03 between two seeds of one voice
    assert apart(low, high) > 4 * apart(low, reseeded)


def test_reference_free_mode(gs_files, gs_hubert):
    ctx = NodeContext()
    out = run(params(gs_files, gs_hubert, prompt_text=""), ctx=ctx)
    assert ctx.info["gpt_sovits"]["prompt_tokens"] == 0 and out.frames > 9600


def test_bad_files_and_languages_are_refused_on_their_field(gs_files, gs_hubert, tmp_path, monkeypatch):
    with pytest.raises(ModelRefError) as e:
        run(params(gs_files, gs_hubert, gpt_weights=str(tmp_path / "missing.ckpt")))
    assert e.value.field == "gpt_weights"
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelRefError) as e:
        run(params(gs_files, gs_hubert, model=str(junk)))
    assert e.value.field == "model"
    swapped = params(gs_files, gs_hubert, gpt_weights=str(gs_files[1]), model=str(gs_files[0]))
    with pytest.raises(ModelRefError) as e:
        run(swapped)
    assert e.value.field == "gpt_weights" and "model." in str(e.value)
    v4 = write_sovits(tmp_path / "v4.pth", header=b"04")
    with pytest.raises(ModelRefError, match="v4 LoRA") as e:
        run(params(gs_files, gs_hubert, model=str(v4)))
    assert e.value.field == "model"
    monkeypatch.setattr("haysay.nodes.tts.gpt_sovits.ja.find_spec", lambda name: None)  # Japanese without pyopenjtalk
    for field, lang, reason in (("text_language", "ja", "pyopenjtalk"), ("prompt_language", "ja", "pyopenjtalk")):
        with pytest.raises(ModelRefError, match=reason) as e:
            run(params(gs_files, gs_hubert, **{field: lang}))
        assert e.value.field == field
    with pytest.raises(ModelRefError, match="chinese-roberta") as e:  # Chinese without its BERT
        run(params(gs_files, gs_hubert, prompt_language="zh"))
    assert e.value.field == "bert_model"
    bad_dict = tmp_path / "words.rep"
    bad_dict.write_text("LONELYWORD\n")
    for value in (str(tmp_path / "missing.rep"), str(bad_dict)):
        with pytest.raises(ModelRefError) as e:
            run(params(gs_files, gs_hubert, dictionary=value))
        assert e.value.field == "dictionary"
    with pytest.raises(ModelRefError) as e:
        run(params(gs_files, gs_hubert), ref=Audio.from_mono(voice(seconds=1.5), 16000))
    assert e.value.field == "reference" and "3 to 10 s" in str(e.value)


def test_headed_and_hparams_files_load(gs_files, gs_hubert, tmp_path):
    expected = run(params(gs_files, gs_hubert)).mono()
    headed = write_sovits(tmp_path / "headed.pth", header=b"01")  # process_ckpt.my_save2's v2 header
    assert np.array_equal(run(params(gs_files, gs_hubert, model=str(headed))).mono(), expected)
    hps = write_sovits_hparams(tmp_path / "hparams.pth")  # the config as upstream's pickled utils.HParams
    assert b"HParams" in hps.read_bytes()  # read inertly: no class from the file is imported or run
    assert np.array_equal(run(params(gs_files, gs_hubert, model=str(hps))).mono(), expected)


def test_cut_methods_follow_upstream():
    text = "One. Two. Three. Four. Five. Six. Seven. Eight. Nine."
    assert cut(text, "cut0") == [text]
    assert cut(text, "cut1") == ["One. Two. Three. Four.", " Five. Six. Seven. Eight. Nine."]
    # the decimal point does not cut; " ok." (under 5 characters) merges into the next piece
    assert cut("It costs 3.5 dollars, ok. Fine!", "cut5") == ["It costs 3.5 dollars,", " ok. Fine!"]
    assert cut("First one. Second one", "cut4") == ["First one", " Second one"]


def test_voice_folder_pairs_its_files(gs_files, gs_hubert, tmp_path):
    import shutil

    folder = tmp_path / "voice"
    folder.mkdir()
    shutil.copy(gs_files[0], folder / "voice-e15.ckpt")
    shutil.copy(gs_files[1], folder / "voice_e8_s200.pth")
    p = params(gs_files, gs_hubert, model=str(folder), gpt_weights="")
    assert np.array_equal(run(p).mono(), run(params(gs_files, gs_hubert)).mono())
    shutil.copy(gs_files[0], folder / "other-e1.ckpt")
    with pytest.raises(ModelRefError, match="several GPT weights") as e:
        run(p)
    assert e.value.field == "gpt_weights"


def test_declares_the_adapter_contract_and_loads_warm(gs_files, gs_hubert):
    spec = default_registry()["tts.gpt_sovits"]
    assert spec.params.model_config.get("extra") == "forbid"
    assert all(f.description for f in spec.params.model_fields.values())
    assert spec.gpu and spec.memory_declared and spec.lifecycle.versions == ("v2",)
    assert spec.lifecycle.upstream == "RVC-Boss/GPT-SoVITS" and spec.lifecycle.licence == "MIT"
    defaults = spec.params(model="x")
    assert (defaults.top_k, defaults.top_p, defaults.temperature, defaults.cut_method) == (15, 1.0, 1.0, "cut1")
    ctx = NodeContext()
    run(params(gs_files, gs_hubert), ctx=ctx)
    run(params(gs_files, gs_hubert), ctx=ctx)
    assert len(ctx.info["model_load"]) == 3 and all(e["warm"] for e in ctx.info["model_load"].values())
