"""audio.separate: a small HTDemucs built and saved by demucs' own code (random weights), installed through
the model manager, separated as upstream's Separator does; refused at validation when absent; the song-cover
example wires separate -> convert -> mix."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("demucs")
import torch  # noqa: E402

from haysay.graph_engine import parse_pipeline, plan  # noqa: E402
from haysay.graph_engine.contract import default_registry  # noqa: E402
from haysay.graph_engine.models import ModelStore  # noqa: E402
from haysay.graph_engine.values import Audio  # noqa: E402
from haysay.nodes.audio.separate import load_demucs, read_th  # noqa: E402
from haysay.nodes.vc.resolve import ModelRefError  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SOURCES = ["drums", "bass", "other", "vocals"]
FAST = {"shifts": 0, "split": True}


def tiny_htdemucs(seed: int = 0):
    """HTDemucs at htdemucs' rate, sources and STFT size, with narrow layers and one transformer layer."""
    from fractions import Fraction

    from demucs.htdemucs import HTDemucs
    torch.manual_seed(seed)
    return HTDemucs(SOURCES, channels=4, depth=4, t_layers=1, t_heads=2, nfft=4096, dconv_comp=4,
                    samplerate=44100, segment=Fraction(3, 2)).eval()


def save_like_demucs(model, folder: Path, sig: str) -> Path:
    """As a demucs training run exports a model: serialize_model + save_with_checksum -> SIG-CHECKSUM.th."""
    from demucs.states import save_with_checksum, serialize_model
    from omegaconf import OmegaConf

    folder.mkdir(parents=True, exist_ok=True)
    save_with_checksum(serialize_model(model, OmegaConf.create({"model": "htdemucs", "seed": 42}), half=False),
                       folder / f"{sig}.th")
    return next(folder.glob(f"{sig}-*.th"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    pytest.importorskip("omegaconf")
    folder = tmp_path_factory.mktemp("demucs") / "htdemucs"
    th = save_like_demucs(tiny_htdemucs(), folder, "0badcafe")
    (folder / "htdemucs.yaml").write_text("models: ['0badcafe']\n", encoding="utf-8")
    return folder, th


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HAYSAY_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def song():
    """One second of 'song' at 48 kHz stereo: espeak speech over a low tone."""
    from haysay.nodes.audio.resample import resample
    from haysay.nodes.tts.espeak import synthesize_espeak
    voice = synthesize_espeak("La la la, a song to split.")
    x = resample(voice.numpy(), voice.sample_rate, 48000)[0, :48000]
    x = np.pad(x, (0, 48000 - x.size))
    t = np.arange(48000) / 48000
    music = 0.2 * np.sin(2 * np.pi * 110 * t)
    return Audio(np.stack([x + music, 0.8 * x + music]).astype(np.float32), 48000)


def separator_reference(folder: Path, name: str, audio: Audio):
    """What demucs itself makes of the same files: its Separator, loading with its own (free) unpickling."""
    from demucs.api import Separator
    sep = Separator(model=name, repo=folder, shifts=0, split=True)
    wav, stems = sep.separate_tensor(torch.from_numpy(audio.numpy()), audio.sample_rate)
    return wav.numpy(), {k: v.numpy() for k, v in stems.items()}


def separate_doc(model: str = "htdemucs", song_path: str | None = None):
    src = {"id": "song", "type": "audio.load", "params": {"path": song_path}} if song_path else \
        {"id": "song", "type": "gen.tone", "params": {"duration": 1.0, "channels": 2}}
    return parse_pipeline({"format": "haysay.pipeline/1", "nodes": [
        src, {"id": "sep", "type": "audio.separate", "params": {"model": model}}],
        "edges": [{"from": "song.audio", "to": "sep.audio"}], "outputs": {"v": "sep.vocals"}})


def test_refused_at_validation_when_no_model_is_installed(home):
    (e,) = plan(separate_doc()).errors
    assert (e.code, e.node, e.field) == ("invalid_param", "sep", "model")
    assert "no model named 'htdemucs' is installed for demucs" in e.message
    assert "haysay models install PATH --arch demucs" in e.message
    (e,) = plan(separate_doc("/nowhere/htdemucs.th")).errors
    assert e.field == "model" and "'/nowhere/htdemucs.th' is not a file" in e.message


def test_installed_model_separates_as_demucs_does(home, repo, song):
    folder, _ = repo
    ModelStore.from_env().install(str(folder), name="htdemucs", architecture="demucs")
    assert plan(separate_doc()).ok
    spec = default_registry()["audio.separate"]
    ours = spec.call({**FAST, "accompaniment": "add"}, audio=song)
    mixture, ref = separator_reference(folder, "htdemucs", song)
    vocals, rest = ours["vocals"], ours["accompaniment"]
    frames = round(song.frames * 44100 / 48000)
    assert vocals.sample_rate == rest.sample_rate == 44100 and vocals.numpy().shape == rest.numpy().shape == (2, frames)
    np.testing.assert_allclose(vocals.numpy(), ref["vocals"], atol=1e-5)
    np.testing.assert_allclose(rest.numpy(), ref["drums"] + ref["bass"] + ref["other"], atol=1e-5)
    # minus: the accompaniment is what the vocals leave of the mixture, so the two sum back to it exactly
    minus = spec.call({**FAST, "accompaniment": "minus"}, audio=song)
    np.testing.assert_allclose(minus["vocals"].numpy() + minus["accompaniment"].numpy(), mixture, atol=1e-5)
    # a mono input is spread over the model's two channels, as demucs does
    mono = spec.call(FAST, audio=Audio(song.numpy()[:1], 48000))["vocals"]
    assert mono.numpy().shape == (2, frames)


def test_shifts_are_seeded(repo, song):
    folder, _ = repo
    spec = default_registry()["audio.separate"]
    runs = [spec.call({"model": str(folder), "shifts": 1, "seed": s}, audio=song)["vocals"].numpy() for s in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_single_file_and_safetensors_layouts(repo, song, tmp_path):
    from safetensors.torch import save_file
    folder, th = repo
    model = read_th(th)
    # the Hugging Face layout demucs.hf reads: class and init arguments as JSON metadata of the tensors
    args, kwargs = model._init_args_kwargs
    kwargs = {**kwargs, "segment": {"_type": "fraction", "numerator": 3, "denominator": 2}}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "0badcafe.safetensors"),
              metadata={"klass": "demucs.htdemucs.HTDemucs", "args": json.dumps(list(args)),
                        "kwargs": json.dumps(kwargs)})
    spec = default_registry()["audio.separate"]
    want = spec.call({**FAST, "model": str(folder)}, audio=song)["vocals"].numpy()
    for ref in (th, tmp_path / "0badcafe.safetensors"):
        got = spec.call({**FAST, "model": str(ref)}, audio=song)["vocals"].numpy()
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_loader_admits_no_code_and_checks_the_checksum(repo, tmp_path):
    folder, th = repo
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))
    bad = tmp_path / "evil.th"
    torch.save({"klass": Payload(), "args": [], "kwargs": {}, "state": {}}, bad)
    with pytest.raises(ModelRefError, match="evil.th is not a Demucs model this loader admits"):
        load_demucs(bad)
    assert not marker.exists()
    torch.save({"klass": torch.nn.Linear, "args": [1, 1], "kwargs": {}, "state": {}}, tmp_path / "linear.th")
    with pytest.raises(ModelRefError, match="not a Demucs model this loader admits"):
        load_demucs(tmp_path / "linear.th")
    altered = tmp_path / th.name
    data = bytearray(th.read_bytes())
    data[-100] ^= 0xFF
    altered.write_bytes(bytes(data))
    with pytest.raises(ModelRefError, match="does not match the .* in its name"):
        load_demucs(altered)


def test_a_broken_bag_yaml_is_a_model_field_error(repo, tmp_path):
    folder, th = repo
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / th.name).write_bytes(th.read_bytes())
    for text, why in (("models: [unclosed\n", "not valid YAML"), ("- just a list\n", "models: \\[sig"),
                      ("models: 3\n", "models: \\[sig")):
        (bag / "htdemucs.yaml").write_text(text, encoding="utf-8")
        with pytest.raises(ModelRefError, match=why) as info:
            load_demucs(bag)
        assert info.value.field == "model"
    (bag / "htdemucs.yaml").write_bytes(b"models: ['\xff\xfe']\n")
    with pytest.raises(ModelRefError, match="not a text config"):
        load_demucs(bag)


def test_unknown_stem_is_named(repo, song):
    folder, _ = repo
    with pytest.raises(ModelRefError, match=r"stem: the model has no 'voice' source \(it has: drums, bass, other, vocals\)"):
        default_registry()["audio.separate"].call({**FAST, "model": str(folder), "stem": "voice"}, audio=song)


def test_song_cover_example_names_its_missing_models(home):
    doc = json.loads((EXAMPLES / "song_cover.json").read_text())
    errors = plan(parse_pipeline(doc), inputs={"song": __file__}).errors
    where = {(e.node, e.field) for e in errors}
    assert ("separate", "model") in where  # no Demucs model installed
    assert ("convert", "inputs.voice_model") in where  # the RVC model is the user's to name
    assert any("no model named 'htdemucs' is installed for demucs" in e.message for e in errors)


def test_song_cover_graph_runs_separate_convert_mix(home, repo, song, tmp_path):
    """The example's graph end to end, with WORLD standing in for the RVC voice (no RVC model here)."""
    import soundfile as sf

    from haysay.graph_engine import Engine, Settings
    folder, _ = repo
    ModelStore.from_env().install(str(folder), name="htdemucs", architecture="demucs")
    doc = json.loads((EXAMPLES / "song_cover.json").read_text())
    for n in doc["nodes"]:
        if n["id"] == "convert":
            n["type"], n["params"] = "vc.world", {"f0_shift": 3.0}
        if n["id"] == "separate":
            n["params"].update(FAST)
    doc["inputs"] = {k: v for k, v in doc["inputs"].items() if not v["bind"].startswith("convert.")}
    path = tmp_path / "song.wav"
    sf.write(path, song.numpy().T, song.sample_rate)
    eng = Engine(Settings.from_env())
    try:
        result = eng.run(parse_pipeline(doc), inputs={"song": str(path), "vocals_gain": -6.0})
    finally:
        eng.close()
    assert result.ok, result.error
    cover, vocals, rest = (result.outputs[k] for k in ("cover", "vocals", "accompaniment"))
    assert cover.sample_rate == 44100 and cover.channels == 2
    assert cover.frames == max(vocals.frames, rest.frames)
    assert np.abs(cover.numpy()).max() <= 10 ** (-1 / 20) * (1 + 1e-6)  # the limiter's -1 dBFS ceiling
