"""tts.gpt_sovits speaks Hay Say's precomputed traits (<name>_precomp.safetensors) without a reference.

data/traits_precomp.safetensors was written by hydrusbeta/GPT-SoVITS's own precomputer functions
(preprocess_reference_text, preprocess_reference_audios, add_to_safetensors_dict, then safetensors' save_file)
on the conftest tiny weights, and data/traits_upstream.npz is that fork's get_tts_wav speaking from it; see
data/traits_upstream.md."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from haysay.graph_engine.contract import NodeContext, default_registry
from haysay.graph_engine.values import Audio
from haysay.nodes.tts.gpt_sovits import traits
from haysay.nodes.vc.resolve import ModelRefError

from .conftest import DATA, voice, write_gpt, write_sovits

TRAITS = DATA / "traits_precomp.safetensors"
TEXT = "Hello there."


@pytest.fixture(scope="module")
def hay_say_voice(tmp_path_factory):
    """A character folder as Hay Say installs it: <Name>-eN.ckpt, <Name>_eN_sM.pth, <name>_precomp.safetensors."""
    folder = tmp_path_factory.mktemp("hay_say") / "Tiny"
    folder.mkdir()
    write_gpt(folder / "Tiny-e24.ckpt")
    write_sovits(folder / "Tiny_e96_s46464.pth")
    shutil.copy(TRAITS, folder / "tiny_precomp.safetensors")
    return folder


def speak(folder, hubert, text=TEXT, reference=None, ctx=None, **kw):
    p = {"model": str(folder), "content_encoder": str(hubert) if hubert else "", "trait": "Neutral", "top_k": 1,
         **kw}
    extra = {"reference": reference} if reference is not None else {}
    return default_registry()["tts.gpt_sovits"].call(p, ctx=ctx or NodeContext(), text=text, **extra)["audio"]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_lists_the_traits_and_their_entries():
    header = traits.read_header(TRAITS)
    assert header.counts() == {"Happy": 1, "Neutral": 2}
    assert header.listing() == "Happy (1), Neutral (2)"
    # the fork's precomputer stores int64 phones/prompt, float32 ge (gin_channels 512) and no bert1 for English
    assert header.entries["Neutral"][1] == {"phones1": ("I64", (19,)), "prompt": ("I64", (1, 114)),
                                            "ge": ("F32", (1, 512, 1))}
    for trait, entries in header.entries.items():
        for index in entries:
            traits.check_entry(header, trait, index, needs_bert=False, gin_channels=512)


def test_matches_the_forks_get_tts_wav(hay_say_voice, gs_hubert):
    """The stored entry through haysay's t2s and SoVITS (stored phones1 + prompt, zero BERT, stored ge in place
    of the reference's) against the fork's get_tts_wav on the same file, greedy (top_k=1), torch seeded 0."""
    from haysay.nodes.tts.gpt_sovits.checkpoint import read_gpt, read_sovits
    from haysay.nodes.tts.gpt_sovits.frontend import phone_ids

    ref = np.load(DATA / "traits_upstream.npz")
    header = traits.read_header(TRAITS)
    t2s, vq = read_gpt(hay_say_voice / "Tiny-e24.ckpt"), read_sovits(hay_say_voice / "Tiny_e96_s46464.pth")
    phones2 = phone_ids(TEXT, "en")
    for trait, index in (("Neutral", 1), ("Happy", 0)):
        stored = traits.read_trait(header, trait, index)
        ids = torch.tensor([stored.phones1 + phones2])
        generator = torch.Generator().manual_seed(0)
        tokens, eos = t2s.infer(ids, stored.prompt, torch.zeros(1, 1024, ids.shape[1]), top_k=1,
                                early_stop_num=50 * 54, generator=generator)
        # the fork's infer_panel (Dec 2024) returns y[:, :-1], idx - 1, so its [:, -idx:] drops the first
        # generated token; haysay follows upstream's current infer_panel, which keeps it
        assert eos and tokens[0, 1:].tolist() == ref[f"{trait}_{index}_semantic"].tolist()
        if trait == "Neutral":
            audio = vq.decode(tokens[:, 1:], torch.tensor([phones2]), None, generator=generator,
                              ge=stored.ge)[0, 0].numpy()
            expected = ref["Neutral_1"].astype(np.float64) / 32768  # int16, then the 0.3 s pause
            assert len(expected) == len(audio) + 9600 and not expected[len(audio):].any()
            assert rel(audio, expected[:len(audio)]) < 2e-4  # measured 3.9e-5 (int16 rounding)


def test_node_speaks_a_trait_without_reference(hay_say_voice, gs_hubert):
    ref = np.load(DATA / "traits_upstream.npz")
    ctx = NodeContext()
    out = speak(hay_say_voice, gs_hubert, trait_index=1, ctx=ctx)
    info = ctx.info["gpt_sovits"]
    assert (info["trait"], info["trait_index"], info["prompt_tokens"]) == ("Neutral", 1, 114)
    assert info["pieces"][0]["semantic_tokens"] == len(ref["Neutral_1_semantic"]) + 1  # the fork's one-token slice
    assert out.sample_rate == 32000 and out.frames == info["pieces"][0]["semantic_tokens"] * 1280 + 9600
    # another entry of the trait is another reference: other timbre and prompt, other audio
    other = speak(hay_say_voice, gs_hubert, trait_index=0, ctx=(ctx0 := NodeContext()))
    assert ctx0.info["gpt_sovits"]["prompt_tokens"] == 102
    n = min(other.frames, out.frames)
    assert rel(other.mono()[:n], out.mono()[:n]) > 0.3


def test_seed_picks_the_entry_deterministically(hay_say_voice, gs_hubert):
    header = traits.read_header(TRAITS)
    picks = [traits.choose_index(header, "Neutral", None, seed) for seed in range(16)]
    assert picks == [traits.choose_index(header, "Neutral", None, seed) for seed in range(16)]
    assert set(picks) == {0, 1}  # both entries get picked over seeds
    assert {traits.choose_index(header, "Happy", None, seed) for seed in range(8)} == {0}
    seed = picks.index(0)  # a seed that picks entry 0: the node speaks entry 0, as named explicitly
    ctx = NodeContext()
    chosen = speak(hay_say_voice, gs_hubert, seed=seed, ctx=ctx)
    assert ctx.info["gpt_sovits"]["trait_index"] == 0
    named = speak(hay_say_voice, gs_hubert, seed=seed, trait_index=0)
    assert np.array_equal(chosen.mono(), named.mono())


def write_traits(path: Path, **replace) -> Path:
    from safetensors.numpy import load_file, save_file

    data = load_file(str(TRAITS))
    for key, value in replace.items():
        if value is None:
            data.pop(key.replace("__", "."))
        else:
            data[key.replace("__", ".")] = value
    save_file(data, str(path))
    return path


def test_errors_name_the_field(hay_say_voice, gs_hubert, tmp_path):
    with pytest.raises(ModelRefError, match=r"no trait 'Giggly'.*it has: Happy \(1\), Neutral \(2\)") as info:
        speak(hay_say_voice, gs_hubert, trait="Giggly")
    assert info.value.field == "trait"
    with pytest.raises(ModelRefError, match="has no entry 5") as info:
        speak(hay_say_voice, gs_hubert, trait_index=5)
    assert info.value.field == "trait_index"
    # Hay Say's CLI: "either just --precomputed_trait or both --ref_audio and --ref_text"
    with pytest.raises(ModelRefError, match="either it .* or a precomputed trait") as info:
        speak(hay_say_voice, gs_hubert, reference=Audio.from_mono(voice(), 16000))
    assert info.value.field == "trait"
    with pytest.raises(ModelRefError, match="brings its own transcript") as info:
        speak(hay_say_voice, gs_hubert, prompt_text="This is a test.")
    assert info.value.field == "prompt_text"
    # the fork's validate_inputs 3: a Chinese reference language needs the stored bert1
    with pytest.raises(ModelRefError, match="Neutral.1.bert1 is missing") as info:
        speak(hay_say_voice, gs_hubert, trait_index=1, prompt_language="zh")
    assert info.value.field == "prompt_language"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header....")
    with pytest.raises(ModelRefError, match="bad.safetensors: not a readable .safetensors") as info:
        speak(hay_say_voice, gs_hubert, traits_file=str(bad))
    assert info.value.field == "traits_file"
    narrow = write_traits(tmp_path / "narrow.safetensors", Neutral__1__ge=np.zeros((1, 256, 1), np.float32))
    with pytest.raises(ModelRefError, match=r"Neutral.1.ge is F32 \[1, 256, 1\]; expected \(1, 512, 1\)"):
        speak(hay_say_voice, gs_hubert, trait_index=1, traits_file=str(narrow))
    floaty = write_traits(tmp_path / "floaty.safetensors", Neutral__1__prompt=np.zeros((1, 9), np.float32))
    with pytest.raises(ModelRefError, match=r"Neutral.1.prompt is F32 \[1, 9\]; expected \(1, T\) integer"):
        speak(hay_say_voice, gs_hubert, trait_index=1, traits_file=str(floaty))
    short_bert = write_traits(tmp_path / "bert.safetensors", Neutral__1__bert1=np.zeros((1024, 7), np.float32))
    with pytest.raises(ModelRefError, match=r"Neutral.1.bert1 is F32 \[1024, 7\]; expected \(1024, 19\)"):
        speak(hay_say_voice, gs_hubert, trait_index=1, traits_file=str(short_bert))
    big = write_traits(tmp_path / "big.safetensors", Neutral__1__prompt=np.full((1, 9), 1024, np.int64))
    with pytest.raises(ModelRefError, match=r"Neutral.1.prompt holds tokens outside 0..1023") as info:
        speak(hay_say_voice, gs_hubert, trait_index=1, traits_file=str(big))
    assert info.value.field == "traits_file"
    odd = write_traits(tmp_path / "odd.safetensors", Neutral__1__extra=np.zeros(3, np.float32))
    with pytest.raises(ModelRefError, match="key 'Neutral.1.extra' is not Hay Say's"):
        speak(hay_say_voice, gs_hubert, traits_file=str(odd))
    with pytest.raises(ModelRefError, match="connect a 3-10 s reference") as info:
        speak(hay_say_voice, gs_hubert, trait="")
    assert info.value.field == "reference"


def test_a_zh_trait_with_bert1_speaks(hay_say_voice, gs_hubert, tmp_path):
    """bert1 is read when stored (a zh reference's features); the same entry without it speaks differently
    under en (zeros), so the stored features reach the GPT."""
    folder = tmp_path / "zh"
    shutil.copytree(hay_say_voice, folder)
    features = np.random.default_rng(1).standard_normal((1024, 19)).astype(np.float32)
    write_traits(folder / "tiny_precomp.safetensors", Neutral__1__bert1=features)
    with_bert = speak(folder, gs_hubert, trait_index=1, prompt_language="zh", text_language="en")
    zeros = speak(hay_say_voice, gs_hubert, trait_index=1)
    assert with_bert.frames != zeros.frames or not np.array_equal(with_bert.mono(), zeros.mono())


def test_validation_locates_trait_errors_and_fingerprints_the_file(hay_say_voice, gs_hubert, tmp_path):
    from haysay.graph_engine.builder import Pipeline
    from haysay.nodes.tts.gpt_sovits.node import GPTSoVITSParams, gpt_sovits_fingerprint

    from haysay.graph_engine.audiofile import write_audio

    wav = tmp_path / "ref.wav"
    write_audio(wav, Audio.from_mono(voice(), 16000), "wav")

    def pipeline(reference=False, **kw):
        p = Pipeline()
        tts = p.add("tts.gpt_sovits", id="gs", model=str(hay_say_voice), content_encoder=str(gs_hubert), **kw)
        p.input("text", tts.text, default="Hello")
        if reference:
            p.connect(p.add("audio.load", id="ref", path=str(wav)).audio, tts.reference)
        return p

    assert pipeline(trait="Neutral").validate() == []
    assert {(e.node, e.field) for e in pipeline(trait="Giggly").validate()} == {("gs", "trait")}
    assert {(e.node, e.field) for e in pipeline(True, trait="Neutral").validate()} == {("gs", "trait")}
    assert {(e.node, e.field) for e in pipeline(trait="Neutral", prompt_language="ja").validate()} == \
        {("gs", "prompt_language")}
    errors = pipeline().validate()  # neither a reference nor a trait (located on the node: not a param)
    assert [e.node for e in errors] == ["gs"] and "connect a 3-10 s reference" in errors[0].message
    assert pipeline(True, prompt_text="This is my voice.").validate() == []  # the reference path as before
    params = GPTSoVITSParams(model=str(hay_say_voice), content_encoder=str(gs_hubert), trait="Neutral")
    before = gpt_sovits_fingerprint(params)
    assert "traits" in before
    folder = tmp_path / "v"
    shutil.copytree(hay_say_voice, folder)
    moved = GPTSoVITSParams(model=str(folder), content_encoder=str(gs_hubert), trait="Neutral")
    assert gpt_sovits_fingerprint(moved) == before  # content, not path
    write_traits(folder / "tiny_precomp.safetensors", Happy__0__ge=np.ones((1, 512, 1), np.float32))
    assert gpt_sovits_fingerprint(moved)["traits"] != before["traits"]


def _file_server_class():
    path = Path(__file__).parents[3] / "graph_engine" / "models" / "conftest.py"
    spec = importlib.util.spec_from_file_location("haysay_test_models_conftest_gs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FileServer


def test_hay_say_catalogue_entry_installs_and_speaks_a_trait(haysay_home, hay_say_voice, gs_hubert, tmp_path,
                                                             monkeypatch):
    """An entry in the exact shape of hydrusbeta/hay_say_ui's architectures/gpt_so_vits/character_models.json
    ("Twilight Sparkle": GPT .ckpt, SoVITS .pth and hydrusbeta's <name>_precomp.safetensors), served from
    127.0.0.1 through HF_ENDPOINT, installs as gpt_sovits with the safetensors as its traits and speaks by name."""
    from haysay.graph_engine.models import ModelStore

    files = {"Twilight-e24.ckpt": "/therealvul/GPT-SoVITS-v2/resolve/main/Twilight-SVe96-GPTe24/GPT_weights_v2/",
             "Twilight_e96_s46464.pth": "/therealvul/GPT-SoVITS-v2/resolve/main/Twilight-SVe96-GPTe24/"
                                        "SoVITS_weights_v2/",
             "twilight_precomp.safetensors": "/hydrusbeta/models_i_trained/resolve/main/"
                                             "gpt_sovits_precomputed-values/"}
    local = {"Twilight-e24.ckpt": "Tiny-e24.ckpt", "Twilight_e96_s46464.pth": "Tiny_e96_s46464.pth",
             "twilight_precomp.safetensors": "tiny_precomp.safetensors"}
    server = _file_server_class()()
    try:
        entry_files = []
        for name, where in files.items():
            data = (hay_say_voice / local[name]).read_bytes()
            server.add(where + name, data)
            entry_files.append({"URL": "https://huggingface.co" + where + name, "Download With": "HUGGINGFACE_HUB",
                                "Download As": name, "Size (bytes)": len(data)})
        catalogue = tmp_path / "hay_say_ui" / "architectures" / "gpt_so_vits" / "character_models.json"
        catalogue.parent.mkdir(parents=True)
        catalogue.write_text(json.dumps([{"Model Name": "Twilight Sparkle", "Files": entry_files,
                                          "License": "UNSPECIFIED"}], indent=4))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        store = ModelStore.from_env()
        installed = store.install("Twilight Sparkle", catalogue=str(catalogue))
    finally:
        server.close()
    assert installed.architecture == "gpt_sovits"
    roles = {f.path: f.role for f in installed.files}
    assert roles == {"Twilight-e24.ckpt": "gpt", "Twilight_e96_s46464.pth": "weights",
                     "twilight_precomp.safetensors": "traits"}
    ctx = NodeContext()
    # no content encoder is installed: a trait brings its semantic prompt, so none is needed
    out = speak("Twilight Sparkle", "", trait="Happy", ctx=ctx)
    assert ctx.info["gpt_sovits"]["trait_index"] == 0 and ctx.info["gpt_sovits"]["prompt_tokens"] == 94
    assert out.sample_rate == 32000 and float(np.sqrt(np.mean(out.mono() ** 2))) > 0.01
