"""vc.sovits with so-vits 4.1's extra stages, through the real node: shallow diffusion, only diffusion, the
NSF-HiFiGAN enhancer and feature retrieval, on tiny random-weight files in upstream's layouts and espeak
speech. The stages themselves are checked against upstream in the other tests here; these check the wiring:
what each stage receives, what it changes, and which field an error names."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from haysay.graph_engine.cachekey import cache_key
from haysay.graph_engine.contract import default_registry
from haysay.nodes.vc.content.hubert import ContentEncoder, HubertConfig
from haysay.nodes.vc.resolve import ModelRefError
from haysay.nodes.vc.sovits import extras
from haysay.nodes.vc.sovits.checkpoint import save_sovits_files
from haysay.nodes.vc.sovits.diffusion import DiffusionConfig, Unit2Mel
from haysay.nodes.vc.sovits.envelope import hop_volume
from haysay.nodes.vc.sovits.models import SovitsSynthesizer
from haysay.nodes.vc.sovits.node import SovitsParams
from haysay.nodes.vc.vits.nsf_hifigan import log_mel

from ..adapters.conftest import TINY_CONV, save_fairseq_pickle, tiny_sovits
from .conftest import DIFFUSION_CONFIG, NSF_CONFIG, write_feature_index, write_nsf_hifigan

SPEAKERS = {"nyaru": 0, "twilight": 1, "rarity": 2}  # tiny_sovits's
# the vocoder and diffusion model at the so-vits model's rate and hop (44.1 kHz, 512), as the pretrained are
NSF_512 = dict(NSF_CONFIG, upsample_rates=[8, 8, 2, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4, 4], hop_size=512)


def write_diffusion_768(folder, seed: int = 0):
    """diffusion/{model_100.pt, config.yaml} for a vec768l12 model with the so-vits model's speakers."""
    import yaml

    cfg = json.loads(json.dumps(DIFFUSION_CONFIG))
    cfg["data"]["encoder_out_channels"] = 768
    cfg["model"]["n_spk"], cfg["spk"] = 3, SPEAKERS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    m = cfg["model"]
    torch.manual_seed(seed)
    net = Unit2Mel(DiffusionConfig(768, 3, m["use_pitch_aug"], 128, m["n_layers"], m["n_chans"], m["n_hidden"],
                                   m["timesteps"], m["k_step_max"]))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * (0.2 if p.dim() > 1 else 0.05))
    torch.save({"global_step": 100, "model": net.state_dict()}, folder / "model_100.pt")
    return folder / "model_100.pt"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sovits_extras_node")
    weights, _ = save_sovits_files(root / "44k", tiny_sovits("4.1"), "4.1", "vec768l12")
    torch.manual_seed(3)
    wide = ContentEncoder(HubertConfig(embed_dim=768, num_layers=12, num_heads=12, ff_dim=32, conv_layers=TINY_CONV,
                                       pos_conv_kernel=8, pos_conv_groups=16, final_proj_dim=256)).eval()
    return {"model": weights, "encoder": save_fairseq_pickle(root / "hubert_base.pt", wide),
            "diffusion": write_diffusion_768(root / "44k" / "diffusion"),  # upstream's logs/44k/diffusion/
            "vocoder": write_nsf_hifigan(root / "pretrain" / "nsf_hifigan", config=NSF_512), "root": root}


@pytest.fixture(scope="module")
def speech():
    from haysay.nodes.tts.espeak import synthesize_espeak

    return synthesize_espeak("Hello there, this is a test.")


def _call(files, speech, **params):
    spec = default_registry()["vc.sovits"]
    base = {"model": str(files["model"]), "content_encoder": str(files["encoder"]), "vocoder": str(files["vocoder"])}
    return spec.call({**base, **params}, audio=speech)["audio"]


def _spy(monkeypatch, target, name):
    calls = []
    original = getattr(target, name)

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        out = original(*args, **kwargs)
        calls[-1] += (out,)
        return out

    monkeypatch.setattr(target, name, spy)
    return calls


def _mel_distance(a, b) -> float:
    """Mean absolute log-mel difference, in nepers, of two outputs at 44.1 kHz."""
    cfg = type("C", (), dict(sampling_rate=44100, num_mels=80, n_fft=2048, win_size=2048, hop_size=512,
                             fmin=40, fmax=16000))
    ma, mb = (log_mel(torch.from_numpy(x.data[0].copy())[None], cfg) for x in (a, b))
    return float((ma - mb).abs().mean())


@pytest.fixture(scope="module")
def plain(files, speech):
    return _call(files, speech)


def test_shallow_diffusion_refines_more_with_more_steps_and_keeps_length_and_rate(files, speech, plain, monkeypatch):
    calls = _spy(monkeypatch, extras, "shallow_diffusion")
    light = _call(files, speech, shallow_diffusion=True, k_step=20, speaker="rarity")
    deep = _call(files, speech, shallow_diffusion=True, k_step=100, speaker="rarity")
    for out in (light, deep):
        assert out.sample_rate == plain.sample_rate == 44100 and out.data.shape == plain.data.shape
        assert np.isfinite(out.data).all() and np.abs(out.data).max() > 1e-4
    # re-vocoding alone changes the sound (random vocoder); more diffusion steps move further from it
    # the mel the diffusion returns moves away from the synthesizer's own mel as k_step grows
    moved = [float((refined - args[1]).abs().mean()) for args, _, refined in calls]
    n = len(calls) // 2
    assert min(moved[n:]) > 2 * max(moved[:n]) and max(moved[:n]) > 0.01
    assert _mel_distance(deep, plain) > _mel_distance(light, plain)  # and so does the audio
    (model, mel, units, f0, vol, speaker, k_step, method, speedup, gen), _, _ = calls[-1]
    assert speaker == 2 and k_step == 100 and gen is not None and mel is not None
    assert mel.shape[1] == units.shape[1] == f0.shape[1] == vol.shape[1] and units.shape[2] == 768
    assert method is None and speedup is None  # the config's own (dpm-solver++, 10)


def test_volume_comes_from_the_input_piece_with_a_volume_embedding(files, speech, monkeypatch):
    synth = _spy(monkeypatch, SovitsSynthesizer, "infer")
    calls = _spy(monkeypatch, extras, "shallow_diffusion")
    _call(files, speech, shallow_diffusion=True, k_step=5, diffusion_method="ddim", diffusion_speedup=1)
    (_, _, _, _, vol, _, k_step, method, speedup, _), _, _ = calls[0]
    synth_vol = synth[0][0][7]  # the synthesizer's vol argument: upstream reuses it for diffusion
    assert torch.equal(vol, synth_vol) and (k_step, method, speedup) == (5, "ddim", 1)


def test_speaker_mix_reaches_the_diffusion_model(files, speech, monkeypatch):
    calls = _spy(monkeypatch, extras, "shallow_diffusion")
    _call(files, speech, shallow_diffusion=True, k_step=20, speaker_mix={"nyaru": 1.0, "rarity": 3.0})
    speaker = calls[0][0][5]
    assert torch.allclose(speaker, torch.tensor([0.25, 0.0, 0.75]))


def test_speaker_mix_over_more_slots_than_the_diffusion_model_has():
    weights = torch.zeros(200)
    weights[[0, 2]] = torch.tensor([0.25, 0.75])
    assert torch.equal(extras.diffusion_speaker(weights, 3), torch.tensor([0.25, 0.0, 0.75]))
    assert extras.diffusion_speaker(weights[None].expand(5, 200), 3).shape == (5, 3)  # a per-frame track
    assert extras.diffusion_speaker(2, 3) == 2 and extras.diffusion_speaker(weights, 1) is weights
    weights[150] = 0.1
    with pytest.raises(ValueError, match="speaker_mix: weighs speakers beyond the diffusion model's 3"):
        extras.diffusion_speaker(weights, 3)


def test_second_encoding_gives_the_diffusion_other_units(files, speech, monkeypatch):
    synth = _spy(monkeypatch, SovitsSynthesizer, "infer")
    calls = _spy(monkeypatch, extras, "shallow_diffusion")
    _call(files, speech, shallow_diffusion=True, k_step=20)
    _call(files, speech, shallow_diffusion=True, k_step=20, second_encoding=True)
    n = len(calls) // 2
    content = synth[0][0][1].transpose(1, 2)
    assert torch.equal(calls[0][0][2], content)  # the synthesizer's own content...
    assert calls[n][0][2].shape == content.shape and not torch.allclose(calls[n][0][2], content)  # ...or its output's


def test_seeded_determinism_with_diffusion(files, speech):
    a = _call(files, speech, shallow_diffusion=True, k_step=50, seed=7)
    b = _call(files, speech, shallow_diffusion=True, k_step=50, seed=7)
    c = _call(files, speech, shallow_diffusion=True, k_step=50, seed=8)
    assert np.array_equal(a.data, b.data)
    assert not np.allclose(a.data, c.data)


def test_only_diffusion_skips_the_synthesizer(files, speech, monkeypatch):
    synth = _spy(monkeypatch, SovitsSynthesizer, "infer")
    calls = _spy(monkeypatch, extras, "shallow_diffusion")
    out = _call(files, speech, only_diffusion=True, speaker="twilight", diffusion_speedup=50)
    assert not synth and calls
    (_, mel, units, f0, vol, speaker, *_), _, _ = calls[0]
    assert mel is None and speaker == 1 and units.shape[1] == f0.shape[1] == vol.shape[1]
    assert out.sample_rate == 44100 and abs(out.data.shape[1] - speech.data.shape[1] * 2) < 44100 * 0.05
    assert np.isfinite(out.data).all() and np.abs(out.data).max() > 1e-4


def test_only_diffusion_volume_is_the_input_pieces(files, speech, monkeypatch):
    calls = _spy(monkeypatch, extras, "shallow_diffusion")
    pieces = _spy(monkeypatch, extras, "hop_volume")
    _call(files, speech, only_diffusion=True, diffusion_speedup=100)
    wav = pieces[0][0][0]
    assert torch.equal(calls[0][0][4], hop_volume(wav, 512)[None]) and wav.shape[0] >= speech.data.shape[1]


def test_a_shallow_only_diffusion_model_refuses_only_diffusion(files, speech, tmp_path):
    import yaml

    folder = tmp_path / "d"
    write_diffusion_768(folder)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    cfg["model"]["k_step_max"] = 50
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ModelRefError, match="trained for shallow diffusion only") as err:
        _call(files, speech, only_diffusion=True, diffusion_model=str(folder))
    assert err.value.field == "only_diffusion"
    with pytest.raises(ModelRefError, match="beyond the 50 steps") as err:
        _call(files, speech, shallow_diffusion=True, diffusion_model=str(folder / "model_100.pt"), k_step=100)
    assert err.value.field == "k_step"


def test_enhance_revocodes_and_adaptive_key_matters(files, speech, plain):
    enhanced = _call(files, speech, enhance=True)
    keyed = _call(files, speech, enhance=True, enhancer_adaptive_key=4)
    for out in (enhanced, keyed):
        assert out.sample_rate == 44100 and out.data.shape == plain.data.shape
    assert _mel_distance(enhanced, plain) > 0.01 and _mel_distance(keyed, enhanced) > 0.01
    # upstream turns the enhancer off under shallow diffusion
    assert np.array_equal(_call(files, speech, shallow_diffusion=True, k_step=20, enhance=True).data,
                          _call(files, speech, shallow_diffusion=True, k_step=20).data)


def test_missing_vocoder_names_the_field_and_what_to_install(files, speech, haysay_home):
    spec = default_registry()["vc.sovits"]
    base = {"model": str(files["model"]), "content_encoder": str(files["encoder"])}
    for extra in ({"shallow_diffusion": True}, {"enhance": True}):
        with pytest.raises(ModelRefError, match="NSF-HiFiGAN.*none is installed.*haysay models install") as err:
            spec.call({**base, **extra}, audio=speech)
        assert err.value.field == "vocoder"
    with pytest.raises(ModelRefError) as err:
        spec.call({**base, "shallow_diffusion": True, "vocoder": str(haysay_home / "nowhere")}, audio=speech)
    assert err.value.field == "vocoder"


def test_missing_diffusion_model_names_the_field(files, speech, tmp_path):
    import shutil

    lone = tmp_path / "lone"
    lone.mkdir()
    for name in ("G_1000.pth", "config.json"):
        shutil.copy(files["model"].parent / name, lone / name)
    with pytest.raises(ModelRefError, match="no diffusion/ folder") as err:
        _call(files, speech, model=str(lone / "G_1000.pth"), shallow_diffusion=True)
    assert err.value.field == "diffusion_model"


def _nearest_distance(frames: np.ndarray, stored: np.ndarray) -> float:
    d = (frames ** 2).sum(1)[:, None] - 2 * frames @ stored.T + (stored ** 2).sum(1)[None]
    return float(np.sqrt(np.maximum(d.min(1), 0)).mean())


def test_feature_retrieval_pulls_features_toward_the_speakers_index(files, speech, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    stored = {spk: (rng.standard_normal((400, 768)) * 0.5 + spk).astype(np.float32) for spk in (0, 1)}
    index = write_feature_index(tmp_path / "feature_and_index.pkl", stored)
    synth = _spy(monkeypatch, SovitsSynthesizer, "infer")
    _call(files, speech, speaker="twilight")
    _call(files, speech, speaker="twilight", feature_retrieval=True, cluster_model=str(index), cluster_ratio=1.0)
    n = len(synth) // 2
    plain, retrieved = (synth[i][0][1][0].T.numpy() for i in (0, n))
    # ratio 1: every frame is a weighted mean of speaker 1's stored features, far nearer them than before
    assert _nearest_distance(retrieved, stored[1]) < 0.5 * _nearest_distance(plain, stored[1])
    assert abs(retrieved.mean() - 1.0) < 0.1 and abs(plain.mean() - 1.0) > 0.3
    with pytest.raises(ModelRefError, match="no entry for speaker id 2") as err:
        _call(files, speech, speaker="rarity", feature_retrieval=True, cluster_model=str(index), cluster_ratio=0.5)
    assert err.value.field == "cluster_model"
    with pytest.raises(ModelRefError, match="turn feature_retrieval on") as err:
        _call(files, speech, cluster_model=str(index), cluster_ratio=0.5)
    assert err.value.field == "feature_retrieval"
    with pytest.raises(ModelRefError, match="feature index") as err:  # a k-means file is not an index
        torch.save({"x": torch.zeros(1)}, tmp_path / "kmeans_10.pt")
        _call(files, speech, feature_retrieval=True, cluster_model=str(tmp_path / "kmeans_10.pt"), cluster_ratio=0.5)
    assert err.value.field == "cluster_model"


NEW_PARAMS = {"feature_retrieval": True, "shallow_diffusion": True, "only_diffusion": True, "diffusion_model": "d.pt",
              "diffusion_config": "d.yaml", "k_step": 50, "second_encoding": True, "diffusion_method": "unipc",
              "diffusion_speedup": 5, "enhance": True, "enhancer_adaptive_key": 3, "vocoder": "nsf"}


def test_every_new_option_is_in_the_cache_key():
    spec = default_registry()["vc.sovits"]
    base = SovitsParams(model="m.pth")
    key = cache_key(spec, base, {})
    for name, value in NEW_PARAMS.items():
        assert getattr(base, name) != value
        assert cache_key(spec, base.model_copy(update={name: value}), {}) != key, name
    schema = SovitsParams.model_json_schema()["properties"]
    assert all(schema[name].get("description") for name in NEW_PARAMS)
    assert SovitsParams(model="m").k_step == 100 and SovitsParams(model="m").enhancer_adaptive_key == 0


def test_installed_model_brings_its_diffusion_and_the_installed_vocoder(files, speech, haysay_home):
    from haysay.graph_engine.models import ModelStore

    store = ModelStore.from_env()
    store.install(str(files["model"].parent), name="pony")  # G_*.pth, config.json, diffusion/
    store.install(str(files["vocoder"]), name="nsf_hifigan")
    roles = {f.role for f in store.get("pony").files}
    assert {"weights", "config", "diffusion", "diffusion_config"} <= roles
    spec = default_registry()["vc.sovits"]
    by_name = spec.call({"model": "pony", "content_encoder": str(files["encoder"]), "shallow_diffusion": True,
                         "k_step": 20}, audio=speech)["audio"]
    by_path = _call(files, speech, shallow_diffusion=True, k_step=20)
    assert np.array_equal(by_name.data, by_path.data)
